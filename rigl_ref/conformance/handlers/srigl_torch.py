"""Handler of the ``srigl_torch`` suite: the official SRigL code, calgaryml/condensed-sparsity
``rigl_constant_fan.py`` ``RigLConstFanScheduler._rigl_step`` (torch CPU).

Each case is one update of a two-layer MLP in torch's ``(out, in)`` layout (rows are neurons), run
through the registry's SRigL on dense spec layers: budget ``int(N (1 - S))`` per layer (the scheduler's
``S``), the case's ``min_salient`` and the scheduler's own drop fraction. The scheduler was built with
``no_ablation_module_names=None``, which it turns into ``[]`` before testing ``is None``, so it may ablate
neurons of the last layer too: both layers are ablatable here (rigl_ref's trainer keeps the last layer
whole, the code's stated intent). Slots: the momentum buffer and ``w.grad``, both multiplied by the new
mask (``reset_momentum``, ``apply_mask_to_gradients``). All comparisons are exact.
"""

from __future__ import annotations

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.structured import srigl_budget
from rigl_ref.sparse_training.structured_methods import SRigL
from rigl_ref.sparse_training.updaters import LayerState


def run_case(case, arrays):
    params = case["params"]
    n_layers = len(params["shapes"])
    layers = [LayerState(arrays[f"mask_{i}"], arrays[f"weight_{i}"],
                         (arrays[f"momentum_buffer_{i}"], arrays[f"grad_{i}"])) for i in range(n_layers)]
    budgets = [srigl_budget(layer.mask.size, s) for layer, s in zip(layers, params["sparsities"])]
    updater = SRigL("rigl_torch", budgets=budgets, neuron_axes=(0,) * n_layers, min_salient=params["min_salient"],
                    ablatable=(True,) * n_layers)
    results = updater.update(layers, drop_fraction=float(arrays["drop_fraction"]),
                             grads=[arrays[f"dense_grad_{i}"] for i in range(n_layers)])
    mismatches = []
    for i, result in enumerate(results):
        mismatches += (compare_exact(f"mask_{i}", arrays[f"expected_mask_{i}"], result.mask)
                       + compare_exact(f"weight_{i}", arrays[f"expected_weight_{i}"], result.weights)
                       + compare_exact(f"momentum_buffer_{i}", arrays[f"expected_momentum_buffer_{i}"], result.slots[0])
                       + compare_exact(f"grad_{i}", arrays[f"expected_grad_{i}"], result.slots[1]))
    return mismatches
