"""Models: layer specs, mask layouts, sparse layers equal their dense masked equivalents, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.autograd import softmax_cross_entropy
from rigl_ref.nn.models import Model, architecture, scaled_widths


def test_presets():
    lenet = architecture("lenet-300-100", input_shape=(28, 28), num_classes=10)
    assert [s.framework_shape for s in lenet] == [(784, 300), (300, 100), (100, 10)]
    wide = architecture("mlp-1000-1000", input_shape=(28, 28), num_classes=10)
    assert [s.framework_shape for s in wide] == [(784, 1000), (1000, 1000), (1000, 10)]
    conv = architecture("lenet5", input_shape=(28, 28), num_classes=10)
    assert [s.framework_shape for s in conv] == [(5, 5, 1, 6), (5, 5, 6, 16), (256, 120), (120, 84), (84, 10)]
    assert conv[1].csr_shape == (16, 150)
    assert [s.framework_shape for s in architecture("mlp", input_shape=(5,), num_classes=3, hidden=[7])] == [(5, 7), (7, 3)]
    assert scaled_widths((300, 100), 0.5) == (150, 50) and scaled_widths((3,), 0.1) == (1,)


def test_conv_mask_layout_matches_the_oihw_kernel():
    spec = architecture("lenet5", input_shape=(28, 28), num_classes=10)[1]
    tf_mask = np.zeros(spec.framework_shape, bool)
    tf_mask[1, 2, 3, 4] = True  # (kh, kw, c_in, c_out)
    csr = spec.to_csr_layout(tf_mask)
    oihw = np.zeros((16, 6, 5, 5), bool)
    oihw[4, 3, 1, 2] = True
    assert np.array_equal(csr, oihw.reshape(16, -1))


@settings(max_examples=15)
@given(seed=st.integers(0, 2**16), density=st.floats(0.05, 1.0), model=st.sampled_from(["mlp", "lenet5"]))
def test_sparse_model_equals_dense_model_with_masked_weights(seed, density, model):
    rng = np.random.default_rng(seed)
    specs = architecture(model, input_shape=(28, 28), num_classes=10, hidden=[8] if model == "mlp" else ())
    masks = {s.name: rng.random(s.framework_shape) < density for s in specs[:2]}
    sparse = Model(model, specs, masks, seed)
    dense = Model(model, specs, {}, seed)
    for name, layer in sparse.sparse_layers().items():  # give the dense twin the sparse values, zeros elsewhere
        mask, values = layer.weight.to_dense()
        dense_values = values if specs[0].kind == "linear" or name.startswith("fc") else values.reshape(dense.layers[name].weight.shape)
        dense.layers[name].weight.value[...] = dense_values
    for name in dense.layers:
        if name not in sparse.sparse_layers():
            dense.layers[name].weight.value[...] = sparse.layers[name].weight.value
    x = rng.random((3, 28, 28)).astype(np.float32)
    y = np.array([0, 3, 9])
    loss_s, loss_d = softmax_cross_entropy(sparse(x), y), softmax_cross_entropy(dense(x), y)
    np.testing.assert_allclose(loss_s.value, loss_d.value, rtol=1e-5)
    loss_s.backward()
    loss_d.backward()
    for name, layer in sparse.sparse_layers().items():
        mask, _ = layer.weight.to_dense()
        dense_grad = dense.layers[name].weight.grad.reshape(mask.shape)
        np.testing.assert_allclose(layer.weight_data.grad, dense_grad[mask], rtol=1e-4, atol=1e-6)


def test_initialisation_is_seeded_glorot_and_sparse_layers_keep_exact_counts():
    specs = architecture("lenet-300-100", input_shape=(28, 28), num_classes=10)
    mask = np.zeros((784, 300), bool)
    mask[::7, ::3] = True
    a, b = Model("lenet-300-100", specs, {"fc1": mask}, 5), Model("lenet-300-100", specs, {"fc1": mask}, 5)
    assert np.array_equal(a.layers["fc1"].weight.data, b.layers["fc1"].weight.data)
    assert a.nnz() == {"fc1": int(mask.sum()), "fc2": 30000, "fc3": 1000}
    limit = np.sqrt(6 / (784 + 300))
    assert np.abs(a.layers["fc1"].weight.data).max() <= limit
    assert np.array_equal(a.input_connectivity(), mask.sum(axis=1))
    assert set(a.parameters()) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"}
    snip_like = Model("lenet-300-100", specs, {}, 5).sparsified({"fc1": mask})
    dense_values = Model("lenet-300-100", specs, {}, 5).layers["fc1"].weight.value
    assert np.array_equal(snip_like.layers["fc1"].weight.data, dense_values[mask])


def test_bad_input():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        architecture("resnet", input_shape=(28, 28), num_classes=10)
    with pytest.raises(ValueError, match="needs hidden widths"):
        architecture("mlp", input_shape=(28, 28), num_classes=10)
    with pytest.raises(ValueError, match="lenet5 takes 28x28"):
        architecture("lenet5", input_shape=(32, 32), num_classes=10)
    specs = architecture("lenet-300-100", input_shape=(28, 28), num_classes=10)
    with pytest.raises(ValueError, match=r"masks name unknown layer\(s\) \['fc9'\]"):
        Model("lenet-300-100", specs, {"fc9": None}, 0)
    with pytest.raises(ValueError, match="mask of layer 'fc1' has shape"):
        Model("lenet-300-100", specs, {"fc1": np.ones((3, 3), bool)}, 0)


def test_density_scaled_initialisation_widens_the_limit_by_one_over_sqrt_density():
    specs = architecture("lenet-300-100", input_shape=(28, 28), num_classes=10)
    mask = np.zeros((784, 300), bool)
    mask[:, ::4] = True  # density 1/4
    plain = Model("lenet-300-100", specs, {"fc1": mask}, 0).layers["fc1"].weight.data
    scaled = Model("lenet-300-100", specs, {"fc1": mask}, 0, scale_by_density=True).layers["fc1"].weight.data
    np.testing.assert_allclose(scaled, 2 * plain, rtol=1e-6)


@settings(max_examples=20)
@given(seed=st.integers(0, 2**16), density=st.floats(0.0, 1.0), model=st.sampled_from(["mlp", "lenet5"]),
       scaled=st.booleans())
def test_flat_indices_and_the_dense_mask_of_the_same_positions_give_the_same_model(seed, density, model, scaled):
    """The CSR-native form (sorted flat indices in the framework layout) builds the very layers the
    spec layer's dense mask does: same pattern, same initial values from the same seed."""
    rng = np.random.default_rng(seed)
    specs = architecture(model, input_shape=(28, 28), num_classes=10, hidden=[8] if model == "mlp" else ())
    masks = {s.name: rng.random(s.framework_shape) < density for s in specs[:3]}
    flat = {name: np.flatnonzero(mask) for name, mask in masks.items()}
    dense_form = Model(model, specs, masks, seed, scale_by_density=scaled)
    flat_form = Model(model, specs, flat, seed, scale_by_density=scaled)
    for name, layer in dense_form.layers.items():
        other = flat_form.layers[name]
        assert type(layer) is type(other)
        if name in dense_form.sparse_layers():
            for field in ("indptr", "indices", "data"):
                a, b = getattr(layer.weight, field), getattr(other.weight, field)
                assert a.dtype == b.dtype and np.array_equal(a, b), (name, field)
        else:
            assert np.array_equal(layer.weight.value, other.weight.value)


def test_flat_indices_must_be_sorted_and_in_range():
    specs = architecture("lenet-300-100", input_shape=(28, 28), num_classes=10)
    with pytest.raises(ValueError, match="flat must be strictly increasing"):
        Model("lenet-300-100", specs, {"fc1": np.array([5, 3])}, 0)
    with pytest.raises(ValueError, match="outside"):
        Model("lenet-300-100", specs, {"fc1": np.array([784 * 300])}, 0)
