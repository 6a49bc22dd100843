"""The run configuration: one flat dataclass, saved as ``config.toml`` in every run directory.

A run is fully described by this record plus the seed; ``rigl-ref train --config FILE.toml`` loads one
(flags given on the command line override its values) and ``--resume DIR`` reloads the run's own copy.
Loading refuses keys that are not fields, and values of the wrong type, naming the key.

Defaults are the paper's RigL settings (ΔT=100, α=0.3, cosine drop fraction, T_end = 75 % of training,
ERK at 90 % sparsity, SGD with Nesterov momentum 0.9) on LeNet-300-100 and the embedded MNIST subset,
with epochs / lr / batch size chosen so the default run finishes in under 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

from rigl_ref.autograd.sparse_linear import KERNEL_MODES
from rigl_ref.data import DATASET_NAMES
from rigl_ref.optim import LR_SCHEDULES, Adam
from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.sparse_training.drop_grow import masked_slots
from rigl_ref.sparse_training.granet import GRANET_WINDOWS
from rigl_ref.sparse_training.registry import METHOD_REGISTRY
from rigl_ref.sparse_training.structured import check_nm
from rigl_ref.sparse_training.topkast import PENALTY_NORMS
from rigl_ref.train.files import write_atomic
from rigl_ref.validate import check_choice, check_in_closed_unit_interval, check_positive_int, check_sparsity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

METHODS = tuple(METHOD_REGISTRY)
MODELS = ("lenet-300-100", "mlp-1000-1000", "lenet5", "mlp")
DISTRIBUTIONS = ("uniform", "er", "erk", "rigl_torch")
OPTIMIZERS = ("sgd", "adam", "adamw")
LAYER_RULES = ("sparse", "dense")
DROP_SCHEDULES = ("constant", "cosine", "lr_scaled")
INITS = ("glorot", "scaled")
SGD_ARITHMETIC = ("separate", "fused")
GROW_SOURCES = ("train_batches", "fixed_batch")
MILESTONE_UNITS = ("fraction", "step")
CHOICES = {
    "method": METHODS, "dataset": DATASET_NAMES, "distribution": DISTRIBUTIONS, "convention": PRESETS,
    "model": MODELS, "optimizer": OPTIMIZERS, "lr_schedule": LR_SCHEDULES, "drop_schedule": DROP_SCHEDULES,
    "first_layer": LAYER_RULES, "last_layer": LAYER_RULES, "init": INITS, "sgd_arithmetic": SGD_ARITHMETIC,
    "grow_source": GROW_SOURCES, "lr_milestone_unit": MILESTONE_UNITS, "topkast_penalty_norm": PENALTY_NORMS,
    "granet_window": GRANET_WINDOWS, "kernels": KERNEL_MODES,
}
"""The string fields and the values each accepts."""


@dataclass
class RunConfig:
    # ---- data
    dataset: str = "mnist-subset"
    data_dir: str = ""  # folder of IDX files for full data sets ("" = RIGL_REF_DATA_DIR or the user cache)
    # ---- model
    model: str = "lenet-300-100"
    validation_fraction: float = 0.0  # hold out the last fraction of the training set (sparse_learning's split)
    hidden: list[int] = field(default_factory=list)  # hidden widths when model = "mlp"
    init: str = "scaled"  # "glorot": dense fans (official code); "scaled": Glorot limit / sqrt(layer density)
    # ---- sparse training method (Algorithm 1)
    method: str = "rigl"
    sparsity: float = 0.9  # S, over the layers the distribution covers
    distribution: str = "erk"  # uniform | er (Erdős–Rényi) | erk (Erdős–Rényi-Kernel) | rigl_torch
    ignore_linear_layers: bool = False  # distribution rigl_torch: linear layers dense (rigl-torch's default True)
    layer_sparsity_scale: list[float] = field(default_factory=list)  # per layer: s_l = S * scale (official MNIST)
    first_layer: str = "sparse"  # "dense" keeps the first layer out of the sparsity budget
    last_layer: str = "sparse"
    convention: str = "paper"  # preset of rigl_ref.sparse_training.conventions
    update_interval: int = 100  # ΔT
    drop_fraction: float = 0.3  # α
    drop_schedule: str = "cosine"  # f_decay; "lr_scaled": alpha * lr(t) / lr(0) (TF2's default)
    end_fraction: float = 0.75  # T_end as a fraction of the optimizer steps
    grow_batches: int = 1  # RigL grow gradient: mean over the last n batches (rigl-torch grad_accumulation_n)
    grow_source: str = "train_batches"  # "fixed_batch": RigL grows from one fixed batch of the training set (TF2)
    grow_batch_size: int = 1000  # grow_source "fixed_batch": its examples, the first N of the training set
    snfs_decay: float = 0.9  # SNFS: EMA decay of the gradient
    pruning_begin_fraction: float = 0.0  # pruning: schedule start, fraction of steps
    pruning_end_fraction: float = 0.75  # pruning: target sparsity reached at this fraction of steps
    granet_initial_sparsity: float = 0.5  # granet: sparsity of the initial masks (0 = dense start; official 0.5)
    granet_window: str = "official"  # granet: last pruning at c1 - 1 ("official", core.py) or at c1 ("through_end")
    gse_sample_factor: float = 1.0  # gse: inactive positions scored per update, as a multiple of the active count
    srigl_min_salient: float = 0.3  # srigl: neuron ablation threshold (>= 1: count, < 1: share of the fan-in; 0: none)
    nm_n: int = 2  # nm: active connections in every group ...
    nm_m: int = 4  # ... of nm_m consecutive inputs of a neuron (sparsity must be 1 - nm_n / nm_m)
    topkast_backward_sparsity: float = 0.8  # topkast: sparsity of the backward set B (<= sparsity, the forward set's)
    topkast_penalty_norm: str = "l2"  # topkast: exploration penalty "l2" (squared) or "l1" (eq. 3 as written)
    # ---- optimizer
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    decay_biases: bool = False  # L2 on biases too (torch.optim.SGD's weight_decay; TF1's drivers: kernels only)
    sgd_arithmetic: str = "separate"  # "fused": round as torch.optim.SGD does (one FMA per add_(alpha=...))
    lr_schedule: str = "cosine"
    lr_milestones: list[float] = field(default_factory=lambda: [0.375, 0.475])  # "step": fractions of the run
    lr_milestone_unit: str = "fraction"  # "fraction" of the run or "step" (weight steps, e.g. 25000)
    lr_gamma: float = 0.1  # "step": factor at each milestone
    warmup_steps: int = 0
    # ---- run
    augment_shift: int = 2  # random translations of training images by up to N pixels (0 = none, official)
    epochs: int = 40
    batch_size: int = 100
    seed: int = 0
    eval_interval: int = 0  # evaluate on the test set every N steps (0 = once per epoch)
    log_interval: int = 10  # one metrics.jsonl line every N iterations (and on every mask update)
    checkpoint_interval: int = 500  # checkpoint every N iterations (and at the end)
    blas_threads: int = 1  # BLAS threads while training (0 = the library's default)
    kernels: str = "exact"  # sparse backward: "exact" (fixed orders) or "fast" (rigl_ref.kernels.fast)

    def __post_init__(self):
        self.validate()

    def validate(self) -> RunConfig:
        """Check every field; raise ValueError naming the field and its value."""
        for name, choices in CHOICES.items():
            check_choice(name, getattr(self, name), choices)
        check_sparsity("sparsity", self.sparsity)
        for name in ("drop_fraction", "end_fraction", "snfs_decay", "pruning_begin_fraction", "pruning_end_fraction"):
            check_in_closed_unit_interval(name, getattr(self, name))
        check_sparsity("granet_initial_sparsity", self.granet_initial_sparsity)
        if not math.isfinite(self.srigl_min_salient) or self.srigl_min_salient < 0:
            raise ValueError(f"srigl_min_salient must be a finite number >= 0, got {self.srigl_min_salient!r}")
        check_nm(self.nm_n, self.nm_m)
        if self.method == "nm" and (abs(self.sparsity - (1 - self.nm_n / self.nm_m)) > 1e-9 or self.distribution != "uniform"):
            raise ValueError(f"method 'nm' needs distribution 'uniform' and sparsity = 1 - nm_n / nm_m = "
                             f"{1 - self.nm_n / self.nm_m!r}; got distribution {self.distribution!r}, sparsity {self.sparsity!r}")
        if not self.gse_sample_factor > 0 or not math.isfinite(self.gse_sample_factor):
            raise ValueError(f"gse_sample_factor must be a finite number > 0, got {self.gse_sample_factor!r}")
        check_sparsity("topkast_backward_sparsity", self.topkast_backward_sparsity)
        if self.method == "topkast" and self.topkast_backward_sparsity > self.sparsity:
            raise ValueError(f"topkast_backward_sparsity ({self.topkast_backward_sparsity}) must not exceed sparsity "
                             f"({self.sparsity}): Top-KAST's backward set contains its forward set")
        if self.method == "granet" and self.granet_initial_sparsity > self.sparsity:
            raise ValueError(f"granet_initial_sparsity ({self.granet_initial_sparsity}) must not exceed sparsity "
                             f"({self.sparsity}): GraNet prunes from the initial to the final sparsity")
        if self.pruning_begin_fraction >= self.pruning_end_fraction:
            raise ValueError(
                f"pruning_begin_fraction ({self.pruning_begin_fraction}) must be below pruning_end_fraction "
                f"({self.pruning_end_fraction})"
            )
        for name in ("update_interval", "grow_batches", "grow_batch_size", "epochs", "batch_size", "log_interval", "checkpoint_interval"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_interval", "warmup_steps", "seed", "augment_shift", "blas_threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "lr_gamma"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in [0, 1), got {self.validation_fraction!r}")
        if any(not (math.isfinite(v) and v >= 0) for v in self.layer_sparsity_scale) or \
                any(self.sparsity * v >= 1 for v in self.layer_sparsity_scale):
            raise ValueError(f"layer_sparsity_scale must hold finite factors >= 0 with sparsity * factor < 1, got "
                             f"{self.layer_sparsity_scale!r} at sparsity {self.sparsity!r}")
        if self.lr_milestone_unit == "step" and any(m != int(m) or m < 1 for m in self.lr_milestones):
            raise ValueError(f"lr_milestones in unit 'step' must be whole steps >= 1, got {self.lr_milestones!r}")
        if self.grow_source == "fixed_batch" and (self.method != "rigl" or self.grow_batches != 1):
            raise ValueError(f"grow_source 'fixed_batch' applies to method 'rigl' with grow_batches = 1, got method "
                             f"{self.method!r}, grow_batches={self.grow_batches!r}")
        if self.drop_schedule == "lr_scaled" and (self.warmup_steps or not self.lr > 0):
            raise ValueError(f"drop_schedule 'lr_scaled' divides by lr(0), which must be > 0: it needs lr > 0 "
                             f"and warmup_steps = 0, got lr={self.lr!r}, warmup_steps={self.warmup_steps!r}")
        if self.ignore_linear_layers and self.distribution != "rigl_torch":
            raise ValueError(f"ignore_linear_layers applies to distribution 'rigl_torch', not {self.distribution!r}")
        if self.sgd_arithmetic == "fused" and self.optimizer != "sgd":
            raise ValueError(f"sgd_arithmetic 'fused' applies to optimizer 'sgd', not {self.optimizer!r} "
                             f"(set sgd_arithmetic = \"separate\")")
        if self.optimizer != "sgd" and not all(masked_slots(self.convention, Adam.slot_names, len(Adam.slot_names))):
            raise ValueError(
                f"convention {self.convention!r} masks only SGD's momentum, so optimizer {self.optimizer!r} keeps "
                f"its moments at dropped connections, which the truly sparse trainer does not store: use "
                f"optimizer 'sgd', or drive the dense spec layer (rigl_ref.Oracle with slot_names)"
            )
        if not self.momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum!r}")
        if self.model == "mlp" and not self.hidden:
            raise ValueError("model 'mlp' needs hidden widths, e.g. hidden = [300, 100] (--hidden 300,100)")
        if any(isinstance(w, bool) or not isinstance(w, int) or w <= 0 for w in self.hidden):
            raise ValueError(f"hidden must be a list of positive integers, got {self.hidden!r}")
        if self.hidden and self.model != "mlp":
            raise ValueError(f"hidden widths {self.hidden} apply to model 'mlp' only, not {self.model!r} "
                             f"(--model mlp --hidden ...), or leave hidden empty")
        return self

    def replace(self, **changes) -> RunConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_FIELD_TYPES = {f.name: f.type for f in fields(RunConfig)}


def _coerce(key: str, value):
    """Check a TOML value against the field's type (ints are accepted where floats are expected)."""
    kind = _FIELD_TYPES[key]
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "list[int]": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
        "list[float]": isinstance(value, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value),
    }[kind]
    if not ok:
        raise ValueError(f"config key {key!r} must be of type {kind}, got {value!r}")
    if kind == "float":
        return float(value)
    if kind == "list[float]":
        return [float(v) for v in value]
    return value


