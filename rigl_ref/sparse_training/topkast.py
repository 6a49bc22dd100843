"""Top-KAST (Jayakumar, Pascanu, Rae, Osindero and Elsen, "Top-KAST: Top-K Always Sparse Training",
NeurIPS 2020): the forward pass uses the top-K weights by magnitude, the backward pass updates a larger
top-K set, and an exploration penalty pushes the weights that are only in the backward set towards zero.
No step ever needs a dense gradient.

The rules, one function each (``theta`` are a layer's parameters; D its forward density):

* eq. (1), :func:`forward_set`: ``A = TopK(|theta|, D)``; the forward pass computes with
  ``alpha = theta * 1_A``;
* eq. (2), :func:`backward_set`: ``B = TopK(|theta|, D + M)``, a superset of ``A`` (the same order, a
  longer prefix); the update is ``theta_i <- theta_i - lr * dL/dalpha_i`` for ``i`` in ``B`` only (the
  gradient with respect to ``alpha``, evaluated at ``alpha``: a straight-through estimate for the entries
  of ``B \\ A``, which were 0 in the forward pass), and nothing outside ``B`` moves;
* eq. (3), :func:`penalty_gradient`: the exploration penalty ``|theta_i|`` for ``i`` in ``A``,
  ``|theta_i| / D`` for ``i`` in ``B \\ A`` and 0 elsewhere, times a coefficient ``lam``.

rigl_ref found no official implementation to run (the paper gives the equations); these are the choices
rigl_ref makes where the paper leaves one open, each selectable or stated:

* Top-K counts: ``n_forward`` and ``n_backward`` are given per layer (a run takes them from the sparsity
  distribution at ``sparsity`` and at ``topkast_backward_sparsity``, the convention's count rule);
  ``n_backward >= n_forward`` is required.
* Ties in ``|theta|``: the lower row-major flat index of the layer's stored layout wins (the tie rule of
  every other rigl_ref top-k; ``drop_grow.rank``).
* Penalty norm: eq. (3) as written is an L1 penalty (``norm="l1"``: gradient ``lam * c_i * sign(theta_i)``);
  the default ``norm="l2"`` squares it (``lam / 2 * c_i * theta_i**2``: gradient ``lam * c_i * theta_i``),
  the form in which a run's weight decay regularises every other method, with ``c_i = 1`` on ``A`` and
  ``1 / D`` on ``B \\ A``. A run uses its ``weight_decay`` as ``lam`` and does not decay the Top-KAST
  weights a second time.
* Refresh: the sets are recomputed on the run's update grid (every ΔT steps up to T_end, after the weight
  step; ΔT = 1 is the paper's every-step form). Between refreshes ``A`` and ``B`` stay fixed.
* Optimizer slots (momentum): an entry that stays in ``B`` keeps them, one that enters ``B`` starts at 0,
  one that leaves ``B`` loses them (eq. 2 moves nothing outside ``B``, so no slot may act there).

Two layers, equal bit for bit (``tests/sparse_training/test_topkast.py``):

* the spec layer (dense): :func:`forward_set`, :func:`backward_set`, :func:`penalty_gradient` on the dense
  ``theta``;
* the fast layer: a :class:`~rigl_ref.sparse.CSRWeight` over ``B`` holding ``theta_B``, a bool array
  aligned with its data marking ``A`` (the layer's ``forward_mask``), and a :class:`Reserve` holding the
  non-zero ``theta`` outside ``B`` (the parameters eq. 2 freezes; with a dense initialisation these are
  the other ``N - |B|`` weights: Top-KAST's parameter vector is dense by definition, stored here once and
  read only at a refresh). :func:`csr_refresh` recomputes both sets from ``theta_B`` and the reserve;
  every training step costs O(|B| x batch).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rigl_ref.sparse import CSRWeight, rebuild
from rigl_ref.sparse_training.drop_grow import DropGrowResult, top_k
from rigl_ref.sparse_training.masks import positions_outside
from rigl_ref.validate import check_choice, check_finite

PENALTY_NORMS = ("l2", "l1")


def check_counts(size: int, n_forward: int, n_backward: int) -> tuple[int, int]:
    """``0 <= n_forward <= n_backward <= size`` (ValueError naming the counts otherwise)."""
    n_forward, n_backward = int(n_forward), int(n_backward)
    if not 0 <= n_forward <= n_backward <= int(size):
        raise ValueError(f"Top-KAST needs 0 <= n_forward <= n_backward <= {size} (the layer's size); "
                         f"got n_forward={n_forward}, n_backward={n_backward}")
    return n_forward, n_backward


# ------------------------------------------------------------------ spec layer (dense)


def forward_set(theta: np.ndarray, n_forward: int) -> np.ndarray:
    """Eq. (1): ``A = TopK(|theta|, D)``, the ``n_forward`` largest magnitudes (ties: lower flat index)."""
    return top_k(np.abs(np.asarray(theta)), int(n_forward))


def backward_set(theta: np.ndarray, n_backward: int) -> np.ndarray:
    """Eq. (2): ``B = TopK(|theta|, D + M)``, the ``n_backward`` largest magnitudes (ties as :func:`forward_set`,
    so ``A`` is a subset of ``B`` whenever ``n_forward <= n_backward``)."""
    return top_k(np.abs(np.asarray(theta)), int(n_backward))


def penalty_weights(forward: np.ndarray, backward: np.ndarray, density: float) -> np.ndarray:
    """Eq. (3)'s factor per position: 1 on ``A``, ``1 / D`` on ``B \\ A``, 0 elsewhere (float64)."""
    inside_only_backward = np.asarray(backward) & ~np.asarray(forward)
    return np.where(forward, 1.0, np.where(inside_only_backward, 1.0 / density if density > 0 else 0.0, 0.0))


