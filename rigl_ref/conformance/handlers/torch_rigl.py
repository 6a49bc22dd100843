"""Handler of the ``torch_rigl`` suite: rigl-torch 0.5.2 ``rigl_torch/RigL.py`` ``RigLScheduler._rigl_step``.

Each case is one RigL step of a one-layer model (SGD momentum), through the registry's RigL under
``convention="rigl_torch"``:
drop score |w| over all positions, ``n_prune = int(n * f)`` in float64, new weights 0, then
``momentum_buffer *= mask``, ``w *= mask`` and ``w.grad *= mask`` (the gradient rides along as a second
slot, which the convention multiplies by the new mask like the buffer). For ``schedule="cosine"`` the
drop fraction is also recomputed with the convention's cosine schedule. All comparisons are exact;
the suite's values are tie-free because ``torch.topk`` leaves the order of ties unspecified.
"""

from __future__ import annotations


from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.conventions import get_convention
from rigl_ref.sparse_training.schedules import get_drop_fraction_schedule
from rigl_ref.sparse_training.updaters import LayerState, RigL


def run_case(case, arrays):
    params = case["params"]
    mismatches = []
    if params["schedule"] == "cosine":
        schedule = get_drop_fraction_schedule(get_convention("rigl_torch").cosine_schedule)
        fraction = schedule(params["step"], alpha=params["alpha"], end_step=params["T_end"])
        mismatches += compare_exact("drop_fraction", arrays["drop_fraction"], fraction)
    layer = LayerState(arrays["mask"], arrays["weight"], (arrays["momentum_buffer"], arrays["grad"]))
    (result,) = RigL("rigl_torch").update([layer], drop_fraction=arrays["drop_fraction"], grads=[arrays["dense_grad"]])
    return (
        mismatches
        + compare_exact("mask", arrays["expected_mask"], result.mask)
        + compare_exact("weight", arrays["expected_weight"], result.weights)
        + compare_exact("momentum_buffer", arrays["expected_momentum_buffer"], result.slots[0])
        + compare_exact("grad", arrays["expected_grad"], result.slots[1])
    )
