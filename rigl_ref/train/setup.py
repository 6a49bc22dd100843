"""From a :class:`RunConfig` to the objects of a run: data, layer sparsities and masks, model, optimizer.

Random streams (each a ``numpy.random.Generator`` derived from the run's ``seed``; nothing else is
random): data order ``default_rng([seed, epoch])`` (``rigl_ref.data.batches``), masks
``default_rng([seed, MASK_STREAM])`` (``sparse_training.masks.init_patterns`` over the sparse layers only,
in network order; dense layers draw nothing), initial weights ``default_rng([seed, WEIGHT_STREAM])``, SET's grow
scores ``default_rng([seed, SET_STREAM, step, layer_index])`` (stateless, like TF1's step-seeded RNG, so
a resumed run needs no RNG state). The stream ids are far above any epoch number.

Which layers are sparse: every weight layer takes part in the distribution (ERK/ER/uniform at the
overall sparsity S, ``rigl_ref.sparse_training.distributions``) unless ``first_layer``/``last_layer`` is
``"dense"``. A layer whose sparsity comes out as 0 (ERK makes layers dense when their density would
exceed 1) is built as a dense layer and takes no part in mask updates. Biases are always dense.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.autograd import softmax_cross_entropy
from rigl_ref.data import batches, load_dataset
from rigl_ref.nn.models import Model, architecture
from rigl_ref.optim import SGD, Adam, AdamW, StepDecay, Warmup, is_decayed, make_lr_schedule
from rigl_ref.sparse_training.distributions import DISTRIBUTION_ALIASES, active_counts, layer_sparsities
from rigl_ref.sparse_training.masks import init_patterns
from rigl_ref.sparse_training.structured import constant_fan_in_pattern, nm_pattern, srigl_budget
from rigl_ref.sparse_training.updaters import SNIP
from rigl_ref.train.config import RunConfig

MASK_STREAM, WEIGHT_STREAM, SET_STREAM, SNIP_STREAM = 1_000_001, 1_000_002, 1_000_003, 1_000_004


def stream(seed: int, stream_id: int, *more: int) -> np.random.Generator:
    """The Generator of one named random stream of the run."""
    return np.random.default_rng([seed, stream_id, *more])


def load_data(config: RunConfig):
    return load_dataset(config.dataset, data_dir=config.data_dir or None)


def model_specs(config: RunConfig, dataset, *, width: float = 1.0):
    return architecture(
        config.model, input_shape=dataset.example_shape, num_classes=dataset.num_classes,
        hidden=tuple(config.hidden), width=width,
    )


def target_sparsities(config: RunConfig, specs) -> dict[str, float]:
    """Per-layer sparsity from the distribution, with the first/last-layer rules (0.0 = dense).
    ``layer_sparsity_scale`` (one factor per layer) fixes every layer at ``sparsity * factor`` instead,
    the official MNIST driver's custom map (``rigl/mnist/mnist_train_eval.py``: layer2 = S * 0.9,
    layer3 = S * 0)."""
    if config.layer_sparsity_scale:
        scales = config.layer_sparsity_scale
        if len(scales) != len(specs):
            raise ValueError(f"layer_sparsity_scale has {len(scales)} factors, but the model has {len(specs)} "
                             f"layers ({', '.join(s.name for s in specs)})")
        return {s.name: config.sparsity * factor for s, factor in zip(specs, scales)}
    result = layer_sparsities(
        [(s.name, s.framework_shape) for s in specs],
        config.sparsity,
        DISTRIBUTION_ALIASES.get(config.distribution, config.distribution),
        first_layer_dense=config.first_layer == "dense",
        last_layer_dense=config.last_layer == "dense",
        convention=config.convention,
        ignore_linear_layers=config.ignore_linear_layers,
    )
    return {name: 0.0 if s is None else float(s) for name, s in result.items()}


def initial_sparsities(config: RunConfig, specs, targets: dict) -> dict[str, float]:
    """Sparsity of each layer's initial mask: the targets, except pruning and Top-KAST (dense start: Top-KAST
    selects its sets from a dense initialisation) and GraNet (its ``granet_initial_sparsity`` by the same
    distribution; 0 = a dense start, the official ``init_density 1``)."""
    if config.method in ("pruning", "topkast"):
        return {name: 0.0 for name in targets}
    if config.method == "granet":
        if config.granet_initial_sparsity == 0.0:
            return {name: 0.0 for name in targets}
        return target_sparsities(config.replace(sparsity=config.granet_initial_sparsity), specs)
    return dict(targets)


def small_dense_width(config: RunConfig, dataset) -> float:
    """Largest width multiplier whose dense network has no more weights than the sparse one's active
    connections (bisection over the multiplier; hidden widths are ``int(h * width)``).

    The narrow network comes from ``nn.models.architecture(width=...)``, not from
    ``sparse_training.catalogues.scale_width``: for MLPs both give the same shapes (``int`` truncation,
    input and output kept; ``tests/train/test_setup.py``), but ``scale_width`` scales every layer's fans
    on their own, as the official ``get_stats(width=...)`` FLOPs counter does, so LeNet-5's flattened
    ``fc1`` input becomes ``int(256 w)`` instead of ``16 int(16 w)`` and no longer matches ``conv2``'s
    channels: a catalogue to count, not a network to train. The paper gives widths (for ResNet-50 only)
    but no search; this search is rigl_ref's.
    """
    specs = model_specs(config, dataset)
    sparsities = target_sparsities(config, specs)
    budget = sum(active_counts([(s.name, s.framework_shape) for s in specs], sparsities, config.convention).values())
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        weights = sum(s.size for s in model_specs(config, dataset, width=middle))
        low, high = (middle, high) if weights <= budget else (low, middle)
    return low


def build_model(config: RunConfig, dataset):
    """The initial model and its per-layer target sparsities (0.0 for dense layers)."""
    flatten = config.model != "lenet5"
    if config.method in ("dense", "small-dense"):
        width = small_dense_width(config, dataset) if config.method == "small-dense" else 1.0
        specs = model_specs(config, dataset, width=width)
        model = Model(config.model, specs, {}, stream(config.seed, WEIGHT_STREAM))
        return model, {s.name: 0.0 for s in specs}
    specs = model_specs(config, dataset)
    sparsities = target_sparsities(config, specs)
    sparse_names = [name for name, s in sparsities.items() if s > 0.0]
    if config.method in ("pruning", "topkast"):  # start dense (CSR at density 1): prune / select from there
        masks = {spec.name: np.arange(spec.size, dtype=np.int64) for spec in specs if spec.name in sparse_names}
    elif config.method in ("srigl", "nm"):
        masks = structured_patterns(config, [s for s in specs if s.name in sparse_names], sparsities)
    elif config.method == "snip":
        dense = Model(config.model, specs, {}, stream(config.seed, WEIGHT_STREAM))
        return dense.sparsified(snip_masks(config, dataset, dense, sparsities, flatten)), sparsities
    else:  # the active positions of each sparse layer, drawn as sorted flat indices (never a dense mask)
        start = initial_sparsities(config, specs, sparsities)
        masks = init_patterns([(s.name, s.framework_shape) for s in specs],
                              {name: start[name] if name in sparse_names else None for name in sparsities},
                              stream(config.seed, MASK_STREAM), config.convention)
    model = Model(config.model, specs, masks, stream(config.seed, WEIGHT_STREAM),
                  scale_by_density=config.init == "scaled")
    return model, sparsities


def structured_patterns(config: RunConfig, specs, sparsities: dict) -> dict:
    """Initial masks of the structured methods, layer by layer from one Generator (``seed + MASK_STREAM``):
    SRigL's constant fan-in ``int(N (1 - s)) // neurons`` per neuron, or N of every M consecutive inputs,
    drawn in the neuron-major layout (``structured``) and returned as framework-layout flat indices."""
    rng = stream(config.seed, MASK_STREAM)
    masks = {}
    for spec in specs:
        neurons, fan_in = spec.fan_out, spec.size // spec.fan_out
        if config.method == "srigl":
            flat = constant_fan_in_pattern(neurons, fan_in, srigl_budget(spec.size, sparsities[spec.name]), rng)
        else:
            flat = nm_pattern(neurons, fan_in, config.nm_n, config.nm_m, rng)
        masks[spec.name] = neuron_major_to_framework(spec, flat)
    return masks


def neuron_major_to_framework(spec, flat) -> np.ndarray:
    """Neuron-major positions ``o * fan_in + j`` (torch layout: ``j`` over ``(in)`` or ``(in, kh, kw)``) as
    sorted flat indices of the framework layout ``(in, out)`` / ``(kh, kw, in, out)``."""
    neuron, j = np.divmod(np.asarray(flat, np.int64), spec.size // spec.fan_out)
    if spec.kind == "conv":
        k = spec.kernel_size
        c, rest = np.divmod(j, k * k)
        kh, kw = np.divmod(rest, k)
        j = (kh * k + kw) * spec.fan_in + c
    return np.sort(j * spec.fan_out + neuron)


def snip_masks(config: RunConfig, dataset, dense: Model, sparsities, flatten: bool) -> dict:
    """SNIP (Lee et al. 2019): connection sensitivity |w * dL/dw| of the dense initial network on one
    training batch (data stream ``seed + SNIP_STREAM``), each layer keeping its distribution's count
    (``rigl_ref.sparse_training.updaters.SNIP`` with ``scope="per_layer"`` at that layer's sparsity).
    The sparse model then keeps exactly the initial values it scored (``Model.sparsified``).
    """
    x, y = next(batches(dataset.train_x, dataset.train_y, config.batch_size, seed=config.seed + SNIP_STREAM,
                        flatten=flatten))
    softmax_cross_entropy(dense(x), y).backward()
    masks = {}
    for spec in dense.specs:
        if sparsities[spec.name] <= 0.0:
            continue
        weight = dense.layers[spec.name].weight
        value, grad = weight.value, weight.grad
        if spec.kind == "conv":  # OIHW -> (kh, kw, in, out)
            value, grad = value.transpose(2, 3, 1, 0), grad.transpose(2, 3, 1, 0)
        snip = SNIP(sparsities[spec.name], scope="per_layer", convention=config.convention)
        masks[spec.name] = snip.initial_masks([value], [grad])[0]
    return masks


def make_optimizer(config: RunConfig, undecayed=frozenset()):
    """The run's optimizer; weight decay reaches biases only with ``decay_biases`` (torch's default: every
    parameter; the official TF1 drivers: kernels only, ``rigl_ref.optim.is_decayed``) and never the
    parameters named in ``undecayed`` (a method that regularises them itself: Top-KAST)."""
    base = _decay_everything if config.decay_biases else is_decayed
    undecayed = frozenset(undecayed)

    def decay_filter(name: str) -> bool:
        return base(name) and name not in undecayed
    if config.optimizer == "sgd":
        nesterov = config.nesterov and config.momentum > 0
        return SGD(momentum=config.momentum, nesterov=nesterov, weight_decay=config.weight_decay,
                   decay_filter=decay_filter, arithmetic=config.sgd_arithmetic)
    kind = Adam if config.optimizer == "adam" else AdamW
    return kind(weight_decay=config.weight_decay, decay_filter=decay_filter)


def _decay_everything(name: str) -> bool:
    return True


def make_lr(config: RunConfig, total_steps: int):
    """The run's lr schedule; ``lr_milestone_unit = "step"`` gives milestones as weight steps (the sparse
    momentum protocol's "x0.1 every 25 000 iterations"), else as fractions of the run."""
    milestones = config.lr_milestones
    if config.lr_schedule == "step" and config.lr_milestone_unit == "step":
        schedule = StepDecay(config.lr, tuple(int(m) for m in milestones), config.lr_gamma)
        return Warmup(schedule, config.warmup_steps) if config.warmup_steps else schedule
    return make_lr_schedule(config.lr_schedule, config.lr, total_steps, milestones=milestones,
                            gamma=config.lr_gamma, warmup_steps=config.warmup_steps)

