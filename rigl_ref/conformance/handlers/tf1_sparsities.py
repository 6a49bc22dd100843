"""Handler for the ``tf1_sparsities`` suite: google-research/rigl ``sparse_utils.get_sparsities``.

Each case names a distribution (``random``, ``erdos_renyi``, ``erdos_renyi_kernel``), a global sparsity,
an ``erk_power_scale`` (recorded for every method, used only by ERK), a custom map and the layers in
mask order. rigl_ref's ``layer_sparsities(..., convention="tf1")`` must return every sparsity float-equal,
and ``active_count`` the same ``n_zeros``/``n_ones`` (``get_n_zeros``: floor of the float64 product).

A case whose framework call raised is stored as ``{"error": "<Type>: <message>"}``; it matches when
rigl_ref raises the ``ValueError`` documented for that situation (``DOCUMENTED_ERRORS``).
"""

from __future__ import annotations

import math

from rigl_ref.conformance.compare import Mismatch, compare_exact
from rigl_ref.sparse_training.distributions import active_count, layer_sparsities

# The framework's exception type -> a phrase of the ValueError rigl_ref documents for the same input.
DOCUMENTED_ERRORS = {
    # ERK/ER with no layer left to share the budget: rigl divides by an empty divisor.
    "ZeroDivisionError": "budget is empty",
}


def expected_error_mismatches(expected: dict, error: ValueError | None) -> list[Mismatch]:
    """Compare a framework error (``expected["error"]``, if any) with the ValueError rigl_ref raised."""
    framework_error = expected.get("error")
    if framework_error is None:
        return [] if error is None else [Mismatch("error", None, None, str(error))]
    phrase = DOCUMENTED_ERRORS.get(framework_error.split(":", 1)[0])
    if error is None or phrase is None or phrase not in str(error):
        return [Mismatch("error", None, framework_error, None if error is None else str(error))]
    return []


def run_case(case: dict, arrays=None) -> list[Mismatch]:
    params, expected = case["params"], case["expected"]
    layers = [(layer["name"], tuple(layer["shape"])) for layer in params["layers"]]
    method = params["method"]
    power = {"power_scale": params["erk_power_scale"]} if method == "erdos_renyi_kernel" else {}
    try:
        got = layer_sparsities(layers, params["default_sparsity"], method,
                               custom=params["custom_sparsity_map"], convention="tf1", **power)
    except ValueError as error:
        return expected_error_mismatches(expected, error)
    if "error" in expected:
        return expected_error_mismatches(expected, None)
    sizes = [math.prod(shape) for _, shape in layers]
    sparsities = [got[name] for name, _ in layers]
    n_ones = [active_count(size, sparsity, "tf1") for size, sparsity in zip(sizes, sparsities)]
    return (compare_exact("sparsity", expected["sparsity"], sparsities)
            + compare_exact("n_zeros", expected["n_zeros"], [size - ones for size, ones in zip(sizes, n_ones)])
            + compare_exact("n_ones", expected["n_ones"], n_ones))
