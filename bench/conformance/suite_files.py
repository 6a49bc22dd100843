"""What the conformance-suite generators share: their command line, the run-twice determinism check and
the suite folder (``case_NNNN.npz`` files and ``manifest.json``, the format of
``rigl_ref/conformance/vectors/README.md``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def parse_args(doc: str, source_help: str, argv=None) -> argparse.Namespace:
    """``--source`` (the official code's folder), ``--out`` (the suite folder) and ``--seed``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--source", required=True, help=source_help)
    parser.add_argument("--out", required=True, help="suite folder to write (manifest.json and case_*.npz)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def computed_twice(compute, index: int):
    """``compute()`` run twice; its first result, after asserting that both runs gave byte-identical arrays
    (``compute`` returns ``(arrays, extra)`` or ``arrays``)."""
    first, second = compute(), compute()
    arrays, again = (first[0], second[0]) if isinstance(first, tuple) else (first, second)
    assert sorted(arrays) == sorted(again) and all(arrays[k].tobytes() == again[k].tobytes() for k in arrays), \
        f"case {index} is not deterministic"
    return first


class SuiteFolder:
    """One suite folder being written."""

    def __init__(self, out):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)

    def save_case(self, index: int, arrays: dict) -> str:
        """Write ``case_NNNN.npz``; return its file name (the manifest's ``file``)."""
        name = f"case_{index:04d}.npz"
        np.savez(self.out / name, **arrays)
        return name

    def write_manifest(self, *, suite: str, source: str, function: str, notes: str, cases: list) -> None:
        manifest = {"suite": suite, "source": source, "function": function, "notes": notes, "cases": cases}
        (self.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
