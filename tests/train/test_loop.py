"""The Algorithm 1 loop: timing per convention, determinism, optimizer state across rebuilds, the fast
update against the spec layer, divergence."""

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.data import load_dataset, synthetic
from rigl_ref.train.loop import Trainer, TrainingDiverged

from train_helpers import assert_resume_is_bit_exact, assert_same_state, tiny_config

DATA = synthetic()


def _run(config):
    trainer = Trainer(config, DATA)
    records = []
    while not trainer.done:
        records.append(trainer.train_iteration())
    return trainer, records


@pytest.mark.parametrize("method", ["rigl", "set", "snfs", "pruning", "snip", "static", "topkast"])
def test_same_seed_same_run_bit_for_bit(method):
    config = tiny_config(method=method)
    (a, ra), (b, rb) = _run(config), _run(config)
    assert ra == rb
    assert_same_state(a, b)
    other = _run(tiny_config(method=method, seed=1))[0].state()[0]
    assert any(not np.array_equal(value, a.state()[0][key]) for key, value in other.items())


def test_paper_rigl_update_replaces_the_weight_step():
    trainer, records = _run(tiny_config(method="rigl", convention="paper"))
    updates = [r for r in records if r.get("mask_update")]
    # paper: t mod ΔT == 0 and t < T_end on the iteration index; an update iteration does no weight step
    expected = [i for i in range(trainer.total) if i % 3 == 0 and i < trainer.t_end]
    assert [r["iteration"] - 1 for r in updates] == expected
    steps = [0] + [r["step"] for r in records]  # steps[i]: weight steps done after iteration i
    assert all(steps[r["iteration"]] == steps[r["iteration"] - 1] for r in updates)  # no weight step
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
    steps = [0] + [r["step"] for r in records]
    assert all(steps[r["iteration"]] == steps[r["iteration"] - 1] + 1 for r in updates)  # after a weight step


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
    one, records_one = _run(tiny_config(method="rigl", grow_batches=1))
    three = Trainer(tiny_config(method="rigl", grow_batches=3), DATA)
    averaged, update = [], three.method.update
    three.method.update = lambda *args: averaged.append(len(three.method.updater.gradients.history)) or update(*args)
    records_three = []
    while not three.done:
        records_three.append(three.train_iteration())
    assert averaged and averaged[0] == 1 and set(averaged[1:]) == {3}  # the first update (t=0) has one batch
    assert [r["nnz"] for r in records_one] == [r["nnz"] for r in records_three]
    def drop_counts(records):  # k per layer and update: the connections dropped, whether regrown or not
        return [[c["dropped"] + c["regrown"] for c in r["changes"].values()] for r in records if r.get("mask_update")]

    assert drop_counts(records_one) == drop_counts(records_three)
    pattern = {k: v for k, v in one.state()[0].items() if k.endswith("/indices")}
    assert any(not np.array_equal(v, three.state()[0][k]) for k, v in pattern.items())


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
    assert_resume_is_bit_exact(tiny_config(**changes), DATA, tmp_path, after=10)


def _run_noting_recording(trainer):
    """Run to the end; return the records and, per 0-based iteration, whether growth inputs were recorded."""
    records, recorded = [], []
    while not trainer.done:
        records.append(trainer.train_iteration())
        recorded.append(all(layer.record_growth_inputs for layer in trainer.model.sparse_layers().values()))
    return records, recorded


def _model_and_optimizer(trainer):
    arrays = trainer.state()[0]
    return {key: value for key, value in arrays.items() if key.startswith(("model/", "optimizer/"))}


@pytest.mark.parametrize("convention", ["paper", "tf1", "tf2", "rigl_torch", "jaxpruner"])
@pytest.mark.parametrize("grow_batches", [1, 3])
def test_rigl_records_growth_inputs_only_for_the_batches_an_update_reads(convention, grow_batches):
    config = tiny_config(method="rigl", convention=convention, update_interval=7, grow_batches=grow_batches)
    lazy = Trainer(config, DATA)
    records, recorded = _run_noting_recording(lazy)
    updates = [r["iteration"] - 1 for r in records if r.get("mask_update")]
    assert len(updates) >= 2
    window = {i for u in updates for i in range(max(u - grow_batches + 1, 0), u + 1)}
    assert [i for i, flag in enumerate(recorded) if flag] == sorted(window)
    assert len(window) < len(recorded)
    assert not any(key.startswith("method/") for key in lazy.state()[0])  # after T_end nothing is kept
    # the same run recording on every iteration (the plain reading of Algorithm 1) gives the same result
    eager = Trainer(config, DATA)
    eager.method.needs_growth_inputs = lambda clock: True
    eager_records, eager_recorded = _run_noting_recording(eager)
    assert all(eager_recorded) and eager_records == records
    lazy_arrays, eager_arrays = _model_and_optimizer(lazy), _model_and_optimizer(eager)
    assert sorted(lazy_arrays) == sorted(eager_arrays)
    for key, value in lazy_arrays.items():
        assert np.array_equal(value, eager_arrays[key]), key


