"""drop_schedule = "lr_scaled": TF2's default drop fraction alpha / lr(0) * lr(t) (ScaledLRUpdateSchedule)."""

import numpy as np
import pytest

from rigl_ref.data import synthetic
from rigl_ref.optim import make_lr_schedule
from rigl_ref.sparse_training.schedules import lr_scaled_drop_fraction
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer

from train_helpers import tiny_config


def test_lr_scaled_follows_the_learning_rate_in_float32():
    lr = make_lr_schedule("cosine", 0.2, 1000)
    assert lr_scaled_drop_fraction(0, alpha=0.3, lr=lr) == np.float32(0.3) / np.float32(0.2) * np.float32(0.2)
    for step in (1, 250, 500, 999):
        want = np.float32(0.3) / np.float32(lr(0)) * np.float32(lr(step))
        assert lr_scaled_drop_fraction(step, alpha=0.3, lr=lr) == want
    assert lr_scaled_drop_fraction(500, alpha=0.3, lr=lr) == pytest.approx(0.15, rel=1e-6)
    with pytest.raises(ValueError, match=r"lr\(0\) > 0"):
        lr_scaled_drop_fraction(3, alpha=0.3, lr=lambda t: 0.0)


def test_the_trainer_logs_the_lr_scaled_fraction_at_every_iteration():
    trainer = Trainer(tiny_config(drop_schedule="lr_scaled", lr_schedule="cosine", drop_fraction=0.4), synthetic())
    fractions = []
    while not trainer.done:
        record = trainer.train_iteration()
        fractions.append(record["drop_fraction"])
    lr = trainer.lr
    # the schedule reads the convention's clock: for the paper preset the 0-based iteration index
    assert fractions == [float(np.float32(0.4) / np.float32(lr(0)) * np.float32(lr(i))) for i in range(len(fractions))]
    assert fractions[0] == pytest.approx(0.4) and fractions[-1] < 0.1


def test_lr_scaled_needs_a_positive_initial_lr():
    with pytest.raises(ValueError, match="drop_schedule 'lr_scaled' divides by lr"):
        RunConfig(drop_schedule="lr_scaled", warmup_steps=10)
