"""GraNet through the trainer: every update equals the dense spec on the same state, and the run reaches
the schedule's final sparsity."""

import numpy as np
import pytest

from rigl_ref.data import synthetic
from rigl_ref.sparse import GrowthInputs
from rigl_ref.sparse_training.granet import granet_pruned_fraction, granet_update
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer

from train_helpers import dense_state, tiny_config

DATA = synthetic()


@pytest.mark.parametrize("window", ["official", "through_end"])
@pytest.mark.parametrize("initial", [0.0, 0.5])
def test_every_trainer_update_equals_the_spec_and_the_target_is_reached(initial, window):
    config = tiny_config(method="granet", sparsity=0.9, granet_initial_sparsity=initial, drop_fraction=0.5,
                         epochs=4, update_interval=2, pruning_end_fraction=0.6, distribution="uniform",
                         granet_window=window)
    trainer = Trainer(config, DATA)
    updater = trainer.method.updater
    real_update, compared = updater.update, []

    def checked(layers, *, step, drop_fraction, grads=None, rng=None):
        growth = updater.gradients.last
        assert all(isinstance(g, GrowthInputs) for g in growth)
        dense = [dense_state(layer) for layer in layers]
        results = real_update(layers, step=step, drop_fraction=drop_fraction, grads=grads, rng=rng)
        spec = granet_update([d.mask for d in dense], [d.weights for d in dense], [d.slots for d in dense], growth,
                             pruned=_pruned(updater, step), prune_rate=drop_fraction)
        for fast, want in zip(results, spec):
            mask, values = fast.weights.to_dense()
            assert np.array_equal(mask, want.mask) and np.array_equal(values, want.weights)
        compared.append(step)
        return results

    updater.update = checked
    while not trainer.done:
        trainer.train_iteration()
    assert len(compared) >= 10
    nnz = sum(trainer.model.nnz().values())
    total = sum(s.size for s in trainer.model.specs)
    last = max(_pruned(updater, step) or 0.0 for step in compared)  # the deepest global pruning of the run
    assert nnz <= int(total * (1.0 - last)) and nnz >= 0.95 * int(total * (1.0 - last))
    if window == "through_end":
        assert last == pytest.approx(0.9)
    else:  # the official window stops one grid point early: (d_i - d_f) / (c1 - c0)^3 short of the target
        first, end = updater.begin_step // updater.interval, updater.end_step // updater.interval
        assert last == pytest.approx(0.9 - (1 - initial - 0.1) / (end - first) ** 3)


def _pruned(updater, step):
    return granet_pruned_fraction(step, initial_density=updater.initial_density, final_density=updater.final_density,
                                  begin_step=updater.begin_step, end_step=updater.end_step, interval=updater.interval,
                                  window=updater.window)


def test_granet_refuses_an_initial_sparsity_above_the_target():
    with pytest.raises(ValueError, match="granet_initial_sparsity .* must not exceed sparsity"):
        RunConfig(method="granet", sparsity=0.5, granet_initial_sparsity=0.8)
