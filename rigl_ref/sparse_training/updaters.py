"""The family of mask updaters: each method is declared once here and runs on dense or CSR layers.

A method is a drop score, a grow score and a candidate set. The drop score is the convention's
magnitude score (``Conventions.drop_score``) and the candidate set is ``Conventions.grow_candidates``,
so a drop/grow method declares only its grow score, :meth:`SET.grow_score`:

==========================  =====================================================================
``SET``                     uniform random scores (Mocanu et al., 2018)
``RigL(SET)``               |dense gradient| (Evci et al., 2020): the one override of SET
``SNFS(SET)``               |EMA of gradients|: google-research/rigl ``rigl/sparse_optimizers.py``
                            SparseMomentumOptimizer
``TF1Static(SET)``          the old mask, re-initialising the dropped (SparseStaticOptimizer)
``SNFSRedistribution``      momentum growth, grow counts shared across layers (Dettmers & Zettlemoyer)
``GradualMagnitudePruning`` drop only, to the cubic sparsity schedule of Zhu & Gupta (2017)
``SNIP``                    one-shot |w * grad| mask at initialisation (Lee et al., 2019), then fixed
``Static``, ``Dense``       no update
==========================  =====================================================================

A grow score is a dense array or a :class:`~rigl_ref.sparse.GrowthInputs` (meaning |gradient|); the
layer picks the executor (``layer_states.execute``): a :class:`LayerState` runs ``drop_grow`` (dense
masks, the spec), a :class:`CSRLayerState` runs ``csr_drop_grow`` (the trainer's truly sparse layers).
Framework options (rigl-torch's gradient accumulation, TF1's ``grow_init``/``initial_acc_scale``) are
objects from ``framework_options`` passed as ``gradients=`` and ``init=``.

Interface (the trainer drives the same objects): every training step ``updater.observe(grads)`` with
one gradient per layer (dense array or GrowthInputs; ``None`` when not recorded, which
:attr:`MaskUpdater.gradient_use` allows); on an update step ``updater.update(layers, step=t,
drop_fraction=f, grads=..., rng=...)`` returns one ``DropGrowResult`` per layer. ``rng`` is a seed or a
Generator (drawn from in layer order) or one Generator per layer. ``updater.method`` names the method
for ``Conventions.replaces_weight_step``; ``state``/``load_state`` checkpoint what it observed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, ema_decay_complement, get_convention
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.drop_grow import (
    DropGrowResult,
    check_aligned,
    drop_count,
    drop_set,
    grow_count,
    grow_set,
    score_drop,
    skips_update,
    write_update,
)
from rigl_ref.sparse_training.framework_options import (
    ZERO_INIT,
    CurrentBatch,
    TF1GrowInit,
    check_gradients,
    dense_gradient,
    tf1_grow_init,
)
from rigl_ref.sparse_training.layer_states import (
    CSRLayerState,
    LayerState,
    check_layers,
    execute,
    prune,
    unchanged,
)
from rigl_ref.sparse import GrowthInputs
from rigl_ref.validate import (
    as_generator,
    check_finite,
    check_in_closed_unit_interval,
    check_sparsity,
)


@dataclass(frozen=True)
class RunOptions:
    """What a training run tells its updater (``MaskUpdater.from_run``): the convention, the gradient
    feed and init, SNFS's decay, gradual pruning's per-layer targets and window, GraNet's densities,
    GSE's sample factor, the structured methods' budgets and Top-KAST's counts and penalty."""

    convention: object = DEFAULT_CONVENTION
    gradients: object = field(default_factory=CurrentBatch)
    init: object = ZERO_INIT
    snfs_decay: float = 0.9
    final_sparsities: tuple = ()
    begin_step: int = 0
    end_step: int = 1
    initial_density: float = 1.0  # GraNet: density at the start of its pruning window
    final_density: float = 0.1  # GraNet: density the global pruning reaches
    interval: int = 100  # GraNet: ΔT, the grid its cubic schedule counts on
    granet_window: str = "official"  # GraNet: the pruning window's last grid point (granet.GRANET_WINDOWS)
    gse_sample_factor: float = 1.0  # GSE: grow candidates sampled per update, relative to the active count
    layer_budgets: tuple = ()  # SRigL: int(N (1 - s)) per sparse layer
    neuron_axes: tuple = ()  # SRigL, N:M: per sparse layer, 0 = rows are neurons, 1 = columns are
    ablatable: tuple = ()  # SRigL: per sparse layer, may neurons be ablated (the network's last layer: no)
    srigl_min_salient: float = 0.3  # SRigL: dynamic ablation threshold (0 = none)
    nm: tuple = (2, 4)  # N:M: (N, M)
    topkast_forward_counts: tuple = ()  # Top-KAST: |A| per sparse layer
    topkast_backward_counts: tuple = ()  # Top-KAST: |B| per sparse layer
    topkast_sizes: tuple = ()  # Top-KAST: N per sparse layer
    topkast_penalty: float = 0.0  # Top-KAST: the exploration penalty's coefficient (a run: its weight_decay)
    topkast_penalty_norm: str = "l2"  # Top-KAST: "l2" (squared) or "l1" (eq. 3 as written)


