"""Every method a run can name, mapped to its updater class (``updaters``): the one table to extend.

An entry's ``updater.from_run(RunOptions)`` builds the updater a training run drives; ``updates`` is
False for the methods whose connectivity is fixed after initialisation (their masks come from
``rigl_ref.train.setup``: random for static, SNIP's sensitivity for snip, all-ones for dense).
"""

from __future__ import annotations

from typing import NamedTuple

from rigl_ref.sparse_training.granet import GraNet
from rigl_ref.sparse_training.gse import GSE
from rigl_ref.sparse_training.structured_methods import NM, SRigL
from rigl_ref.sparse_training.updaters import SET, SNFS, SNIP, Dense, GradualMagnitudePruning, RigL, Static


class MethodEntry(NamedTuple):
    updater: type
    updates: bool


METHOD_REGISTRY: dict[str, MethodEntry] = {
    "rigl": MethodEntry(RigL, True),
    "set": MethodEntry(SET, True),
    "snfs": MethodEntry(SNFS, True),
    "pruning": MethodEntry(GradualMagnitudePruning, True),
    "granet": MethodEntry(GraNet, True),
    "gse": MethodEntry(GSE, True),
    "srigl": MethodEntry(SRigL, True),
    "nm": MethodEntry(NM, True),
    "static": MethodEntry(Static, False),
    "snip": MethodEntry(SNIP, False),
    "dense": MethodEntry(Dense, False),
    "small-dense": MethodEntry(Dense, False),
}
