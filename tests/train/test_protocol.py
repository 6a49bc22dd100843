"""Protocol options the published experiments need: a held-out validation split, per-layer sparsity
factors (the official MNIST driver's custom map) and lr milestones in weight steps."""

import numpy as np
import pytest

from rigl_ref.data import hold_out_validation, synthetic
from rigl_ref.optim import StepDecay
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer
from rigl_ref.train.setup import make_lr, model_specs, target_sparsities

from train_helpers import tiny_config

DATA = synthetic(n_train=500, n_test=50)


def test_validation_is_the_tail_of_the_training_set_as_sparse_learning_splits_it():
    train, (val_x, val_y) = hold_out_validation(DATA, 0.1)
    split = int(np.floor((1.0 - 0.1) * 500))  # sparselearning/utils.py get_mnist_dataloaders
    assert train.n_train == split == 450 and len(val_y) == 50
    assert np.array_equal(train.train_x, DATA.train_x[:split]) and np.array_equal(val_x, DATA.train_x[split:])
    assert np.array_equal(train.test_x, DATA.test_x)
    assert hold_out_validation(DATA, 0.0) == (DATA, None)
    with pytest.raises(ValueError, match=r"validation_fraction must lie in \[0, 1\)"):
        hold_out_validation(DATA, 1.0)


def test_a_run_never_trains_on_its_validation_examples_and_reports_them():
    trainer = Trainer(tiny_config(validation_fraction=0.2, epochs=1), DATA)
    assert trainer.dataset.n_train == 400 and trainer.per_epoch == -(-400 // 64)
    seen = set()
    while not trainer.done:
        x, _ = trainer.next_batch()
        seen.update(map(bytes, np.asarray(x).reshape(len(x), -1)))
        trainer.train_iteration()
    held_out = {bytes(row) for row in DATA.train_x[400:].reshape(100, -1)}
    assert not seen & held_out
    loss, accuracy = trainer.evaluate_validation()
    assert 0.0 <= accuracy <= 1.0 and trainer.last_validation_accuracy == accuracy
    with pytest.raises(ValueError, match="holds out no validation set"):
        Trainer(tiny_config(epochs=1), DATA).evaluate_validation()


def test_layer_sparsity_scale_is_the_official_mnist_custom_map():
    config = RunConfig(dataset="synthetic", model="lenet-300-100", sparsity=0.98, distribution="uniform",
                       layer_sparsity_scale=[1.0, 0.9, 0.0])
    sparsities = target_sparsities(config, model_specs(config, DATA))
    assert sparsities == {"fc1": 0.98, "fc2": 0.98 * 0.9, "fc3": 0.0}  # mnist_train_eval.py: layer2, layer3
    with pytest.raises(ValueError, match="layer_sparsity_scale has 2 factors, but the model has 3 layers"):
        target_sparsities(config.replace(layer_sparsity_scale=[1.0, 0.9]), model_specs(config, DATA))
    with pytest.raises(ValueError, match="layer_sparsity_scale must hold finite factors"):
        RunConfig(sparsity=0.9, layer_sparsity_scale=[1.0, 1.2, 0.0])


def test_lr_milestones_in_steps():
    config = RunConfig(lr_schedule="step", lr_milestones=[25000, 50000], lr_milestone_unit="step", lr=0.1)
    lr = make_lr(config, total_steps=54000)
    assert isinstance(lr, StepDecay) and lr.milestones == (25000, 50000)
    assert lr(24999) == 0.1 and lr(25000) == pytest.approx(0.01) and lr(50000) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="lr_milestones in unit 'step' must be whole steps"):
        RunConfig(lr_milestones=[0.5], lr_milestone_unit="step")
