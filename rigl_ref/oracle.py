"""A step-level oracle for framework authors: feed it your own state every training iteration, get back
what rigl_ref would do with it, with the convention's update timing.

    oracle = Oracle("rigl_torch", masks, method="rigl", update_interval=100, end_step=75_000)
    for batch in data:
        ...forward, backward in your framework...
        out = oracle.step(weights, dense_grads, slots)   # numpy arrays in YOUR layout, keyed by layer
        if out.updated:
            compare(out.masks, your_masks); compare(out.weights, your_weights)
        if not out.skip_weight_step:
            ...your optimizer step...

``masks``, ``weights``, ``dense_grads`` and ``slots`` (a tuple of optimizer-state arrays per layer, e.g.
``(momentum,)``, named in that order by ``slot_names``, e.g. ``("exp_avg", "exp_avg_sq")``, which
``Conventions.masked_slots`` reads) are dicts keyed by layer name, each array in the framework's own layout (ties are broken
by the lower flat index of that layout, docs/conventions.md "Ties"). The oracle keeps the masks and its
counters; the update itself is the spec layer (``rigl_ref.sparse_training.updaters`` on dense
``LayerState``s, executor ``drop_grow``).

Timing (``Conventions.step_origin``, ``update_predicate``, ``update_replaces_weight_step``,
``cosine_schedule``): iteration ``i`` (0-based) reads the clock ``STEP_ORIGINS[step_origin].clock(i, t)``
(``t`` = weight steps done), one further when the update follows a weight step on the ``global_step``
clock (TF); an update iteration of a method in ``update_replaces_weight_step`` does no weight step, which
``OracleStep.skip_weight_step`` tells the caller. This is the schedule ``rigl_ref.train.Trainer`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, get_convention
from rigl_ref.sparse_training.framework_options import gradient_feed
from rigl_ref.sparse_training.layer_states import LayerState
from rigl_ref.sparse_training.registry import METHOD_REGISTRY
from rigl_ref.sparse_training.schedules import COSINE_SCHEDULES, STEP_ORIGINS, constant_drop_fraction, make_update_schedule
from rigl_ref.sparse_training.updaters import RunOptions
from rigl_ref.validate import check_choice, check_in_closed_unit_interval, check_positive_int

DROP_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class OracleStep:
    """What :meth:`Oracle.step` returns for one iteration.

    ``updated``: the masks were updated on this iteration; ``skip_weight_step``: the update replaces this
    iteration's weight step (do not step the optimizer); ``masks``, ``weights``, ``slots``: the state after
    the iteration's update (the inputs, masked, when there was none); ``clock``: the counter the predicate
    read; ``drop_fraction``: f_decay at that clock; ``results``: ``{layer: DropGrowResult}`` of the update.
    """

    updated: bool
    skip_weight_step: bool
    masks: dict
    weights: dict
    slots: dict
    clock: int
    drop_fraction: float
    results: dict


NOT_DRIVEN = ("pruning", "topkast")  # pruning only drops; Top-KAST selects sets, it does not drop and grow


class Oracle:
    """rigl_ref's mask updates, driven step by step by a framework's own training loop (module docstring)."""

    def __init__(self, convention=DEFAULT_CONVENTION, masks=None, *, method: str = "rigl", update_interval: int = 100,
                 end_step: int, drop_fraction: float = 0.3, drop_schedule: str = "cosine", grow_batches: int = 1,
                 snfs_decay: float = 0.9, seed: int = 0, slot_names: tuple | None = None):
        self.convention = get_convention(convention)
        if not masks:
            raise ValueError("masks must map at least one layer name to its boolean mask")
        self.masks = {name: np.asarray(mask).astype(bool) for name, mask in masks.items()}
        entry = METHOD_REGISTRY[check_choice("method", method, METHOD_REGISTRY)]
        if not entry.updates or method in NOT_DRIVEN:
            raise ValueError(f"method {method!r} has no drop/grow updates to drive; choose one of "
                             f"{[m for m, e in METHOD_REGISTRY.items() if e.updates and m not in NOT_DRIVEN]}")
        self.method = method
        self.updater = entry.updater.from_run(RunOptions(
            convention=self.convention, gradients=gradient_feed(grow_batches), snfs_decay=snfs_decay))
        self.end_step = check_positive_int("end_step", end_step)
        self.alpha = check_in_closed_unit_interval("drop_fraction", drop_fraction)
        check_choice("drop_schedule", drop_schedule, DROP_SCHEDULES)
        self._decay = constant_drop_fraction if drop_schedule == "constant" else \
            COSINE_SCHEDULES[self.convention.cosine_schedule]
        self.schedule = make_update_schedule(self.convention.update_predicate,
                                             frequency=check_positive_int("update_interval", update_interval),
                                             end_step=self.end_step)
        self.replaces = self.convention.replaces_weight_step(method)
        self.seed = int(seed)
        self.slot_names = None if slot_names is None else tuple(slot_names)  # Conventions.masked_slots reads them
        self.iterations = 0  # iterations (batches) done
        self.weight_steps = 0  # optimizer steps done (t)

    def _clock(self) -> int:
        origin = STEP_ORIGINS[self.convention.step_origin]
        after_step = not self.replaces and origin.counts_weight_steps
        return origin.clock(self.iterations, self.weight_steps) + after_step

    def step(self, weights: dict, dense_grads: dict | None = None, slots: dict | None = None) -> OracleStep:
        """One training iteration: observe ``dense_grads`` (``None`` on an iteration whose gradient the
        method does not read), decide whether this iteration updates, and if so run the update on
        ``weights``/``slots`` (the state the drop step ranks: after the weight step when the update follows
        it). Returns an :class:`OracleStep`; the oracle's masks become the updated ones."""
        names = list(self.masks)
        self._check("weights", weights, names)
        slots = {name: () for name in names} if slots is None else slots
        self._check("slots", slots, names, tuples=True)
        if dense_grads is not None:
            self._check("dense_grads", dense_grads, names)
            self.updater.observe([np.asarray(dense_grads[name]) for name in names])
        elif self.updater.gradient_use == "every_step":
            raise ValueError(f"method {self.method!r} reads the gradient of every iteration; pass dense_grads")
        else:
            self.updater.observe(None)
        clock = self._clock()
        fraction = float(self._decay(clock, alpha=self.alpha, end_step=self.end_step))
        updated = self.schedule.is_update(clock)
        results = {}
        if updated:
            layers = [LayerState(self.masks[n], np.asarray(weights[n]), tuple(slots[n]), self.slot_names)
                      for n in names]
            rngs = [np.random.default_rng([self.seed, clock, index]) for index in range(len(names))]
            for name, result in zip(names, self.updater.update(layers, step=clock, drop_fraction=fraction, rng=rngs)):
                results[name] = result
                self.masks[name] = result.mask
        skip = updated and self.replaces
        self.iterations += 1
        self.weight_steps += 0 if skip else 1
        out_weights = {n: results[n].weights if n in results else np.where(self.masks[n], weights[n], 0)
                       for n in names}
        out_slots = {n: results[n].slots if n in results else tuple(slots[n]) for n in names}
        return OracleStep(updated, skip, dict(self.masks), out_weights, out_slots, clock, fraction, results)

    def _check(self, what: str, values: dict, names: list, tuples: bool = False) -> None:
        if set(values) != set(names):
            raise ValueError(f"{what} must have exactly the layers {names}; got {sorted(values)}")
        for name in names:
            arrays = values[name] if tuples else (values[name],)
            for array in arrays:
                if np.shape(array) != self.masks[name].shape:
                    raise ValueError(f"{what}[{name!r}] has shape {np.shape(array)}, but the mask has "
                                     f"{self.masks[name].shape}")
