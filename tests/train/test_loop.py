"""The Algorithm 1 loop: timing per convention, determinism, optimizer state across rebuilds, the fast
update against the spec layer, divergence."""

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.data import synthetic
from rigl_ref.train.loop import Trainer, TrainingDiverged

from train_helpers import tiny_config

DATA = synthetic()


def _run(config):
    trainer = Trainer(config, DATA)
    records = []
    while not trainer.done:
        records.append(trainer.train_iteration())
    return trainer, records


def _weights(trainer):
    out = {}
    for name, layer in trainer.model.layers.items():
        if name in trainer.model.sparse_layers():
            w = layer.weight
            out[name] = (w.indptr.copy(), w.indices.copy(), w.data.copy())
        else:
            out[name] = (layer.weight.value.copy(),)
        out[name + ".bias"] = (layer.bias.value.copy(),)
    return out


@pytest.mark.parametrize("method", ["rigl", "set", "snfs", "pruning", "snip", "static"])
def test_same_seed_same_run_bit_for_bit(method):
    config = tiny_config(method=method)
    (a, ra), (b, rb) = _run(config), _run(config)
    assert ra == rb
    for key, arrays in _weights(a).items():
        for x, y in zip(arrays, _weights(b)[key]):
            assert np.array_equal(x, y), key
    other = _weights(_run(tiny_config(method=method, seed=1))[0])
    assert any(not np.array_equal(x, y) for key in other for x, y in zip(other[key], _weights(a)[key]))


def test_paper_rigl_update_replaces_the_weight_step():
    trainer, records = _run(tiny_config(method="rigl", convention="paper"))
    updates = [r for r in records if r.get("mask_update")]
    # paper: t mod ΔT == 0 and t < T_end on the iteration index; an update iteration does no weight step
    expected = [i for i in range(trainer.total) if i % 3 == 0 and i < trainer.t_end]
    assert [r["iteration"] - 1 for r in updates] == expected
    assert all("lr" not in r for r in updates)
    assert trainer.iteration == trainer.total and trainer.step == trainer.total - len(expected)


def test_tf1_rigl_extra_batch_and_set_follows_the_step():
    trainer, records = _run(tiny_config(method="rigl", convention="tf1"))
    n_updates = sum(1 for r in records if r.get("mask_update"))
    assert trainer.step == trainer.total and trainer.iteration == trainer.total + n_updates  # ΔT + 1
    trainer, records = _run(tiny_config(method="set", convention="tf1"))
    updates = [r for r in records if r.get("mask_update")]
    assert trainer.iteration == trainer.step == trainer.total
    # TF1 SET: the post-increment global step, updates at begin + kΔT = 1, 4, 7, ... <= T_end
    assert [r["step"] for r in updates] == list(range(1, trainer.t_end + 1, 3))
    assert all("lr" in r for r in updates)


def test_active_counts_are_preserved_and_pruning_reaches_its_targets():
    trainer, records = _run(tiny_config(method="rigl"))
    assert len({tuple(r["nnz"].values()) for r in records}) == 1
    trainer, _ = _run(tiny_config(method="pruning", pruning_end_fraction=0.6))
    from rigl_ref.sparse_training.distributions import active_count

    for spec in trainer.model.specs:
        if trainer.sparsities[spec.name] > 0:
            assert trainer.model.nnz()[spec.name] == active_count(spec.size, trainer.sparsities[spec.name], "paper")


def test_optimizer_slots_follow_the_rebuild_and_match_the_spec_layer():
    trainer = Trainer(tiny_config(method="rigl", convention="tf1", update_interval=4), DATA)
    while trainer.clock() % 4 != 0 or trainer.step == 0:  # run to the second update (slots are non-zero)
        trainer.train_iteration()
    name, layer = next(iter(trainer.model.sparse_layers().items()))
    before_mask, before_w = layer.weight.to_dense()
    before_m = np.zeros(layer.weight.shape, np.float32)
    before_m[before_mask] = trainer.optimizer.slots(f"{name}.weight")["momentum"]
    layer.record_growth_inputs = True
    x, y = trainer.next_batch()
    # the update will use this very batch: compute the spec layer's scores from it first
    from rigl_ref.autograd import softmax_cross_entropy

    softmax_cross_entropy(trainer.model(x), y).backward()
    grad = layer.growth_inputs().dense_gradient()
    fraction = trainer.method.drop_fraction(trainer.clock())
    expected = drop_grow(before_mask, before_w, np.abs(before_mask * before_w), np.abs(grad), fraction,
                         convention="tf1", slots=(before_m,))
    for tensor in trainer.model.parameters().values():
        tensor.grad = None
    record = trainer.train_iteration()
    assert record.get("mask_update")
    mask, weights = trainer.model.sparse_layers()[name].weight.to_dense()
    momentum = np.zeros(mask.shape, np.float32)
    momentum[mask] = trainer.optimizer.slots(f"{name}.weight")["momentum"]
    assert np.array_equal(mask, expected.mask)
    assert np.array_equal(weights[mask], expected.weights[mask])
    assert np.array_equal(momentum, np.where(expected.mask, expected.slots[0], 0))
    assert np.all(weights[expected.grown] == 0) and np.all(momentum[expected.grown] == 0)
    assert record["changes"][name]["grown"] == int(expected.grown.sum())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_loss_stops_with_the_step():
    trainer = Trainer(tiny_config(method="static", lr=1e30, momentum=0.0), DATA)
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at step \d+"):
        while not trainer.done:
            trainer.train_iteration()


def test_growth_over_several_batches_changes_the_ranking_only():
    trainer, records = _run(tiny_config(method="rigl", grow_batches=3))
    assert trainer.method.records.maxlen == 3 and len(trainer.method.records) == 3
    assert any(r.get("mask_update") for r in records)


@pytest.mark.parametrize(
    "changes",
    [
        dict(method="rigl", convention="tf1", grow_batches=3),  # stateful predicate, growth records
        dict(method="snfs"),  # EMA state
        dict(method="pruning", convention="tf2"),
        dict(method="set", convention="jaxpruner", optimizer="adam", lr=0.01),
    ],
)
def test_checkpoint_round_trip_continues_bit_for_bit(tmp_path, changes):
    from rigl_ref.train.checkpoint import load_checkpoint, save_checkpoint

    config = tiny_config(**changes)
    whole, whole_records = _run(config)
    first = Trainer(config, DATA)
    for _ in range(10):
        first.train_iteration()
    arrays, meta = first.state()
    save_checkpoint(tmp_path, arrays, meta, tag=first.iteration)
    second = Trainer(config, DATA)
    second.load_state(*load_checkpoint(tmp_path))
    records = []
    while not second.done:
        records.append(second.train_iteration())
    assert records == whole_records[10:]
    final, expected = second.state(), whole.state()
    assert final[1] == expected[1] and sorted(final[0]) == sorted(expected[0])
    for key, value in expected[0].items():
        assert np.array_equal(final[0][key], value), key
