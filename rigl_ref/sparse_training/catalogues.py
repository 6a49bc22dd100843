"""Layer catalogues: the shapes of the paper's networks, with no weights and no training.

A catalogue lists every layer that can carry a sparsity mask (convolutions and dense layers), in network
order (for ResNet-50 the order of the colab's Keras layer list: within a block ``2a, 2b, 2c, 1``), plus the parameters that are never masked (biases, batch-norm
scale and offset). The sparsity distributions (`rigl_ref.sparse_training.distributions`) read the
``name`` and ``shape`` of each layer; the FLOPs counter (`rigl_ref.sparse_training.flops`) also reads the
geometry (kernel, channels, stride, spatial size).

Shapes follow the TF layout the official code uses: a convolution kernel is ``(k, k, in, out)``, a dense
kernel is ``(in, out)`` (see ``docs/architecture.md``).

Models:

* ``resnet50()``: ResNet-50 v1.5 for ImageNet at 224x224, as built by the Keras model
  ``tensorflow/tpu models/experimental/resnet50_keras`` that the RigL FLOPs colab
  (``rigl/imagenet_resnet/colabs/Resnet_50_Param_Flops_Counting.ipynb``) counts. Layer names are that
  model's (``conv1``, ``res2a_branch2a`` ... ``fc1000``). The stride of a down-sampling block sits on its
  3x3 convolution, as in the TF1 training model ``rigl/imagenet_resnet/resnet_model.py``.
* ``wide_resnet(depth=22, width=2)``: the CIFAR-10 WideResNet of ``rigl/cifar_resnet/resnet_model.py``
  (pre-activation blocks, a 1x1 skip convolution wherever the channel count changes).
* ``mlp(widths)`` (``lenet_300_100()`` = 784-300-100-10) and ``lenet5()`` (the ``rigl_tf2/networks.py``
  LeNet-5: two valid 5x5 convolutions with 2x2 max pooling, then 120-84-10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.distributions import DISTRIBUTION_ALIASES, layer_sparsities
from rigl_ref.validate import check_choice, check_positive_int

PADDINGS = ("same", "valid")
FIRST_LAYER_POLICIES = ("imagenet", "dense", "sparse")


@dataclass(frozen=True)
class ConvLayer:
    """A square 2-D convolution.

    ``input_size`` is the height (= width) of the feature map entering the layer and ``pre_padding`` the
    zeros an explicit padding op adds on each side before it (ResNet-50's ``conv1`` reads the 224-pixel
    image padded by 3 to 230 pixels, then convolves with ``padding="valid"``).
    """

    name: str
    kernel_size: int
    in_channels: int
    out_channels: int
    stride: int
    input_size: int
    padding: str = "same"
    pre_padding: int = 0
    use_bias: bool = False

    def __post_init__(self):
        for field in ("kernel_size", "in_channels", "out_channels", "stride", "input_size"):
            check_positive_int(f"{self.name}.{field}", getattr(self, field))
        check_choice(f"{self.name}.padding", self.padding, PADDINGS)
        if isinstance(self.pre_padding, bool) or int(self.pre_padding) != self.pre_padding or self.pre_padding < 0:
            raise ValueError(f"{self.name}.pre_padding must be a non-negative integer, got {self.pre_padding!r}")
        if self.padding == "valid" and self.padded_input_size < self.kernel_size:
            raise ValueError(
                f"{self.name}: kernel_size {self.kernel_size} exceeds the padded input size {self.padded_input_size}"
            )

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Kernel shape ``(k, k, in, out)`` (TF HWIO layout)."""
        return (self.kernel_size, self.kernel_size, self.in_channels, self.out_channels)

    @property
    def padded_input_size(self) -> int:
        """Spatial size of the tensor the convolution op itself reads (after ``pre_padding``)."""
        return self.input_size + 2 * self.pre_padding

    @property
    def output_size(self) -> int:
        """Real output height/width: TF ``'same'`` gives ``ceil(n/stride)``, ``'valid'`` ``ceil((n-k+1)/stride)``."""
        n = self.padded_input_size
        if self.padding == "same":
            return math.ceil(n / self.stride)
        return math.ceil((n - self.kernel_size + 1) / self.stride)


@dataclass(frozen=True)
class DenseLayer:
    """A fully connected layer ``y = x @ W (+ b)`` with ``W`` of shape ``(in_features, out_features)``."""

    name: str
    in_features: int
    out_features: int
    use_bias: bool = True

    def __post_init__(self):
        check_positive_int(f"{self.name}.in_features", self.in_features)
        check_positive_int(f"{self.name}.out_features", self.out_features)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.in_features, self.out_features)


