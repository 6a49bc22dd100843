"""Layer 1: the truly sparse weight (``CSRWeight``) and its pattern rebuild after a drop/grow update."""

from .csr_weight import CSRWeight
from .rebuild import rebuild

__all__ = ["CSRWeight", "rebuild"]
