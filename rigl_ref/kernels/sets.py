"""Membership between sorted position sets in one linear pass (the set algebra of a drop/grow update).

``sorted_in(a, b)[i]`` is whether ``a[i]`` occurs in ``b``, for ``a`` and ``b`` sorted in increasing order
(the flat positions of a CSR pattern, and every set derived from them, are). A two-pointer merge: O(len(a)
+ len(b)) with no allocation but the output, where ``np.isin`` sorts the concatenation of both (measured:
about 1.2 ms for 50 000 against 50 000 positions, ~20 of them per RigL update of a 784-1000-1000-10 MLP).
``sorted_membership(a, b)`` gives both directions, ``(sorted_in(a, b), sorted_in(b, a))``, from one such
merge. Their NumPy twins are ``np.isin`` (``reference.sorted_in``, ``reference.sorted_membership``).
"""

from __future__ import annotations

import numpy as np

from .jit import jit


@jit
def sorted_in(a, b):
    """Whether each element of the sorted array ``a`` is in the sorted array ``b`` (bool, shape of ``a``);
    raises ``ValueError`` if either is not sorted in non-decreasing order."""
    _check_sorted(a, b, "sorted_in")
    out = np.zeros(a.shape[0], dtype=np.bool_)
    j = 0
    for i in range(a.shape[0]):
        while j < b.shape[0] and b[j] < a[i]:
            j += 1
        out[i] = j < b.shape[0] and b[j] == a[i]
    return out


@jit
def sorted_membership(a, b):
    """``(sorted_in(a, b), sorted_in(b, a))`` from one merge, for sorted arrays of distinct values (the
    position sets of a drop/grow update, where the old and the new pattern are compared both ways); raises
    ``ValueError`` if either is not sorted."""
    _check_sorted(a, b, "sorted_membership")
    a_in_b = np.zeros(a.shape[0], dtype=np.bool_)
    b_in_a = np.zeros(b.shape[0], dtype=np.bool_)
    i = j = 0
    while i < a.shape[0] and j < b.shape[0]:
        if a[i] < b[j]:
            i += 1
        elif b[j] < a[i]:
            j += 1
        else:
            a_in_b[i] = b_in_a[j] = True
            i += 1
            j += 1
    return a_in_b, b_in_a


@jit
def _check_sorted(a, b, name):
    for i in range(1, a.shape[0]):
        if a[i] < a[i - 1]:
            raise ValueError(name + ": the first array is not sorted")
    for j in range(1, b.shape[0]):
        if b[j] < b[j - 1]:
            raise ValueError(name + ": the second array is not sorted")
