"""rigl_ref: a reference implementation of RigL (Evci et al., ICML 2020) and its family of
dynamic sparse training methods, in NumPy/SciPy with Numba kernels."""

from rigl_ref._version import __version__
from rigl_ref.sparse_training.conventions import PRESETS, Conventions
from rigl_ref.sparse_training.drop_grow import DropGrowResult, drop_grow
from rigl_ref.oracle import Oracle, OracleStep

__all__ = ["__version__", "drop_grow", "DropGrowResult", "Conventions", "PRESETS", "Oracle", "OracleStep"]
