"""``metrics.jsonl``: one JSON object per logged iteration, appended and flushed as training goes.

Every line has ``iteration`` (batches consumed), ``step`` (optimizer steps t), ``epoch``, and whatever the
loop logs (loss, lr, drop fraction, per-layer nnz, counts of dropped/grown/regrown on update steps, test
accuracy on evaluation steps). On ``--resume`` the file is cut back to the checkpoint's iteration
(:func:`truncate_metrics`, atomic) so the resumed run appends exactly the lines an uninterrupted run writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rigl_ref.train.files import write_atomic


def _plain(value):
    """JSON-safe value: NumPy scalars become Python numbers; NaN/Inf become null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _line(record: dict) -> str:
    return json.dumps(_plain(record)) + "\n"


class MetricsLog:
    """Append-only writer of ``metrics.jsonl`` (each line flushed at once)."""

    def __init__(self, path):
        self.path = Path(path)
        self._handle = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict) -> None:
        self._handle.write(_line(record))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc_info):
        self.close()


def read_metrics(path) -> list[dict]:
    """All records of a ``metrics.jsonl``; a torn last line (a killed run) is ignored."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no metrics file {str(path)!r}")
    records = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{str(path)!r} line {number} is not valid JSON") from None
    return records


def truncate_metrics(path, last_iteration: int) -> None:
    """Keep only the records with ``iteration <= last_iteration`` (atomic rewrite)."""
    path = Path(path)
    if not path.is_file():
        return
    kept = [r for r in read_metrics(path) if r.get("iteration", 0) <= last_iteration]
    write_atomic(path, "".join(_line(r) for r in kept).encode())
