"""GSE through the trainer: every update equals the dense spec fed with the same state, gradient and
Generator, layer counts are kept, and a seed fixes the run."""

import copy

import numpy as np

from rigl_ref.data import synthetic
from rigl_ref.sparse import GrowthInputs
from rigl_ref.train.loop import Trainer

from train_helpers import dense_state, tiny_config

DATA = synthetic()


def test_every_trainer_update_equals_the_spec_and_keeps_the_counts():
    config = tiny_config(method="gse", sparsity=0.8, gse_sample_factor=0.5, drop_fraction=0.5, epochs=4,
                         update_interval=2, distribution="uniform")
    trainer = Trainer(config, DATA)
    updater = trainer.method.updater
    real_update, compared = updater.update, []

    def checked(layers, *, step, drop_fraction, grads=None, rng=None):
        growth = updater.gradients.last
        assert all(isinstance(g, GrowthInputs) for g in growth)
        dense = [dense_state(layer) for layer in layers]
        spec_rngs = copy.deepcopy(rng)
        results = real_update(layers, step=step, drop_fraction=drop_fraction, grads=grads, rng=rng)
        spec = type(updater)(updater.convention, sample_factor=updater.sample_factor).update(
            dense, step=step, drop_fraction=drop_fraction, grads=[g.dense_gradient() for g in growth],
            rng=spec_rngs)
        for layer, fast, want in zip(layers, results, spec):
            mask, values = fast.weights.to_dense()
            assert np.array_equal(mask, want.mask) and np.array_equal(values, np.where(want.mask, want.weights, 0))
            assert fast.weights.nnz == layer.weight.nnz
        compared.append((step, sum(len(r.grown) for r in results)))
        return results

    updater.update = checked
    while not trainer.done:
        trainer.train_iteration()
    assert len(compared) >= 10 and sum(grown for _, grown in compared) > 0


def test_a_seed_fixes_the_run():
    def final_patterns(seed):
        trainer = Trainer(tiny_config(method="gse", sparsity=0.8, seed=seed, epochs=2), DATA)
        while not trainer.done:
            trainer.train_iteration()
        return [layer.weight.active_flat_indices() for layer in trainer.model.sparse_layers().values()]

    first, again = final_patterns(0), final_patterns(0)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