@dataclass(frozen=True)
class BatchNorm:
    """A batch-norm layer over ``channels`` that normalises the output of layer ``after``.

    In a residual network the residual sum may come between ``after`` and the batch norm (WideResNet's
    pre-activation norms read the block's sum). It is never masked; it has ``2 * channels`` trainable
    parameters (scale and offset).
    """

    name: str
    channels: int
    after: str


@dataclass(frozen=True)
class ModelCatalogue:
    """The maskable layers of one network, its batch norms, and the repository's first-layer rule.

    ``first_layer_policy`` says whether the first layer is masked when the user does not choose:
    ``"imagenet"`` follows the RigL README for ImageNet (ERK/ER mask it except at 99 % sparsity, uniform
    keeps it dense); ``"dense"`` never masks it (the CIFAR driver, ``prune_first_layer=False``);
    ``"sparse"`` always masks it (the MNIST driver). The last layer is masked in every driver.
    """

    name: str
    layers: tuple
    batch_norms: tuple = ()
    first_layer_policy: str = "sparse"
    source: str = ""

    def __post_init__(self):
        check_choice("first_layer_policy", self.first_layer_policy, FIRST_LAYER_POLICIES)
        if not self.layers:
            raise ValueError(f"catalogue {self.name!r} has no layers")
        names = [layer.name for layer in self.layers] + [norm.name for norm in self.batch_norms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"catalogue {self.name!r} repeats layer name(s) {duplicates}")

    @property
    def first_layer(self):
        return self.layers[0]

    @property
    def last_layer(self):
        return self.layers[-1]

    def layer(self, name: str):
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"catalogue {self.name!r} has no layer {name!r}")

    def default_first_layer(self, distribution: str, sparsity: float) -> str:
        """``"dense"`` or ``"sparse"``: the repository's choice for this model's first layer."""
        if self.first_layer_policy != "imagenet":
            return self.first_layer_policy
        if DISTRIBUTION_ALIASES.get(distribution, distribution) == "uniform" or sparsity >= 0.99:
            return "dense"
        return "sparse"

    def sparsities(self, sparsity: float, distribution: str, *, first_layer: str | None = None,
                   power_scale: float = 1.0, convention=DEFAULT_CONVENTION) -> dict:
        """Per-layer sparsities ``{name: s_l}`` from ``distributions.layer_sparsities``.

        ``first_layer`` is ``"dense"`` (the layer is left out of the budget, as the drivers' custom map
        ``{first: 0.0}`` does), ``"sparse"``, or ``None`` for the repository's default
        (``default_first_layer``). The last layer is masked like the others.
        """
        if first_layer is None:
            first_layer = self.default_first_layer(distribution, sparsity)
        check_choice("first_layer", first_layer, ("dense", "sparse"))
        return layer_sparsities(
            [(layer.name, layer.shape) for layer in self.layers],
            sparsity,
            distribution,
            power_scale=power_scale,
            first_layer_dense=first_layer == "dense",
            convention=convention,
        )

    def weight_count(self) -> int:
        """Entries of every maskable kernel (the dense parameter count the sparsity refers to)."""
        return sum(math.prod(layer.shape) for layer in self.layers)

    def unmasked_parameter_count(self) -> int:
        """Biases plus batch-norm scales and offsets: parameters no distribution ever masks."""
        biases = sum(_out_channels(layer) for layer in self.layers if layer.use_bias)
        return biases + sum(2 * norm.channels for norm in self.batch_norms)

    def parameter_count(self) -> int:
        """All trainable parameters of the dense network."""
        return self.weight_count() + self.unmasked_parameter_count()


def _out_channels(layer) -> int:
    return layer.out_channels if isinstance(layer, ConvLayer) else layer.out_features


def _in_channels(layer) -> int:
    return layer.in_channels if isinstance(layer, ConvLayer) else layer.in_features


# --------------------------------------------------------------------------------------------------------
# ResNet-50 (ImageNet)

RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))
"""(bottleneck width, blocks) of stages 2-5; each block ends with 4x the bottleneck width."""


