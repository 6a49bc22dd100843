"""FLOPs accounting as the RigL paper and repository do it: inference FLOPs per layer, training FLOPs per method.

Inference (one example, one forward pass) follows ``sparse_utils.get_stats`` of google-research/rigl,
which hands every masked layer to the MicroNet challenge counter
(``google_research/micronet_challenge/counting.py``, ``count_ops``) as a layer **with a bias and a ReLU**:

* convolution, kernel ``k x k x c_in x c_out``, ``n_out = H_out**2 * c_out`` outputs, density ``d = 1-s``:
  ``v = k*k*c_in*d`` multiplications and ``v - 1`` additions per output, one bias addition per output,
  one ReLU per output (counted as a multiplication);
* dense layer ``c_in x c_out``: the same with ``v = c_in*d`` and ``n_out = c_out``;
* FLOPs = multiplications + additions, summed in layer order. Batch norm, pooling, residual additions and
  the softmax are not counted. The density is the float ``1 - s``, not a rounded count of connections.

``get_stats`` builds every convolution as ``padding='same'`` over the tensor the Keras layer receives.
For ResNet-50's ``conv1`` that tensor is the image already padded to 230 pixels, so the official count
uses 115x115 outputs where the network has 112x112 (``geometry="get_stats"``, the default, reproduces
this; ``geometry="true"`` counts each layer's real output size).

Training (per example and step; f_S sparse and f_D dense inference FLOPs; a step costs a forward pass and
two backward products, i.e. 3x inference) -- RigL paper, section 4 and appendix, and
google-research/rigl ``rigl/imagenet_resnet/colabs/Resnet_50_Param_Flops_Counting.ipynb``
(confirmed by varun19299/rigl-reproducibility ``counting/inference_train_FLOPs.py``):

==============================  =============================================================
dense                           ``3 f_D``
static, SNIP, SET               ``3 f_S``
small-dense                     ``3 f_S`` of the narrower dense network (``scale_width``)
SNFS                            ``2 f_S + f_D`` (the dense gradient every step)
RigL                            ``(3 f_S ΔT + 2 f_S + f_D) / (ΔT + 1)`` while t < T_end, ``3 f_S`` after
gradual pruning                 ``3 f(t)`` averaged over the schedule (the repository's colab)
==============================  =============================================================

T_end: the published numbers charge RigL's update overhead on every step (``t_end_fraction=1``, the
default). No public google-research/rigl code computes RigL training FLOPs (the ResNet-50 colab counts
inference and the pruning average only), but the README's training column needs it (15 of its 16 entries
reproduce, 8 with the driver's T_end) and the reproducibility report the README links
(varun19299/rigl-reproducibility ``counting/inference_train_FLOPs.py``) applies the formula to the whole
run. The ImageNet driver really stops updating at 25000 of 32000 steps: ``t_end_fraction=
DRIVER_T_END_FRACTION`` counts that run.

A run ``multiplier`` times longer (the paper's RigL_5x) scales every step count with it, so its total is
``multiplier`` times the per-step average; ratios are to one dense run of the standard length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.catalogues import ConvLayer, DenseLayer, ModelCatalogue, scale_width
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.updaters import GradualMagnitudePruning
from rigl_ref.validate import check_choice, check_in_closed_unit_interval, check_positive_int, check_sparsity

GEOMETRIES = ("get_stats", "true")
METHODS = ("dense", "static", "snip", "set", "snfs", "rigl", "small-dense", "pruning")

IMAGENET_STEPS = 32000
"""ResNet-50 1x training length (batch 4096) in the RigL README and colab."""
IMAGENET_RIGL_T_END = 25000
"""``maskupdate_end_step`` of the ImageNet driver: mask updates stop after 25000 of 32000 steps."""
DRIVER_T_END_FRACTION = IMAGENET_RIGL_T_END / IMAGENET_STEPS
"""``t_end_fraction`` of the ImageNet driver's real schedule (0.78125)."""
README_T_END_FRACTION = 1.0
"""Default ``t_end_fraction``: the update overhead charged on every step, as the README's numbers are."""

