"""grow_source = "fixed_batch" (TF2's train.py): RigL's grow scores are |gradient| of the loss on one fixed
batch (the first grow_batch_size training examples) at the weights the update sees, not on the iteration's
own batch. Each update of the trainer is checked against the dense spec fed with that gradient, computed
independently on a copy of the model."""

import copy

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.autograd import softmax_cross_entropy
from rigl_ref.data import synthetic, to_float32
from rigl_ref.sparse_training.drop_grow import score_drop
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer

from train_helpers import tiny_config

DATA = synthetic()


def _fixed_batch_gradients(model, data, n):
    twin = copy.deepcopy(model)
    for layer in twin.sparse_layers().values():
        layer.record_growth_inputs = True
    x = to_float32(data.train_x[:n]).reshape(n, -1)
    softmax_cross_entropy(twin(x), data.train_y[:n]).backward()
    return {name: layer.growth_inputs().dense_gradient() for name, layer in twin.sparse_layers().items()}


@pytest.mark.parametrize("convention", ["paper", "tf2"])
def test_every_update_grows_from_the_fixed_batch(convention):
    config = tiny_config(grow_source="fixed_batch", grow_batch_size=100, convention=convention, augment_shift=0,
                         sparsity=0.8, drop_fraction=0.5, drop_schedule="constant")
    trainer = Trainer(config, DATA)
    method, compared = trainer.method, []
    real_update = method.update

    def checked_update(model, optimizer, clock, fraction):
        grads = _fixed_batch_gradients(model, DATA, 100)
        before = {name: layer.weight.to_dense() for name, layer in model.sparse_layers().items()}
        results = real_update(model, optimizer, clock, fraction)
        for name, result in results.items():
            mask, weights = before[name]
            spec = drop_grow(mask, weights, score_drop(mask, weights, convention), np.abs(grads[name]), fraction,
                             convention=convention)
            assert np.array_equal(result.dense_mask(), spec.mask), (clock, name)
            compared.append(len(result.grown))
        return results

    method.update = checked_update
    while not trainer.done:
        trainer.train_iteration()
    assert len(compared) >= 4 and sum(compared) > 0


def test_fixed_batch_is_rigl_only_and_sized():
    with pytest.raises(ValueError, match="grow_source 'fixed_batch' applies to method 'rigl'"):
        RunConfig(grow_source="fixed_batch", method="set")
    with pytest.raises(ValueError, match="grow_batch_size must be"):
        RunConfig(grow_source="fixed_batch", grow_batch_size=0)