def penalty_gradient(theta: np.ndarray, forward: np.ndarray, backward: np.ndarray, *, density: float, lam: float,
                     norm: str = "l2") -> np.ndarray:
    """The gradient of ``lam`` x eq. (3)'s penalty, in ``theta``'s dtype: ``lam * c * theta`` (``l2``) or
    ``lam * c * sign(theta)`` (``l1``), ``c`` from :func:`penalty_weights`."""
    norm = check_choice("norm", norm, PENALTY_NORMS)
    theta = np.asarray(theta)
    direction = theta if norm == "l2" else np.sign(theta)
    dtype = theta.dtype.type
    factor = (dtype(lam) * penalty_weights(forward, backward, density).astype(theta.dtype))
    return (factor * direction).astype(theta.dtype)


def masked_update(theta: np.ndarray, gradient_alpha: np.ndarray, backward: np.ndarray, lr: float) -> np.ndarray:
    """Eq. (2) with plain SGD: ``theta - lr * dL/dalpha`` on ``B``, ``theta`` unchanged elsewhere."""
    theta = np.asarray(theta)
    step = theta - theta.dtype.type(lr) * np.asarray(gradient_alpha, theta.dtype)
    return np.where(backward, step, theta).astype(theta.dtype)


# ------------------------------------------------------------------ fast layer (CSR over B)


class Reserve(NamedTuple):
    """The parameters of a layer outside its backward set: sorted row-major flat positions and their
    (non-zero) values. Positions in neither ``B`` nor the reserve hold ``theta = 0``."""

    flat: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls, dtype=np.float32) -> "Reserve":
        return cls(np.zeros(0, np.int64), np.zeros(0, dtype))


class Refresh(NamedTuple):
    """What :func:`csr_refresh` gives: the new ``B`` (weight and slots), ``A`` as flags aligned with its
    data, the new reserve, and the update's account in the fields of a drop/grow result (``dropped``: the
    positions that left ``B``, ``grown``: the ones that entered it)."""

    weight: CSRWeight
    forward_mask: np.ndarray
    reserve: Reserve
    result: DropGrowResult


