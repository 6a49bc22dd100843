"""Mask updates of a run, on the truly sparse model: the ``if`` branch of Algorithm 1 and its baselines.

=============  ===================================================================================
method         what changes the connectivity
=============  ===================================================================================
rigl           every ΔT steps until T_end: drop the k weakest |w|, grow the k largest |dense gradient|
               of the current batch (or the mean over the last ``grow_batches`` batches), computed by
               the blockwise top-k kernel from the layer's recorded growth inputs (no dense matrix)
set            the same drop; grow at random positions (``SET_STREAM``, seeded by step and layer)
snfs           the same drop; grow by |EMA of the dense gradient| (decay ``snfs_decay``, updated every
               iteration, starting at 0: TF1 ``SparseMomentumOptimizer``; the EMA is dense by nature)
pruning        gradual magnitude pruning (Zhu & Gupta): every ΔT steps in [begin, end], drop to the
               cubic schedule's count; nothing grows
static, snip   none after initialisation (snip chooses its mask once, in ``setup``)
dense, small-dense  none (dense layers)
=============  ===================================================================================

k = ``drop_count(nnz, f_decay(t))`` with the convention's rounding; the per-layer drop/grow itself is
:func:`rigl_ref.sparse_training.csr_update.csr_drop_grow`, the fast mirror of the spec layer's
``drop_grow``. Kept connections keep their weight and optimizer slots; truly new ones start at 0 with
zeroed slots (:meth:`Optimizer.set_slots` receives the remapped arrays).
"""

from __future__ import annotations

import copy
from collections import deque

import numpy as np

from rigl_ref.sparse import GrowthInputs, rebuild
from rigl_ref.sparse_training.drop_grow import top_k
from rigl_ref.sparse_training.csr_update import csr_drop_grow
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.schedules import get_drop_fraction_schedule, make_update_schedule
from rigl_ref.sparse_training.updaters import GradualMagnitudePruning
from rigl_ref.train.setup import SET_STREAM, stream


class NoUpdates:
    """Methods whose connectivity never changes after initialisation (static, snip, dense, small-dense)."""

    updates = False

    def __init__(self, name: str):
        self.name = name

    def is_update(self, clock: int) -> bool:
        return False

    def drop_fraction(self, clock: int) -> float:
        return 0.0

    def needs_growth_inputs(self, clock: int) -> bool:
        """Whether the coming iteration, whose update predicate reads ``clock``, must record its sparse
        layers' growth inputs (asked before the forward pass; the schedule's state is not touched)."""
        return False

    def observe(self, model, recorded: bool) -> None:
        """Called after every backward pass (before the weight step); ``recorded`` is the answer
        :meth:`needs_growth_inputs` gave for this iteration."""

    def state(self) -> tuple[dict, dict]:
        """``(arrays, meta)`` to checkpoint."""
        return {}, {}

    def load_state(self, arrays: dict, meta: dict) -> None:
        """Inverse of :meth:`state`."""


class _Scheduled(NoUpdates):
    """Shared by the updating methods: the convention's update predicate (stateful for TF1)."""

    updates = True

    def __init__(self, name: str, schedule):
        super().__init__(name)
        self.schedule = schedule

    def is_update(self, clock: int) -> bool:
        return self.schedule.is_update(clock)

    def update_within(self, clock: int, iterations: int) -> bool:
        """Whether the predicate fires at one of ``clock .. clock + iterations - 1``, asked of a copy of the
        schedule (TF1's predicate is stateful). Consecutive iterations read consecutive clocks until an
        update happens (every ``step_origin``), so this is "an update within the next ``iterations``
        iterations"."""
        probe = copy.copy(self.schedule)
        return any(probe.is_update(clock + offset) for offset in range(iterations))

    def state(self):
        last = getattr(self.schedule, "last_update_step", None)
        return {}, ({} if last is None else {"last_update_step": int(last)})

    def load_state(self, arrays, meta):
        if "last_update_step" in meta:
            self.schedule.last_update_step = int(meta["last_update_step"])


def _slot_arrays(optimizer, param: str, size: int) -> list[np.ndarray]:
    slots = optimizer.slots(param)
    return [slots.get(name, np.zeros(size, np.float32)) for name in optimizer.slot_names]


def _install(layer, optimizer, param: str, rebuilt_weight, slots) -> None:
    layer.set_weight(rebuilt_weight)
    if optimizer.slot_names:
        optimizer.set_slots(param, dict(zip(optimizer.slot_names, slots)))


