"""Checkpoints as ``.npz`` arrays plus a JSON record; loading never unpickles (``allow_pickle=False``).

Layout inside a run directory::

    checkpoint.json            the commit record: {"format", "arrays": "checkpoint-<iteration>.npz",
                               "sha256": ..., "meta": {...}}
    checkpoint-<iteration>.npz every array (weights, CSR patterns, optimizer slots, updater state)

Writing is atomic in two stages: the ``.npz`` is written under a new name (temp file + rename), then the
JSON record naming it and its SHA-256 replaces the old record (temp file + rename). The JSON rename is
the commit point: a run killed at any instant leaves the previous checkpoint or the new one intact.
``meta`` carries the run's counters and, from ``rigl_ref.train.run``, its configuration and fingerprint. Older
``.npz`` files are removed only after the commit. Loading checks the record, the checksum and the
array names, and reports a damaged checkpoint as a ``ValueError`` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from rigl_ref.train.files import write_atomic

RECORD = "checkpoint.json"
FORMAT = "rigl_ref-checkpoint-1"


def save_checkpoint(run_dir, arrays: dict[str, np.ndarray], meta: dict, *, tag: int) -> Path:
    """Write ``arrays`` and the JSON-serialisable ``meta`` as the run's current checkpoint; return the record."""
    run_dir = Path(run_dir)
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise ValueError(f"checkpoint array {key!r} has dtype object; only numeric arrays are stored (no pickle)")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    arrays_name = f"checkpoint-{int(tag)}.npz"
    write_atomic(run_dir / arrays_name, payload)
    record = {"format": FORMAT, "arrays": arrays_name, "sha256": hashlib.sha256(payload).hexdigest(), "meta": meta}
    write_atomic(run_dir / RECORD, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    for old in run_dir.glob("checkpoint-*.npz"):
        if old.name != arrays_name:
            old.unlink(missing_ok=True)
    return run_dir / RECORD


def has_checkpoint(run_dir) -> bool:
    return (Path(run_dir) / RECORD).is_file()


def load_checkpoint(run_dir) -> tuple[dict[str, np.ndarray], dict]:
    """Return ``(arrays, meta)`` of the run's checkpoint; ``ValueError`` naming the file if it is damaged."""
    run_dir = Path(run_dir)
    record_path = run_dir / RECORD
    if not record_path.is_file():
        raise FileNotFoundError(f"no checkpoint in {str(run_dir)!r} (missing {RECORD})")
    try:
        record = json.loads(record_path.read_text())
        arrays_name, digest, meta = record["arrays"], record["sha256"], record["meta"]
        if record["format"] != FORMAT:
            raise ValueError(f"unsupported format {record['format']!r}")
        if not (isinstance(arrays_name, str) and isinstance(digest, str) and isinstance(meta, dict)):
            raise ValueError("'arrays' and 'sha256' must be strings and 'meta' an object")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise ValueError(f"corrupt checkpoint record {str(record_path)!r}: {error}") from None
    arrays_path = run_dir / Path(arrays_name).name
    if not arrays_path.is_file():
        raise ValueError(f"corrupt checkpoint: {str(record_path)!r} names {arrays_name!r}, which is missing")
    payload = arrays_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError(f"corrupt checkpoint: {str(arrays_path)!r} does not match the SHA-256 in {RECORD}")
    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"corrupt checkpoint arrays {str(arrays_path)!r}: {error}") from None
    return arrays, meta
