"""``kernels = "fast"`` through the trainer: exact is the default, fast changes only the backward of the
sparse layers (within the bounds of ``rigl_ref.kernels.fast``), and a fast run is still exact about
everything else: counts preserved by every update, resumable bit for bit."""

import numpy as np

from rigl_ref.autograd import softmax_cross_entropy
from rigl_ref.data import synthetic
from rigl_ref.kernels import sddmm
from rigl_ref.kernels.fast import input_gradient_fast_bound, sddmm_fast_bound
from rigl_ref.train.loop import Trainer

from train_helpers import assert_resume_is_bit_exact, tiny_config

DATA = synthetic()


def _config(**changes):
    return tiny_config(method="rigl", sparsity=0.8, hidden=[40], batch_size=100, **changes)


def test_exact_is_the_default_and_fast_is_set_on_every_sparse_layer():
    assert _config().kernels == "exact"
    assert {layer.kernels for layer in Trainer(_config(), DATA).model.sparse_layers().values()} == {"exact"}
    fast = Trainer(_config(kernels="fast"), DATA)
    assert {layer.kernels for layer in fast.model.sparse_layers().values()} == {"fast"}


def test_the_first_gradient_differs_from_exact_only_in_the_sparse_backward_and_within_its_bounds():
    models, losses = {}, {}
    for mode in ("exact", "fast"):
        trainer = Trainer(_config(kernels=mode), DATA)
        x, y = trainer.next_batch()
        for layer in trainer.model.sparse_layers().values():
            layer.record_growth_inputs = True  # keep each layer's (x, dy) to evaluate the bounds
        loss = softmax_cross_entropy(trainer.model(x), y)
        loss.backward()
        models[mode], losses[mode] = trainer.model, float(loss.value)
    assert losses["exact"] == losses["fast"]  # the same forward pass at the same initial weights
    exact_layers, fast_layers = models["exact"].sparse_layers(), models["fast"].sparse_layers()
    first, last = list(fast_layers)  # 784 -> 40 (its input needs no gradient), 40 -> 10 (the output layer)
    differences = []
    for name, layer in fast_layers.items():
        # each sparse weight gradient: within its bound of the exact kernel on the inputs this layer saw
        xT, dyT = layer.growth_inputs()
        w = layer.weight
        gap = np.abs(layer.weight_data.grad.astype(np.float64) - sddmm(w.indptr, w.indices, xT, dyT))
        assert np.all(gap <= sddmm_fast_bound(w.indptr, w.indices, xT, dyT)), name
        differences.append(np.count_nonzero(gap))
        # the bias gradient: the exact sum of the gradient this layer saw, as in the exact mode
        assert models["fast"].parameters()[f"{name}.bias"].grad.tobytes() == dyT.T.sum(axis=0).tobytes(), name
    # the output layer sees the loss gradient itself, so its bias gradient is the exact mode's bit for bit
    assert (models["fast"].parameters()[f"{last}.bias"].grad.tobytes()
            == models["exact"].parameters()[f"{last}.bias"].grad.tobytes())
    # the first layer's output gradient: the output layer's input gradient (fast) through the ReLU, within
    # the input-gradient bound of the exact one (the ReLU's 0/1 factor only shrinks a difference)
    exact_dyT, fast_dyT = exact_layers[first].growth_inputs()[1], fast_layers[first].growth_inputs()[1]
    w_last = exact_layers[last].weight
    bound = input_gradient_fast_bound(w_last.indptr, w_last.indices, w_last.data, exact_layers[last].growth_inputs()[1])
    assert np.all(np.abs(fast_dyT.astype(np.float64) - exact_dyT) <= bound)
    assert sum(differences) > 0  # the fast kernels did run: over 100-example batches their order shows


def test_a_fast_run_keeps_every_count_and_resumes_bit_for_bit(tmp_path):
    config = _config(kernels="fast", update_interval=2)
    trainer = Trainer(config, DATA)
    counts = trainer.model.nnz()
    updates = 0
    while not trainer.done:
        record = trainer.train_iteration()
        updates += bool(record.get("mask_update"))
        assert trainer.model.nnz() == counts
    assert updates >= 3
    assert_resume_is_bit_exact(config, DATA, tmp_path, after=5)
