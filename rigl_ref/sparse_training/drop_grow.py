"""The drop/grow step of RigL's Algorithm 1 on dense boolean masks: the spec layer.

Algorithm 1 (Evci et al., ICML 2020) updates each sparse layer l every dT steps::

    k       = f_decay(t; alpha, T_end) * (1 - s_l) * N_l            # how many connections move
    I_drop  = ArgTopK(-|theta_l|, k)                                 # weakest active connections
    I_grow  = ArgTopK_{i not in theta_l \\ I_drop}(|grad_l L_t|, k)   # strongest missing connections
    theta_l = (theta_l \\ I_drop) U I_grow,  grown weights start at 0

One short function per line, with the paper's symbols:

* :func:`score_drop` is the magnitude score |theta_l| (grow scores come from the updaters);
* :func:`drop_count` gives k from the active count (``(1 - s_l) N_l`` is the active count ``n``);
  :func:`grow_count` gives |I_grow| (k, except jaxpruner refills to its own rounding);
* :func:`drop_set` ranks the drop scores and returns the kept set ``theta_l \\ I_drop`` and ``I_drop``;
* :func:`grow_set` ranks the grow scores among the candidates and returns the new mask;
* :func:`drop_grow` validates the inputs, chains the steps and writes weights and optimizer slots.

Where implementations disagree, a :class:`~rigl_ref.sparse_training.conventions.Conventions` field
decides (``docs/conventions.md``). Ranking everywhere: higher score first, ties to the lower row-major
flat index (``np.argsort(-score, kind="stable")``, the order of ``tf.math.top_k`` and ``jnp.argsort``).
Nothing here draws random numbers: scores come in as arrays. Inputs are never modified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, get_convention, rule_table
from rigl_ref.validate import check_finite, check_in_closed_unit_interval, check_positive_int, check_same_shape

# jaxpruner's SET.eps: the margin of its score lifts (sparse_trainers.py).
JAXPRUNER_EPS = np.float32(1e-5)


@dataclass(frozen=True)
class DropGrowResult:
    """Outcome of one drop/grow update of one layer, from either executor (same names, two layouts).

    :func:`drop_grow` (dense masks) gives arrays of the layer's shape; ``csr_drop_grow`` (CSR) gives the
    rebuilt :class:`~rigl_ref.sparse.CSRWeight` as ``weights``, ``slots`` aligned with its data, position
    sets as sorted row-major flat indices, and ``mask=None`` (the pattern of ``weights`` is the mask;
    :meth:`dense_mask` builds it when asked).

    Attributes:
        mask: the new boolean mask theta_l' (dense executor).
        weights: the new weights (grown ones set per ``Conventions.grown_weight``, inactive ones per
            ``Conventions.weights_outside_mask``), or the new CSRWeight.
        slots: the optimizer slots, in the order given.
        dropped: positions active before and inactive now (the connections that left).
        grown: positions inactive before and active now (truly new connections).
        regrown: positions of I_drop that the grow step picked again in the same update.
        reinitialized: positions whose weight was set to the grow value and whose slots were reset
            (``Conventions.reset_scope``; with ``reinit_when_same`` it includes ``regrown``).
        n_drop: |I_drop|, the number of active connections that left the kept set.
        k: the drop count as the framework computes it (Algorithm 1's k, ``drop_count``; TF1's
            ``n_prune = int32(float32(nnz) * float32(f))``). It equals ``n_drop`` except under
            ``drop_ranking="all_positions"`` with ties at score 0, where an inactive position can take
            one of the n - k kept places from an active zero weight: the framework "prunes" k, but
            ``n_drop = k + (such places)`` active connections leave. jaxpruner's k can be -1 (an empty
            mask keeps one inactive position, so ``n_drop = 0``).
    """

    mask: np.ndarray | None
    weights: object
    slots: tuple
    dropped: np.ndarray
    grown: np.ndarray
    regrown: np.ndarray
    reinitialized: np.ndarray
    n_drop: int
    k: int

    def dense_mask(self) -> np.ndarray:
        """The new mask as a dense bool array (built from the CSR pattern for the CSR executor)."""
        return self.mask if self.mask is not None else self.weights.to_dense()[0]

    def dense_weights(self) -> np.ndarray:
        """The new weights as a dense array (zeros outside a CSR pattern)."""
        return self.weights if self.mask is not None else self.weights.to_dense()[1]


class DropStep(NamedTuple):
    """The drop step's outcome: ``kept`` = theta_l \\ I_drop and ``dropped`` = I_drop."""

    kept: np.ndarray
    dropped: np.ndarray


