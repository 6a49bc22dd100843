"""Handler of the ``tf1_update`` suite: google-research/rigl ``SparseSETOptimizerBase._get_update_op``.

Each case is one TF1 mask update (noise off) of one layer, run in TF 2.21 ``compat.v1``. rigl_ref builds
the method's updater (``rigl_ref.sparse_training.updaters``: RigL, SNFS holding the EMA the graph held,
TF1Static, SET with TF's stored uniform draw), checks its drop and grow scores against the stored ones,
then runs its update under ``convention="tf1"``. RigL cases
(``SparseRigLOptimizerBase``) write ``grad * initial_acc_scale`` into the slot of new connections and
may grow with ``grad_scale``/``grad_sign``. Everything is compared exactly: the TF op involves no
arithmetic that NumPy cannot reproduce (float32 products, casts, stable top-k).
"""

from __future__ import annotations

import numpy as np

from rigl_ref.conformance.compare import compare_exact
from rigl_ref.sparse_training.drop_grow import score_drop
from rigl_ref.sparse_training.framework_options import ZERO_INIT, TF1GrowInit
from rigl_ref.sparse_training.updaters import SNFS, LayerState, RigL, TF1Static
from rigl_ref.conformance.handlers.stored_scores import StoredScores


def _updater(method: str, params, arrays, init):
    """The registry's updater for the case's method, fed the state the TF graph held."""
    if method == "rigl":
        return RigL("tf1", init=init)
    if method == "snfs":
        updater = SNFS("tf1", init=init)
        updater.ema = [arrays["ema"]]
        return updater
    if method == "static":
        return TF1Static("tf1", init=init)
    return StoredScores("tf1", arrays["score_grow"], init=init)


def run_case(case, arrays):
    params = case["params"]
    mask, weights = arrays["mask"], arrays["weights"]
    method = params["method"]
    rigl = params["optimizer_class"] == "SparseRigLOptimizerBase"
    init = TF1GrowInit(params["grow_init"], params["initial_acc_scale"]) if rigl else ZERO_INIT
    updater = _updater(method, params, arrays, init)
    updater.reinit_when_same = params["reinit_when_same"]
    layer = LayerState(mask, weights, (arrays["slot"],))
    grads = [arrays["grad"]] if (rigl or method == "rigl") else None
    mismatches = compare_exact("score_drop", arrays["score_drop"], score_drop(mask, weights, "tf1"))
    mismatches += compare_exact("score_grow", arrays["score_grow"],
                                updater.grow_score(0, layer, None if grads is None else grads[0], None))
    (result,) = updater.update([layer], drop_fraction=arrays["drop_fraction"], grads=grads)
    return (
        mismatches
        + compare_exact("mask", arrays["expected_mask"], result.mask)
        + compare_exact("weights", arrays["expected_weights"], result.weights)
        + compare_exact("slot", arrays["expected_slot"], result.slots[0])
    )
