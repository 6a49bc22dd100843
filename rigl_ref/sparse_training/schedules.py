"""When the mask is updated, and which fraction of the active connections is dropped.

Two families, each a registry by name so that a ``Conventions`` record (plain-string fields) can select
its members:

* **drop-fraction schedules** ``f(step, *, alpha, begin_step=0, end_step=None) -> fraction``
  (``DROP_FRACTION_SCHEDULES``; the paper's f_decay(t; alpha, T_end));
* **update schedules** built from ``(frequency, begin_step, end_step)`` whose ``is_update(step)`` says
  whether ``step`` is a mask-update step (``UPDATE_SCHEDULES``).

Arithmetic is reproduced as each framework performs it. TF1's float32 schedules (google-research/rigl
``SparseSETOptimizerBase.get_drop_fraction``) exist in two forms: the literal graph, and the graph as TF's
default session runs it after Grappler's constant folding re-associated ``pi * (step / d)`` into
``step * (pi * (1 / d))`` (and ``(step - begin) / d`` into ``(step - begin) * (1 / d)``). Their float32
cosine takes a ``cosf`` argument: ``correctly_rounded_cosf`` (portable, the default) or ``libm_cosf`` (the
C library's ``cosf``, which TF's CPU kernel calls for a scalar; with glibc it reproduces every value of
the ``tf1_cosine`` suite bit for bit, while ``correctly_rounded_cosf`` differs by 1 ulp at 12 of 4472).
``numpy.cos`` on float32 is not used: it differs from both at ~7% of those steps.
See ``docs/distributions_and_schedules.md``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rigl_ref.sparse_training.conventions import rule_table
from rigl_ref.validate import check_choice, check_in_closed_unit_interval, check_positive_int

_F32_PI = np.float32(math.pi)
_F32_ONE = np.float32(1.0)
_F32_HALF = np.float32(0.5)


# ------------------------------------------------------------------------------------------------------
# float32 cosine


def correctly_rounded_cosf(x) -> np.float32:
    """cos of a float32, rounded once to float32 (evaluated in float64; platform independent)."""
    return np.float32(math.cos(float(np.float32(x))))


@functools.lru_cache(maxsize=1)
def _c_library_cosf():
    path = ctypes.util.find_library("m")
    if path is None:
        raise OSError("no C math library (libm) found for libm_cosf; use correctly_rounded_cosf instead")
    cosf = ctypes.CDLL(path).cosf
    cosf.argtypes = [ctypes.c_float]
    cosf.restype = ctypes.c_float
    return cosf


def libm_cosf(x) -> np.float32:
    """The C library's ``cosf``: what TensorFlow's CPU ``Cos`` kernel evaluates for a scalar float32
    (Eigen's scalar path calls ``std::cos(float)``). Result depends on the platform's libm."""
    return np.float32(_c_library_cosf()(float(np.float32(x))))


# ------------------------------------------------------------------------------------------------------
# drop-fraction schedules: f(step, *, alpha, begin_step=0, end_step=None)


def _check_nonnegative_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def _check_step(step) -> int:
    return _check_nonnegative_int("step", step)


def _check_window(begin_step, end_step) -> tuple[int, int]:
    """Require integer steps ``0 <= begin_step < end_step`` (end_step is T_end)."""
    _check_nonnegative_int("begin_step", begin_step)
    if end_step is None or isinstance(end_step, bool) or not isinstance(end_step, (int, np.integer)):
        raise ValueError(f"end_step (T_end) must be an integer, got {end_step!r}")
    if end_step <= begin_step:
        raise ValueError(f"end_step (T_end) must be greater than begin_step={begin_step!r}, got {end_step!r}")
    return int(begin_step), int(end_step)


def constant_drop_fraction(step, *, alpha, begin_step=0, end_step=None) -> float:
    """``alpha`` at every step (paper's constant baseline; TF1 ``drop_fraction_anneal='constant'``)."""
    _check_step(step)
    return check_in_closed_unit_interval("alpha", alpha)


def constant_drop_fraction_tf1(step, *, alpha, begin_step=0, end_step=None) -> np.float32:
    """``float32(alpha)``: TF1 keeps the drop fraction in a float32 tensor."""
    return np.float32(constant_drop_fraction(step, alpha=alpha))


def cosine_drop_fraction(step, *, alpha, begin_step=0, end_step=None) -> float:
    """Paper: ``f_decay(t) = alpha/2 * (1 + cos(t*pi/T_end))`` in float64, with ``t`` clipped at ``T_end``.

    Evaluated as ``alpha / 2 * (1 + np.cos((t * np.pi) / T_end))``, which is also rigl-torch 0.5.2's
    ``RigLScheduler.cosine_annealing`` operation for operation (there ``t`` is its post-increment step).
    The paper has no begin step, so ``begin_step`` must be 0.
    """
    step = _check_step(step)
    alpha = check_in_closed_unit_interval("alpha", alpha)
    begin_step, end_step = _check_window(begin_step, end_step)
    if begin_step != 0:
        raise ValueError(f"the paper's cosine schedule has no begin step; begin_step must be 0, got {begin_step!r}")
    t = min(step, end_step)
    return float(alpha / 2 * (1 + np.cos((t * np.pi) / end_step)))


def _tf1_cosine(step, alpha, begin_step, end_step, folded: bool, cosf) -> np.float32:
    """TF ``cosine_decay(float32(alpha), global_step, decay_steps=end-begin, alpha=0)`` in float32."""
    step = _check_step(step)
    alpha32 = np.float32(check_in_closed_unit_interval("alpha", alpha))
    begin_step, end_step = _check_window(begin_step, end_step)
    decay_steps = np.float32(end_step - begin_step)
    clipped = min(np.float32(step), decay_steps)  # the RAW global step, not step - begin
    if folded:
        angle = clipped * (_F32_PI * (_F32_ONE / decay_steps))
    else:
        angle = _F32_PI * (clipped / decay_steps)
    return alpha32 * (_F32_HALF * (_F32_ONE + cosf(angle)))


def cosine_drop_fraction_tf1(step, *, alpha, begin_step=0, end_step=None, cosf=correctly_rounded_cosf):
    """TF1 ``'cosine'`` as the graph is written: ``alpha*(0.5*(1+cos(pi*(min(s,d)/d))))``, all float32,
    ``s`` the raw global step, ``d = end_step - begin_step`` (TF with constant folding switched off)."""
    return _tf1_cosine(step, alpha, begin_step, end_step, False, cosf)


def cosine_drop_fraction_tf1_folded(step, *, alpha, begin_step=0, end_step=None, cosf=correctly_rounded_cosf):
    """TF1 ``'cosine'`` as TF's default session evaluates it: the angle is ``min(s,d) * (pi * (1/d))``
    in float32 (Grappler constant folding), the rest as in ``cosine_drop_fraction_tf1``."""
    return _tf1_cosine(step, alpha, begin_step, end_step, True, cosf)


def _tf1_exponential(step, alpha, begin_step, end_step, power, folded: bool) -> np.float32:
    """TF1 ``'exponential_<p>'``: ``alpha * (1 - (s - begin)/(end - begin)) ** p`` in float32, unclamped."""
    step = _check_step(step)
    alpha32 = np.float32(check_in_closed_unit_interval("alpha", alpha))
    begin_step, end_step = _check_window(begin_step, end_step)
    power = float(power)
    if not math.isfinite(power):
        raise ValueError(f"power must be a finite number, got {power!r}")
    elapsed, span = np.float32(step - begin_step), np.float32(end_step - begin_step)
    progress = elapsed * (_F32_ONE / span) if folded else elapsed / span
    with np.errstate(invalid="ignore"):  # a negative base with a fractional power is NaN, as in TF
        decayed = np.float32(np.power(np.float64(_F32_ONE - progress), np.float64(np.float32(power))))
    return alpha32 * decayed


def exponential_drop_fraction_tf1(step, *, alpha, begin_step=0, end_step=None, power):
    """TF1 ``'exponential_<p>'`` as written (float32; the power is evaluated in float64 and rounded once).
    Past ``end_step`` the base turns negative: a fractional ``power`` then gives NaN, as in TF."""
    return _tf1_exponential(step, alpha, begin_step, end_step, power, False)


def exponential_drop_fraction_tf1_folded(step, *, alpha, begin_step=0, end_step=None, power):
    """TF1 ``'exponential_<p>'`` as TF's default session evaluates it: ``(s - begin) * (1 / (end - begin))``."""
    return _tf1_exponential(step, alpha, begin_step, end_step, power, True)


def cosine_drop_fraction_optax(step, *, alpha, begin_step=0, end_step=None, cosf=correctly_rounded_cosf):
    """jaxpruner's cosine: ``optax.cosine_decay_schedule(alpha, decay_steps=end_step)`` at the raw 0-based
    count, in float32: ``alpha * (0.5 * (1 + cos((pi * min(c, T_end)) / T_end)))``.

    Sources: jaxpruner ``api.create_updater_from_config`` sets ``drop_fraction_fn =
    optax.cosine_decay_schedule(config.drop_fraction (default 0.1), config.update_end_step)`` for ``rigl``
    and ``set``, and ``SET.update_state`` calls it with ``sparse_state.count``; optax evaluates
    ``jnp.pi * count / decay_steps`` left to right, so the angle is ``(pi * c) / T_end`` (not
    ``pi * (c / T_end)`` as TF), then ``(1 - 0.0) * cosine ** 1.0 + 0.0`` (exact) and ``init_value *``.
    ``T_end`` is the update end step itself, not ``end - begin``, and ``begin_step`` does not enter. Read from
    the optax and jaxpruner sources, not checked against a run (XLA's float32 cos is neither ``cosf``
    offered here, so expect 1-ulp differences)."""
    step = _check_step(step)
    alpha32 = np.float32(check_in_closed_unit_interval("alpha", alpha))
    _, end_step = _check_window(begin_step, end_step)
    angle = (_F32_PI * np.float32(min(step, end_step))) / np.float32(end_step)
    return alpha32 * (_F32_HALF * (_F32_ONE + cosf(angle)))


def lr_scaled_drop_fraction(step, *, alpha, lr: Callable[[int], float]) -> np.float32:
    """TF2's default drop fraction, ``alpha / lr(0) * lr(step)`` in float32, so the drop fraction follows
    the learning-rate schedule over the whole run (google-research/rigl ``rigl/rigl_tf2/mask_updaters.py``
    ``ScaledLRUpdateSchedule``, ``schedule_alg='lr'``; ``lr`` is the run's schedule of the weight-step
    counter). TF's own lr schedule may differ from rigl_ref's by an ulp: feed its drop fraction for
    bit-exact work."""
    step = _check_step(step)
    alpha32 = np.float32(check_in_closed_unit_interval("alpha", alpha))
    initial = float(lr(0))
    if not (np.isfinite(initial) and initial > 0):
        raise ValueError(f"the lr-scaled drop fraction needs lr(0) > 0, got {initial!r}")
    return alpha32 / np.float32(initial) * np.float32(lr(step))


#: The cosine decay of each value of ``Conventions.cosine_schedule``.
COSINE_SCHEDULES: dict[str, Callable] = rule_table("cosine_schedule", {
    "cosine_float64": cosine_drop_fraction,  # paper; rigl-torch (with its post-increment step)
    "cosine_float32": cosine_drop_fraction_tf1,  # TF1 graph as written; Keras CosineDecay (TF2)
    "cosine_tf1_constant_folded": cosine_drop_fraction_tf1_folded,  # TF1 default session
    "cosine_float32_optax": cosine_drop_fraction_optax,  # jaxpruner's configured drop_fraction_fn
})

# Keys: the schedule's shape, then its arithmetic; the cosine keys are those of COSINE_SCHEDULES.
DROP_FRACTION_SCHEDULES: dict[str, Callable] = {
    "constant": constant_drop_fraction,
    "constant_float32": constant_drop_fraction_tf1,
    **COSINE_SCHEDULES,
    "exponential_float32": exponential_drop_fraction_tf1,
    "exponential_tf1_constant_folded": exponential_drop_fraction_tf1_folded,
}


def get_drop_fraction_schedule(name: str) -> Callable:
    """The drop-fraction schedule registered under ``name``."""
    return DROP_FRACTION_SCHEDULES[check_choice("drop-fraction schedule", name, DROP_FRACTION_SCHEDULES)]


def cosine_schedule(arithmetic: str) -> Callable:
    """The cosine decay with the named arithmetic: ``"float64"`` (the paper's), ``"float32"``,
    ``"tf1_constant_folded"`` or ``"float32_optax"``, i.e. ``DROP_FRACTION_SCHEDULES["cosine_" + arithmetic]``.
    A convention's cosine is ``COSINE_SCHEDULES[conv.cosine_schedule]``."""
    return get_drop_fraction_schedule(f"cosine_{arithmetic}")


def tf1_drop_fraction_schedule(anneal: str, *, folded: bool = True) -> Callable:
    """The schedule for a TF1 ``--drop_fraction_anneal`` value: ``'constant'``, ``'cosine'`` or
    ``'exponential_<p>'`` (``p`` parsed like TF1's ``extract_number``); ``folded`` picks the default-session
    arithmetic. Anything else raises ``ValueError``, as TF1 does."""
    if anneal == "constant":
        return constant_drop_fraction_tf1
    if anneal == "cosine":
        return cosine_drop_fraction_tf1_folded if folded else cosine_drop_fraction_tf1
    match = re.fullmatch(r"exponential_(\d*\.?\d*)", anneal)
    if match and match.group(1) not in ("", "."):
        schedule = exponential_drop_fraction_tf1_folded if folded else exponential_drop_fraction_tf1
        return functools.partial(schedule, power=float(match.group(1)))
    raise ValueError(f"unknown drop_fraction_anneal {anneal!r}; expected 'constant', 'cosine' or 'exponential_<p>'")


# ------------------------------------------------------------------------------------------------------
# update schedules: built from (frequency, begin_step, end_step); is_update(step) -> bool


def tf1_is_update(step, last_update_step, *, frequency, begin_step=0, end_step=-1) -> bool:
    """TF1 ``is_mask_update_iter`` as a pure function: ``begin <= t <= end`` (``end < 0``: no end) and
    ``last_update + frequency <= t``. With contiguous steps the updates fall at ``begin + k*frequency``."""
    in_range = begin_step <= step and (step <= end_step or end_step < 0)
    return bool(in_range and last_update_step + frequency <= step)


def _check_update_fields(schedule, *, has_begin: bool, needs_end: bool) -> None:
    """Validate ``(frequency, begin_step, end_step)`` of an update schedule."""
    check_positive_int("frequency", schedule.frequency)
    _check_nonnegative_int("begin_step", schedule.begin_step)
    if not has_begin and schedule.begin_step != 0:
        raise ValueError(f"{type(schedule).__name__} has no begin step; begin_step must be 0, "
                         f"got {schedule.begin_step!r}")
    if schedule.end_step is None:
        if needs_end:
            raise ValueError(f"{type(schedule).__name__} needs end_step (T_end), got None")
        return
    if isinstance(schedule.end_step, bool) or not isinstance(schedule.end_step, (int, np.integer)):
        raise ValueError(f"end_step must be an integer or None, got {schedule.end_step!r}")


def _check_end_after_begin(schedule) -> None:
    if schedule.end_step <= schedule.begin_step:
        raise ValueError(f"end_step (T_end) must be greater than begin_step={schedule.begin_step!r}, "
                         f"got {schedule.end_step!r}")


@dataclass(frozen=True)
class PaperUpdateSchedule:
    """Paper, Algorithm 1: update when ``t mod ΔT == 0 and t < T_end`` (``end_step`` = T_end, exclusive)."""

    frequency: int
    begin_step: int = 0
    end_step: int | None = None

    def __post_init__(self):
        _check_update_fields(self, has_begin=False, needs_end=True)
        _check_end_after_begin(self)

    def is_update(self, step) -> bool:
        step = _check_step(step)
        return step % self.frequency == 0 and step < self.end_step


@dataclass
class TF1UpdateSchedule:
    """google-research/rigl TF1 ``SparseSETOptimizerBase.is_mask_update_iter``; stateful.

    ``last_update_step`` starts at ``-frequency``; ``is_update(t)`` is ``tf1_is_update(t, last_update_step)``
    and records ``t`` when true. ``end_step`` is inclusive; ``None`` or negative means no end. ``t`` is the
    global step as TF1 reads it: pre-increment for RigL, post-increment for SET/SNFS/static.
    """

    frequency: int
    begin_step: int = 0
    end_step: int | None = None
    last_update_step: int = field(init=False)

    def __post_init__(self):
        _check_update_fields(self, has_begin=True, needs_end=False)
        if self.end_step is not None and self.end_step >= 0:
            _check_end_after_begin(self)
        self.last_update_step = -int(self.frequency)

    def is_update(self, step) -> bool:
        step = _check_step(step)
        end_step = -1 if self.end_step is None else self.end_step
        update = tf1_is_update(step, self.last_update_step, frequency=self.frequency,
                               begin_step=self.begin_step, end_step=end_step)
        if update:
            self.last_update_step = step
        return update


@dataclass(frozen=True)
class TF2UpdateSchedule:
    """google-research/rigl ``rigl_tf2/mask_updaters.UpdateSchedule.is_update_iter``: ``step % freq == 0``
    and, reading ``end_step`` as its ``last_update_step``: ``None``/negative = no end, ``0`` = never,
    otherwise ``step <= end_step``. ``step`` is ``optimizer.iterations`` after the SGD step."""

    frequency: int
    begin_step: int = 0
    end_step: int | None = None

    def __post_init__(self):
        _check_update_fields(self, has_begin=False, needs_end=False)

    def is_update(self, step) -> bool:
        step = _check_step(step)
        if self.end_step is None or self.end_step < 0:
            in_range = True
        elif self.end_step == 0:
            in_range = False
        else:
            in_range = step <= self.end_step
        return in_range and step % self.frequency == 0


class RiglTorchUpdateSchedule(PaperUpdateSchedule):
    """rigl-torch 0.5.2 ``RigLScheduler.__call__``: ``step % delta == 0 and step < T_end``, the paper's
    predicate; the difference is the step it reads, incremented before the test (the first call sees
    ``step == 1``; ``Conventions.step_origin="iterations_after"``)."""


@dataclass(frozen=True)
class JaxprunerUpdateSchedule:
    """jaxpruner ``sparsity_schedules.PeriodicSchedule.is_mask_update_iter``: ``count % update_freq == 0
    and update_start_step <= count <= update_end_step`` (``None`` = no end); ``count`` is 0-based."""

    frequency: int
    begin_step: int = 0
    end_step: int | None = None

    def __post_init__(self):
        _check_update_fields(self, has_begin=True, needs_end=False)
        if self.end_step is not None:
            _check_end_after_begin(self)

    def is_update(self, step) -> bool:
        step = _check_step(step)
        in_range = step >= self.begin_step and (self.end_step is None or step <= self.end_step)
        return in_range and step % self.frequency == 0


UPDATE_SCHEDULES = rule_table("update_predicate", {
    "paper": PaperUpdateSchedule,
    "tf1": TF1UpdateSchedule,
    "tf2": TF2UpdateSchedule,
    "rigl_torch": RiglTorchUpdateSchedule,
    "jaxpruner": JaxprunerUpdateSchedule,
})


def make_update_schedule(name: str, *, frequency: int, begin_step: int = 0, end_step: int | None = None):
    """A fresh update schedule of the kind registered under ``name`` (state starts anew for ``tf1``)."""
    schedule_class = UPDATE_SCHEDULES[check_choice("update schedule", name, UPDATE_SCHEDULES)]
    return schedule_class(frequency=frequency, begin_step=begin_step, end_step=end_step)


# ------------------------------------------------------------------------------------------------------
# step origins: which counter a training loop hands the update predicate and the drop-fraction schedule


@dataclass(frozen=True)
class StepOrigin:
    """One value of ``Conventions.step_origin``: ``clock(iterations, weight_steps)`` is the counter the
    predicate and the schedule read (``iterations``: batches consumed before this one; ``weight_steps``:
    optimizer steps done); ``counts_weight_steps``: the run's length and the post-step predicate are
    measured in weight steps (TF's ``global_step``), not in iterations."""

    clock: Callable[[int, int], int]
    counts_weight_steps: bool


def _iterations_before(iterations: int, weight_steps: int) -> int:
    return iterations


def _iterations_after(iterations: int, weight_steps: int) -> int:
    return iterations + 1


def _global_step(iterations: int, weight_steps: int) -> int:
    return weight_steps


STEP_ORIGINS = rule_table("step_origin", {
    "iterations_before": StepOrigin(_iterations_before, counts_weight_steps=False),  # paper, jaxpruner
    "iterations_after": StepOrigin(_iterations_after, counts_weight_steps=False),  # rigl-torch: step += 1 first
    "global_step": StepOrigin(_global_step, counts_weight_steps=True),  # tf1/tf2
})
