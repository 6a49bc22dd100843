"""Per-layer sparsity distributions and per-layer active counts.

Given the layers of a network and one global sparsity ``S``, decide each layer's sparsity ``s_l``:

* ``uniform`` (the official code's ``'random'``): every layer gets ``S``.
* ``erdos_renyi`` (ER, Mocanu et al. 2018; RigL paper Sec. 3 "Sparsity Distribution"): the density of a
  layer is proportional to ``(n_in + n_out) / (n_in * n_out)`` with ``(n_in, n_out) = shape[-2:]``.
* ``erdos_renyi_kernel`` (ERK, RigL paper Sec. 3): the density is proportional to
  ``(sum(shape) / prod(shape)) ** power_scale``, so a conv kernel's spatial dims count too.
* ``rigl_torch`` (rigl-torch 0.5.2 ``RigLScheduler.__init__``, its only distribution, ``'uniform'``): every
  layer gets ``S`` except the first, which is dense when the network has more than one layer, and, with
  ``ignore_linear_layers`` (rigl-torch's default True), every linear layer (2-D shape), which is dense too.

ER and ERK keep the number of active connections of the scaled layers equal to what uniform ``S`` gives,
and make the layers whose density would exceed 1 dense, re-solving until no density exceeds 1. This is
google-research/rigl ``sparse_utils.get_sparsities_erdos_renyi`` (identical arithmetic in jaxpruner's
``sparsity_distributions.get_sparsities_erdos_renyi``), reproduced float for float; see
``docs/distributions_and_schedules.md``.

Conventions (``convention=``, a preset name or ``Conventions`` record): ``"jaxpruner"`` follows jaxpruner's
``uniform``/``erk``: layers with ``len(shape) <= 1`` are left unmasked (sparsity ``None``), and per-layer
counts round instead of flooring. The other presets (``"paper"``, ``"tf1"``, ``"tf2"``, ``"rigl_torch"``)
follow the official TF1 code; rigl-torch's own layer rules are the distribution ``"rigl_torch"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION, get_convention, rule_table
from rigl_ref.sparse_training.drop_grow import jaxpruner_num_ones
from rigl_ref.validate import check_choice, check_positive_int, check_sparsity

DISTRIBUTIONS = ("uniform", "erdos_renyi", "erdos_renyi_kernel", "rigl_torch")
# Names the frameworks use for the same distributions (TF1 flag values, jaxpruner function names).
DISTRIBUTION_ALIASES = {"random": "uniform", "er": "erdos_renyi", "erk": "erdos_renyi_kernel"}


@dataclass(frozen=True)
class LayerShape:
    """A maskable layer: its ``name`` and the ``shape`` of its weight tensor in the framework layout
    (dense ``(in, out)``, conv ``(kh, kw, c_in, c_out)``, as google-research/rigl and jaxpruner store them)."""

    name: str
    shape: tuple[int, ...]

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"layer name must be a non-empty string, got {self.name!r}")
        try:
            shape = tuple(check_positive_int("shape entry", d) for d in self.shape)
        except (TypeError, ValueError):
            raise ValueError(
                f"shape of layer {self.name!r} must be a tuple of positive integers, got {self.shape!r}"
            ) from None
        if not shape:
            raise ValueError(f"shape of layer {self.name!r} must have at least one dimension, got ()")
        object.__setattr__(self, "shape", shape)

    @property
    def size(self) -> int:
        """Number of weights ``N = prod(shape)``."""
        return math.prod(self.shape)


def as_layer_shapes(layers) -> tuple[LayerShape, ...]:
    """Normalise ``layers`` (``LayerShape`` records, ``(name, shape)`` pairs, or a ``{name: shape}``
    mapping, in network order) into a tuple of ``LayerShape``; names must be unique."""
    items = layers.items() if isinstance(layers, Mapping) else layers
    records = tuple(item if isinstance(item, LayerShape) else LayerShape(*item) for item in items)
    if not records:
        raise ValueError("layers must name at least one layer, got none")
    names = [record.name for record in records]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"layers has duplicate names: {duplicates}")
    return records


def follows_jaxpruner(convention) -> bool:
    """Whether ``convention`` (a preset name or ``Conventions`` record) counts like jaxpruner.

    jaxpruner sizes the initial masks with the same top-k calculator as its drop/grow counts, so a record
    whose ``drop_count_rule`` is jaxpruner's also gets jaxpruner's initial counts and layer filter.
    """
    return _COUNTS_LIKE_JAXPRUNER[get_convention(convention).drop_count_rule]


_COUNTS_LIKE_JAXPRUNER = rule_table("drop_count_rule", {
    "floor_exact": False, "float32_truncate": False, "float64_truncate": False, "jaxpruner_round_kept": True,
})


def active_count(size: int, sparsity: float, convention=DEFAULT_CONVENTION) -> int:
    """Number of active connections a layer of ``size`` weights gets at ``sparsity``.

    * official (``paper``, ``tf1``, ``tf2``, ``rigl_torch``): ``N - floor(s * N)`` with the product in
      float64 (google-research/rigl ``sparse_utils.get_n_zeros``; rigl-torch's ``int(S * N)`` zeros is the
      same for ``s >= 0``). Note ``floor(0.58 * 100) = 57``.
    * ``jaxpruner``: ``N`` when ``s == 0``, else ``max(1, round_half_even(float32(N) * (1 - float32(s))))``
      all in float32 (:func:`~rigl_ref.sparse_training.drop_grow.jaxpruner_num_ones`, the calculator its
      drop/grow counts use too).
    """
    size = check_positive_int("size", size)
    sparsity = check_sparsity("sparsity", sparsity)
    if follows_jaxpruner(convention):
        return jaxpruner_num_ones(size, sparsity)
    return size - math.floor(sparsity * size)


def active_counts(layers, sparsities: Mapping[str, float | None], convention=DEFAULT_CONVENTION) -> dict[str, int]:
    """``active_count`` of every layer; an unmasked layer (sparsity ``None``) keeps all its weights."""
    counts = {}
    for layer in as_layer_shapes(layers):
        sparsity = sparsities[layer.name]
        if sparsity is None:
            counts[layer.name] = layer.size
        else:
            check_sparsity(f"sparsities[{layer.name!r}]", sparsity)  # name the layer in the error
            counts[layer.name] = active_count(layer.size, sparsity, convention)
    return counts


def layer_sparsities(
    layers,
    sparsity: float,
    distribution: str,
    *,
    power_scale: float = 1.0,
    custom: Mapping[str, float] | None = None,
    dense_layers: Iterable[str] = (),
    first_layer_dense: bool = False,
    last_layer_dense: bool = False,
    convention=DEFAULT_CONVENTION,
    ignore_linear_layers: bool = True,
) -> dict[str, float | None]:
    """Sparsity of every layer, in layer order: ``{name: s_l}`` (``None`` = layer left unmasked).

    ``custom`` maps layer names to fixed sparsities; those layers are excluded from the ER/ERK budget
    entirely (official ``custom_sparsity_map``). ``dense_layers``, ``first_layer_dense`` and
    ``last_layer_dense`` are shorthands for custom sparsity 0.0, which is how the paper's drivers keep a
    layer dense (e.g. MNIST's ``layer3: 0.0``; ImageNet's uniform runs with a dense first conv).
    ``power_scale`` is ERK's ``erk_power_scale`` and is only accepted for ``erdos_renyi_kernel``;
    ``ignore_linear_layers`` is read by ``rigl_torch`` only (rigl-torch's argument of that name).
    """
    records = as_layer_shapes(layers)
    sparsity = check_sparsity("sparsity", sparsity)
    distribution = DISTRIBUTION_ALIASES.get(distribution, distribution)
    check_choice("distribution", distribution, DISTRIBUTIONS)
    power_scale = _check_power_scale(power_scale, distribution)
    jaxpruner = follows_jaxpruner(convention)
    fixed = _fixed_sparsities(records, custom, dense_layers, first_layer_dense, last_layer_dense)

    # jaxpruner's default filter (sparsity_distributions.NOT_DIM_ONE_FILTER_FN) leaves 1-D leaves unmasked.
    masked = [layer for layer in records if not jaxpruner or len(layer.shape) > 1]
    if distribution == "uniform":
        result = {layer.name: fixed.get(layer.name, sparsity) for layer in masked}
    elif distribution == "rigl_torch":
        rigl_torch = _rigl_torch_sparsities(masked, sparsity, bool(ignore_linear_layers))
        result = {name: fixed.get(name, value) for name, value in rigl_torch.items()}
    else:
        if distribution == "erdos_renyi":
            _check_two_dimensional([layer for layer in masked if layer.name not in fixed])
        result = _erdos_renyi(masked, sparsity, fixed, distribution == "erdos_renyi_kernel", power_scale)
    if jaxpruner and distribution == "uniform":
        # jaxpruner's uniform() looks the custom map up before applying its filter.
        result.update({name: value for name, value in fixed.items() if name not in result})
    return {layer.name: result.get(layer.name) for layer in records}


def _rigl_torch_sparsities(records, sparsity: float, ignore_linear_layers: bool) -> dict[str, float]:
    """rigl-torch's ``self.S``: 0 for the first layer of a multi-layer network and (``ignore_linear_layers``)
    for linear layers, ``1 - dense_allocation`` = ``sparsity`` for the others (``RigLScheduler.__init__``)."""
    def dense(index: int, layer: LayerShape) -> bool:
        return (index == 0 and len(records) > 1) or (ignore_linear_layers and len(layer.shape) == 2)

    return {layer.name: 0.0 if dense(i, layer) else sparsity for i, layer in enumerate(records)}


def _check_power_scale(power_scale: float, distribution: str) -> float:
    power_scale = float(power_scale)
    if not (math.isfinite(power_scale) and power_scale > 0):
        raise ValueError(f"power_scale must be a finite number > 0, got {power_scale!r}")
    if distribution != "erdos_renyi_kernel" and power_scale != 1.0:
        raise ValueError(
            f"power_scale applies only to distribution 'erdos_renyi_kernel', got power_scale={power_scale!r} "
            f"with distribution {distribution!r}"
        )
    return power_scale


def _fixed_sparsities(records, custom, dense_layers, first_layer_dense, last_layer_dense) -> dict[str, float]:
    """Merge ``custom`` and the dense-layer shorthands into one ``{name: sparsity}`` map, validated."""
    known = [layer.name for layer in records]
    dense = list(dense_layers)
    if first_layer_dense:
        dense.append(known[0])
    if last_layer_dense:
        dense.append(known[-1])
    fixed = {}
    for name, value in dict(custom or {}).items():
        if name not in known:
            raise ValueError(f"custom sparsity names no layer: {name!r}; layers are {known}")
        fixed[name] = check_sparsity(f"custom[{name!r}]", value)
    for name in dense:
        if name not in known:
            raise ValueError(f"dense_layers names no layer: {name!r}; layers are {known}")
        if fixed.get(name, 0.0) != 0.0:
            raise ValueError(f"layer {name!r} is asked to be dense but custom gives it sparsity {fixed[name]!r}")
        fixed[name] = 0.0
    return fixed


def _check_two_dimensional(records) -> None:
    for layer in records:
        if len(layer.shape) < 2:
            raise ValueError(
                f"distribution 'erdos_renyi' uses shape[-2:] as (n_in, n_out), but layer {layer.name!r} has "
                f"shape {layer.shape}"
            )


def _raw_density(shape: tuple[int, ...], include_kernel: bool, power_scale: float) -> float:
    """Unnormalised density: ERK ``(sum(shape)/prod(shape))**power_scale``, ER ``(n_in+n_out)/(n_in*n_out)``."""
    if include_kernel:
        return (sum(shape) / math.prod(shape)) ** power_scale
    n_in, n_out = shape[-2:]
    return (n_in + n_out) / (n_in * n_out)


def _erdos_renyi(records, sparsity, fixed, include_kernel, power_scale) -> dict[str, float]:
    """The official ER/ERK solve (``get_sparsities_erdos_renyi``), operation for operation.

    Find ``eps`` with ``sum_l eps * raw_l * N_l = sum_l (N_l - floor(S * N_l)) - sum_dense floor(S * N_d)``
    over the scaled layers ``l``. If ``max_l raw_l * eps > 1`` (strictly), every layer whose raw density
    equals the maximum exactly joins the dense set, in one iteration, and the solve repeats. Custom layers
    take no part. The final sparsity is ``1 - eps * raw_l`` (``0.0`` for dense layers).

    When ``S`` asks for no zero at all in the layers being solved (``floor(S * N_l) == 0`` for each, e.g.
    ``S == 0``), the answer is a dense network: those layers get ``0.0``. The official solve would make them
    dense one by one and then divide by an empty budget (ZeroDivisionError); here that error is kept only
    for budgets that really cannot be met.
    """
    solved = [layer for layer in records if layer.name not in fixed]
    if solved and all(math.floor(sparsity * layer.size) == 0 for layer in solved):
        return {layer.name: fixed.get(layer.name, 0.0) for layer in records}
    raw = {layer.name: _raw_density(layer.shape, include_kernel, power_scale)
           for layer in records if layer.name not in fixed}
    dense: set[str] = set()
    while True:
        rhs = 0
        divisor = 0.0
        for layer in records:
            n_zeros = math.floor(sparsity * layer.size)
            if layer.name in dense:
                rhs -= n_zeros
            elif layer.name not in fixed:
                rhs += layer.size - n_zeros
                divisor += raw[layer.name] * layer.size
        scaled = [name for name in raw if name not in dense]
        if not scaled:
            raise ValueError(
                "the Erdos-Renyi budget is empty: every masked layer has a custom sparsity or had to be made "
                f"dense (sparsity={sparsity!r}); the official code raises ZeroDivisionError here"
            )
        eps = rhs / divisor
        max_raw = max(raw[name] for name in scaled)
        if max_raw * eps > 1:
            dense.update(name for name in scaled if raw[name] == max_raw)
        else:
            break
    return {
        layer.name: fixed[layer.name] if layer.name in fixed
        else 0.0 if layer.name in dense
        else 1.0 - eps * raw[layer.name]
        for layer in records
    }
