"""Handler of the ``jaxpruner_rigl`` suite: jaxpruner ``RigL.update_state``.

Each case is one update of one leaf under ``convention="jaxpruner"``: drop score |params|, grow score
|grads|, jaxpruner's float32 counts and score lifts, the SGD momentum ``trace`` zeroed at newly
activated positions. Mask and trace are compared exactly (the suite's notes: tie-free values except
the ``empty_mask`` cases, whose ties jaxpruner breaks by lower flat index as rigl_ref does).
"""

from __future__ import annotations

import numpy as np

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.drop_grow import drop_grow, score_drop


def run_case(case, arrays):
    return run_jaxpruner_update(arrays, np.abs(arrays["grads"]))


def run_jaxpruner_update(arrays, grow_scores):
    """Run one jaxpruner-suite case with the given grow scores; shared with the SET handler."""
    result = drop_grow(
        arrays["mask"], arrays["params"],
        score_drop(arrays["mask"], arrays["params"], "jaxpruner"),
        grow_scores,
        arrays["drop_fraction"],
        convention="jaxpruner",
        slots=(arrays["trace"],),
    )
    return compare_exact("mask", arrays["expected_mask"], result.mask) + compare_exact(
        "trace", arrays["expected_trace"], result.slots[0]
    )
