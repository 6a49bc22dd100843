"""Every Numba compilation option of rigl_ref, in one place.

All kernels are compiled with :func:`jit` (a small helper of a hot loop with :func:`jit_inline`, the same
options, inlined into its caller). The options are fixed for exactness and reproducibility:

* ``fastmath=False``: LLVM may not reassociate floating-point sums, so every kernel's summation order is
  the one written in its source and documented in its docstring (the same on every CPU);
* no ``parallel=True``: no parallel reductions, and one thread (two Numba threads on this shared 2-core
  machine were measured 10-100x slower under contention, ``bench/kernels.py``);
* ``cache=True``: compiled machine code is cached next to the source, so only the first run compiles;
* ``nogil=True``: a kernel releases the GIL (harmless, lets callers use threads of their own).

The one exception is the ``fast`` kernel mode (``fast.py``), compiled by :func:`jit_fast` with
:data:`FAST_JIT_OPTIONS`: LLVM may reassociate and contract (FMA) its sums, so its results depend on the
CPU's vector width and differ from the exact kernels within stated bounds; it is chosen by name
(``RunConfig.kernels = "fast"``), never silently.

Setting the environment variable ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain Python (slow, same
results); the test suite checks that each kernel still works that way.
"""

from __future__ import annotations

import numba

JIT_OPTIONS = dict(cache=True, fastmath=False, nogil=True)
#: ``fast`` mode: reassociation, FMA contraction and ignoring the sign of zero; NaN and Inf keep their
#: IEEE meaning (no ``nnan``/``ninf``), so a NaN still propagates to the output.
FAST_JIT_OPTIONS = dict(cache=True, fastmath={"reassoc", "contract", "nsz"}, nogil=True)


def jit(function):
    """Compile ``function`` with :data:`JIT_OPTIONS` (with :func:`jit_inline` and :func:`jit_fast`, the only
    Numba decorators used in rigl_ref)."""
    return numba.njit(**JIT_OPTIONS)(function)


def jit_inline(function):
    """Compile ``function`` with :data:`JIT_OPTIONS`, inlined by Numba into every kernel that calls it
    (``inline="always"``): a small helper of a hot loop, where a call of its own keeps LLVM from
    optimising across it (measured on ``csr_matmul``: docstring of ``csr._add_row_entries``)."""
    return numba.njit(inline="always", **JIT_OPTIONS)(function)


def jit_fast(function):
    """Compile ``function`` with :data:`FAST_JIT_OPTIONS` (the ``fast`` kernels of ``fast.py`` only)."""
    return numba.njit(**FAST_JIT_OPTIONS)(function)
