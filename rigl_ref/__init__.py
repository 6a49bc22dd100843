"""rigl_ref: a reference implementation of RigL (Evci et al., ICML 2020) and its family of
dynamic sparse training methods, in NumPy/SciPy with Numba kernels."""

from rigl_ref._version import __version__

__all__ = ["__version__"]
