"""Learning-rate schedules: functions of the optimizer step ``t`` (0-based) returning a Python float.

* :class:`Constant` — ``lr``.
* :class:`StepDecay` — ``lr * gamma**(number of milestones <= t)``: the paper drivers' piecewise schedules,
  e.g. the MNIST driver divides by 3 at epochs 75 and 95 of 200, CIFAR by 5 at 30k/60k/90k steps
  (google-research/rigl ``rigl/mnist/mnist_train_eval.py``,
  ``rigl/cifar_resnet/resnet_train_eval.py``).
* :class:`Cosine` — ``final + (lr - final) * (1 + cos(pi * min(t, T) / T)) / 2`` (SGDR without restarts).
* :class:`Warmup` — linear warm-up ``lr(t) * (t + 1) / W`` for ``t < W`` wrapped around any schedule.

Schedules are frozen dataclasses: comparable, printable, and rebuilt from a run configuration by
:func:`make_lr_schedule`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from rigl_ref.validate import check_choice, check_positive_int

#: The schedule names ``make_lr_schedule`` accepts.
LR_SCHEDULES = ("constant", "step", "cosine")


def _check_lr(name: str, value: float) -> float:
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_step(step) -> int:
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    return int(step)


@dataclass(frozen=True)
class Constant:
    """The same learning rate ``lr`` at every step."""

    lr: float

    def __post_init__(self):
        _check_lr("lr", self.lr)

    def __call__(self, step: int) -> float:
        _check_step(step)
        return float(self.lr)


@dataclass(frozen=True)
class StepDecay:
    """Multiply ``lr`` by ``gamma`` at each milestone step (sorted, strictly increasing, >= 1)."""

    lr: float
    milestones: tuple[int, ...]
    gamma: float

    def __post_init__(self):
        _check_lr("lr", self.lr)
        _check_lr("gamma", self.gamma)
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])) or any(m < 1 for m in self.milestones):
            raise ValueError(f"milestones must be strictly increasing steps >= 1, got {list(self.milestones)}")

    def __call__(self, step: int) -> float:
        passed = bisect.bisect_right(self.milestones, _check_step(step))
        return float(self.lr) * float(self.gamma) ** passed


@dataclass(frozen=True)
class Cosine:
    """Cosine decay from ``lr`` at t=0 to ``final_lr`` at t=``total_steps`` (held after)."""

    lr: float
    total_steps: int
    final_lr: float = 0.0

    def __post_init__(self):
        _check_lr("lr", self.lr)
        _check_lr("final_lr", self.final_lr)
        check_positive_int("total_steps", self.total_steps)

    def __call__(self, step: int) -> float:
        progress = min(_check_step(step), self.total_steps) / self.total_steps
        return self.final_lr + (self.lr - self.final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Warmup:
    """Linear warm-up over the first ``warmup_steps`` steps: ``inner(t) * (t + 1) / warmup_steps``."""

    inner: Constant | StepDecay | Cosine
    warmup_steps: int

    def __post_init__(self):
        check_positive_int("warmup_steps", self.warmup_steps)

    def __call__(self, step: int) -> float:
        step = _check_step(step)
        scale = min(1.0, (step + 1) / self.warmup_steps)
        return self.inner(step) * scale


def make_lr_schedule(name: str, lr: float, total_steps: int, *, milestones=(), gamma: float = 0.1,
                     final_lr: float = 0.0, warmup_steps: int = 0):
    """Build a schedule by name (``constant``, ``step``, ``cosine``), optionally wrapped in :class:`Warmup`.

    ``milestones`` are fractions of ``total_steps`` in (0, 1) for ``step`` (so one config works at any run
    length); they are rounded to the nearest step.
    """
    check_choice("lr schedule", name, LR_SCHEDULES)
    total_steps = check_positive_int("total_steps", total_steps)
    if name == "constant":
        schedule = Constant(lr)
    elif name == "cosine":
        schedule = Cosine(lr, total_steps, final_lr)
    else:
        fractions = [float(m) for m in milestones]
        if not fractions or any(not 0.0 < m < 1.0 for m in fractions):
            raise ValueError(f"lr milestones must be non-empty fractions of the run in (0, 1), got {fractions}")
        schedule = StepDecay(lr, tuple(max(1, round(m * total_steps)) for m in fractions), gamma)
    if int(warmup_steps) < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}")
    return Warmup(schedule, int(warmup_steps)) if warmup_steps else schedule
