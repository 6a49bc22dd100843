"""Every method a run can name, mapped to its updater class (``updaters``): the one table to extend.

An entry's ``updater.from_run(RunOptions)`` builds the updater a training run drives; ``updates`` is
False for the methods whose connectivity is fixed after initialisation (their masks come from
``rigl_ref.train.setup``: random for static, SNIP's sensitivity for snip, all-ones for dense);
``training_flops`` names the method of ``sparse_training.flops`` whose training cost model counts it
(SRigL and N:M are counted as RigL: a dense gradient every ΔT), or None where none is modelled (GraNet,
GSE, Top-KAST: a run reports their inference FLOPs only). Top-KAST is not a drop/grow updater: a run
drives it through ``rigl_ref.train.methods.TopKASTRun`` (a forward set inside a stored backward set).
"""

from __future__ import annotations

from typing import NamedTuple

from rigl_ref.sparse_training.granet import GraNet
from rigl_ref.sparse_training.gse import GSE
from rigl_ref.sparse_training.structured_methods import NM, SRigL
from rigl_ref.sparse_training.topkast import TopKAST
from rigl_ref.sparse_training.updaters import SET, SNFS, SNIP, Dense, GradualMagnitudePruning, RigL, Static


class MethodEntry(NamedTuple):
    updater: type
    updates: bool
    training_flops: str | None


METHOD_REGISTRY: dict[str, MethodEntry] = {
    "rigl": MethodEntry(RigL, True, "rigl"),
    "set": MethodEntry(SET, True, "set"),
    "snfs": MethodEntry(SNFS, True, "snfs"),
    "pruning": MethodEntry(GradualMagnitudePruning, True, "pruning"),
    "granet": MethodEntry(GraNet, True, None),
    "gse": MethodEntry(GSE, True, None),
    "srigl": MethodEntry(SRigL, True, "rigl"),
    "nm": MethodEntry(NM, True, "rigl"),
    "topkast": MethodEntry(TopKAST, True, None),
    "static": MethodEntry(Static, False, "static"),
    "snip": MethodEntry(SNIP, False, "snip"),
    "dense": MethodEntry(Dense, False, "dense"),
    "small-dense": MethodEntry(Dense, False, "small-dense"),
}
