"""A conformance adapter: SET whose uniform grow scores are the ones the framework drew.

TF1 (``tf.random.uniform``) and jaxpruner (``jax.random.uniform``) draw SET's grow scores from RNGs
NumPy cannot reproduce; their suites store the draw, and this updater grows from it. Everything else is
the registry's SET (``rigl_ref.sparse_training.updaters.SET``).
"""

from __future__ import annotations

from rigl_ref.sparse_training.framework_options import ZERO_INIT
from rigl_ref.sparse_training.updaters import SET


class StoredScores(SET):
    """SET with the stored uniform draw ``scores`` (one layer) as its grow score."""

    def __init__(self, convention, scores, *, init=ZERO_INIT):
        super().__init__(convention, init=init)
        self.scores = scores

    def grow_score(self, index, layer, grad, rng):
        return self.scores