class MaskUpdater:
    """Base class: no state, no change. Subclasses override :meth:`update` (and :meth:`observe`).

    ``gradient_use`` tells a trainer which iterations' gradients :meth:`observe` needs: ``"none"``,
    ``"update"`` (only the last ``gradients.window`` iterations up to an update) or ``"every_step"``.
    """

    method = "static"
    gradient_use = "none"

    def __init__(self, convention=DEFAULT_CONVENTION):
        self.convention = get_convention(convention)

    @classmethod
    def from_run(cls, options: RunOptions) -> "MaskUpdater":
        """The updater a training run builds (the registry's constructor)."""
        return cls(options.convention)

    def observe(self, grads) -> None:
        """Record the gradients of the current training step (every step). Default: ignore."""

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        """One mask update of every layer; default: nothing moves."""
        return [unchanged(layer) for layer in check_layers(layers)]

    def state(self) -> dict:
        """Arrays to checkpoint (what :meth:`observe` accumulated)."""
        return {}

    def load_state(self, arrays: dict) -> None:
        """Inverse of :meth:`state`."""


class Static(MaskUpdater):
    """A fixed mask (the paper's "Static" baseline; TF1 ``training_method='scratch'``)."""


class Dense(MaskUpdater):
    """Dense training: masks never change (give it all-ones masks; the paper's Dense baseline)."""

    method = "dense"


class SET(MaskUpdater):
    """Sparse Evolutionary Training: drop the weakest magnitudes, grow at random positions.

    Grow score: one ``rng.random(shape)`` draw (uniform [0, 1), float64) per layer, in layer order
    (or from the layer's own Generator when ``rng`` is a list).
    """

    method = "set"
    reinit_when_same = None  # the convention's value

    def __init__(self, convention=DEFAULT_CONVENTION, *, init=ZERO_INIT):
        super().__init__(convention)
        self.init = init

    @classmethod
    def from_run(cls, options):
        return cls(options.convention, init=options.init)

    def grow_score(self, index: int, layer, grad, rng):
        """score_grow of layer ``index``: a dense array of the layer's shape, or GrowthInputs (|gradient|)."""
        if rng is None:
            raise TypeError(
                f"{type(self).__name__}.update needs rng (a seed or numpy.random.Generator) for random growth"
            )
        return rng.random(layer.shape)

    def update_gradients(self, grads, layers):
        """The gradient of each layer that this update reads (None: none)."""
        return None if grads is None else check_gradients(grads, len(layers))

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        layers = check_layers(layers)
        check_in_closed_unit_interval("drop_fraction", drop_fraction)
        grads = self.update_gradients(grads, layers)
        for i, (g, layer) in enumerate(zip(grads or (), layers)):
            _check_gradient_shape(i, g, layer)
        rngs = _layer_rngs(rng, len(layers))
        return [
            execute(layer, drop_fraction, self.grow_score(i, layer, None if grads is None else grads[i], rngs[i]),
                    self.convention, reinit_when_same=self.reinit_when_same, init=self.init,
                    gradient=None if grads is None else grads[i])
            for i, layer in enumerate(layers)
        ]