def ranked_positions(flat: np.ndarray, values: np.ndarray, size: int, k: int) -> np.ndarray:
    """The flat positions of the ``k`` largest ``|theta|``, best first, of a layer of ``size`` positions whose
    non-zero values sit at ``flat`` (any order, distinct) and which is 0 everywhere else: ties to the lower
    flat index, the zeros after every non-zero in increasing index. Every prefix of it is a top-k."""
    flat = np.asarray(flat, np.int64)
    magnitudes = np.abs(np.asarray(values))
    nonzero = magnitudes != 0
    flat, magnitudes = flat[nonzero], magnitudes[nonzero]
    ranked = flat[np.lexsort((flat, -magnitudes))]
    if k <= len(ranked):
        return ranked[:k]
    zeros = positions_outside(np.sort(flat), np.arange(k - len(ranked), dtype=np.int64))
    return np.concatenate((ranked, zeros))


def top_k_positions(flat: np.ndarray, values: np.ndarray, size: int, k: int) -> np.ndarray:
    """The sorted positions of :func:`ranked_positions`: exactly ``top_k(|theta|, k)`` of the dense array,
    without forming it."""
    return np.sort(ranked_positions(flat, values, size, k))


def dense_theta(weight: CSRWeight, reserve: Reserve) -> np.ndarray:
    """The dense parameter array a fast layer holds: ``B``'s stored values and the reserve, 0 elsewhere (the
    spec layer's ``theta``; for tests and inspection, O(N))."""
    theta = np.zeros(weight.size, weight.data.dtype)
    theta[np.asarray(reserve.flat, np.int64)] = reserve.values
    theta[weight.active_flat_indices()] = weight.data
    return theta.reshape(weight.shape)


def csr_refresh(weight: CSRWeight, reserve: Reserve, n_forward: int, n_backward: int, slots=()) -> Refresh:
    """Recompute ``A`` and ``B`` (eqs. 1, 2) from ``theta_B = weight.data`` and the reserve; values move with
    their positions (a position entering ``B`` brings its reserve value), slots as the module docstring."""
    n_forward, n_backward = check_counts(weight.size, n_forward, n_backward)
    check_finite("weight data", weight.data)
    check_finite("reserve values", reserve.values)
    old_flat = weight.active_flat_indices()
    union_flat = np.concatenate((old_flat, np.asarray(reserve.flat, np.int64)))
    union_values = np.concatenate((weight.data, np.asarray(reserve.values, weight.data.dtype)))
    ranked = ranked_positions(union_flat, union_values, weight.size, n_backward)  # one ranking for both sets
    new_backward, new_forward = np.sort(ranked), np.sort(ranked[:n_forward])
    keep = np.isin(old_flat, new_backward, assume_unique=True)
    entering = np.setdiff1d(new_backward, old_flat, assume_unique=True)
    in_reserve = np.isin(reserve.flat, entering, assume_unique=True)
    # an entering position holds its reserve value, or 0 (a zero-valued fill of the top-k)
    entering_values = np.zeros(len(entering), weight.data.dtype)
    entering_values[np.searchsorted(entering, reserve.flat[in_reserve])] = reserve.values[in_reserve]
    rebuilt = rebuild(weight, keep, entering, grow_init=entering_values, aligned=tuple(slots))
    leaving = old_flat[~keep]
    leaving_values = weight.data[~keep]
    stay = ~in_reserve
    reserve_flat = np.concatenate((np.asarray(reserve.flat, np.int64)[stay], leaving))
    reserve_values = np.concatenate((np.asarray(reserve.values, weight.data.dtype)[stay], leaving_values))
    order = np.argsort(reserve_flat, kind="stable")
    kept_values = reserve_values[order] != 0
    new_reserve = Reserve(reserve_flat[order][kept_values], reserve_values[order][kept_values])
    forward_mask = np.isin(rebuilt.weight.active_flat_indices(), new_forward, assume_unique=True)
    nothing = np.zeros(0, np.int64)
    result = DropGrowResult(mask=None, weights=rebuilt.weight, slots=tuple(rebuilt.aligned), dropped=leaving,
                            grown=entering, regrown=nothing, reinitialized=nothing, n_drop=len(leaving),
                            k=len(leaving))
    return Refresh(rebuilt.weight, forward_mask, new_reserve, result)


