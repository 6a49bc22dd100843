"""Mask updaters on dense masks (spec layer): one drop/grow core, one score per method.

Every dynamic updater runs :func:`~rigl_ref.sparse_training.drop_grow.drop_grow` on each layer; they
differ only in the grow score, as the papers do:

==========================  =====================================================================
``SET``                     uniform random scores (Mocanu et al., 2018)
``RigL(SET)``               |dense gradient| of the current batch, or rigl-torch's mean of the last n
``SNFS(SET)``               |EMA of gradients| (decay 0.9, starts at 0): TF1 SparseMomentumOptimizer
``TF1Static(SET)``          the old mask, re-initialising the dropped (TF1 SparseStaticOptimizer)
``SNFSRedistribution``      momentum growth, grow counts shared across layers (Dettmers & Zettlemoyer)
``GradualMagnitudePruning`` drop only, to the cubic sparsity schedule of Zhu & Gupta (2017)
``SNIP``                    one-shot |w * grad| mask at initialisation (Lee et al., 2019), then fixed
``Static``, ``Dense``       no update
==========================  =====================================================================

Interface (the training loop and the CSR fast path mirror it): a layer is a :class:`LayerState`
``(mask, weights, slots)``; every training step the loop calls ``updater.observe(grads)`` with the dense
gradients of all layers; on an update step it calls ``updater.update(layers, step=t, drop_fraction=f,
grads=..., rng=...)`` and gets one ``DropGrowResult`` per layer. ``updater.method`` names the method for
``Conventions.replaces_weight_step``. Random choices use only the Generator passed as ``rng``.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from rigl_ref.sparse_training.conventions import get_convention
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.drop_grow import (
    DropGrowResult,
    check_aligned,
    check_mask,
    drop_count,
    drop_grow,
    drop_set,
    grow_count,
    grow_set,
    score_drop,
    write_update,
)
from rigl_ref.validate import (
    as_generator,
    check_finite,
    check_in_closed_unit_interval,
    check_positive_int,
    check_sparsity,
)


@dataclass(frozen=True)
class LayerState:
    """One sparse layer as the updaters see it: a 0/1 ``mask`` (stored as bool), ``weights`` of the
    same shape, and the optimizer ``slots`` aligned with the weights."""

    mask: np.ndarray
    weights: np.ndarray
    slots: tuple = ()

    def __post_init__(self) -> None:
        mask = check_mask(self.mask)
        object.__setattr__(self, "weights", check_aligned("weights", self.weights, mask))
        object.__setattr__(self, "mask", mask)
        slots = tuple(check_aligned(f"slots[{i}]", slot, mask) for i, slot in enumerate(self.slots))
        object.__setattr__(self, "slots", slots)


def unchanged(layer: LayerState) -> DropGrowResult:
    """The result of an update that moves nothing (copies, so callers may write into them)."""
    nothing = np.zeros_like(layer.mask)
    return DropGrowResult(
        mask=layer.mask.copy(), weights=np.array(layer.weights, copy=True),
        slots=tuple(np.array(s, copy=True) for s in layer.slots),
        dropped=nothing, grown=nothing.copy(), regrown=nothing.copy(), reinitialized=nothing.copy(), n_drop=0,
    )


def tf1_grow_init(grow_init, grad):
    """Value of grown weights for TF1's ``grow_init`` names that need no TF randomness.

    ``'zeros'`` -> 0; ``'grad_scale[_d]'`` -> grad / d; ``'grad_sign[_d]'`` -> sign(grad) / d, with the
    divisor d parsed as ``extract_number`` does (regex ``.*_(\\d*\\.?\\d*)$``, default 1) and the division
    in the gradient's dtype (SparseRigLOptimizerBase.get_grow_tensor). A number is used as given.
    """
    if not isinstance(grow_init, str):
        return float(grow_init)
    if grow_init == "zeros":
        return 0.0
    match = re.match(r".*_(\d*\.?\d*)$", grow_init)
    if match and match.group(1) in ("", "."):
        raise ValueError(f"grow_init {grow_init!r} ends in '_' without a divisor")
    divisor = float(match.group(1)) if match else 1.0
    grad = np.asarray(grad)
    if grow_init.startswith("grad_scale"):
        return grad / grad.dtype.type(divisor)
    if grow_init.startswith("grad_sign"):
        return np.sign(grad) / grad.dtype.type(divisor)
    raise ValueError(
        f"unknown grow_init {grow_init!r}; expected 'zeros', 'grad_scale[_d]' or 'grad_sign[_d]' (TF1's "
        "random_normal/random_uniform/initial_dist draw from TF's RNG: pass their values as an array)"
    )


class MaskUpdater:
    """Base class: no state, no change. Subclasses override :meth:`update` (and :meth:`observe`)."""

    method = "static"

    def __init__(self, convention="paper"):
        self.convention = get_convention(convention)

    def observe(self, grads) -> None:
        """Record the dense gradients of the current training step (every step). Default: ignore."""

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        """One mask update of every layer; default: nothing moves."""
        return [unchanged(layer) for layer in _layers(layers)]


class Static(MaskUpdater):
    """A fixed mask (the paper's "Static" baseline; TF1 ``training_method='scratch'``)."""


class Dense(MaskUpdater):
    """Dense training: masks never change (give it all-ones masks; the paper's Dense baseline)."""

    method = "dense"


class SET(MaskUpdater):
    """Sparse Evolutionary Training: drop the weakest magnitudes, grow at random positions.

    Grow score: one ``rng.random(shape)`` draw (uniform [0, 1), float64) per layer, in layer order.
    """

    method = "set"
    reinit_when_same = None  # the convention's value

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        layers = _layers(layers)
        check_in_closed_unit_interval("drop_fraction", drop_fraction)
        grads = self._check_grads(grads, layers)
        rng = None if rng is None else as_generator(rng)
        return [
            drop_grow(
                layer.mask, layer.weights,
                score_drop(layer.mask, layer.weights, self.convention),
                self.grow_scores(index, layer, grads, rng),
                drop_fraction,
                convention=self.convention,
                reinit_when_same=self.reinit_when_same,
                grow_init=self.grow_init(index, grads),
                slots=layer.slots,
                slot_init=self.slot_init(index, grads),
            )
            for index, layer in enumerate(layers)
        ]

    def grow_scores(self, index: int, layer: LayerState, grads, rng) -> np.ndarray:
        """score_grow of layer ``index``."""
        if rng is None:
            raise TypeError(
                f"{type(self).__name__}.update needs rng (a seed or numpy.random.Generator) for random growth"
            )
        return rng.random(layer.mask.shape)

    def grow_init(self, index: int, grads):
        """Value of new weights of layer ``index`` (0 unless a subclass says otherwise)."""
        return 0.0

    def slot_init(self, index: int, grads):
        """Value of the optimizer slots of new connections of layer ``index``."""
        return 0.0

    def _check_grads(self, grads, layers):
        if grads is None:
            return None
        grads = list(grads)
        if len(grads) != len(layers):
            raise ValueError(f"grads has {len(grads)} arrays for {len(layers)} layers")
        return [check_aligned(f"grads[{i}]", g, layer.mask) for i, (g, layer) in enumerate(zip(grads, layers))]


class RigL(SET):
    """RigL: SET with gradient growth, score_grow = |dL/dtheta| (dense, w.r.t. the masked weights).

    ``grad_accumulation_n=1``: the ``grads`` given to :meth:`update` (the current batch). Larger n:
    rigl-torch's average of the last n gradients given to :meth:`observe` (the update batch included),
    summed as it does, ``acc += g / n`` in the gradients' dtype. ``initial_acc_scale`` and ``grow_init``
    are TF1's (SparseRigLOptimizerBase): new slots get ``grad * initial_acc_scale``, new weights
    :func:`tf1_grow_init` of ``grow_init``.
    """

    method = "rigl"

    def __init__(
        self, convention="paper", *, grad_accumulation_n: int = 1, initial_acc_scale: float = 0.0, grow_init="zeros"
    ):
        super().__init__(convention)
        self.grad_accumulation_n = check_positive_int("grad_accumulation_n", grad_accumulation_n)
        self.initial_acc_scale = float(initial_acc_scale)
        self._grow_init = grow_init
        tf1_grow_init(grow_init, np.zeros(1, np.float32))  # reject unknown names now
        self._history = deque(maxlen=self.grad_accumulation_n)

    def observe(self, grads) -> None:
        if self.grad_accumulation_n > 1:
            self._history.append(_float_grads(grads))  # astype copies: later edits of grads do not leak in

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        if self.grad_accumulation_n == 1:
            if grads is None:
                raise ValueError("RigL.update needs grads: the dense gradient of every layer on the current batch")
        else:
            if grads is not None:
                raise ValueError(
                    "with grad_accumulation_n > 1, RigL grows from the observed gradients; pass grads=None"
                )
            if len(self._history) < self.grad_accumulation_n:
                raise ValueError(
                    f"RigL needs {self.grad_accumulation_n} observed gradients, got {len(self._history)}"
                )
            grads = [self._accumulate([batch[i] for batch in self._history]) for i in range(len(self._history[0]))]
        return super().update(layers, step=step, drop_fraction=drop_fraction, grads=grads, rng=rng)

    def _accumulate(self, grads):
        total = np.zeros_like(grads[0])
        for g in grads:
            total += g / g.dtype.type(self.grad_accumulation_n)
        return total

    def grow_scores(self, index, layer, grads, rng):
        return np.abs(grads[index])

    def grow_init(self, index, grads):
        return tf1_grow_init(self._grow_init, grads[index])

    def slot_init(self, index, grads):
        return grads[index] * grads[index].dtype.type(self.initial_acc_scale)


class SNFS(SET):
    """SNFS as the official TF1 code does it (SparseMomentumOptimizer): score_grow = |EMA of gradients|.

    :meth:`observe` updates, every step, ``ema <- ema - (ema - g) * (1 - decay)`` in the gradients' dtype
    (TF ``assign_moving_average``, zero_debias off); the EMA starts at 0. No redistribution across layers.
    """

    method = "snfs"

    def __init__(self, convention="paper", *, decay: float = 0.9):
        super().__init__(convention)
        self.decay = check_in_closed_unit_interval("decay", decay)
        self.ema = None

    def observe(self, grads) -> None:
        grads = _float_grads(grads)
        if self.ema is None:
            self.ema = [np.zeros_like(g) for g in grads]
        self.ema = [ema - (ema - g) * g.dtype.type(1.0 - self.decay) for ema, g in zip(self.ema, grads)]

    def grow_scores(self, index, layer, grads, rng):
        if self.ema is None:
            raise ValueError("SNFS.update needs the gradient EMA: call observe(grads) every training step first")
        return np.abs(self.ema[index])


class TF1Static(SET):
    """TF1's SparseStaticOptimizer: score_grow = the old mask with ``reinit_when_same=True``.

    The grow step picks exactly the dropped connections again, so the mask stays (up to the ties of
    ``drop_ranking="all_positions"``) while the n_drop weakest weights are re-initialised and their
    slots reset at every update.
    """

    method = "static"
    reinit_when_same = True

    def grow_scores(self, index, layer, grads, rng):
        return layer.mask.astype(layer.weights.dtype)


class SNFSRedistribution(MaskUpdater):
    """Sparse momentum (Dettmers & Zettlemoyer, 2019): momentum growth with cross-layer redistribution.

    :meth:`observe` keeps an SGD momentum buffer ``m <- beta * m + g`` of the dense gradients (as
    sparse_learning reads ``momentum_buffer``). An update:

    1. drops k_l = ``drop_count`` connections per layer (magnitude, the convention's ranking);
    2. shares the total R = sum of the conventions' grow counts among layers in proportion to the mean
       |m| over each layer's active connections, by largest remainder (ties to the lower layer index),
       capping a layer at its free positions and re-sharing the excess, so R is preserved exactly;
    3. grows each layer's share by |m| among its candidates.

    Simplified against sparse_learning (documented in ``docs/algorithm.md``): no ceil/0.99-cap/floor
    rounding, no drift correction (``adjusted_growth``), no death-rate cap for dense layers.
    """

    method = "snfs"

    def __init__(self, convention="paper", *, momentum: float = 0.9):
        super().__init__(convention)
        self.momentum = check_in_closed_unit_interval("momentum", momentum)
        self.buffers = None

    def observe(self, grads) -> None:
        grads = _float_grads(grads)
        if self.buffers is None:
            self.buffers = [np.zeros_like(g) for g in grads]
        self.buffers = [m * m.dtype.type(self.momentum) + g for m, g in zip(self.buffers, grads)]

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        layers = _layers(layers)
        if self.buffers is None or len(self.buffers) != len(layers):
            raise ValueError("SNFSRedistribution.update needs the momentum: call observe(grads) every step first")
        conv = self.convention
        steps, totals, capacity, shares = [], 0, [], []
        for layer, m in zip(layers, self.buffers):
            n, size = int(layer.mask.sum()), layer.mask.size
            k = drop_count(n, drop_fraction, conv, size=size)
            step_l = drop_set(layer.mask, score_drop(layer.mask, layer.weights, conv), k, conv)
            steps.append(step_l)
            totals += grow_count(n, drop_fraction, conv, size=size)
            capacity.append(size - int(step_l.kept.sum()))
            shares.append(float(np.abs(m[layer.mask]).astype(np.float64).mean()) if n else 0.0)
        n_grow = largest_remainder(totals, np.array(shares), np.array(capacity))
        results = []
        for layer, m, step_l, count in zip(layers, self.buffers, steps, n_grow):
            new = grow_set(layer.mask, step_l.kept, np.abs(m), int(count), conv)
            results.append(write_update(layer.mask, step_l, new, layer.weights, layer.slots, conv))
        return results


def largest_remainder(total: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Integers summing to ``min(total, capacity.sum())``, proportional to ``weights``, each <= capacity.

    Hamilton's method: floors of the quotas, then one more to the largest remainders (ties to the lower
    index); layers that reach their capacity are closed and the rest is shared again among the others
    (equally if all their weights are 0).
    """
    allocation = np.zeros(len(capacity), dtype=np.int64)
    remaining = int(total)
    while remaining > 0:
        open_ = allocation < capacity
        if not open_.any():
            break
        share = np.where(open_, weights, 0.0)
        share = share if share.sum() > 0 else open_.astype(np.float64)
        quotas = remaining * share / share.sum()
        give = np.floor(quotas).astype(np.int64)
        leftover = remaining - int(give.sum())
        order = np.argsort(-(quotas - give), kind="stable")
        give[order[open_[order]][:leftover]] += 1
        give = np.minimum(give, capacity - allocation)
        allocation += give
        remaining -= int(give.sum())
    return allocation


class GradualMagnitudePruning(MaskUpdater):
    """Gradual magnitude pruning (Zhu & Gupta, 2017): drop only, along a cubic sparsity schedule.

    s_t = s_f + (s_i - s_f) (1 - (t - t0) / (n dt))^3 for t0 <= t <= t0 + n dt (s_i before, s_f after),
    with ``begin_step`` = t0 and ``end_step`` = t0 + n dt. An update at step t keeps the
    ``distributions.active_count(N, s_t, convention)`` largest drop scores of each layer's active
    connections (ties: the lower flat index stays); pruned connections never come back.
    """

    method = "pruning"

    def __init__(
        self, final_sparsity, *, begin_step: int, end_step: int, initial_sparsity: float = 0.0, convention="paper"
    ):
        super().__init__(convention)
        finals = np.atleast_1d(final_sparsity).astype(float)
        self.final_sparsity = tuple(check_sparsity("final_sparsity", s) for s in finals)
        self.initial_sparsity = check_sparsity("initial_sparsity", initial_sparsity)
        if int(end_step) <= int(begin_step):
            raise ValueError(f"end_step must be > begin_step, got end_step={end_step!r}, begin_step={begin_step!r}")
        self.begin_step, self.end_step = int(begin_step), int(end_step)

    def sparsity_at(self, step: int, final: float) -> float:
        """s_t of a layer whose final sparsity is ``final``."""
        progress = min(max((step - self.begin_step) / (self.end_step - self.begin_step), 0.0), 1.0)
        return final + (self.initial_sparsity - final) * (1.0 - progress) ** 3

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        layers = _layers(layers)
        finals = self.final_sparsity * len(layers) if len(self.final_sparsity) == 1 else self.final_sparsity
        if len(finals) != len(layers):
            raise ValueError(f"final_sparsity has {len(finals)} values for {len(layers)} layers")
        results = []
        for layer, final in zip(layers, finals):
            target = active_count(layer.mask.size, self.sparsity_at(step, final), self.convention)
            n = int(layer.mask.sum())
            scores = score_drop(layer.mask, layer.weights, self.convention)
            drop = drop_set(layer.mask, scores, max(n - target, 0), "paper")  # pruned connections never return
            results.append(write_update(layer.mask, drop, drop.kept, layer.weights, layer.slots, self.convention))
        return results


class SNIP(MaskUpdater):
    """SNIP (Lee et al., 2019): one-shot mask from the connection sensitivity |w * dL/dw| at initialisation.

    ``scope="global"`` (the paper's): keep the ``active_count(N, s, convention)`` best scores over all
    layers together (N - floor(s N) except under jaxpruner's rounding), ranked in layer order then
    row-major (ties to the lower position); ``"per_layer"``: keep each layer's ``active_count(N_l, s)``
    best. The mask then stays fixed (:meth:`update` changes nothing).
    """

    method = "snip"

    def __init__(self, sparsity: float, *, scope: str = "global", convention="paper"):
        super().__init__(convention)
        self.sparsity = check_sparsity("sparsity", sparsity)
        if scope not in ("global", "per_layer"):
            raise ValueError(f"unknown scope {scope!r}; expected 'global' or 'per_layer'")
        self.scope = scope

    def initial_masks(self, weights, grads) -> list[np.ndarray]:
        """Boolean masks, one per layer, from dense initial ``weights`` and their ``grads``."""
        weights = [check_finite(f"weights[{i}]", np.asarray(w)) for i, w in enumerate(weights)]
        if len(grads) != len(weights):
            raise ValueError(f"grads has {len(grads)} arrays for {len(weights)} layers")
        scores = [np.abs(w * check_aligned(f"grads[{i}]", g, w)) for i, (w, g) in enumerate(zip(weights, grads))]
        if self.scope == "per_layer":
            return [_keep_best(s, active_count(s.size, self.sparsity, self.convention)) for s in scores]
        flat = np.concatenate([s.reshape(-1).astype(np.float64) for s in scores])
        kept = _keep_best(flat, active_count(flat.size, self.sparsity, self.convention))
        bounds = np.cumsum([0] + [s.size for s in scores])
        return [kept[a:b].reshape(s.shape) for a, b, s in zip(bounds[:-1], bounds[1:], scores)]


def _keep_best(scores: np.ndarray, n_keep: int) -> np.ndarray:
    mask = np.ones(scores.shape, dtype=bool)
    return drop_set(mask, scores, scores.size - n_keep, "paper").kept


def _float_grads(grads) -> list[np.ndarray]:
    """Finite copies of the gradients, integers as float64 (a float dtype is kept and sets the arithmetic)."""
    arrays = [np.asarray(g) for g in grads]
    return [check_finite(f"grads[{i}]", g.astype(np.result_type(g.dtype, np.float32))) for i, g in enumerate(arrays)]


def _layers(layers) -> list[LayerState]:
    layers = list(layers)
    for i, layer in enumerate(layers):
        if not isinstance(layer, LayerState):
            raise TypeError(f"layers[{i}] must be a LayerState, got {type(layer).__name__}")
    return layers


__all__ = [
    "LayerState", "MaskUpdater", "Static", "Dense", "SET", "RigL", "SNFS", "TF1Static",
    "SNFSRedistribution", "GradualMagnitudePruning", "SNIP", "largest_remainder", "tf1_grow_init", "unchanged",
]
