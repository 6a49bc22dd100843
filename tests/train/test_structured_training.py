"""SRigL and N:M through the trainer: the structure holds after every update of every layer."""

import numpy as np

from rigl_ref.data import synthetic
from rigl_ref.train.loop import Trainer

from train_helpers import tiny_config

DATA = synthetic()


def _run(config):
    seen = []
    trainer = Trainer(config, DATA, on_update=lambda step, name, result: seen.append((name, result)))
    while not trainer.done:
        trainer.train_iteration()
    return trainer, seen


def test_srigl_keeps_a_constant_fan_in_per_output_neuron_at_every_update():
    config = tiny_config(method="srigl", sparsity=0.7, distribution="uniform", hidden=[16, 12], epochs=4,
                         update_interval=2, drop_fraction=0.5, srigl_min_salient=0.3)
    trainer, seen = _run(config)
    assert len(seen) >= 10
    for name, result in seen:
        mask, _ = result.weights.to_dense()  # (in, out): output neurons are columns
        fan_ins = mask.sum(axis=0)
        assert len(set(fan_ins[fan_ins > 0].tolist())) == 1, (name, fan_ins)
    last = trainer.model.specs[-1].name
    assert all((r.weights.to_dense()[0].sum(axis=0) > 0).all() for n, r in seen if n == last)  # never ablated


def test_nm_holds_n_of_every_m_inputs_at_every_update():
    config = tiny_config(method="nm", sparsity=0.5, distribution="uniform", nm_n=2, nm_m=4, epochs=3,
                         update_interval=2, drop_fraction=0.5)
    _, seen = _run(config)
    assert len(seen) >= 6
    for name, result in seen:
        mask, _ = result.weights.to_dense()
        rows = mask.shape[0]
        for start in range(0, rows, 4):
            assert (mask[start:start + 4].sum(axis=0) == min(2, rows - start)).all(), name
        assert len(result.grown) > 0 or result.k == 0
