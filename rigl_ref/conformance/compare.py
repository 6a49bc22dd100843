"""Comparing rigl_ref's outputs with a framework's expected values, one :class:`Mismatch` per difference.

Exactness policy (``docs/conventions.md``): masks, counts and integer outputs are compared exactly;
float outputs bit-exactly except that ``-0.0 == 0.0`` (frameworks produce signed zeros, e.g. ``w * mask``),
unless a handler documents a tolerance that its suite's notes justify (:func:`compare_close`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Mismatch:
    """One differing value: the output ``field``, the ``index`` inside it (None for a whole value), and
    the ``expected`` (framework) and ``actual`` (rigl_ref) values."""

    field: str
    index: Any
    expected: Any
    actual: Any

    def __str__(self) -> str:
        where = self.field if self.index is None else f"{self.field}[{self.index}]"
        return f"{where}: expected {self.expected!r}, got {self.actual!r}"


def compare_exact(field: str, expected, actual, *, limit: int = 3) -> list[Mismatch]:
    """Mismatches between two arrays or scalars compared with ``==`` (so ``-0.0 == 0.0``; bool == 0/1).

    At most ``limit`` differing entries are reported, first in row-major order, plus a summary entry
    with the number of differences when there are more.
    """
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        return [Mismatch(f"{field}.shape", None, expected.shape, actual.shape)]
    return _report(field, expected, actual, expected != actual, limit)


def compare_close(field: str, expected, actual, *, max_ulp: int, limit: int = 3) -> list[Mismatch]:
    """Mismatches between float arrays allowed to differ by up to ``max_ulp`` units in the last place
    of ``expected``'s dtype (for framework arithmetic that cannot be reproduced bit for bit)."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        return [Mismatch(f"{field}.shape", None, expected.shape, actual.shape)]
    actual = actual.astype(expected.dtype)
    spacing = np.abs(np.spacing(np.maximum(np.abs(expected), np.abs(actual))))
    differs = np.abs(expected - actual) > max_ulp * spacing
    return _report(field, expected, actual, differs, limit)


def _report(field: str, expected: np.ndarray, actual: np.ndarray, differs: np.ndarray, limit: int) -> list[Mismatch]:
    flat = np.flatnonzero(differs)
    if flat.size == 0:
        return []
    mismatches = []
    for position in flat[:limit]:
        where = np.unravel_index(position, expected.shape)  # () for a 0-d array
        index = tuple(int(i) for i in where) if expected.ndim else None
        mismatches.append(Mismatch(field, index, _plain(expected[where]), _plain(actual[where])))
    if flat.size > limit:
        mismatches.append(Mismatch(field, "...", f"{flat.size} entries differ in total", f"{limit} shown"))
    return mismatches


def _plain(value):
    """A NumPy scalar as the Python value it holds; an entry of an object array (``None`` for a leaf left
    unmasked, a Python float) is already one."""
    return value.item() if isinstance(value, np.generic) else value