# --- k and |I_grow| ---------------------------------------------------------------------------------


def drop_count(n_active: int, drop_fraction: float, convention=DEFAULT_CONVENTION, *, size: int | None = None) -> int:
    """k: how many active connections the drop step removes (``Conventions.drop_count_rule``).

    ``size`` (N, the number of positions of the layer) is needed only by jaxpruner's rule, whose kept
    count is rounded from densities; there k = n - kept can be -1 (an empty mask keeps one position).
    """
    conv = get_convention(convention)
    n_active = _check_count("n_active", n_active)
    fraction = check_in_closed_unit_interval("drop_fraction", drop_fraction)
    return _DROP_COUNTS[conv.drop_count_rule](n_active, fraction, size)


def _k_floor_exact(n_active: int, fraction: float, size) -> int:
    return math.floor(Fraction(fraction) * n_active)


def _k_float32_truncate(n_active: int, fraction: float, size) -> int:
    return int(np.float32(n_active) * np.float32(fraction))


def _k_float64_truncate(n_active: int, fraction: float, size) -> int:
    return int(n_active * fraction)


def _k_jaxpruner_round_kept(n_active: int, fraction: float, size) -> int:
    kept, _ = _jaxpruner_counts(n_active, _size_for_jaxpruner(size, n_active), fraction)
    return n_active - kept


_DROP_COUNTS = rule_table("drop_count_rule", {
    "floor_exact": _k_floor_exact,
    "float32_truncate": _k_float32_truncate,
    "float64_truncate": _k_float64_truncate,
    "jaxpruner_round_kept": _k_jaxpruner_round_kept,
})


def grow_count(n_active: int, drop_fraction: float, convention=DEFAULT_CONVENTION, *, size: int | None = None) -> int:
    """|I_grow|: how many connections the grow step adds (``Conventions.grow_count_rule``)."""
    conv = get_convention(convention)
    k = drop_count(n_active, drop_fraction, conv, size=size)
    return _GROW_COUNTS[conv.grow_count_rule](n_active, float(drop_fraction), size, k)


def _grow_equal_to_dropped(n_active: int, fraction: float, size, k: int) -> int:
    return k


def _grow_refill_to_density(n_active: int, fraction: float, size, k: int) -> int:
    kept, final = _jaxpruner_counts(n_active, _size_for_jaxpruner(size, n_active), fraction)
    return final - kept


_GROW_COUNTS = rule_table("grow_count_rule", {
    "equal_to_dropped": _grow_equal_to_dropped,
    "refill_to_density": _grow_refill_to_density,
})


def _jaxpruner_counts(n_active: int, size: int, drop_fraction: float) -> tuple[int, int]:
    """(kept, final) active counts exactly as jaxpruner's float32 arithmetic yields them.

    SET._update_masks: d = sum(mask) / size; s_mid = 1 - d * (1 - f); then :func:`jaxpruner_num_ones`
    at s = s_mid (the kept set) and at s = 1 - d (the refilled mask).
    """
    one = np.float32(1)
    density = np.float32(n_active) / np.float32(size)
    s_mid = one - density * (one - np.float32(drop_fraction))
    return jaxpruner_num_ones(size, s_mid), jaxpruner_num_ones(size, one - density)


def jaxpruner_num_ones(size: int, sparsity) -> int:
    """How many of ``size`` positions jaxpruner keeps active at ``sparsity``, exactly as it computes it.

    jaxpruner ``mask_calculator._topk_mask_calculator_internal`` (under ``jax.jit``, so in float32):
    ``size`` if the sparsity is exactly 0, else ``max(1, round_half_even(float32(size) * (1 - s)))``
    with ``s = float32(sparsity)``; ``jnp.round`` rounds half to even, and a layer never drops to 0.
    One calculator serves jaxpruner's drop/grow counts (:func:`drop_count`, :func:`grow_count`) and its
    initial masks (``distributions.active_count(..., convention="jaxpruner")``). Example: ``size=10``,
    ``sparsity=0.55`` gives 4 (``10 * float32(0.45)`` is 4.5 in float32, rounded to even).
    """
    size = check_positive_int("size", size)
    sparsity = np.float32(check_in_closed_unit_interval("sparsity", sparsity))
    if sparsity == 0:
        return size
    return max(1, int(np.round(np.float32(size) * (np.float32(1) - sparsity))))