SMALL_DENSE_WIDTHS = {0.8: 0.465, 0.9: 0.34, 0.95: 0.26, 0.965: 0.231}
"""ResNet-50 width multipliers of the small-dense baselines, by the sparsity they match (RigL colab
``Resnet_50_Param_Flops_Counting.ipynb``: the widths whose parameter bits equal the ERK sparse model's)."""


# --------------------------------------------------------------------------------------------------------
# Inference


def counted_output_size(layer: ConvLayer, geometry: str = "get_stats") -> int:
    """Output height/width a convolution is counted with.

    ``"get_stats"``: MicroNet ``get_conv_output_size(n, k, 'same', stride) = ceil((n - k + 1 + 2*(k//2)) /
    stride)`` over the tensor the layer op reads (``padded_input_size``), as ``get_stats`` calls it.
    ``"true"``: the layer's own output size.
    """
    check_choice("geometry", geometry, GEOMETRIES)
    if geometry == "true":
        return layer.output_size
    k = layer.kernel_size
    return -(-(layer.padded_input_size - k + 1 + 2 * (k // 2)) // layer.stride)


def layer_flops(layer, sparsity: float = 0.0, *, geometry: str = "get_stats") -> float:
    """Multiplications plus additions of one masked layer for one example (MicroNet ``count_ops`` with
    ``use_bias=True, activation='relu'``, as ``get_stats`` passes them). The operations are accumulated in
    MicroNet's order, so the float arithmetic is the official one."""
    if isinstance(layer, ConvLayer):
        kernel_length = layer.kernel_size * layer.kernel_size * layer.in_channels
        n_outputs = counted_output_size(layer, geometry) ** 2 * layer.out_channels
    elif isinstance(layer, DenseLayer):
        check_choice("geometry", geometry, GEOMETRIES)
        kernel_length, n_outputs = layer.in_features, layer.out_features
    else:
        raise TypeError(f"layer must be a ConvLayer or DenseLayer, got {type(layer).__name__}")
    vector_length = kernel_length * (1.0 - check_sparsity(f"sparsity of {layer.name}", sparsity))
    mults = vector_length * n_outputs  # one dot product of length v per output
    adds = (vector_length - 1) * n_outputs
    adds += n_outputs  # bias
    mults += n_outputs  # ReLU, counted as one multiplication
    return mults + adds


def _layers_of(model):
    return model.layers if isinstance(model, ModelCatalogue) else tuple(model)


def check_layer_sparsities(layers, sparsities) -> dict:
    """Sparsity of every layer as a dict; a layer missing from ``sparsities`` or mapped to ``None`` is
    unmasked (0.0).

    A name in ``sparsities`` that matches no layer raises ``ValueError`` (a typo would otherwise be
    counted silently as a dense layer).
    """
    sparsities = dict(sparsities or {})
    names = [layer.name for layer in layers]
    unknown = sorted(set(sparsities) - set(names))
    if unknown:
        raise ValueError(f"sparsities names layer(s) {unknown} not in the model (layers: {names})")
    return {name: check_sparsity(f"sparsity of {name}", sparsities.get(name) or 0.0) for name in names}


def inference_flops(model, sparsities=None, *, geometry: str = "get_stats") -> float:
    """FLOPs of one forward pass of one example: the sum of ``layer_flops`` in layer order
    (``get_stats``'s ``total_flops``). ``model`` is a ``ModelCatalogue`` or a sequence of layers;
    ``sparsities`` maps layer names to sparsities (missing layers are dense; ``None``: all dense)."""
    layers = _layers_of(model)
    sparsities = check_layer_sparsities(layers, sparsities)
    total = 0
    for layer in layers:
        total += layer_flops(layer, sparsities[layer.name], geometry=geometry)
    return total


# --------------------------------------------------------------------------------------------------------
# Training


def rigl_step_flops(f_sparse: float, f_dense: float, delta_t: int) -> float:
    """Average FLOPs of a RigL step while masks are updated: ΔT sparse steps (3 f_S each) and one update
    iteration (sparse forward and input-gradient pass 2 f_S, plus the dense weight gradient f_D), spread
    over ΔT + 1 iterations, since the official TF1 update replaces a weight step (RigL paper, appendix)."""
    delta_t = check_positive_int("delta_t", delta_t)
    return (3 * f_sparse * delta_t + 2 * f_sparse + f_dense) / (delta_t + 1)


def training_step_flops(
    method: str,
    f_sparse: float,
    f_dense: float,
    *,
    delta_t: int = 100,
    t_end_fraction: float = README_T_END_FRACTION,
) -> float:
    """Training FLOPs per example and step, averaged over one run (see the module table).

    ``f_sparse`` is the inference FLOPs of the network the method trains: the sparse network for static,
    SNIP, SET, SNFS and RigL, the narrow dense network for small-dense, and the schedule average of the
    inference FLOPs for pruning (``pruning_inference_flops``). ``t_end_fraction`` is T_end / T for RigL:
    the share of steps during which masks are updated (default 1, the README's accounting; the ImageNet
    driver's schedule is ``DRIVER_T_END_FRACTION`` = 25000/32000).
    """
    check_choice("method", method, METHODS)
    t_end_fraction = check_in_closed_unit_interval("t_end_fraction", t_end_fraction)
    if method == "dense":
        return 3 * f_dense
    if method == "snfs":
        return 2 * f_sparse + f_dense
    if method == "rigl":
        return t_end_fraction * rigl_step_flops(f_sparse, f_dense, delta_t) + (1 - t_end_fraction) * 3 * f_sparse
    return 3 * f_sparse  # static, snip, set, small-dense, pruning


@dataclass(frozen=True)
class PruningSchedule:
    """When gradual magnitude pruning (Zhu & Gupta 2017) prunes, and where the FLOPs average samples it.

    The sparsity of a layer with final sparsity ``S`` at step ``t`` is the cubic schedule of the pruning
    updater, ``GradualMagnitudePruning.sparsity_at`` (``s_t = S (1 - (1 - (t - begin)/(end - begin))^3)``
    for ``begin <= t <= end``, 0 before, ``S`` after): one implementation for training and counting.
    FLOPs are sampled every ``every`` steps at ``t = 0, every, ..., total`` (inclusive) and averaged, as
    the RigL colab does. Defaults: the colab's ImageNet values (10000, 25000, 32000, 1000).
    """

    begin: int = 10000
    end: int = 25000
    total: int = IMAGENET_STEPS
    every: int = 1000

    def __post_init__(self):
        check_positive_int("every", self.every)
        check_positive_int("total", self.total)
        if not (0 <= self.begin < self.end):
            raise ValueError(f"pruning begin must satisfy 0 <= begin < end, got begin={self.begin!r}, end={self.end!r}")

    def sample_steps(self) -> range:
        return range(0, self.total + 1, self.every)


def pruning_inference_flops(model, final_sparsities, schedule: PruningSchedule = PruningSchedule(), *,
                            geometry: str = "get_stats") -> float:
    """Inference FLOPs averaged over a gradual pruning run: at each sampled step ``t`` layer ``l`` has the
    sparsity ``GradualMagnitudePruning.sparsity_at(t, final_l)`` (for uniform targets the colab's ``s_t``
    for every layer)."""
    layers = _layers_of(model)
    final = check_layer_sparsities(layers, final_sparsities)
    pruner = GradualMagnitudePruning(list(final.values()), begin_step=schedule.begin, end_step=schedule.end)
    samples = []
    for step in schedule.sample_steps():
        at_step = {name: pruner.sparsity_at(step, s) for name, s in final.items()}
        samples.append(inference_flops(layers, at_step, geometry=geometry))
    return sum(samples) / len(samples)


# --------------------------------------------------------------------------------------------------------
# Per-model report


@dataclass(frozen=True)
class LayerFlops:
    """One row of a report: a layer's sparsity, active connections and inference FLOPs."""

    name: str
    shape: tuple
    sparsity: float
    size: int
    active: int
    flops: float
    dense_flops: float


@dataclass(frozen=True)
class FlopsReport:
    """Inference and training FLOPs of one method on one model, absolute and relative to dense.

    ``inference_flops`` and ``training_step_flops`` are per example; ``training_flops_ratio`` compares
    the whole run (``multiplier`` times the standard length) with one standard-length dense run.
    """

    model: str
    method: str
    multiplier: float
    layers: tuple
    inference_flops: float
    dense_inference_flops: float
    training_step_flops: float

    @property
    def dense_training_step_flops(self) -> float:
        return 3 * self.dense_inference_flops

    @property
    def inference_flops_ratio(self) -> float:
        return self.inference_flops / self.dense_inference_flops

    @property
    def training_flops_ratio(self) -> float:
        return self.multiplier * self.training_step_flops / self.dense_training_step_flops

    def to_dict(self) -> dict:
        """Plain JSON-ready data (``rigl-ref flops --json``, ``summary.json``)."""
        return {
            "model": self.model,
            "method": self.method,
            "multiplier": self.multiplier,
            "inference_flops": self.inference_flops,
            "dense_inference_flops": self.dense_inference_flops,
            "inference_flops_ratio": self.inference_flops_ratio,
            "training_step_flops": self.training_step_flops,
            "dense_training_step_flops": self.dense_training_step_flops,
            "training_flops_ratio": self.training_flops_ratio,
            "layers": [
                {**vars(row), "shape": list(row.shape)} for row in self.layers
            ],
        }


def flops_report(
    model: ModelCatalogue,
    sparsities=None,
    *,
    method: str = "rigl",
    multiplier: float = 1.0,
    delta_t: int = 100,
    t_end_fraction: float = README_T_END_FRACTION,
    small_dense_width: float | None = None,
    pruning: PruningSchedule = PruningSchedule(),
    geometry: str = "get_stats",
    convention=DEFAULT_CONVENTION,
) -> FlopsReport:
    """Per-layer and total FLOPs of ``method`` on ``model`` with the given per-layer ``sparsities``.

    For ``"small-dense"`` the rows describe the narrow dense network ``scale_width(model,
    small_dense_width)`` (the paper's ResNet-50 widths are in ``SMALL_DENSE_WIDTHS``) and ``sparsities``
    is ignored; for ``"dense"`` it is ignored too; for ``"pruning"`` it holds the final sparsities and the
    training FLOPs average the ``pruning`` schedule. Each row's active connections are counted with
    ``distributions.active_count`` under ``convention`` (official: ``size - floor(sparsity * size)``);
    the FLOPs themselves use the float density ``1 - s`` as ``get_stats`` does.
    """
    if not isinstance(model, ModelCatalogue):
        raise TypeError(f"model must be a ModelCatalogue, got {type(model).__name__}")
    check_choice("method", method, METHODS)
    multiplier = float(multiplier)
    if not (multiplier > 0) or math.isinf(multiplier):
        raise ValueError(f"multiplier must be a positive finite number, got {multiplier!r}")
    f_dense = inference_flops(model, geometry=geometry)
    trained = model
    if method == "small-dense":
        if small_dense_width is None:
            raise ValueError("method 'small-dense' needs small_dense_width (the width multiplier of the narrow net)")
        trained, sparsities = scale_width(model, small_dense_width), None
    elif method == "dense":
        sparsities = None
    sparsities = check_layer_sparsities(trained.layers, sparsities)
    rows = tuple(
        LayerFlops(
            name=layer.name,
            shape=tuple(layer.shape),
            sparsity=sparsities[layer.name],
            size=math.prod(layer.shape),
            active=active_count(math.prod(layer.shape), sparsities[layer.name], convention),
            flops=layer_flops(layer, sparsities[layer.name], geometry=geometry),
            dense_flops=layer_flops(layer, 0.0, geometry=geometry),
        )
        for layer in trained.layers
    )
    f_sparse = inference_flops(trained, sparsities, geometry=geometry)
    f_trained = f_sparse
    if method == "pruning":
        f_trained = pruning_inference_flops(model, sparsities, pruning, geometry=geometry)
    step = training_step_flops(method, f_trained, f_dense, delta_t=delta_t, t_end_fraction=t_end_fraction)
    return FlopsReport(model.name, method, multiplier, rows, f_sparse, f_dense, step)
