"""Layer 1: the truly sparse weight (``CSRWeight``) and its pattern rebuild after a drop/grow
update, and ``GrowthInputs`` (the factors of a dense gradient that RigL's grow step ranks blockwise)."""

from .csr_weight import CSRWeight, flat_to_pattern
from .growth import CandidateScores, GrowthInputs
from .rebuild import rebuild

__all__ = ["CSRWeight", "CandidateScores", "GrowthInputs", "flat_to_pattern", "rebuild"]
