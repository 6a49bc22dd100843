"""Handler of the ``jaxpruner_set`` suite: jaxpruner ``jaxpruner/algorithms/sparse_trainers.py``
``SET.update_state``.

As ``jaxpruner_rigl``, with SET growing from the scores that ``SET._get_grow_scores`` drew (stored as
``score_grow``; the suite's notes show that overriding them reproduces the outputs, so they are an
input). Ties inside those float32 uniforms go to the lower flat index in both implementations.
"""

from __future__ import annotations

from rigl_ref.conformance.handlers.jaxpruner_rigl import run_jaxpruner_update
from rigl_ref.conformance.handlers.stored_scores import StoredScores


def run_case(case, arrays):
    return run_jaxpruner_update(arrays, StoredScores("jaxpruner", arrays["score_grow"]))
