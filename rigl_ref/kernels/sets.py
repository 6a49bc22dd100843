"""Membership between sorted position sets in one linear pass (the set algebra of a drop/grow update).

``sorted_in(a, b)[i]`` is whether ``a[i]`` occurs in ``b``, for ``a`` and ``b`` sorted in increasing order
(the flat positions of a CSR pattern, and every set derived from them, are). A two-pointer merge: O(len(a)
+ len(b)) with no allocation but the output, where ``np.isin`` sorts the concatenation of both (measured:
about 1.2 ms for 50 000 against 50 000 positions, ~20 of them per RigL update of a 784-1000-1000-10 MLP).
Its NumPy twin is ``np.isin`` (``reference.sorted_in``).
"""

from __future__ import annotations

import numpy as np

from .jit import jit


@jit
def sorted_in(a, b):
    """Whether each element of the sorted array ``a`` is in the sorted array ``b`` (bool, shape of ``a``);
    raises ``ValueError`` if either is not sorted in non-decreasing order."""
    out = np.zeros(a.shape[0], dtype=np.bool_)
    for i in range(1, a.shape[0]):
        if a[i] < a[i - 1]:
            raise ValueError("sorted_in: the first array is not sorted")
    for j in range(1, b.shape[0]):
        if b[j] < b[j - 1]:
            raise ValueError("sorted_in: the second array is not sorted")
    j = 0
    for i in range(a.shape[0]):
        while j < b.shape[0] and b[j] < a[i]:
            j += 1
        out[i] = j < b.shape[0] and b[j] == a[i]
    return out