@pytest.mark.parametrize("method, expected", [("snfs", True), ("set", False), ("static", False)])
def test_snfs_records_every_iteration_set_and_static_never(method, expected):
    _, recorded = _run_noting_recording(Trainer(tiny_config(method=method), DATA))
    assert recorded and all(flag == expected for flag in recorded)


def test_every_metrics_record_has_lr_and_drop_fraction():
    trainer, records = _run(tiny_config(method="rigl"))
    schedule = trainer.lr
    steps = [0] + [r["step"] for r in records]
    for before, record in zip(steps, records):
        assert record["lr"] == schedule(before)  # the rate of the weight step t the iteration started at
        assert record["drop_fraction"] == trainer.method.drop_fraction(record["iteration"] - 1)  # paper clock
    assert any(r["drop_fraction"] > 0 for r in records) and records[-1]["drop_fraction"] == 0.0


def test_on_update_reports_every_layer_update_with_the_result_the_model_keeps():
    seen = []
    trainer = Trainer(tiny_config(method="rigl"), DATA, on_update=lambda step, name, r: seen.append((step, name, r)))
    nnz = {name: layer.weight.nnz for name, layer in trainer.model.sparse_layers().items()}
    while not trainer.done:
        trainer.train_iteration()
    assert seen, "RigL with update_interval=3 over 3 epochs must update at least once"
    for step, name, result in seen:
        assert name in nnz
        assert len(result.dropped) + len(result.regrown) == result.n_drop  # I_drop = left + regrown
        assert len(result.grown) == len(result.dropped)
        assert result.weights.nnz == nnz[name]  # |theta_l| preserved by every update
    steps = [step for step, _, _ in seen]
    assert steps == sorted(steps) and len(set(steps)) * len(nnz) == len(seen)  # each update: every layer, once
    last = {name: result for _, name, result in seen}
    for name, layer in trainer.model.sparse_layers().items():
        np.testing.assert_array_equal(layer.weight.indices, last[name].weights.indices)


@pytest.mark.parametrize("method, feature_major", [("rigl", True), ("dense", False)])
def test_batches_reach_a_sparse_first_layer_feature_major_with_the_same_values(method, feature_major):
    from rigl_ref.data import batches

    trainer = Trainer(tiny_config(method=method, augment_shift=0), DATA)
    assert trainer.feature_major_input == feature_major
    x, y = trainer.next_batch()
    assert x.T.flags.c_contiguous == feature_major  # (batch, features) over a (features, batch) array
    assert x.flags.c_contiguous != feature_major
    expected_x, expected_y = next(batches(DATA.train_x, DATA.train_y, trainer.config.batch_size,
                                          seed=trainer.config.seed, flatten=True))
    assert x.tobytes() == expected_x.tobytes() and np.array_equal(y, expected_y)


@pytest.mark.parametrize("method", ["rigl", "dense"])
@pytest.mark.parametrize("model", ["mlp", "lenet5"])
def test_augmented_batches_are_the_shifted_float32_batches_bit_for_bit(method, model):
    # the trainer shifts the stored uint8 pixels and then scales them in one pass; the reference shifts
    # the float32 batch of rigl_ref.data.batches
    from rigl_ref.data import batches
    from rigl_ref.train.augment import random_shifts

    data = load_dataset("mnist-subset")  # uint8 pixels: the path that scales them in one pass
    hidden = [16] if model == "mlp" else []
    trainer = Trainer(tiny_config(dataset="mnist-subset", method=method, model=model, hidden=hidden, augment_shift=2),
                      data)
    assert data.train_x.dtype == np.uint8
    for iteration in range(3):
        trainer.iteration = iteration
        x, y = trainer.next_batch()
        epoch, index = divmod(iteration, trainer.per_epoch)
        images, labels = next(batches(data.train_x, data.train_y, trainer.config.batch_size, seed=trainer.config.seed,
                                      epoch=epoch, start_batch=index))
        shifted = random_shifts(images, 2, seed=trainer.config.seed, iteration=iteration)
        expected = shifted.reshape(len(shifted), -1) if model == "mlp" else shifted
        assert x.dtype == np.float32 and x.shape == expected.shape
        assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(expected).tobytes()
        assert np.array_equal(y, labels)