def resnet50(num_classes: int = 1000, image_size: int = 224) -> ModelCatalogue:
    """ResNet-50 v1.5: 53 convolutions and one dense layer, every convolution followed by batch norm.

    ``conv1`` is 7x7/2 over the image padded by 3 (output ``image_size/2``), then a 3x3/2 max pool; each
    stage's first block down-samples on its 3x3 convolution (``res{s}a_branch2b``) and on its projection
    shortcut (``res{s}a_branch1``). Convolutions have no bias; ``fc1000`` has one.
    """
    check_positive_int("num_classes", num_classes)
    check_positive_int("image_size", image_size)
    conv1 = ConvLayer("conv1", 7, 3, 64, 2, image_size, padding="valid", pre_padding=3)
    layers = [conv1]
    norms = [BatchNorm("bn_conv1", 64, after="conv1")]
    size = math.ceil(conv1.output_size / 2)  # 3x3/2 max pool over the output padded by 1
    channels = 64
    for stage, (width, blocks) in enumerate(RESNET50_STAGES, start=2):
        for block in range(blocks):
            stride = 2 if (block == 0 and stage > 2) else 1
            tag = f"{stage}{'abcdef'[block]}"
            branch = [
                ConvLayer(f"res{tag}_branch2a", 1, channels, width, 1, size),
                ConvLayer(f"res{tag}_branch2b", 3, width, width, stride, size),
                ConvLayer(f"res{tag}_branch2c", 1, width, 4 * width, 1, math.ceil(size / stride)),
            ]
            if block == 0:
                branch.append(ConvLayer(f"res{tag}_branch1", 1, channels, 4 * width, stride, size))
            layers += branch
            norms += [BatchNorm(f"bn{layer.name[3:]}", layer.out_channels, after=layer.name) for layer in branch]
            size, channels = math.ceil(size / stride), 4 * width
    layers.append(DenseLayer("fc1000", channels, num_classes))
    return ModelCatalogue(
        "resnet50",
        tuple(layers),
        tuple(norms),
        first_layer_policy="imagenet",
        source="tensorflow/tpu models/experimental/resnet50_keras (counted by the RigL FLOPs colab)",
    )


# --------------------------------------------------------------------------------------------------------
# WideResNet (CIFAR-10)


def wide_resnet(depth: int = 22, width: int = 2, num_classes: int = 10, image_size: int = 32) -> ModelCatalogue:
    """WRN-depth-width of ``rigl/cifar_resnet/resnet_model.py``; the paper's CIFAR-10 model is WRN-22-2.

    ``conv_1`` (3x3, 16 channels), then three groups of ``(depth-4)/6`` pre-activation blocks with
    ``16*width``, ``32*width``, ``64*width`` channels (groups 3 and 4 start with stride 2). A block is
    BN-ReLU, 3x3 conv, BN-ReLU, (dropout), 3x3 conv, plus the shortcut: a 1x1 ``skip_conv_g`` reading the
    normalised input when the channel count changes. A final BN-ReLU, 8x8 average pool and the dense
    ``logits`` layer (with bias) close the network. No convolution has a bias.
    """
    check_positive_int("depth", depth)
    check_positive_int("width", width)
    if (depth - 4) % 6 != 0 or depth < 10:
        raise ValueError(f"depth must be 6n+4 with n >= 1 (e.g. 22), got {depth!r}")
    blocks = (depth - 4) // 6
    layers = [ConvLayer("conv_1", 3, 3, 16, 1, image_size)]
    norms = []
    size, channels, previous = image_size, 16, "conv_1"
    for group, (out, subsample) in enumerate(((16 * width, False), (32 * width, True), (64 * width, True)), start=2):
        for block in range(blocks):
            stride = 2 if (subsample and block == 0) else 1
            name = f"conv_{group}"
            norms.append(BatchNorm(f"bn_{name}_{block}_0", channels, after=previous))
            if channels != out:
                layers.append(ConvLayer(f"skip_{name}", 1, channels, out, stride, size, padding="valid"))
            first = ConvLayer(f"{name}_{block}_1", 3, channels, out, stride, size)
            second = ConvLayer(f"{name}_{block}_2", 3, out, out, 1, first.output_size)
            norms.append(BatchNorm(f"bn_{name}_{block}_1", out, after=first.name))
            layers += [first, second]
            size, channels, previous = first.output_size, out, second.name
    norms.append(BatchNorm("bn_final", channels, after=previous))
    layers.append(DenseLayer("logits", channels, num_classes))
    return ModelCatalogue(
        f"wrn-{depth}-{width}",
        tuple(layers),
        tuple(norms),
        first_layer_policy="dense",
        source="google-research/rigl rigl/cifar_resnet/resnet_model.py (prune_first_layer=False)",
    )


