"""Input checks shared by every layer of rigl_ref.

Each check raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message names the parameter
and the offending value, so a bad call is never answered silently with a wrong result.
"""

from __future__ import annotations

import math

import numpy as np


def check_in_closed_unit_interval(name: str, value: float) -> float:
    """Require ``0 <= value <= 1`` (e.g. a drop fraction); return it as a Python float."""
    value = float(value)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return value


def check_sparsity(name: str, value: float) -> float:
    """Require ``0 <= value < 1``: a layer with sparsity 1 would have no connection left."""
    value = float(value)
    if not (0.0 <= value < 1.0) or math.isnan(value):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    return value


def check_finite(name: str, array) -> np.ndarray:
    """Require every entry of ``array`` to be finite; name the first bad index otherwise."""
    array = np.asarray(array)
    if array.dtype.kind in "fc":
        bad = ~np.isfinite(array)
        if bad.any():
            where = np.unravel_index(int(np.flatnonzero(bad)[0]), array.shape) if array.ndim else ()
            raise ValueError(
                f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or Inf); "
                f"first at index {tuple(int(i) for i in where)}: {array[where]!r}"
            )
    return array


def check_same_shape(name_a: str, a, name_b: str, b) -> None:
    """Require two arrays to have one shape."""
    shape_a, shape_b = np.shape(a), np.shape(b)
    if shape_a != shape_b:
        raise ValueError(f"{name_b} has shape {shape_b}, but {name_a} has shape {shape_a}; they must match")


def check_choice(name: str, value: str, choices) -> str:
    """Require ``value`` to be one of ``choices``; list them in the error."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, sorted(choices)))}")
    return value


def check_positive_int(name: str, value) -> int:
    """Require a positive integer (step counts, intervals, batch sizes)."""
    if isinstance(value, bool) or int(value) != value or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_generator(rng, *, name: str = "rng") -> np.random.Generator:
    """Turn a seed or Generator into a Generator; refuse ``None`` so that nothing uses hidden global state."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        raise TypeError(f"{name} must be an explicit seed or numpy.random.Generator, got None")
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be an int seed or numpy.random.Generator, got {type(rng).__name__}")