class DropGrow(_Scheduled):
    """RigL, SET and SNFS: drop the weakest magnitudes, grow by the method's score (module table)."""

    def __init__(self, name: str, config, convention, total: int, t_end: int):
        schedule = make_update_schedule(convention.update_predicate, frequency=config.update_interval,
                                        end_step=t_end)
        super().__init__(name, schedule)
        self.convention = convention
        self.alpha, self.t_end, self.seed = config.drop_fraction, t_end, config.seed
        key = "constant" if config.drop_schedule == "constant" else convention.cosine_schedule
        self._fraction = get_drop_fraction_schedule(key)
        self.records = deque(maxlen=config.grow_batches)  # RigL: growth inputs of the last n batches
        self.decay = np.float32(config.snfs_decay)
        self.ema: dict[str, np.ndarray] = {}  # SNFS: dense EMA of the gradient per layer (CSR layout)

    def drop_fraction(self, clock: int) -> float:
        return float(self._fraction(clock, alpha=self.alpha, end_step=self.t_end))

    def needs_growth_inputs(self, clock: int) -> bool:
        """SNFS: always (its EMA reads every batch's dense gradient). RigL: only in the last
        ``grow_batches`` iterations up to and including an update (the batches its grow step averages);
        SET: never. Recording on every iteration was measured to cost about 25 % of a LeNet-5 iteration
        (``docs/training.md``, performance notes)."""
        if self.name == "snfs":
            return True
        return self.name == "rigl" and self.update_within(clock, self.records.maxlen)

    def observe(self, model, recorded: bool) -> None:
        if self.name == "rigl":
            if recorded:
                self.records.append({name: layer.growth_inputs() for name, layer in model.sparse_layers().items()})
            else:  # no update within grow_batches iterations: no later update reads the batches kept so far
                self.records.clear()
        elif self.name == "snfs":
            for name, layer in model.sparse_layers().items():
                gradient = layer.growth_inputs().dense_gradient()
                ema = self.ema.setdefault(name, np.zeros_like(gradient))
                ema += (np.float32(1) - self.decay) * (gradient - ema)  # shadow -= (1 - decay) * (shadow - g)

    def update(self, model, optimizer, clock: int, fraction: float) -> dict:
        counts = {}
        for index, (name, layer) in enumerate(model.sparse_layers().items()):
            param = f"{name}.weight"
            slots = _slot_arrays(optimizer, param, layer.weight.nnz)
            grow = self._grow_source(index, name, layer, clock)
            result = csr_drop_grow(layer.weight, fraction, convention=self.convention, slots=slots, **grow)
            _install(layer, optimizer, param, result.weight, result.slots)
            counts[name] = {"dropped": len(result.dropped), "grown": len(result.grown),
                            "regrown": len(result.regrown)}
        return counts

    def _grow_source(self, index, name, layer, clock) -> dict:
        if self.name == "rigl":
            records = [record[name] for record in self.records]
            return {"growth": GrowthInputs.concatenate(records), "growth_scale": 1.0 / len(records)}
        if self.name == "set":
            rng = stream(self.seed, SET_STREAM, clock, index)
            return {"grow_scores": rng.random(layer.weight.shape)}
        return {"grow_scores": np.abs(self.ema[name])}

    def state(self):
        arrays, meta = super().state()
        for i, record in enumerate(self.records):
            for name, inputs in record.items():
                arrays[f"growth/{i}/{name}/row"] = inputs.row_factor
                arrays[f"growth/{i}/{name}/col"] = inputs.col_factor
        arrays.update({f"ema/{name}": ema for name, ema in self.ema.items()})
        meta["growth_records"] = len(self.records)
        return arrays, meta

    def load_state(self, arrays, meta):
        super().load_state(arrays, meta)
        self.records.clear()
        for i in range(int(meta.get("growth_records", 0))):
            names = sorted({key.split("/")[2] for key in arrays if key.startswith(f"growth/{i}/")})
            self.records.append({n: GrowthInputs(arrays[f"growth/{i}/{n}/row"], arrays[f"growth/{i}/{n}/col"]) for n in names})
        self.ema = {key[len("ema/"):]: np.array(arrays[key]) for key in arrays if key.startswith("ema/")}


class GradualPruning(_Scheduled):
    """Gradual magnitude pruning from dense to each layer's target sparsity (drop only)."""

    def __init__(self, config, convention, total: int, sparsities: dict):
        # begin and end on the ΔT grid, so that the last update lands on `end` and reaches the target
        interval = config.update_interval
        begin = interval * -(-int(config.pruning_begin_fraction * total) // interval)
        end = begin + interval * max(1, (int(config.pruning_end_fraction * total) - begin) // interval)
        super().__init__("pruning", make_update_schedule("jaxpruner", frequency=config.update_interval,
                                                         begin_step=begin, end_step=end))
        self.convention = convention
        self.targets = {name: s for name, s in sparsities.items() if s > 0.0}
        self.spec = GradualMagnitudePruning(list(self.targets.values()), begin_step=begin, end_step=end)

    def drop_fraction(self, clock: int) -> float:
        return 0.0

    def update(self, model, optimizer, clock: int, fraction: float) -> dict:
        counts = {}
        for name, layer in model.sparse_layers().items():
            weight, param = layer.weight, f"{name}.weight"
            target = active_count(weight.size, self.spec.sparsity_at(clock, self.targets[name]), self.convention)
            n_drop = max(weight.nnz - target, 0)
            if n_drop:
                keep = top_k(np.abs(weight.data), weight.nnz - n_drop)  # ties: the lower flat index stays
                rebuilt = rebuild(weight, keep, np.zeros(0, np.int64),
                                  aligned=_slot_arrays(optimizer, param, weight.nnz))
                _install(layer, optimizer, param, rebuilt.weight, rebuilt.aligned)
            counts[name] = {"dropped": n_drop, "grown": 0, "regrown": 0}
        return counts


def make_method(config, convention, total: int, t_end: int, sparsities: dict):
    if config.method in ("rigl", "set", "snfs"):
        return DropGrow(config.method, config, convention, total, t_end)
    if config.method == "pruning":
        return GradualPruning(config, convention, total, sparsities)
    return NoUpdates(config.method)