class RigL(SET):
    """RigL: SET with gradient growth, score_grow = |dL/dtheta| (dense, w.r.t. the masked weights).

    The gradient is the ``gradients`` feed's (``framework_options``): the update batch's by default,
    rigl-torch's mean of the last n with ``MeanOfLastBatches(n)``.
    """

    method = "rigl"
    gradient_use = "update"

    def __init__(self, convention=DEFAULT_CONVENTION, *, gradients=None, init=ZERO_INIT):
        super().__init__(convention, init=init)
        self.gradients = CurrentBatch() if gradients is None else gradients

    @classmethod
    def from_run(cls, options):
        return cls(options.convention, gradients=options.gradients, init=options.init)

    def observe(self, grads) -> None:
        self.gradients.observe(None if grads is None else check_gradients(grads, len(grads)))

    def update_gradients(self, grads, layers):
        grads = self.gradients.for_update(grads, type(self).__name__)
        return check_gradients(grads, len(layers))

    def grow_score(self, index, layer, grad, rng):
        return grad if isinstance(grad, GrowthInputs) else np.abs(grad)

    def state(self):
        return self.gradients.state()

    def load_state(self, arrays):
        self.gradients.load_state(arrays)


class SNFS(SET):
    """SNFS as the official TF1 code does it (SparseMomentumOptimizer): score_grow = |EMA of gradients|.

    :meth:`observe` updates, every step, ``ema <- ema - (ema - g) * c`` in the gradients' dtype (TF
    ``assign_moving_average``, zero_debias off), c = 1 - decay as ``Conventions.ema_decay_complement``
    computes it; the EMA starts at 0. No redistribution across layers.
    """

    method = "snfs"
    gradient_use = "every_step"

    def __init__(self, convention=DEFAULT_CONVENTION, *, decay: float = 0.9, init=ZERO_INIT):
        super().__init__(convention, init=init)
        self.decay = check_in_closed_unit_interval("decay", decay)
        self.ema = None

    @classmethod
    def from_run(cls, options):
        return cls(options.convention, decay=options.snfs_decay, init=options.init)

    def observe(self, grads) -> None:
        grads = [dense_gradient(g) for g in check_gradients(grads, len(grads))]
        if self.ema is None:
            self.ema = [np.zeros_like(g) for g in grads]
        self.ema = [ema - (ema - g) * ema_decay_complement(self.convention, self.decay, g.dtype)
                    for ema, g in zip(self.ema, grads)]

    def grow_score(self, index, layer, grad, rng):
        if self.ema is None:
            raise ValueError("SNFS.update needs the gradient EMA: call observe(grads) every training step first")
        return np.abs(self.ema[index])

    def state(self):
        return {} if self.ema is None else {f"ema/{i}": e for i, e in enumerate(self.ema)}

    def load_state(self, arrays):
        n = sum(1 for key in arrays if key.startswith("ema/"))
        self.ema = [np.array(arrays[f"ema/{i}"]) for i in range(n)] or None


