"""Guided Stochastic Exploration (GSE; Heddes et al., "Always-Sparse Training by Growing Connections with
Guided Stochastic Exploration", 2024), uniform sampling variant: RigL whose grow step scores a random subset
of the inactive connections instead of all of them, so no step ever touches the dense gradient.

At every mask update of a layer with ``n`` active connections out of ``N``:

1. sample ``m = min(N - n, ceil(gamma * n))`` distinct inactive positions uniformly
   (:func:`sampled_candidates`; ``gamma`` is the subset sampling factor, the size of the subset relative
   to the active set);
2. score each by ``|dL/dtheta|`` at that position only (SDDMM of the recorded factors,
   ``GrowthInputs.gradient_at``: O(m x batch), not O(N x batch));
3. drop as RigL (the convention's magnitude rule and counts) and grow the ``k`` best-scored candidates
   (ties: the lower flat index); every position outside the sample scores below all of them
   (``CandidateScores``), which is how the dense spec layer ranks the same choice.

Everything else (counts, cosine drop fraction, T_end, zero-initialised new weights) is RigL's. Exact
RigL (``method="rigl"``) stays as it is: GSE is its own method (``method="gse"``). The sample comes from
the update's Generator (one ``rng.integers`` call per layer, ``masks.random_inactive_indices``), so a
seed fixes it. Conventions whose grow candidates are lifted above the maximum score (jaxpruner's
``kept_lifted_above_max``) are refused: lifting interacts with the -1 score of unsampled positions in
ways no framework defines for a sampled grow step.
"""

from __future__ import annotations

import math

import numpy as np

from rigl_ref.sparse import CandidateScores, GrowthInputs
from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, rule_table
from rigl_ref.sparse_training.framework_options import ZERO_INIT
from rigl_ref.sparse_training.layer_states import LayerState
from rigl_ref.sparse_training.masks import random_inactive_indices
from rigl_ref.sparse_training.updaters import RigL

_SAMPLED_GROWTH_DEFINED = rule_table("grow_candidates", {
    "not_kept": True,
    "inactive_only": True,
    "not_kept_lifted_below_min": True,
    "kept_lifted_above_max": False,
})


def sample_size(n_active: int, size: int, sample_factor: float) -> int:
    """``m = min(N - n, ceil(gamma * n))``: how many inactive positions GSE scores (module docstring)."""
    return min(int(size) - int(n_active), math.ceil(sample_factor * int(n_active)))


def sampled_candidates(active_flat: np.ndarray, size: int, sample_factor: float, rng) -> np.ndarray:
    """The sorted flat positions GSE scores: ``sample_size`` of them, uniform among the inactive ones."""
    count = sample_size(len(active_flat), size, sample_factor)
    return random_inactive_indices(active_flat, size, count, rng)


def candidate_scores(gradient, flat: np.ndarray) -> CandidateScores:
    """``|dL/dtheta|`` at ``flat`` only: SDDMM of recorded factors (``GrowthInputs``) or a dense gradient's
    values there."""
    if isinstance(gradient, GrowthInputs):
        values = gradient.gradient_at(flat)
    else:
        values = np.asarray(gradient).reshape(-1)[flat]
    return CandidateScores(flat=flat, scores=np.abs(values))


class GSE(RigL):
    """RigL with growth scored on a uniform sample of ``sample_factor`` x n inactive positions (module
    docstring); the gradient feed and init as RigL's."""

    method = "gse"

    def __init__(self, convention=DEFAULT_CONVENTION, *, sample_factor: float = 1.0, gradients=None,
                 init=ZERO_INIT):
        super().__init__(convention, gradients=gradients, init=init)
        if isinstance(sample_factor, bool) or not np.isfinite(sample_factor) or sample_factor <= 0:
            raise ValueError(f"sample_factor must be a finite number > 0, got {sample_factor!r}")
        if not _SAMPLED_GROWTH_DEFINED[self.convention.grow_candidates]:
            raise ValueError(f"GSE does not support convention {self.convention.name!r} "
                             f"(grow_candidates={self.convention.grow_candidates!r}): lifting kept positions "
                             f"above the maximum score is not defined for a sampled grow step")
        self.sample_factor = float(sample_factor)

    @classmethod
    def from_run(cls, options):
        return cls(options.convention, sample_factor=options.gse_sample_factor, gradients=options.gradients,
                   init=options.init)

    def grow_score(self, index, layer, grad, rng):
        if rng is None:
            raise TypeError("GSE.update needs rng (a seed or numpy.random.Generator) to sample grow candidates")
        if isinstance(layer, LayerState):
            active, size = np.flatnonzero(layer.mask), layer.mask.size
        else:
            active, size = layer.weight.active_flat_indices(), layer.weight.size
        return candidate_scores(grad, sampled_candidates(active, size, self.sample_factor, rng))
