"""Layer catalogues: shapes, geometry and parameter counts checked against published or hand-made numbers."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse_training.catalogues import (
    CATALOGUES,
    ConvLayer,
    DenseLayer,
    ModelCatalogue,
    get_catalogue,
    lenet5,
    lenet_300_100,
    mlp,
    resnet50,
    scale_width,
    wide_resnet,
)


def test_resnet50_parameter_count_matches_the_published_25_557_032():
    # torchvision's resnet50 has the same tensors (bias-free convs, BN scale+offset, fc with bias).
    assert resnet50().parameter_count() == 25_557_032


def test_resnet50_layer_inventory():
    model = resnet50()
    convs = [layer for layer in model.layers if isinstance(layer, ConvLayer)]
    assert len(convs) == 53 and isinstance(model.last_layer, DenseLayer)
    assert model.last_layer.shape == (2048, 1000) and model.last_layer.use_bias
    assert not any(conv.use_bias for conv in convs)
    assert len(model.batch_norms) == 53 and {n.after for n in model.batch_norms} == {c.name for c in convs}
    assert model.first_layer.shape == (7, 7, 3, 64) and model.first_layer.output_size == 112


def test_resnet50_down_sampling_sits_on_the_3x3_and_projection_convs():
    model = resnet50()
    strided = sorted(layer.name for layer in model.layers if isinstance(layer, ConvLayer) and layer.stride == 2)
    expected = ["conv1"] + [f"res{s}a_branch{b}" for s in (3, 4, 5) for b in ("1", "2b")]
    assert strided == sorted(expected)
    for stage, size in ((2, 56), (3, 28), (4, 14), (5, 7)):
        assert model.layer(f"res{stage}b_branch2b").output_size == size
        assert model.layer(f"res{stage}a_branch2c").input_size == size


def _wrn_weight_count(depth, k):
    n = (depth - 4) // 6
    total, c_in = 9 * 3 * 16, 16
    for c in (16 * k, 32 * k, 64 * k):
        total += (c_in * c if c_in != c else 0) + 9 * c_in * c + 9 * c * c + (n - 1) * 2 * 9 * c * c
        c_in = c
    return total + c_in * 10


@pytest.mark.parametrize("depth,k", [(22, 2), (16, 4), (28, 10), (10, 1)])
def test_wide_resnet_weight_count_matches_closed_form(depth, k):
    assert wide_resnet(depth, k).weight_count() == _wrn_weight_count(depth, k)


def test_wrn_22_2_geometry():
    model = wide_resnet()
    assert model.name == "wrn-22-2"
    skips = [layer.name for layer in model.layers if layer.name.startswith("skip")]
    assert skips == ["skip_conv_2", "skip_conv_3", "skip_conv_4"]
    assert [model.layer(f"conv_{g}_2_2").output_size for g in (2, 3, 4)] == [32, 16, 8]
    assert model.last_layer.shape == (128, 10)
    assert model.default_first_layer("erdos_renyi_kernel", 0.9) == "dense"  # CIFAR never masks conv_1
    assert wide_resnet(28, 10).weight_count() + wide_resnet(28, 10).unmasked_parameter_count() > 36_400_000


def test_small_models_parameter_counts():
    assert lenet_300_100().parameter_count() == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10 == 266_610
    model = lenet5()
    assert [layer.output_size for layer in model.layers[:2]] == [24, 8]
    assert model.layer("fc1").shape == (16 * 4 * 4, 120)
    assert model.parameter_count() == (25 * 6 + 6) + (150 * 16 + 16) + (256 * 120 + 120) + (120 * 84 + 84) + 850


def test_first_layer_policy_follows_the_repository():
    model = resnet50()
    assert model.default_first_layer("erdos_renyi_kernel", 0.9) == "sparse"
    assert model.default_first_layer("erdos_renyi_kernel", 0.99) == "dense"
    assert model.default_first_layer("uniform", 0.8) == "dense"
    assert lenet_300_100().default_first_layer("uniform", 0.9) == "sparse"


def test_scale_width_follows_get_stats_rule():
    model = scale_width(resnet50(), 0.465)
    assert model.first_layer.shape == (7, 7, 3, int(64 * 0.465))  # input channels of the first layer kept
    assert model.last_layer.shape == (int(2048 * 0.465), 1000)  # outputs of the last layer kept
    assert model.layer("res2a_branch2c").shape == (1, 1, int(64 * 0.465), int(256 * 0.465))
    assert model.batch_norms[0].channels == int(64 * 0.465)


@given(width=st.floats(1 / 16, 3.0))  # WRN's narrowest layer has 16 channels
def test_scale_width_keeps_names_and_geometry(width):
    base = wide_resnet()
    scaled = scale_width(base, width)
    assert [layer.name for layer in scaled.layers] == [layer.name for layer in base.layers]
    for a, b in zip(base.layers, scaled.layers):
        if isinstance(a, ConvLayer):
            assert (a.kernel_size, a.stride, a.input_size, a.output_size) == (b.kernel_size, b.stride, b.input_size, b.output_size)
    if width <= 1:
        assert scaled.weight_count() <= base.weight_count()


@given(
    size=st.integers(1, 64), k=st.sampled_from([1, 3, 5, 7]), stride=st.integers(1, 3), pad=st.integers(0, 3)
)
def test_conv_output_size_matches_direct_window_count(size, k, stride, pad):
    padded = size + 2 * pad
    if padded >= k:
        layer = ConvLayer("c", k, 1, 1, stride, size, padding="valid", pre_padding=pad)
        assert layer.output_size == len(range(0, padded - k + 1, stride))
    same = ConvLayer("c", k, 1, 1, stride, size, padding="same")
    assert same.output_size == math.ceil(size / stride)


def test_registry_and_bad_input():
    for name in CATALOGUES:
        assert get_catalogue(name).layers
    with pytest.raises(ValueError, match="model"):
        get_catalogue("vgg16")
    with pytest.raises(ValueError, match="depth"):
        wide_resnet(depth=20)
    with pytest.raises(ValueError, match="padding"):
        ConvLayer("c", 3, 1, 1, 1, 8, padding="full")
    with pytest.raises(ValueError, match="stride"):
        ConvLayer("c", 3, 1, 1, 0, 8)
    with pytest.raises(ValueError, match="widths"):
        mlp([784])
    with pytest.raises(ValueError, match="width"):
        scale_width(resnet50(), 0.0)
    with pytest.raises(ValueError, match="no channels"):
        scale_width(wide_resnet(), 0.05)
    with pytest.raises(ValueError, match="repeats"):
        ModelCatalogue("m", (DenseLayer("a", 2, 2), DenseLayer("a", 2, 2)))
    with pytest.raises(ValueError, match="no layer"):
        resnet50().layer("conv2")


def test_model_sparsities_apply_the_first_layer_rule():
    model = resnet50()
    erk = model.sparsities(0.9, "erk")
    assert list(erk) == [layer.name for layer in model.layers]
    assert erk["conv1"] > 0 and erk["fc1000"] > 0.9  # ERK masks conv1 and the (large) last layer
    assert model.sparsities(0.99, "erk")["conv1"] == 0.0  # README: dense first layer at 99 %
    uniform = model.sparsities(0.9, "uniform")
    assert uniform["conv1"] == 0.0 and set(uniform.values()) == {0.0, 0.9}
    assert model.sparsities(0.9, "uniform", first_layer="sparse")["conv1"] == 0.9
    with pytest.raises(ValueError, match="first_layer"):
        model.sparsities(0.9, "uniform", first_layer="half")