def _size_for_jaxpruner(size, n_active: int) -> int:
    if size is None:
        raise ValueError("size (the number of positions of the layer) is required by the jaxpruner count rule")
    size = check_positive_int("size", size)
    if n_active > size:
        raise ValueError(f"n_active={n_active} exceeds size={size}")
    return size


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


# --- scores ---------------------------------------------------------------------------------------------


def score_drop(mask, weights, convention=DEFAULT_CONVENTION) -> np.ndarray:
    """The magnitude drop score |theta| of Algorithm 1, per ``Conventions.drop_score``.

    ``abs_masked_weight``: |mask * w| in the weights' dtype (TF ``abs(cast(mask) * weights)``), so
    inactive positions score 0; ``abs_weight``: |w| including raw inactive weights (rigl-torch, jaxpruner).
    """
    weights = np.asarray(weights)
    return _DROP_SCORES[get_convention(convention).drop_score](np.asarray(mask), weights)


def _abs_masked_weight(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.abs(mask.astype(weights.dtype) * weights)


def _abs_weight(mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.abs(weights)


_DROP_SCORES = rule_table("drop_score", {"abs_masked_weight": _abs_masked_weight, "abs_weight": _abs_weight})


# --- ranking ------------------------------------------------------------------------------------------


def rank(scores: np.ndarray) -> np.ndarray:
    """Flat indices by decreasing score, ties to the lower flat index (the tie rule of every preset)."""
    return np.argsort(-scores.reshape(-1), kind="stable")


def top_k(scores: np.ndarray, k: int, among: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask (shape of ``scores``) of the ``k`` best positions, restricted to ``among`` if given."""
    order = rank(scores)
    if among is not None:
        order = order[among.reshape(-1)[order]]
    chosen = np.zeros(scores.size, dtype=bool)
    chosen[order[: max(k, 0)]] = True
    return chosen.reshape(scores.shape)


# --- the two steps of Algorithm 1 -----------------------------------------------------------------------


def drop_set(mask: np.ndarray, drop_scores: np.ndarray, k: int, convention=DEFAULT_CONVENTION) -> DropStep:
    """I_drop = ArgTopK(-score_drop, k): keep the n - k best drop scores (``Conventions.drop_ranking``).

    ``mask`` is boolean. With ``drop_ranking="all_positions"`` an inactive position may win a kept
    place (TF1's top_k over the whole tensor); it then appears in ``kept`` but not in ``mask``.
    """
    conv = get_convention(convention)
    kept = _DROP_RANKINGS[conv.drop_ranking](mask, as_float_scores(drop_scores), int(mask.sum()) - k)
    return DropStep(kept=kept, dropped=mask & ~kept)


def _keep_best_active(mask, scores, n_keep):
    return top_k(scores, n_keep, among=mask)


def _keep_best_anywhere(mask, scores, n_keep):
    return top_k(scores, n_keep)


def _keep_best_inactive_lifted_below_min(mask, scores, n_keep):
    """jaxpruner's lowest_score = min(score) - eps in the scores' float dtype for inactive positions."""
    lowest = scores.dtype.type(scores.min() - JAXPRUNER_EPS)
    return top_k(np.where(mask, scores, lowest), n_keep)


_DROP_RANKINGS = rule_table("drop_ranking", {
    "active_only": _keep_best_active,
    "all_positions": _keep_best_anywhere,
    "inactive_lifted_below_min": _keep_best_inactive_lifted_below_min,
})


def grow_set(
    mask: np.ndarray, kept: np.ndarray, grow_scores: np.ndarray, n_grow: int, convention=DEFAULT_CONVENTION
) -> np.ndarray:
    """theta_l' = kept U I_grow, I_grow = ArgTopK of score_grow among the candidates (``grow_candidates``).

    ``mask`` is the boolean mask before the update (needed by ``grow_candidates="inactive_only"``).
    """
    conv = get_convention(convention)
    return _GROW_CANDIDATES[conv.grow_candidates](mask, kept, as_float_scores(grow_scores), n_grow)


def _grow_not_kept(mask, kept, scores, n_grow):
    return kept | top_k(scores, n_grow, among=~kept)


def _grow_inactive_only(mask, kept, scores, n_grow):
    return kept | top_k(scores, n_grow, among=~kept & ~mask)


def _grow_not_kept_lifted_below_min(mask, kept, scores, n_grow):
    """tf1/rigl-torch: kept scores := min(score) - 1, then the top n_grow over all positions."""
    lifted = np.where(kept, scores.dtype.type(scores.min() - 1), scores)
    grown = top_k(lifted, n_grow)
    if (grown & kept).any():
        raise lift_separation_error(scores.min())
    return kept | grown


def _grow_kept_lifted_above_max(mask, kept, scores, n_grow):
    """jaxpruner: kept scores := max(score) + eps, then the top n_keep + n_grow over all positions."""
    lifted = np.where(kept, scores.dtype.type(scores.max() + JAXPRUNER_EPS), scores)
    return top_k(lifted, int(kept.sum()) + n_grow)


_GROW_CANDIDATES = rule_table("grow_candidates", {
    "not_kept": _grow_not_kept,
    "inactive_only": _grow_inactive_only,
    "not_kept_lifted_below_min": _grow_not_kept_lifted_below_min,
    "kept_lifted_above_max": _grow_kept_lifted_above_max,
})


def as_float_scores(scores: np.ndarray) -> np.ndarray:
    """Scores in their own float dtype (lift arithmetic happens there, as in the frameworks); integer
    scores become float64."""
    return scores if scores.dtype.kind == "f" else scores.astype(np.float64)


def lift_separation_error(min_score) -> ValueError:
    """The error for TF/rigl-torch's ``min(score) - 1`` lift when the float absorbs the ``- 1`` and a kept
    position would be grown again (TF's disjointness assertion in ``_get_update_op`` fails there)."""
    return ValueError(
        "the grow scores are too large for the min(score) - 1 lift to separate kept positions "
        f"(min(score) = {min_score!r}); TF's disjointness assertion would fail here"
    )


# --- the public single-layer update ---------------------------------------------------------------------


def drop_grow(
    mask,
    weights,
    drop_scores,
    grow_scores,
    drop_fraction: float,
    *,
    convention=DEFAULT_CONVENTION,
    reinit_when_same: bool | None = None,
    grow_init=0.0,
    slots=(),
    slot_init=0.0,
    slot_names=None,
) -> DropGrowResult:
    """One drop/grow update of one layer (Algorithm 1, lines "drop" and "grow").

    Args:
        mask: current mask, any dtype holding only 0/1 (bool, float32 as TF1, uint8 as jaxpruner).
        weights: current weights, same shape.
        drop_scores: score_drop (e.g. |mask * w|); the n - k highest are kept.
        grow_scores: score_grow (e.g. |dense gradient| for RigL, uniform for SET); the best candidates grow.
        drop_fraction: f_decay(t) in [0, 1], exactly as the framework passes it (the count rule casts it).
        convention: a preset name ("paper", "tf1", "tf2", "rigl_torch", "jaxpruner") or a Conventions record.
        reinit_when_same: re-initialise connections dropped and regrown in this update too (TF1
            ``reinit_when_same``); None uses the convention's value (False in every preset).
        grow_init: value of new weights: a scalar, or an array of the layer's shape (TF1 RigL's
            ``grad_scale``/``grad_sign`` grow tensors).
        slots: optimizer state arrays aligned with ``weights`` (momentum, Adam moments...).
        slot_init: value written to the slots of new connections when the convention resets them: a
            scalar, or an array (TF1 RigL writes ``masked_grad * initial_acc_scale``).
        slot_names: one name per slot (e.g. ``("m", "v")`` for Adam, ``("momentum",)`` for SGD), read by
            ``Conventions.masked_slots``; None: every slot counts as SGD momentum.

    Returns:
        A :class:`DropGrowResult`; the inputs are not modified.

    Raises:
        ValueError: bad ``drop_fraction``, non-finite values, shape mismatches, an empty mask or one
            holding values other than 0 and 1, an unknown convention, a grow-score lift that cannot
            separate kept positions (TF's assertion), a non-zero ``grow_init`` under ``grown_weight="unchanged"``.
    """
    conv = get_convention(convention)
    old = check_mask(mask)
    if old.size == 0:
        raise ValueError(f"mask must have at least one position, got shape {old.shape}")
    weights = check_aligned("weights", weights, old)
    drop_scores = check_aligned("drop_scores", drop_scores, old)
    grow_scores = check_aligned("grow_scores", grow_scores, old)
    slots = tuple(check_aligned(f"slots[{i}]", slot, old) for i, slot in enumerate(slots))
    grow_init = check_grow_init_allowed(conv, _check_init("grow_init", grow_init, old))
    slot_init = _check_init("slot_init", slot_init, old)
    n_active, size = int(old.sum()), old.size
    k = drop_count(n_active, drop_fraction, conv, size=size)
    if skips_update(conv, drop_fraction):
        return no_change(old, weights, slots)
    step = drop_set(old, drop_scores, k, conv)
    new = grow_set(old, step.kept, grow_scores, grow_count(n_active, drop_fraction, conv, size=size), conv)
    return write_update(
        old, step, new, weights, slots, conv,
        reinit_when_same=reinit_when_same, grow_init=grow_init, slot_init=slot_init, k=k, slot_names=slot_names,
    )


def write_update(
    old, step: DropStep, new, weights, slots, convention, *, reinit_when_same=None, grow_init=0.0, slot_init=0.0,
    k: int | None = None, slot_names=None,
) -> DropGrowResult:
    """theta_l <- new: write weights and optimizer slots for chosen sets, per the convention.

    ``old`` and ``new`` are boolean masks, ``step`` the drop step that led from one to the other.
    Used by :func:`drop_grow` and by updaters that choose their sets another way (pruning,
    redistribution); the inputs must already be checked (as :func:`drop_grow` does). ``k``: the
    framework's drop count (default |I_drop|).
    """
    conv = get_convention(convention)
    reinit = resolve_reinit_when_same(conv, reinit_when_same)
    picked = new & ~step.kept  # I_grow: positions the grow step added
    fresh = new & ~old if NEW_CONNECTIONS_INCLUDE_KEPT_INACTIVE[conv.reset_scope] else picked & ~old
    reinitialized = fresh | (picked & old) if reinit else fresh
    return DropGrowResult(
        mask=new,
        weights=_written(weights, new, reinitialized, grow_init, reset=WRITES_GROWN_WEIGHT[conv.grown_weight],
                         zero_outside=ZEROES_OUTSIDE_MASK[conv.weights_outside_mask]),
        slots=tuple(
            _written(slot, new, reinitialized, slot_init, reset=conv.reset_slots_of_new,
                     zero_outside=ZEROES_OUTSIDE_MASK[conv.slots_outside_mask]) if masked else slot.copy()
            for slot, masked in zip(slots, masked_slots(conv, slot_names, len(slots)))
        ),
        dropped=old & ~new,
        grown=new & ~old,
        regrown=picked & old,
        reinitialized=reinitialized,
        n_drop=int(step.dropped.sum()),
        k=int(step.dropped.sum()) if k is None else int(k),
    )


#: reset_scope: whether a position that becomes active without being grown (an inactive one that won a
#: kept place under drop_ranking="all_positions"/jaxpruner's lift) counts as a new connection.
NEW_CONNECTIONS_INCLUDE_KEPT_INACTIVE = rule_table(
    "reset_scope", {"grown_not_previously_active": False, "newly_active": True}
)
#: grown_weight: whether grown connections are written with grow_init (else left as they are).
WRITES_GROWN_WEIGHT = rule_table("grown_weight", {"grow_init": True, "unchanged": False})
#: weights_outside_mask / slots_outside_mask: whether inactive positions are set to 0.
ZEROES_OUTSIDE_MASK = rule_table("weights_outside_mask", {"zeroed": True, "kept": False})


#: Conventions.zero_fraction_update: whether an update at drop fraction 0 is skipped.
SKIPS_AT_ZERO_FRACTION = rule_table("zero_fraction_update", {"runs": False, "skipped": True})


def skips_update(convention, drop_fraction: float) -> bool:
    """Whether the convention skips this update altogether (tf2 at drop fraction 0)."""
    return SKIPS_AT_ZERO_FRACTION[get_convention(convention).zero_fraction_update] and float(drop_fraction) <= 0.0


def no_change(mask: np.ndarray, weights: np.ndarray, slots: tuple) -> DropGrowResult:
    """The result of a dense update that moves nothing (copies, so callers may write into them)."""
    nothing = np.zeros_like(mask, dtype=bool)
    return DropGrowResult(mask=mask.copy(), weights=np.array(weights, copy=True),
                          slots=tuple(np.array(s, copy=True) for s in slots), dropped=nothing,
                          grown=nothing.copy(), regrown=nothing.copy(), reinitialized=nothing.copy(), n_drop=0, k=0)


#: Conventions.masked_slots: whether a slot of this name follows the slot rules (None: an unnamed slot).
SGD_MOMENTUM_SLOT_NAMES = ("momentum", "momentum_buffer")
SLOT_IS_MASKED = rule_table("masked_slots", {
    "every_slot": lambda name: True,
    "sgd_momentum_only": lambda name: name is None or name in SGD_MOMENTUM_SLOT_NAMES,
})


def masked_slots(convention, slot_names, n_slots: int) -> list[bool]:
    """Per slot, whether the convention's slot rules act on it (``Conventions.masked_slots``)."""
    names = (None,) * n_slots if slot_names is None else tuple(slot_names)
    if len(names) != n_slots:
        raise ValueError(f"slot_names names {len(names)} slot(s) {list(names)}, but {n_slots} slot(s) were given")
    return [SLOT_IS_MASKED[get_convention(convention).masked_slots](name) for name in names]


def _written(values, new, reinitialized, init, *, reset: bool, zero_outside: bool) -> np.ndarray:
    """A copy of ``values`` (weights or one slot) with ``init`` at the re-initialised positions if ``reset``,
    and 0 outside the new mask if ``zero_outside`` (the convention's fields for weights or for slots)."""
    out = values.copy()
    if reset:
        out[reinitialized] = np.broadcast_to(init, out.shape)[reinitialized]
    if zero_outside:
        out[~new] = 0
    return out


def resolve_reinit_when_same(convention, reinit_when_same: bool | None) -> bool:
    """Whether this update re-initialises regrown connections: the call's ``reinit_when_same``, or the
    convention's field when it is None (shared by :func:`drop_grow` and the CSR update)."""
    if reinit_when_same is None:
        return get_convention(convention).reinit_when_same
    return bool(reinit_when_same)


# --- input checks ----------------------------------------------------------------------------------------


def check_grow_init_allowed(convention, grow_init):
    """Return ``grow_init``; refuse a non-zero one under ``grown_weight="unchanged"`` (jaxpruner's
    ``update_state`` never writes grown weights, so no value could be honoured)."""
    conv = get_convention(convention)
    if not WRITES_GROWN_WEIGHT[conv.grown_weight] and np.any(np.asarray(grow_init) != 0):
        raise ValueError(
            f"convention {conv.name!r} leaves grown weights unchanged (grown_weight='unchanged'); "
            f"grow_init must be 0, got {grow_init!r}"
        )
    return grow_init


def check_mask(mask) -> np.ndarray:
    """A boolean copy of ``mask`` (any 0/1 dtype); refuse values other than 0 and 1."""
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"mask must be a numeric or boolean array, got dtype {mask.dtype}")
        bad = ~((mask == 0) | (mask == 1))
        if bad.any():
            where = int(np.flatnonzero(bad)[0])
            raise ValueError(f"mask must hold only 0 and 1; flat index {where} holds {mask.reshape(-1)[where]!r}")
    return mask.astype(bool)


def check_aligned(name: str, array, mask: np.ndarray) -> np.ndarray:
    """``array`` as a finite numeric array of ``mask``'s shape (scores, slots, gradients)."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    check_same_shape("mask", mask, name, array)
    return check_finite(name, array)


def _check_init(name: str, value, mask: np.ndarray) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim:
        check_same_shape("mask", mask, name, value)
    return check_finite(name, value)