# --------------------------------------------------------------------------------------------------------
# Small models


def mlp(widths, name: str | None = None) -> ModelCatalogue:
    """A multilayer perceptron ``widths[0] -> ... -> widths[-1]``: dense layers ``fc1, fc2, ...`` with biases."""
    widths = [check_positive_int("widths", w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths needs at least an input and an output width, got {widths!r}")
    layers = tuple(DenseLayer(f"fc{i + 1}", a, b) for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))
    return ModelCatalogue(
        name or "mlp-" + "-".join(map(str, widths)),
        layers,
        first_layer_policy="sparse",
        source="fully connected ReLU network (RigL MNIST driver: 784-300-100-10)",
    )


def lenet_300_100() -> ModelCatalogue:
    """LeNet-300-100: the MLP 784-300-100-10 of the RigL MNIST driver."""
    return mlp((784, 300, 100, 10), name="lenet-300-100")


def lenet5(image_size: int = 28, in_channels: int = 1, hidden_sizes=(6, 16, 120, 84), num_classes: int = 10):
    """LeNet-5 of ``rigl/rigl_tf2/networks.py``: conv 5x5 (valid) - 2x2 pool - conv 5x5 (valid) - 2x2 pool -
    dense - dense - dense; every layer has a bias. On 28x28 MNIST the feature maps are 24, 12, 8, 4."""
    c1, c2, h1, h2 = (check_positive_int("hidden_sizes", h) for h in hidden_sizes)
    conv1 = ConvLayer("conv1", 5, in_channels, c1, 1, image_size, padding="valid", use_bias=True)
    conv2 = ConvLayer("conv2", 5, c1, c2, 1, conv1.output_size // 2, padding="valid", use_bias=True)
    flat = c2 * (conv2.output_size // 2) ** 2
    layers = (conv1, conv2, DenseLayer("fc1", flat, h1), DenseLayer("fc2", h1, h2), DenseLayer("fc3", h2, num_classes))
    return ModelCatalogue("lenet5", layers, first_layer_policy="sparse", source="google-research/rigl rigl_tf2/networks.py")


# --------------------------------------------------------------------------------------------------------
# Width scaling (small-dense baselines) and the registry


def scale_width(catalogue: ModelCatalogue, width: float) -> ModelCatalogue:
    """The same network with every channel count ``c`` replaced by ``int(c * width)``.

    This is the rule of ``sparse_utils.get_stats(width=...)`` that the paper's small-dense baselines use:
    the first layer keeps its input channels and the last layer its outputs; dimensions equal to 1 are
    kept; ``int`` truncates. Spatial sizes do not change. Batch norms follow their layer's new width.
    """
    width = float(width)
    if not (width > 0) or math.isinf(width):
        raise ValueError(f"width must be a positive finite number, got {width!r}")
    first, last = catalogue.layers[0].name, catalogue.layers[-1].name

    def scaled(c: int, keep: bool) -> int:
        return c if (keep or c == 1) else int(c * width)

    layers = []
    for layer in catalogue.layers:
        c_in = scaled(_in_channels(layer), layer.name == first)
        c_out = scaled(_out_channels(layer), layer.name == last)
        if c_in < 1 or c_out < 1:
            raise ValueError(f"width {width!r} leaves layer {layer.name!r} with no channels")
        if isinstance(layer, ConvLayer):
            layers.append(replace(layer, in_channels=c_in, out_channels=c_out))
        else:
            layers.append(replace(layer, in_features=c_in, out_features=c_out))
    by_name = {layer.name: layer for layer in layers}
    norms = tuple(replace(n, channels=_out_channels(by_name[n.after])) for n in catalogue.batch_norms)
    return replace(catalogue, name=f"{catalogue.name}-width{width:g}", layers=tuple(layers), batch_norms=norms)


CATALOGUES = {
    "resnet50": resnet50,
    "wrn-22-2": wide_resnet,
    "lenet-300-100": lenet_300_100,
    "lenet5": lenet5,
}
"""Named catalogues (``rigl-ref flops --model NAME``); ``mlp(widths)`` covers any other MLP."""


def get_catalogue(name: str) -> ModelCatalogue:
    """The catalogue called ``name`` (a key of ``CATALOGUES``)."""
    check_choice("model", name, CATALOGUES)
    return CATALOGUES[name]()
