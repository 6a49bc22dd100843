"""Handler of the ``granet_torch`` suite: the official GraNet code, VITA-Group/GraNet
``CIFAR/sparselearning/core.py`` ``Masking.pruning`` + ``Masking.truncate_weights`` (torch CPU).

Each case is one GraNet update of a two-layer MLP in torch's ``(out, in)`` layout, through the registry's
GraNet on dense spec layers: the window's ends are ``init_prune_epoch`` and ``final_prune_epoch`` times
``loader_len x multiplier`` iterations, ΔT is ``update_frequency``, the densities are the case's, and the
regeneration rate is its ``prune_rate``; the gradient is the recorded dense ``w.grad``. The momentum buffer
rides along as the one slot. Masks are float32 0/1 in the official code and compared as booleans; all
comparisons are exact.
"""

from __future__ import annotations

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.granet import GraNet
from rigl_ref.sparse_training.updaters import LayerState


def run_case(case, arrays):
    params = case["params"]
    n_layers = len(params["shapes"])
    per_epoch = params["loader_len"] * params["multiplier"]
    updater = GraNet(initial_density=params["init_density"], final_density=params["final_density"],
                     begin_step=params["init_prune_epoch"] * per_epoch, end_step=params["final_prune_epoch"] * per_epoch,
                     interval=params["update_frequency"])
    layers = [LayerState(arrays[f"mask_{i}"].astype(bool), arrays[f"weight_{i}"], (arrays[f"momentum_buffer_{i}"],))
              for i in range(n_layers)]
    results = updater.update(layers, step=params["step"], drop_fraction=params["prune_rate"],
                             grads=[arrays[f"grad_{i}"] for i in range(n_layers)])
    mismatches = []
    for i, result in enumerate(results):
        mismatches += (compare_exact(f"mask_{i}", arrays[f"expected_mask_{i}"].astype(bool), result.mask)
                       + compare_exact(f"weight_{i}", arrays[f"expected_weight_{i}"], result.weights)
                       + compare_exact(f"momentum_buffer_{i}", arrays[f"expected_momentum_buffer_{i}"], result.slots[0]))
    return mismatches
