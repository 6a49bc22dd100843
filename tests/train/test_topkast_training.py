"""Top-KAST through the real trainer: the first split of the dense initialisation, one weight step equal to
eqs. (2)-(3) computed densely, every refresh equal to the dense spec sets bit for bit, nothing outside B
moving, and a checkpointed run resuming bit for bit."""

import numpy as np
import pytest

from rigl_ref.autograd import Tensor, matmul, relu, softmax_cross_entropy
from rigl_ref.data import synthetic
from rigl_ref.sparse_training.distributions import active_count
from rigl_ref.sparse_training.topkast import backward_set, dense_theta, forward_set, masked_update, penalty_gradient
from rigl_ref.train.loop import Trainer

from train_helpers import assert_resume_is_bit_exact, tiny_config

DATA = synthetic()


def _config(**changes):
    base = dict(method="topkast", sparsity=0.8, topkast_backward_sparsity=0.6, distribution="uniform",
                hidden=[24], epochs=2)
    base.update(changes)
    return tiny_config(**base)


def _theta(trainer, name):
    """The layer's dense parameter array (``topkast.dense_theta`` of its stored B and its reserve)."""
    return dense_theta(trainer.model.layers[name].weight, trainer.method.reserves[name])


def _sets(trainer, name):
    layer = trainer.model.layers[name]
    flat = layer.weight.active_flat_indices()
    return flat[layer.forward_mask], flat


def test_the_first_split_selects_from_the_dense_initialisation():
    trainer = Trainer(_config(), DATA)
    dense_start = Trainer(_config(method="pruning"), DATA)  # the same dense Glorot draw, not yet pruned
    for spec in trainer.model.specs:
        theta = _theta(trainer, spec.name)
        assert np.array_equal(theta.reshape(-1), dense_start.model.layers[spec.name].weight.data)
        forward, backward = _sets(trainer, spec.name)
        n_forward, n_backward = active_count(spec.size, 0.8), active_count(spec.size, 0.6)
        assert np.array_equal(forward, np.flatnonzero(forward_set(theta, n_forward)))
        assert np.array_equal(backward, np.flatnonzero(backward_set(theta, n_backward)))
        assert trainer.model.nnz()[spec.name] == n_forward  # what the network computes with
    assert not any(trainer.optimizer.decay_filter(f"{name}.weight") for name in trainer.model.sparse_layers())


def test_one_weight_step_is_eq_2_with_the_exploration_penalty():
    """Plain SGD, one iteration: theta_B <- theta_B - lr (dL/dalpha + penalty), computed here densely with
    alpha = theta * 1_A; nothing outside B moves."""
    config = _config(momentum=0.0, weight_decay=0.01, lr=0.1, update_interval=1000)
    trainer = Trainer(config, DATA)
    names = list(trainer.model.sparse_layers())
    thetas = {name: _theta(trainer, name) for name in names}
    sets = {name: _sets(trainer, name) for name in names}
    x, y = trainer.next_batch()
    alphas = {}
    for name in names:
        mask = np.zeros(thetas[name].size, bool)
        mask[sets[name][0]] = True
        alphas[name] = Tensor(np.where(mask.reshape(thetas[name].shape), thetas[name], 0), requires_grad=True)
    biases = {name: Tensor(trainer.model.layers[name].bias.value.copy()) for name in names}
    h = Tensor(x)
    for i, name in enumerate(names):
        h = matmul(h, alphas[name]) + biases[name]
        h = relu(h) if i < len(names) - 1 else h
    softmax_cross_entropy(h, y).backward()
    trainer.train_iteration()
    for name in names:
        forward, backward = sets[name]
        a = np.zeros(thetas[name].size, bool)
        a[forward] = True
        b = np.zeros(thetas[name].size, bool)
        b[backward] = True
        theta = thetas[name].reshape(-1)
        penalty = penalty_gradient(theta, a, b, density=len(forward) / theta.size, lam=0.01)
        expected = masked_update(theta, alphas[name].grad.reshape(-1) + penalty, b, lr=0.1)
        after = _theta(trainer, name).reshape(-1)
        assert np.array_equal(after[~b], theta[~b])  # frozen outside B, bit for bit
        assert np.allclose(after[b], expected[b], rtol=1e-5, atol=1e-7)
        assert not np.array_equal(after[b & ~a], theta[b & ~a])  # B \\ A learns from dL/dalpha


def test_every_refresh_equals_the_dense_sets_and_moves_values_with_positions():
    trainer = Trainer(_config(update_interval=2, drop_fraction=0.3), DATA)
    method, refreshes = trainer.method, []
    original = method.update

    def checked_update(model, optimizer, clock, fraction):
        before = {name: _theta(trainer, name) for name in model.sparse_layers()}
        results = original(model, optimizer, clock, fraction)
        for name, theta in before.items():
            forward, backward = _sets(trainer, name)
            spec = trainer.model.specs[[s.name for s in trainer.model.specs].index(name)]
            assert np.array_equal(backward, np.flatnonzero(backward_set(theta, active_count(spec.size, 0.6))))
            assert np.array_equal(forward, np.flatnonzero(forward_set(theta, active_count(spec.size, 0.8))))
            assert _theta(trainer, name).tobytes() == theta.tobytes()  # a refresh moves no value
        refreshes.append(sum(len(r.grown) for r in results.values()))
        return results

    method.update = checked_update
    while not trainer.done:
        trainer.train_iteration()
    assert len(refreshes) >= 5
    assert sum(refreshes) > 0  # the sets did change during the run


def test_a_resumed_run_equals_the_uninterrupted_one_bit_for_bit(tmp_path):
    arrays = assert_resume_is_bit_exact(_config(update_interval=2), DATA, tmp_path, after=5)
    assert any(key.endswith("forward_mask") for key in arrays) and any("reserve" in key for key in arrays)


def test_a_checkpoint_without_the_reserve_is_refused(tmp_path):
    trainer = Trainer(_config(), DATA)
    arrays, meta = trainer.state()
    del arrays[next(key for key in arrays if "reserve_flat" in key)]
    with pytest.raises(ValueError, match="corrupt checkpoint"):
        Trainer(_config(), DATA).load_state(arrays, meta)
