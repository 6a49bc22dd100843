"""Sparse layers: gradients by the package's gradient checker, and equal to the dense masked equivalents;
recorded growth inputs give the dense weight gradient (also averaged over several batches)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.autograd import Tensor, check_gradients, conv2d, relu, softmax_cross_entropy
from rigl_ref.nn.sparse_layers import SparseConv2d, SparseLinear
from rigl_ref.sparse import CSRWeight, GrowthInputs


def _weight(rng, shape, density, dtype):
    mask = rng.random(shape) < density
    return mask, CSRWeight.from_dense(mask, rng.standard_normal(shape), dtype=dtype)


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_sparse_linear_gradcheck_and_dense_masked_equivalent(n_in, n_out, batch, density, seed):
    rng = np.random.default_rng(seed)
    mask, w = _weight(rng, (n_in, n_out), density, np.float64)
    bias = rng.standard_normal(n_out)
    x = rng.standard_normal((batch, n_in))
    layer = SparseLinear(n_in, n_out, w, bias)
    check_gradients(lambda x, d, b: _sparse_linear_loss(layer, x, d, b), [x, w.data, bias], rng)

    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    out.backward(np.arange(out.size, dtype=np.float64).reshape(out.shape))
    dense_w = Tensor(np.where(mask, w.to_dense()[1], 0.0), requires_grad=True)
    xd = Tensor(x, requires_grad=True)
    ref = xd @ dense_w + Tensor(bias)
    ref.backward(np.arange(ref.size, dtype=np.float64).reshape(ref.shape))
    np.testing.assert_allclose(out.value, ref.value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, xd.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight_data.grad, dense_w.grad[mask], rtol=1e-12, atol=1e-12)


def _sparse_linear_loss(layer, x, d, b):
    w = layer.weight
    from rigl_ref.autograd.sparse_linear import sparse_linear

    y = relu(sparse_linear(x, d, indptr=w.indptr, indices=w.indices, shape=w.shape) + b)
    return (y * y).sum()


@settings(max_examples=15)
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([1, 2, 3]), st.sampled_from([1, 2]),
       st.sampled_from([0, 1]), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_sparse_conv2d_gradcheck_and_dense_masked_equivalent(c_in, c_out, k, stride, padding, density, seed):
    rng = np.random.default_rng(seed)
    mask, w = _weight(rng, (c_out, c_in * k * k), density, np.float64)
    layer = SparseConv2d(c_in, c_out, k, w, rng.standard_normal(c_out), stride=stride, padding=padding)
    x = rng.standard_normal((2, c_in, 5, 4))
    from rigl_ref.autograd.sparse_linear import sparse_conv2d

    def loss(x, d):
        y = sparse_conv2d(x, d, indptr=w.indptr, indices=w.indices, kernel_shape=layer.kernel_shape, stride=stride, padding=padding)
        return (y * y).sum()

    check_gradients(loss, [x, w.data], rng)
    xt = Tensor(x, requires_grad=True)
    out = layer(xt)
    seed_grad = rng.standard_normal(out.shape)
    out.backward(seed_grad)
    kernel = Tensor(np.where(mask, w.to_dense()[1], 0.0).reshape(layer.kernel_shape), requires_grad=True)
    xd = Tensor(x, requires_grad=True)
    ref = conv2d(xd, kernel, stride=stride, padding=padding) + Tensor(layer.bias.value.reshape(1, -1, 1, 1))
    ref.backward(seed_grad)
    np.testing.assert_allclose(out.value, ref.value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, xd.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight_data.grad, kernel.grad.reshape(c_out, -1)[mask], rtol=1e-12, atol=1e-12)
    # the recorded growth inputs give the dense kernel gradient; at active entries it equals the SDDMM one
    layer.record_growth_inputs = True
    out = layer(Tensor(x))
    out.backward(seed_grad)
    dense = layer.growth_inputs().dense_gradient()
    np.testing.assert_allclose(dense, kernel.grad.reshape(c_out, -1), rtol=1e-12, atol=1e-12)


def test_growth_inputs_give_the_dense_gradient_and_average_over_batches():
    rng = np.random.default_rng(3)
    mask, w = _weight(rng, (7, 4), 0.4, np.float32)
    layer = SparseLinear(7, 4, w)
    layer.record_growth_inputs = True
    records, grads = [], []
    for _ in range(3):
        x = rng.standard_normal((5, 7)).astype(np.float32)
        labels = rng.integers(0, 4, 5)
        dense_w = Tensor(np.where(mask, w.to_dense()[1], 0).astype(np.float32), requires_grad=True)
        softmax_cross_entropy(Tensor(x) @ dense_w + layer.bias, labels).backward()
        grads.append(dense_w.grad)
        layer.weight_data.zero_grad()
        softmax_cross_entropy(layer(Tensor(x)), labels).backward()
        records.append(layer.growth_inputs())
        assert np.array_equal(records[-1].dense_gradient()[mask], layer.weight_data.grad)  # SDDMM, bit for bit
        np.testing.assert_allclose(records[-1].dense_gradient(), grads[-1], rtol=1e-5, atol=1e-6)
    mean = GrowthInputs.concatenate(records).dense_gradient(scale=1 / 3)
    np.testing.assert_allclose(mean, np.mean(grads, axis=0), rtol=1e-5, atol=1e-6)


def test_growth_inputs_errors_and_set_weight_checks():
    rng = np.random.default_rng(0)
    _, w = _weight(rng, (3, 2), 0.5, np.float32)
    layer = SparseLinear(3, 2, w)
    with pytest.raises(RuntimeError, match="record_growth_inputs"):
        layer.growth_inputs()
    layer.record_growth_inputs = True
    layer(Tensor(np.ones((1, 3), np.float32)))
    with pytest.raises(RuntimeError, match="backward"):
        layer.growth_inputs()
    with pytest.raises(ValueError, match="expected"):
        layer.set_weight(CSRWeight.from_dense(np.ones((2, 3), bool), np.ones((2, 3))))
    with pytest.raises(ValueError, match="bias must have shape"):
        SparseLinear(3, 2, w, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="does not match"):
        layer(Tensor(np.ones((1, 4), np.float32)))
    with pytest.raises(TypeError, match=r"sparse_linear: inputs have different dtypes \['float64', 'float32'\]"):
        layer(Tensor(np.ones((1, 3), np.float64)))
    conv = SparseConv2d(1, 2, 1, CSRWeight.from_dense(np.ones((2, 1), bool), np.ones((2, 1))))
    with pytest.raises(TypeError, match=r"sparse_conv2d: inputs have different dtypes \['float64', 'float32'\]"):
        conv(Tensor(np.ones((1, 1, 2, 2), np.float64)))
    assert layer.parameters()["weight"].value is layer.weight.data  # the optimizer updates the CSR data in place


@settings(max_examples=20)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(1, 5), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_sparse_linear_cached_transposed_forward_is_bit_identical_across_updates(n_in, n_out, batch, density, seed):
    # the layer's forward (csr_matmul on its cached transpose_pattern view) equals the plain scatter forward
    # bit for bit, after an in-place data update, and after set_weight installs a new pattern
    from rigl_ref.autograd.sparse_linear import sparse_linear

    rng = np.random.default_rng(seed)
    layer = SparseLinear(n_in, n_out, _weight(rng, (n_in, n_out), density, np.float32)[1])
    x = rng.standard_normal((batch, n_in)).astype(np.float32)

    def assert_same_as_scatter():
        w = layer.weight
        plain = sparse_linear(x, layer.weight_data, indptr=w.indptr, indices=w.indices, shape=w.shape) + layer.bias
        assert np.array_equal(plain.value.view(np.uint32), layer(Tensor(x)).value.view(np.uint32))

    assert_same_as_scatter()
    first_view = layer.transposed_pattern()
    assert layer.transposed_pattern() is first_view  # built once per pattern
    layer.weight.data *= np.float32(-1.5)  # an optimizer step edits the data in place
    assert_same_as_scatter()
    layer.set_weight(_weight(rng, (n_in, n_out), density, np.float32)[1])
    assert layer.transposed_pattern() is not first_view
    assert_same_as_scatter()


def test_sparse_linear_refuses_a_transposed_view_of_another_pattern():
    from rigl_ref.autograd.sparse_linear import sparse_linear
    from rigl_ref.kernels import transpose_pattern

    rng = np.random.default_rng(0)
    w = _weight(rng, (4, 3), 1.0, np.float64)[1]
    other = _weight(rng, (4, 5), 1.0, np.float64)[1]
    with pytest.raises(ValueError, match="transposed"):
        sparse_linear(rng.standard_normal((2, 4)), w.data, indptr=w.indptr, indices=w.indices, shape=w.shape,
                      transposed=transpose_pattern(other.indptr, other.indices, 5))


@settings(max_examples=25)
@given(st.integers(1, 8), st.integers(1, 8), st.integers(1, 80), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_fast_kernels_change_only_the_backward_and_stay_within_its_bounds(n_in, n_out, batch, density, seed):
    from rigl_ref.kernels.fast import input_gradient_fast_bound, sddmm_fast_bound

    rng = np.random.default_rng(seed)
    _, w = _weight(rng, (n_in, n_out), density, np.float32)
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    upstream = rng.standard_normal((batch, n_out)).astype(np.float32)
    results = {}
    for kernels in ("exact", "fast"):
        layer = SparseLinear(n_in, n_out, CSRWeight(w.indptr, w.indices, w.data.copy(), w.shape))
        layer.use_kernels(kernels)
        xt = Tensor(x, requires_grad=True)
        out = layer(xt)
        out.backward(upstream)
        results[kernels] = (out.value, xt.grad, layer.weight_data.grad)
    (out_e, dx_e, dw_e), (out_f, dx_f, dw_f) = results["exact"], results["fast"]
    assert out_e.tobytes() == out_f.tobytes()  # the forward is exact in both modes
    xT, upstreamT = np.ascontiguousarray(x.T), np.ascontiguousarray(upstream.T)
    bound = sddmm_fast_bound(w.indptr, w.indices, xT, upstreamT)
    assert np.all(np.abs(dw_f.astype(np.float64) - dw_e) <= bound)
    x_bound = input_gradient_fast_bound(w.indptr, w.indices, w.data, upstreamT).T
    assert dx_f.shape == dx_e.shape and dx_f.dtype == dx_e.dtype
    assert np.all(np.abs(dx_f.astype(np.float64) - dx_e) <= x_bound)


def test_fast_kernels_pass_the_finite_difference_check():
    rng = np.random.default_rng(5)
    _, w = _weight(rng, (5, 4), 0.6, np.float64)
    layer = SparseLinear(5, 4, w, rng.standard_normal(4))
    layer.use_kernels("fast")
    from rigl_ref.autograd.sparse_linear import sparse_linear

    def loss(x, d, b):
        y = relu(sparse_linear(x, d, indptr=w.indptr, indices=w.indices, shape=w.shape, kernels="fast") + b)
        return (y * y).sum()

    check_gradients(loss, [rng.standard_normal((3, 5)), w.data, layer.bias.value], rng)


def test_an_unknown_kernel_mode_is_refused_naming_it():
    rng = np.random.default_rng(0)
    _, w = _weight(rng, (3, 2), 0.5, np.float32)
    layer = SparseLinear(3, 2, w)
    with pytest.raises(ValueError, match="unknown kernels 'turbo'"):
        layer.use_kernels("turbo")
    from rigl_ref.autograd.sparse_linear import sparse_linear

    with pytest.raises(ValueError, match="unknown sparse_linear kernels 'turbo'"):
        sparse_linear(np.ones((1, 3), np.float32), w.data, indptr=w.indptr, indices=w.indices, shape=w.shape,
                      kernels="turbo")


@settings(max_examples=30)
@given(st.integers(1, 9), st.integers(1, 20), st.integers(1, 20), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_fused_bias_and_relu_equal_the_separate_rows_bit_for_bit(batch, width, n_out, density, seed):
    # two sparse layers and a loss: the first layer's output gradient is the second's feature-major input
    # gradient (the kernel path), the second's comes from the loss (batch-major, the NumPy path)
    from rigl_ref.autograd.sparse_linear import sparse_linear

    rng = np.random.default_rng(seed)
    layers = [SparseLinear(7, width, _weight(rng, (7, width), density, np.float32)[1],
                           rng.standard_normal(width).astype(np.float32)),
              SparseLinear(width, n_out, _weight(rng, (width, n_out), density, np.float32)[1],
                           rng.standard_normal(n_out).astype(np.float32))]
    x = rng.standard_normal((batch, 7)).astype(np.float32)
    x[:, 0] = 0  # exact zeros reach the kink of the first ReLU wherever the bias is 0
    layers[0].bias.value[: width // 2] = 0
    labels = rng.integers(0, n_out, batch)

    def run(fused):
        for layer in layers:
            layer.weight_data.grad = layer.bias.grad = None
        if fused:
            logits = layers[1](layers[0](Tensor(x), activation="relu"))
        else:
            h = x
            for index, layer in enumerate(layers):
                w = layer.weight
                h = sparse_linear(h, layer.weight_data, indptr=w.indptr, indices=w.indices, shape=w.shape) + layer.bias
                h = relu(h) if index == 0 else h
            logits = h
        softmax_cross_entropy(logits, labels).backward()
        return [logits.value] + [t.grad for layer in layers for t in (layer.weight_data, layer.bias)]

    for fused, separate in zip(run(True), run(False)):
        assert np.array_equal(fused.view(np.uint32), separate.view(np.uint32))


def test_a_layer_refuses_an_unknown_activation():
    from rigl_ref.nn.layers import Linear

    rng = np.random.default_rng(0)
    x = Tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="unknown bias_activation activation 'tanh'"):
        SparseLinear(3, 2, _weight(rng, (3, 2), 0.5, np.float32)[1])(x, activation="tanh")
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        Linear(3, 2, rng)(x, activation="tanh")
    dense = Linear(3, 2, rng)
    assert np.array_equal(dense(x, activation="relu").value, relu(dense(x)).value)