class TF1Static(SET):
    """TF1's SparseStaticOptimizer: score_grow = the old mask with ``reinit_when_same=True``.

    The grow step picks exactly the dropped connections again, so the mask stays (up to the ties of
    ``drop_ranking="all_positions"``) while the n_drop weakest weights are re-initialised and their
    slots reset at every update.
    """

    method = "static"
    reinit_when_same = True

    def grow_score(self, index, layer, grad, rng):
        return layer.dense_mask().astype(layer.dtype)


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
    rounding, no drift correction (``adjusted_growth``), no death-rate cap for dense layers. Dense layers
    only (the cross-layer share reads every layer's dense momentum).
    """

    method = "snfs"
    gradient_use = "every_step"

    def __init__(self, convention=DEFAULT_CONVENTION, *, momentum: float = 0.9):
        super().__init__(convention)
        self.momentum = check_in_closed_unit_interval("momentum", momentum)
        self.buffers = None

    def observe(self, grads) -> None:
        grads = [dense_gradient(g) for g in check_gradients(grads, len(grads))]
        if self.buffers is None:
            self.buffers = [np.zeros_like(g) for g in grads]
        self.buffers = [m * m.dtype.type(self.momentum) + g for m, g in zip(self.buffers, grads)]

    def update(
        self, layers, *, step: int = 0, drop_fraction: float = 0.0, grads=None, rng=None
    ) -> list[DropGrowResult]:
        layers = check_layers(layers)
        if any(isinstance(layer, CSRLayerState) for layer in layers):
            raise TypeError("SNFSRedistribution runs on dense LayerState layers only")
        if self.buffers is None or len(self.buffers) != len(layers):
            raise ValueError("SNFSRedistribution.update needs the momentum: call observe(grads) every step first")
        conv = self.convention
        if skips_update(conv, drop_fraction):
            return [unchanged(layer) for layer in layers]
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
            results.append(write_update(layer.mask, step_l, new, layer.weights, layer.slots, conv,
                                        slot_names=layer.slot_names))
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
        self, final_sparsity, *, begin_step: int, end_step: int, initial_sparsity: float = 0.0, convention=DEFAULT_CONVENTION
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
        layers = check_layers(layers)
        finals = self.final_sparsity * len(layers) if len(self.final_sparsity) == 1 else self.final_sparsity
        if len(finals) != len(layers):
            raise ValueError(f"final_sparsity has {len(finals)} values for {len(layers)} layers")
        results = []
        for layer, final in zip(layers, finals):
            target = active_count(int(np.prod(layer.shape)), self.sparsity_at(step, final), self.convention)
            results.append(prune(layer, max(layer.nnz - target, 0), self.convention))  # pruned never return
        return results

    @classmethod
    def from_run(cls, options):
        return cls(list(options.final_sparsities), begin_step=options.begin_step, end_step=options.end_step,
                   convention=options.convention)


class SNIP(MaskUpdater):
    """SNIP (Lee et al., 2019): one-shot mask from the connection sensitivity |w * dL/dw| at initialisation.

    ``scope="global"`` (the paper's): keep the ``active_count(N, s, convention)`` best scores over all
    layers together (N - floor(s N) except under jaxpruner's rounding), ranked in layer order then
    row-major (ties to the lower position); ``"per_layer"``: keep each layer's ``active_count(N_l, s)``
    best. The mask then stays fixed (:meth:`update` changes nothing).
    """

    method = "snip"

    def __init__(self, sparsity: float, *, scope: str = "global", convention=DEFAULT_CONVENTION):
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


def _check_gradient_shape(index: int, grad, layer) -> None:
    shape = (grad.row_factor.shape[0], grad.col_factor.shape[0]) if isinstance(grad, GrowthInputs) else grad.shape
    if tuple(shape) != tuple(layer.shape):
        raise ValueError(f"grads[{index}] has shape {tuple(shape)}, but layer {index} has shape {tuple(layer.shape)}")


def _layer_rngs(rng, n_layers: int) -> list:
    """One Generator (or None) per layer: a list is used as given, anything else is one shared Generator."""
    if isinstance(rng, (list, tuple)):
        if len(rng) != n_layers:
            raise ValueError(f"rng has {len(rng)} generators for {n_layers} layers")
        return [as_generator(r) for r in rng]
    shared = None if rng is None else as_generator(rng)
    return [shared] * n_layers


__all__ = [
    "RunOptions", "LayerState", "CSRLayerState", "MaskUpdater", "Static", "Dense", "SET", "RigL", "SNFS",
    "TF1Static", "SNFSRedistribution", "GradualMagnitudePruning", "SNIP", "largest_remainder", "tf1_grow_init",
    "TF1GrowInit", "unchanged",
]
