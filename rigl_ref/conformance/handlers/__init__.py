"""Registry of conformance handlers: one module per suite name.

Each handler module exposes ``run_case(case: dict, arrays: Mapping[str, np.ndarray] | None) ->
list[Mismatch]``: it feeds the case's inputs (``case["params"]``, and the npz ``arrays`` of npz suites)
to rigl_ref under the convention the suite names, and returns the differences from the expected outputs
(an empty list when the case matches). Modules are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Callable

from rigl_ref.validate import check_choice

HANDLERS: dict[str, str] = {
    "tf1_update": "rigl_ref.conformance.handlers.tf1_update",
    "torch_rigl": "rigl_ref.conformance.handlers.torch_rigl",
    "srigl_torch": "rigl_ref.conformance.handlers.srigl_torch",
    "granet_torch": "rigl_ref.conformance.handlers.granet_torch",
    "jaxpruner_rigl": "rigl_ref.conformance.handlers.jaxpruner_rigl",
    "jaxpruner_set": "rigl_ref.conformance.handlers.jaxpruner_set",
    "tf1_sparsities": "rigl_ref.conformance.handlers.tf1_sparsities",
    "tf1_cosine": "rigl_ref.conformance.handlers.tf1_cosine",
    "jaxpruner_sparsities": "rigl_ref.conformance.handlers.jaxpruner_sparsities",
}


def get_handler(suite: str) -> Callable:
    """The ``run_case`` function of the handler registered for ``suite``."""
    module = importlib.import_module(HANDLERS[check_choice("suite", suite, HANDLERS)])
    return module.run_case
