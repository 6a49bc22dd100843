"""Mask updates of a run, on the truly sparse model: the ``if`` branch of Algorithm 1 and its baselines.

The methods themselves are the spec layer's updaters (``rigl_ref.sparse_training.updaters``, built by
name from ``rigl_ref.sparse_training.registry``); this module only adds what a run needs around them:

* the convention's update predicate and drop-fraction schedule (:class:`Scheduled`);
* which iterations record the sparse layers' growth inputs (``updater.gradient_use``);
* the glue from the model and optimizer to :class:`~rigl_ref.sparse_training.updaters.CSRLayerState`
  and back (every layer is CSR, so the executor is ``csr_drop_grow``).

SET's grow scores come from one Generator per layer, ``default_rng([seed, SET_STREAM, clock, layer])``
(stateless, like TF1's step-seeded RNG, so a resumed run needs no RNG state). Gradual pruning runs on
the ΔT grid between ``pruning_begin_fraction`` and ``pruning_end_fraction`` of the run; GraNet prunes in
that window and regenerates on the ΔT grid from its start to the end of the run. Top-KAST is not a
drop/grow method: :class:`TopKASTRun` keeps its forward set inside each layer's stored backward set and
adds its exploration penalty to the weight gradients before every weight step.
"""

from __future__ import annotations

import copy

import numpy as np

from rigl_ref.sparse_training.framework_options import gradient_feed
from rigl_ref.sparse_training.granet import granet_prune_rate
from rigl_ref.sparse_training.registry import METHOD_REGISTRY
from rigl_ref.sparse_training.schedules import (
    COSINE_SCHEDULES,
    constant_drop_fraction,
    lr_scaled_drop_fraction,
    make_update_schedule,
)
from rigl_ref.sparse_training.distributions import active_counts
from rigl_ref.sparse_training.structured import srigl_budget
from rigl_ref.sparse_training.topkast import Reserve
from rigl_ref.sparse_training.updaters import CSRLayerState, RunOptions
from rigl_ref.train.setup import SET_STREAM, stream, target_sparsities


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

    def start(self, model) -> None:
        """Called once on the freshly built model, before the first iteration (Top-KAST's first split)."""

    def add_penalty_gradients(self, model) -> None:
        """Called right before each weight step: add a method's own regulariser to the weight gradients
        (Top-KAST's exploration penalty); nothing for every other method."""

    def undecayed_parameters(self, model) -> frozenset:
        """Parameter names the optimizer must not weight-decay (the method regularises them itself)."""
        return frozenset()

    def state(self) -> tuple[dict, dict]:
        """``(arrays, meta)`` to checkpoint."""
        return {}, {}

    def load_state(self, arrays: dict, meta: dict) -> None:
        """Inverse of :meth:`state`."""


class Scheduled(NoUpdates):
    """A spec updater run on the model's CSR layers at the convention's update steps."""

    updates = True

    def __init__(self, name: str, updater, schedule, fraction, seed: int):
        super().__init__(name)
        self.updater, self.schedule, self._fraction, self.seed = updater, schedule, fraction, seed

    def is_update(self, clock: int) -> bool:
        return self.schedule.is_update(clock)

    def drop_fraction(self, clock: int) -> float:
        return float(self._fraction(clock))

    def update_within(self, clock: int, iterations: int) -> bool:
        """Whether the predicate fires at one of ``clock .. clock + iterations - 1``, asked of a copy of the
        schedule (TF1's predicate is stateful). Consecutive iterations read consecutive clocks until an
        update happens (every ``step_origin``), so this is "an update within the next ``iterations``
        iterations"."""
        probe = copy.copy(self.schedule)
        return any(probe.is_update(clock + offset) for offset in range(iterations))

    def needs_growth_inputs(self, clock: int) -> bool:
        """``every_step`` (SNFS: its EMA reads every batch's dense gradient): always; ``update`` (RigL):
        only in the last ``gradients.window`` iterations up to and including an update (the batches its
        grow step reads); ``none`` (SET, pruning): never. Recording on every iteration was measured to
        cost about 25 % of a LeNet-5 iteration (``docs/training.md``, performance notes)."""
        use = self.updater.gradient_use
        if use == "every_step":
            return True
        return use == "update" and self.update_within(clock, self.updater.gradients.window)

    def observe(self, model, recorded: bool) -> None:
        if self.updater.gradient_use == "none":
            return
        grads = [layer.growth_inputs() for layer in model.sparse_layers().values()] if recorded else None
        self.updater.observe(grads)

    def update(self, model, optimizer, clock: int, fraction: float) -> dict:
        """One update of every sparse layer; returns ``{layer name: DropGrowResult}`` (CSR layout)."""
        layers = model.sparse_layers()
        states = [CSRLayerState(layer.weight, tuple(_slot_arrays(optimizer, f"{name}.weight", layer.weight.nnz)),
                                slot_names=optimizer.slot_names)
                  for name, layer in layers.items()]
        rngs = [stream(self.seed, SET_STREAM, clock, index) for index in range(len(states))]
        results = self.updater.update(states, step=clock, drop_fraction=fraction, rng=rngs)
        for (name, layer), result in zip(layers.items(), results):
            layer.set_weight(result.weights)
            if optimizer.slot_names:
                optimizer.set_slots(f"{name}.weight", dict(zip(optimizer.slot_names, result.slots)))
        return dict(zip(layers, results))

    def state(self):
        last = getattr(self.schedule, "last_update_step", None)
        meta = {} if last is None else {"last_update_step": int(last)}
        return dict(self.updater.state()), meta

    def load_state(self, arrays, meta):
        if "last_update_step" in meta:
            self.schedule.last_update_step = int(meta["last_update_step"])
        self.updater.load_state(arrays)


