"""Handler for the ``jaxpruner_sparsities`` suite: jaxpruner ``sparsity_distributions``.

* ``uniform`` / ``erk``: the public functions on a flax-style tree ``{"layer<i>": {"kernel", "bias"}}``
  with the default filter (``ndim > 1``), so biases and 1-D kernels get ``None``. rigl_ref runs
  ``layer_sparsities`` with ``convention="jaxpruner"`` on the leaves ``"layer<i>/kernel"``,
  ``"layer<i>/bias"`` in tree order; ``erk`` is ERK with power 1 (it does not forward a power scale).
* ``get_sparsities_erdos_renyi``: the helper called directly on ``{(layer, "kernel"): shape}``, i.e.
  with no filter; its arithmetic is the official one (same code as google-research/rigl), so these run
  under ``convention="tf1"``, ERK when ``include_kernel`` (with ``erk_power_scale``), else ER.

``expected.n_ones`` is ``size - get_n_zeros(size, s)`` with jaxpruner's own floor helper (the count its
ERK budget uses), hence ``active_count(..., "tf1")``; the masks jaxpruner then builds round instead
(``active_count(..., "jaxpruner")``), which this suite does not record.
"""

from __future__ import annotations

import math

from rigl_ref.conformance.compare import Mismatch, compare_exact
from rigl_ref.conformance.handlers.tf1_sparsities import expected_error_mismatches
from rigl_ref.sparse_training.distributions import active_count, layer_sparsities


def _leaves(layers: list[dict]) -> list[tuple[str, tuple[int, ...]]]:
    leaves = []
    for layer in layers:
        kernel = tuple(layer["kernel_shape"])
        leaves.append((f"{layer['name']}/kernel", kernel))
        if layer["has_bias"]:
            leaves.append((f"{layer['name']}/bias", kernel[-1:]))
    return leaves


def _sparsities(params: dict, leaves) -> dict:
    function = params["function"]
    if function == "get_sparsities_erdos_renyi":
        if params["include_kernel"]:
            distribution, power = "erdos_renyi_kernel", {"power_scale": params["erk_power_scale"]}
        else:
            distribution, power = "erdos_renyi", {}
        convention = "tf1"
    else:
        distribution, power, convention = {"uniform": "uniform", "erk": "erdos_renyi_kernel"}[function], {}, "jaxpruner"
    return layer_sparsities(leaves, params["default_sparsity"], distribution,
                            custom=params["custom_sparsity_map"], convention=convention, **power)


def run_case(case: dict, arrays=None) -> list[Mismatch]:
    params, expected = case["params"], case["expected"]
    leaves = _leaves(params["layers"])
    try:
        got = _sparsities(params, leaves)
    except ValueError as error:
        return expected_error_mismatches(expected, error)
    if "error" in expected:
        return expected_error_mismatches(expected, None)
    sparsities = [got[name] for name, _ in leaves]
    n_ones = [None if s is None else active_count(math.prod(shape), s, "tf1")
              for (_, shape), s in zip(leaves, sparsities)]
    want = expected["leaves"]
    # An unmasked leaf is None on both sides: the lists become object arrays, compared entry by entry.
    return (compare_exact("leaf", [leaf["leaf"] for leaf in want], [name for name, _ in leaves])
            + compare_exact("sparsity", [leaf["sparsity"] for leaf in want], sparsities)
            + compare_exact("n_ones", [leaf["n_ones"] for leaf in want], n_ones))
