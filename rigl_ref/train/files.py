"""Atomic file writes: a reader (or a run killed with SIGKILL) sees the old file or the new one, never half.

The bytes go to a temporary file in the destination's own directory (so the rename never crosses file
systems), are flushed and fsync-ed, then ``os.replace`` puts the file in place. A refusal (read-only or
immutable directory, a missing parent) is an ``OSError`` naming ``path``; the old file stays as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically."""
    path = Path(path)
    try:
        descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _naming(error, path) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _naming(error, path) from None
        raise


def _naming(error: OSError, path: Path) -> OSError:
    """The same error, naming the file the caller asked for instead of the temporary one (or none)."""
    if error.errno is None:
        return error
    return type(error)(error.errno, error.strerror, str(path))
