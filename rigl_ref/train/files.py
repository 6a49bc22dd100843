"""Atomic file writes: a reader (or a run killed with SIGKILL) sees the old file or the new one, never half.

The bytes go to a temporary file in the destination's own directory (so the rename never crosses file
systems), are flushed and fsync-ed, then ``os.replace`` puts the file in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically."""
    path = Path(path)
    descriptor, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