class TopKASTRun(NoUpdates):
    """Top-KAST in a run (``rigl_ref.sparse_training.topkast``): every sparse layer stores its backward set
    ``B`` as its CSR weight with the forward set ``A`` as its ``forward_mask``; the parameters outside ``B``
    wait in one :class:`~rigl_ref.sparse_training.topkast.Reserve` per layer. The sets are refreshed on the
    convention's update grid (ΔT, up to T_end; after the weight step); the exploration penalty, with the
    run's ``weight_decay`` as its coefficient, replaces the optimizer's decay of these weights."""

    updates = True

    def __init__(self, name: str, method, schedule):
        super().__init__(name)
        self.method_rules, self.schedule = method, schedule
        self.reserves: dict[str, Reserve] = {}

    def is_update(self, clock: int) -> bool:
        return self.schedule.is_update(clock)

    def start(self, model) -> None:
        for index, (name, layer) in enumerate(model.sparse_layers().items()):
            split = self.method_rules.split(index, layer.weight)
            layer.set_weight(split.weight, forward_mask=split.forward_mask)
            self.reserves[name] = split.reserve

    def add_penalty_gradients(self, model) -> None:
        for index, layer in enumerate(model.sparse_layers().values()):
            penalty = self.method_rules.penalty(index, layer.weight.data, layer.forward_mask)
            grad = layer.weight_data.grad
            layer.weight_data.grad = penalty if grad is None else grad + penalty

    def undecayed_parameters(self, model) -> frozenset:
        return frozenset(f"{name}.weight" for name in model.sparse_layers())

    def update(self, model, optimizer, clock: int, fraction: float) -> dict:
        """Refresh ``A`` and ``B`` of every sparse layer; returns ``{layer name: DropGrowResult}`` (left ``B``
        as ``dropped``, entered ``B`` as ``grown``)."""
        results = {}
        for index, (name, layer) in enumerate(model.sparse_layers().items()):
            slots = tuple(_slot_arrays(optimizer, f"{name}.weight", layer.weight.nnz))
            refresh = self.method_rules.refresh(index, layer.weight, self.reserves[name], slots)
            layer.set_weight(refresh.weight, forward_mask=refresh.forward_mask)
            self.reserves[name] = refresh.reserve
            if optimizer.slot_names:
                optimizer.set_slots(f"{name}.weight", dict(zip(optimizer.slot_names, refresh.result.slots)))
            results[name] = refresh.result
        return results

    def state(self):
        arrays = {}
        for name, reserve in self.reserves.items():
            arrays[f"{name}/reserve_flat"], arrays[f"{name}/reserve_values"] = reserve.flat, reserve.values
        last = getattr(self.schedule, "last_update_step", None)
        return arrays, {} if last is None else {"last_update_step": int(last)}

    def load_state(self, arrays, meta):
        if "last_update_step" in meta:
            self.schedule.last_update_step = int(meta["last_update_step"])
        for name in self.reserves:
            self.reserves[name] = Reserve(np.asarray(arrays[f"{name}/reserve_flat"], np.int64),
                                          np.asarray(arrays[f"{name}/reserve_values"]))


def _slot_arrays(optimizer, param: str, size: int) -> list[np.ndarray]:
    slots = optimizer.slots(param)
    return [slots.get(name, np.zeros(size, np.float32)) for name in optimizer.slot_names]


