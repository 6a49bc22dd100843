"""``kernels = "fast"`` through the trainer: exact is the default, fast changes only the sparse weight
gradients (within the bound of ``rigl_ref.kernels.fast``), and a fast run is still exact about everything
else: counts preserved by every update, resumable bit for bit."""

import numpy as np

from rigl_ref.autograd import softmax_cross_entropy
from rigl_ref.data import synthetic
from rigl_ref.kernels.fast import sddmm_fast_bound
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


def test_the_first_gradient_differs_from_exact_only_at_the_sparse_weights_and_within_their_bound():
    models, losses = {}, {}
    for mode in ("exact", "fast"):
        trainer = Trainer(_config(kernels=mode), DATA)
        x, y = trainer.next_batch()
        for layer in trainer.model.sparse_layers().values():
            layer.record_growth_inputs = True  # keep (x, dy) to evaluate the bound
        loss = softmax_cross_entropy(trainer.model(x), y)
        loss.backward()
        models[mode], losses[mode] = trainer.model, float(loss.value)
    assert losses["exact"] == losses["fast"]  # the same forward pass at the same initial weights
    exact_params, fast_params = models["exact"].parameters(), models["fast"].parameters()
    sparse_weights = {f"{name}.weight" for name in models["fast"].sparse_layers()}
    for key, tensor in fast_params.items():
        if key not in sparse_weights:  # biases and dense layers: the exact kernels in both modes
            assert tensor.grad.tobytes() == exact_params[key].grad.tobytes(), key
    differences = []
    for name, layer in models["fast"].sparse_layers().items():
        exact = models["exact"].sparse_layers()[name]
        row_factor, col_factor = exact.growth_inputs()
        bound = sddmm_fast_bound(exact.weight.indptr, exact.weight.indices, row_factor, col_factor)
        gap = np.abs(layer.weight_data.grad.astype(np.float64) - exact.weight_data.grad)
        assert np.all(gap <= bound), name
        differences.append(np.count_nonzero(gap))
    assert sum(differences) > 0  # the fast kernel did run: over 100-example batches its order shows


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
