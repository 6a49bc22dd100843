"""Handler of the ``tf1_update`` suite: google-research/rigl ``SparseSETOptimizerBase._get_update_op``.

Each case is one TF1 mask update (noise off) of one layer, run in TF 2.21 ``compat.v1``. rigl_ref
recomputes both scores from the raw inputs (``score_drop = |mask * w|``; ``score_grow`` = |grad| for
rigl, |ema| for snfs, the old mask for static, the stored uniform scores for set), checks them against
the stored ones, then runs :func:`rigl_ref.drop_grow` under ``convention="tf1"``. RigL cases
(``SparseRigLOptimizerBase``) write ``grad * initial_acc_scale`` into the slot of new connections and
may grow with ``grad_scale``/``grad_sign``. Everything is compared exactly: the TF op involves no
arithmetic that NumPy cannot reproduce (float32 products, casts, stable top-k).
"""

from __future__ import annotations

import numpy as np

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.drop_grow import drop_grow, score_drop
from rigl_ref.sparse_training.updaters import tf1_grow_init


def run_case(case, arrays):
    params = case["params"]
    mask, weights = arrays["mask"], arrays["weights"]
    grow_scores = {
        "rigl": lambda: np.abs(arrays["grad"]),
        "snfs": lambda: np.abs(arrays["ema"]),
        "static": lambda: mask,
        "set": lambda: arrays["score_grow"],
    }[params["method"]]()
    drop_scores = score_drop(mask, weights, "tf1")
    mismatches = compare_exact("score_drop", arrays["score_drop"], drop_scores)
    mismatches += compare_exact("score_grow", arrays["score_grow"], grow_scores)

    rigl = params["optimizer_class"] == "SparseRigLOptimizerBase"
    grad = arrays["grad"] if rigl else None
    result = drop_grow(
        mask, weights, drop_scores, grow_scores, arrays["drop_fraction"],
        convention="tf1",
        reinit_when_same=params["reinit_when_same"],
        grow_init=tf1_grow_init(params["grow_init"], grad) if rigl else 0.0,
        slots=(arrays["slot"],),
        slot_init=grad * np.float32(params["initial_acc_scale"]) if rigl else 0.0,
    )
    return (
        mismatches
        + compare_exact("mask", arrays["expected_mask"], result.mask)
        + compare_exact("weights", arrays["expected_weights"], result.weights)
        + compare_exact("slot", arrays["expected_slot"], result.slots[0])
    )