def pruning_window(config, total: int) -> tuple[int, int]:
    """(begin, end) of gradual pruning on the ΔT grid, so that the last update lands on ``end`` and
    reaches the target."""
    interval = config.update_interval
    begin = interval * -(-int(config.pruning_begin_fraction * total) // interval)
    end = begin + interval * max(1, (int(config.pruning_end_fraction * total) - begin) // interval)
    return begin, end


def make_method(config, convention, total: int, t_end: int, sparsities: dict, lr=None, specs=()):
    """The run's mask-update method: the registry's updater with the run's schedule, or :class:`NoUpdates`.
    ``lr``: the run's learning-rate schedule (read by ``drop_schedule = "lr_scaled"``); ``specs``: the
    model's layer specs (read by the structured methods: budgets, neuron axes, the last layer)."""
    entry = METHOD_REGISTRY[config.method]
    if not entry.updates:
        return NoUpdates(config.method)
    if config.method == "topkast":
        schedule = make_update_schedule(convention.update_predicate, frequency=config.update_interval, end_step=t_end)
        options = RunOptions(convention=convention, topkast_penalty=config.weight_decay,
                             topkast_penalty_norm=config.topkast_penalty_norm,
                             **_topkast_counts(config, specs, sparsities, convention))
        return TopKASTRun(config.method, entry.updater.from_run(options), schedule)
    if config.method == "pruning":
        begin, end = pruning_window(config, total)
        schedule = make_update_schedule("jaxpruner", frequency=config.update_interval, begin_step=begin, end_step=end)
        fraction = _no_fraction
    elif config.method == "granet":  # prunes inside its window, regenerates on every ΔT from its start on
        begin, end = pruning_window(config, total)
        schedule = make_update_schedule("jaxpruner", frequency=config.update_interval, begin_step=begin,
                                        end_step=total)
        alpha = config.drop_fraction

        def fraction(clock):
            return granet_prune_rate(clock, alpha=alpha, total_steps=total)
    else:
        begin, end = 0, 1
        schedule = make_update_schedule(convention.update_predicate, frequency=config.update_interval, end_step=t_end)
        decay = _drop_fraction_schedule(config.drop_schedule, convention, lr)
        alpha = config.drop_fraction

        def fraction(clock):
            return decay(clock, alpha=alpha, end_step=t_end)

    options = RunOptions(
        convention=convention, gradients=gradient_feed(config.grow_batches), snfs_decay=config.snfs_decay,
        final_sparsities=tuple(s for s in sparsities.values() if s > 0.0), begin_step=begin, end_step=end,
        initial_density=1.0 - config.granet_initial_sparsity, final_density=1.0 - config.sparsity,
        interval=config.update_interval, granet_window=config.granet_window, gse_sample_factor=config.gse_sample_factor,
        srigl_min_salient=config.srigl_min_salient, nm=(config.nm_n, config.nm_m), **_structure(specs, sparsities),
    )
    return Scheduled(config.method, entry.updater.from_run(options), schedule, fraction, config.seed)


def _structure(specs, sparsities: dict) -> dict:
    """Per sparse layer, in model order: SRigL's budget ``int(N (1 - s))``, the neuron axis of its CSR
    layout (linear ``(in, out)``: 1; conv ``(out, in*k*k)``: 0), and whether neurons may be ablated (not in
    the network's last layer)."""
    sparse = [spec for spec in specs if sparsities.get(spec.name, 0.0) > 0.0]
    last = specs[-1].name if specs else None
    return dict(layer_budgets=tuple(srigl_budget(s.size, sparsities[s.name]) for s in sparse),
                neuron_axes=tuple(1 if s.kind == "linear" else 0 for s in sparse),
                ablatable=tuple(s.name != last for s in sparse))


def _topkast_counts(config, specs, sparsities: dict, convention) -> dict:
    """Per sparse layer, in model order: ``|A|`` from the distribution at the run's sparsity and ``|B|`` from
    the same distribution at ``topkast_backward_sparsity`` (each the convention's count rule), and ``N``."""
    sparse = [spec for spec in specs if sparsities.get(spec.name, 0.0) > 0.0]
    shapes = [(s.name, s.framework_shape) for s in sparse]
    backward = target_sparsities(config.replace(sparsity=config.topkast_backward_sparsity), specs)
    forward_counts = active_counts(shapes, {s.name: sparsities[s.name] for s in sparse}, convention)
    backward_counts = active_counts(shapes, {s.name: backward[s.name] for s in sparse}, convention)
    return dict(topkast_forward_counts=tuple(forward_counts[s.name] for s in sparse),
                topkast_backward_counts=tuple(backward_counts[s.name] for s in sparse),
                topkast_sizes=tuple(s.size for s in sparse))


def _drop_fraction_schedule(name: str, convention, lr):
    """``drop_schedule`` of the run config: "constant" (alpha at every update), "cosine" (Algorithm 1's
    f_decay in the convention's arithmetic, ``Conventions.cosine_schedule``) or "lr_scaled" (TF2's default:
    alpha / lr(0) * lr(t), ``schedules.lr_scaled_drop_fraction``)."""
    if name == "lr_scaled":
        return lambda clock, *, alpha, end_step: lr_scaled_drop_fraction(clock, alpha=alpha, lr=lr)
    return {"constant": constant_drop_fraction, "cosine": COSINE_SCHEDULES[convention.cosine_schedule]}[name]


def _no_fraction(clock):
    return 0.0