def initial_split(weight: CSRWeight, n_forward: int, n_backward: int) -> Refresh:
    """The first selection from a weight that stores every initial parameter (the trainer builds the layer
    with all ``N`` Glorot values): :func:`csr_refresh` with an empty reserve."""
    return csr_refresh(weight, Reserve.empty(weight.data.dtype), n_forward, n_backward)


def csr_penalty_gradient(theta_b: np.ndarray, forward_mask: np.ndarray, *, density: float, lam: float,
                         norm: str = "l2") -> np.ndarray:
    """:func:`penalty_gradient` at the entries of ``B`` (aligned with the CSR data; the penalty is 0 outside
    ``B``): the same floats as the dense function there."""
    return penalty_gradient(theta_b, forward_mask, np.ones(len(theta_b), bool), density=density, lam=lam, norm=norm)


# ------------------------------------------------------------------ the method a run drives


class TopKAST:
    """Top-KAST's per-layer counts and penalty (module docstring), applied to CSR layers: the method object
    of the registry (``method = "topkast"``). A run (``rigl_ref.train.methods``) calls :meth:`split` once
    on the densely initialised layers, :meth:`penalty` before every weight step and :meth:`refresh` on its
    update grid; none of them reads a gradient beyond the layer's own (``gradient_use = "none"``)."""

    method = "topkast"
    gradient_use = "none"

    def __init__(self, *, forward_counts, backward_counts, sizes, lam: float, norm: str = "l2"):
        self.forward_counts = tuple(int(n) for n in forward_counts)
        self.backward_counts = tuple(int(n) for n in backward_counts)
        self.sizes = tuple(int(n) for n in sizes)
        if not len(self.forward_counts) == len(self.backward_counts) == len(self.sizes):
            raise ValueError(f"forward_counts, backward_counts and sizes must name the same layers; got "
                             f"{len(self.forward_counts)}, {len(self.backward_counts)} and {len(self.sizes)}")
        for size, n_forward, n_backward in zip(self.sizes, self.forward_counts, self.backward_counts):
            check_counts(size, n_forward, n_backward)
        if isinstance(lam, bool) or not np.isfinite(lam) or lam < 0:
            raise ValueError(f"lam (the exploration penalty's coefficient) must be a finite number >= 0, got {lam!r}")
        self.lam = float(lam)
        self.norm = check_choice("norm", norm, PENALTY_NORMS)

    @classmethod
    def from_run(cls, options) -> "TopKAST":
        return cls(forward_counts=options.topkast_forward_counts, backward_counts=options.topkast_backward_counts,
                   sizes=options.topkast_sizes, lam=options.topkast_penalty, norm=options.topkast_penalty_norm)

    def density(self, index: int) -> float:
        """D of layer ``index``: its forward set's share of the layer."""
        return self.forward_counts[index] / self.sizes[index]

    def split(self, index: int, weight: CSRWeight) -> Refresh:
        """The first ``A``, ``B`` and reserve of layer ``index`` from its weight over every initial parameter."""
        return initial_split(weight, self.forward_counts[index], self.backward_counts[index])

    def refresh(self, index: int, weight: CSRWeight, reserve: Reserve, slots=()) -> Refresh:
        """Eqs. (1), (2) again for layer ``index`` (:func:`csr_refresh`)."""
        return csr_refresh(weight, reserve, self.forward_counts[index], self.backward_counts[index], slots)

    def penalty(self, index: int, theta_b: np.ndarray, forward_mask: np.ndarray) -> np.ndarray:
        """Eq. (3)'s gradient at the entries of ``B`` of layer ``index`` (:func:`csr_penalty_gradient`)."""
        return csr_penalty_gradient(theta_b, forward_mask, density=self.density(index), lam=self.lam, norm=self.norm)
