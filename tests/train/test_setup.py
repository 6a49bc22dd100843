"""Run setup: the small-dense baseline's width search and its relation to the FLOPs catalogue's
``scale_width``."""

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from rigl_ref.data import synthetic
from rigl_ref.nn.models import architecture
from rigl_ref.sparse_training.catalogues import lenet5, mlp, scale_width
from rigl_ref.sparse_training.distributions import active_counts
from rigl_ref.train.config import RunConfig
from rigl_ref.train.setup import model_specs, small_dense_width, target_sparsities

DATA = synthetic()


def _shapes(specs):
    return [spec.framework_shape for spec in specs]


@given(hidden=st.lists(st.integers(1, 400), min_size=1, max_size=3), width=st.floats(0.01, 1.0))
def test_mlp_widths_follow_the_catalogue_rule(hidden, width):
    assume(all(int(h * width) >= 1 for h in hidden))  # scale_width refuses an empty layer; the model keeps 1
    specs = architecture("mlp", input_shape=(28, 28), num_classes=10, hidden=hidden, width=width)
    catalogue = scale_width(mlp([784, *hidden, 10]), width)
    assert _shapes(specs) == [layer.shape for layer in catalogue.layers]


def test_lenet5_differs_from_the_catalogue_only_where_the_flattened_input_must_follow_conv2():
    width = 0.3
    specs = architecture("lenet5", input_shape=(28, 28), num_classes=10, width=width)
    catalogue = scale_width(lenet5(), width)
    conv2, fc1 = specs[1], specs[2]
    assert fc1.fan_in == conv2.fan_out * 4 * 4 == int(16 * width) * 16  # a trainable network
    assert catalogue.layer("fc1").in_features == int(256 * width) != fc1.fan_in  # get_stats' per-layer rule
    assert [s.framework_shape for s in specs if s.name != "fc1"] == [
        layer.shape for layer in catalogue.layers if layer.name != "fc1"]


@pytest.mark.parametrize("model, sparsity", [("lenet-300-100", 0.9), ("lenet-300-100", 0.99), ("lenet5", 0.8)])
def test_small_dense_width_is_the_largest_within_the_sparse_budget(model, sparsity):
    config = RunConfig(method="small-dense", model=model, sparsity=sparsity, dataset="synthetic")
    specs = model_specs(config, DATA)
    budget = sum(active_counts([(s.name, s.framework_shape) for s in specs], target_sparsities(config, specs),
                               config.convention).values())
    width = small_dense_width(config, DATA)

    def weights(w):
        return sum(s.size for s in model_specs(config, DATA, width=w))

    assert weights(width) <= budget < weights(width + 1e-6)


@pytest.mark.parametrize("model, distribution, method", [("mlp", "erk", "rigl"), ("lenet5", "erk", "set"),
                                                         ("mlp", "uniform", "static")])
def test_the_trainer_starts_from_the_spec_layers_dense_masks_of_the_same_seed(model, distribution, method):
    """setup draws CSR patterns directly (never a dense mask); they are the positions of the spec layer's
    ``init_masks`` from the mask stream of the same seed (dense layers masked as ``None``), and the
    initial values those of a model built from the dense masks."""
    import numpy as np

    from rigl_ref.nn.models import Model
    from rigl_ref.sparse_training.masks import init_masks
    from rigl_ref.train.setup import MASK_STREAM, WEIGHT_STREAM, build_model, stream

    config = RunConfig(dataset="synthetic", model=model, hidden=[24, 12] if model == "mlp" else [],
                       distribution=distribution, method=method, sparsity=0.8, seed=3)
    built, sparsities = build_model(config, DATA)
    specs = model_specs(config, DATA)
    masked = {name: s if s > 0 else None for name, s in sparsities.items()}
    dense_masks = init_masks([(s.name, s.framework_shape) for s in specs], masked, stream(3, MASK_STREAM),
                             config.convention)
    reference = Model(model, specs, {n: m for n, m in dense_masks.items() if masked[n] is not None},
                      stream(3, WEIGHT_STREAM), scale_by_density=True)
    assert set(built.sparse_layers()) == {n for n, s in masked.items() if s is not None} != set()
    for spec in specs:
        layer = built.layers[spec.name]
        if spec.name in built.sparse_layers():
            assert np.array_equal(layer.weight.to_dense()[0], spec.to_csr_layout(dense_masks[spec.name]))
            assert np.array_equal(layer.weight.data, reference.layers[spec.name].weight.data)
        else:
            assert np.array_equal(layer.weight.value, reference.layers[spec.name].weight.value)


@pytest.mark.parametrize("decay_biases, bias_decays", [(False, False), (True, True)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_decay_biases_reaches_the_optimizer(decay_biases, bias_decays, optimizer):
    from rigl_ref.train.setup import make_optimizer

    opt = make_optimizer(RunConfig(optimizer=optimizer, decay_biases=decay_biases))
    assert opt.decay_filter("fc1.bias") is bias_decays and opt.decay_filter("fc1.weight") is True


def test_sgd_arithmetic_reaches_the_optimizer_and_is_sgd_only():
    from rigl_ref.train.setup import make_optimizer

    assert make_optimizer(RunConfig(sgd_arithmetic="fused")).arithmetic == "fused"
    assert make_optimizer(RunConfig()).arithmetic == "separate"
    with pytest.raises(ValueError, match="sgd_arithmetic 'fused' applies to optimizer 'sgd'"):
        RunConfig(optimizer="adam", sgd_arithmetic="fused")
    with pytest.raises(ValueError, match="unknown sgd_arithmetic 'exact'"):
        RunConfig(sgd_arithmetic="exact")


@pytest.mark.parametrize("ignore_linear_layers, expected", [(False, [0.0, 0.8, 0.8]), (True, [0.0, 0.0, 0.0])])
def test_rigl_torch_distribution_reaches_the_trainer(ignore_linear_layers, expected):
    config = RunConfig(distribution="rigl_torch", sparsity=0.8, ignore_linear_layers=ignore_linear_layers)
    specs = model_specs(config, DATA)
    assert list(target_sparsities(config, specs).values()) == expected
    with pytest.raises(ValueError, match="ignore_linear_layers applies to distribution 'rigl_torch', not 'erk'"):
        RunConfig(ignore_linear_layers=True)
