"""Optimizers on arrays aligned with parameter data (dense arrays or CSR ``data`` vectors) and learning-rate
schedules. See :mod:`rigl_ref.optim.optimizers` and :mod:`rigl_ref.optim.lr_schedules`."""

from rigl_ref.optim.fused import fma32
from rigl_ref.optim.lr_schedules import LR_SCHEDULES, Constant, Cosine, StepDecay, Warmup, make_lr_schedule
from rigl_ref.optim.optimizers import SGD, Adam, AdamW, Optimizer, is_decayed

__all__ = [
    "LR_SCHEDULES", "Constant", "Cosine", "StepDecay", "Warmup", "make_lr_schedule",
    "SGD", "Adam", "AdamW", "Optimizer", "is_decayed", "fma32",
]