def coerce_values(values: dict, *, source: str = "config") -> dict:
    """``values`` checked against the fields' types (ints become floats where floats are expected),
    without validating them together; an unknown key or a wrong type raises ValueError naming the key."""
    unknown = sorted(set(values) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(
            f"unknown config key {unknown[0]!r} in {source}; known keys: {', '.join(sorted(_FIELD_TYPES))}"
        )
    return {key: _coerce(key, value) for key, value in values.items()}


def config_from_dict(values: dict, *, base: RunConfig | None = None, source: str = "config") -> RunConfig:
    """``base`` (default: the defaults) with ``values`` applied; unknown keys raise ValueError naming them."""
    return dataclasses.replace(base or RunConfig(), **coerce_values(values, source=source))


def load_config(path) -> RunConfig:
    """Read a TOML file written by :func:`save_config` (or by hand: any subset of the keys)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    try:
        values = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    return config_from_dict(values, source=str(path))


def canonical_json(config: RunConfig | dict) -> str:
    """The canonical serialisation of ``config`` (or of a saved :meth:`RunConfig.to_dict`): its fields as
    JSON with sorted keys and no spaces (floats in Python's shortest round-trip form, so equal
    configurations give equal text)."""
    values = config if isinstance(config, dict) else config.to_dict()
    return json.dumps(values, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_fingerprint(config: RunConfig | dict) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: stored in every checkpoint so ``--resume`` can tell
    whether ``config.toml`` changed since the checkpoint was written."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def config_changes(old: dict, new: RunConfig) -> dict[str, tuple]:
    """``{field: (old value, new value)}`` for the fields of ``new`` that differ from the dictionary
    ``old`` (a :meth:`RunConfig.to_dict` saved earlier, possibly by an older rigl_ref).

    A field ``old`` lacks was added to rigl_ref after ``old`` was saved; it counts as its default, because
    a field is only ever added with the default that keeps the earlier behaviour (e.g. ``kernels =
    "exact"``). So a checkpoint of an older version resumes unless the new field is set otherwise (then
    it shows as ``None -> value``)."""
    current = new.to_dict()
    defaults = RunConfig().to_dict()
    changes = {}
    for name, value in current.items():
        before = old[name] if name in old else defaults[name]
        if before != value:
            changes[name] = (old.get(name), value)
    return changes


def departures_from_official(config: RunConfig) -> list[str]:
    """The settings of ``config`` that the official RigL code (google-research/rigl) does not have, one
    line each, with the value that restores the official behaviour. The defaults have two, chosen so the
    default run reaches 95 % on the 10 000-image embedded subset (``docs/training.md``)."""
    lines = []
    if config.augment_shift:
        lines.append(f"augment_shift = {config.augment_shift}: training images shifted at random by up to "
                     f"{config.augment_shift} pixels; official: no augmentation (augment_shift = 0)")
    if config.init == "scaled":
        lines.append('init = "scaled": Glorot limit divided by sqrt(layer density); official: Glorot over the '
                     'dense fans (init = "glorot")')
    return lines


def config_to_toml(config: RunConfig) -> str:
    """The TOML text of ``config``, headed by comments naming its departures from the official code."""
    notes = departures_from_official(config)
    header = ""
    if notes:
        header = "# departures from the official RigL code (--set KEY=VALUE or the flags restore them):\n"
        header += "".join(f"#   {line}\n" for line in notes) + "\n"
    return header + tomli_w.dumps(config.to_dict())


def save_config(config: RunConfig, path) -> None:
    """Write ``config`` as TOML atomically (temp file + rename)."""
    write_atomic(Path(path), config_to_toml(config).encode())
