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
