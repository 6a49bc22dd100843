"""Handler of the ``jaxpruner_rigl`` suite: jaxpruner ``jaxpruner/algorithms/sparse_trainers.py``
``RigL.update_state``.

Each case is one update of one leaf under ``convention="jaxpruner"``, run through the registry's RigL:
drop score |params|, grow score |grads|, jaxpruner's float32 counts and score lifts, the SGD momentum
``trace`` zeroed at newly activated positions. Mask and trace are compared exactly (the suite's notes:
tie-free values except the ``empty_mask`` cases, whose ties jaxpruner breaks by lower flat index as
rigl_ref does).
"""

from __future__ import annotations

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.updaters import LayerState, RigL


def run_case(case, arrays):
    return run_jaxpruner_update(arrays, RigL("jaxpruner"), grads=[arrays["grads"]])


def run_jaxpruner_update(arrays, updater, grads=None):
    """Run one jaxpruner-suite case through ``updater``; shared with the SET handler."""
    layer = LayerState(arrays["mask"], arrays["params"], (arrays["trace"],))
    (result,) = updater.update([layer], drop_fraction=arrays["drop_fraction"], grads=grads)
    return compare_exact("mask", arrays["expected_mask"], result.mask) + compare_exact(
        "trace", arrays["expected_trace"], result.slots[0]
    )
