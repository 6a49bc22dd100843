"""Handler for the ``tf1_cosine`` suite: google-research/rigl ``SparseSETOptimizerBase.get_drop_fraction``
and ``is_mask_update_iter``, run in a TF graph (``constant``, ``cosine``, ``exponential_<p>``).

Per step of a case, rigl_ref computes:

* ``drop_fraction`` with the default-session (constant-folded) float32 arithmetic
  (``tf1_drop_fraction_schedule(anneal, folded=True)``), and ``drop_fraction_no_constant_folding`` with
  the literal graph (``folded=False``); NaN (a fractional power of a negative base past ``end_step``)
  matches NaN;
* ``in_update_range`` and ``drop_fraction_gated`` with ``tf1_is_update(step, step - frequency)``, the
  suite's ``last_update_step = step - frequency``;
* ``n_prune[i][j] = int32(float32(n_ones[j]) * drop_fraction[i])`` with ``drop_count(..., "tf1")``. At steps
  outside the update range the ungated fraction can be negative or NaN, which no update ever uses (TF
  gates it to 0); there the suite records TF's raw float32 -> int32 cast, reproduced by ``_tf_cast_int32``.

Exactness: TF's CPU kernel evaluates the scalar cosine with the C library's ``cosf``. On glibc (the C
library the suite was generated with) rigl_ref calls the same ``cosf`` (``schedules.libm_cosf``) and every
value must match bit for bit. On another C library rigl_ref uses ``correctly_rounded_cosf``, and since the
suite's notes document that TF's float32 cos can be 1 ulp off, a fraction also matches when it equals the
schedule evaluated with that cos moved by one ulp either way; everything downstream (gating, ``n_prune``)
is then compared exactly.
"""

from __future__ import annotations

import functools
import math
import platform

import numpy as np

from rigl_ref.conformance.compare import Mismatch, compare_exact
from rigl_ref.sparse_training.drop_grow import drop_count
from rigl_ref.sparse_training.schedules import (
    correctly_rounded_cosf,
    libm_cosf,
    tf1_drop_fraction_schedule,
    tf1_is_update,
)

_INT32_MIN = -(2**31)


@functools.lru_cache(maxsize=1)
def glibc_cosf_available() -> bool:
    """Whether this process runs on glibc and its ``cosf`` can be called (then the suite is bit-exact)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libm_cosf(0.0)
    except OSError:
        return False
    return True


def _tf_cast_int32(value: np.float32) -> int:
    """TF's float32 -> int32 cast on x86: truncation toward zero; NaN and out-of-range give INT32_MIN."""
    if math.isnan(value) or not -(2.0**31) <= value < 2.0**31:
        return _INT32_MIN
    return int(value)


def _n_prune(n_ones: int, fraction: np.float32) -> int:
    if 0.0 <= fraction <= 1.0:
        return drop_count(n_ones, float(fraction), "tf1")
    return _tf_cast_int32(np.float32(n_ones) * fraction)


def _one_ulp_off(cosf, direction: float):
    return lambda x: np.nextafter(cosf(x), np.float32(direction))


def cos_models() -> tuple:
    """The cosf variants a fraction may be computed with (see the module docstring)."""
    if glibc_cosf_available():
        return (libm_cosf,)
    return (correctly_rounded_cosf, _one_ulp_off(correctly_rounded_cosf, np.inf),
            _one_ulp_off(correctly_rounded_cosf, -np.inf))


def _fractions(schedule, steps, expected, kwargs, cos_options) -> list[np.float32]:
    """The schedule at each step; with several cos options, the one that equals ``expected`` if any."""
    fractions = []
    for step, want in zip(steps, expected):
        candidates = [schedule(step, **kwargs, **option) for option in cos_options]
        fractions.append(next((c for c in candidates if c == want), candidates[0]))
    return fractions


def _compare_fractions(field: str, expected, actual) -> list[Mismatch]:
    """Same NaN positions, then every other value bit for bit as float32."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float32)
    nan = np.isnan(expected)
    return (compare_exact(f"{field} is NaN", nan, np.isnan(actual))
            or compare_exact(field, expected[~nan].astype(np.float32), actual[~nan]))


def run_case(case: dict, arrays=None) -> list[Mismatch]:
    params, expected = case["params"], case["expected"]
    steps, n_ones = params["steps"], params["n_ones"]
    window = dict(begin_step=params["begin_step"], end_step=params["end_step"])
    anneal = params["drop_fraction_anneal"]
    cos_options = [{"cosf": cosf} for cosf in cos_models()] if anneal == "cosine" else [{}]

    in_range = [tf1_is_update(step, step - params["frequency"], frequency=params["frequency"], **window)
                for step in steps]
    mismatches = compare_exact("in_update_range", expected["in_update_range"], in_range)
    for suffix, folded in (("", True), ("_no_constant_folding", False)):
        schedule = tf1_drop_fraction_schedule(anneal, folded=folded)
        fractions = _fractions(schedule, steps, expected[f"drop_fraction{suffix}"],
                               dict(alpha=params["alpha"], **window), cos_options)
        mismatches += _compare_fractions(f"drop_fraction{suffix}", expected[f"drop_fraction{suffix}"], fractions)
        if folded:
            gated = [f if inside else np.float32(0.0) for f, inside in zip(fractions, in_range)]
            mismatches += _compare_fractions("drop_fraction_gated", expected["drop_fraction_gated"], gated)
        n_prune = [[_n_prune(n, fraction) for n in n_ones] for fraction in fractions]
        mismatches += compare_exact(f"n_prune{suffix}", expected[f"n_prune{suffix}"], n_prune)
    return mismatches
