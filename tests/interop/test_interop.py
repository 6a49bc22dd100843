"""rigl_ref.interop: exact round trips through the npz, torch and flax layouts, the axis permutations, the
rebuild of CSR weights from masks, a torch forward pass on the exported state_dict, and every bad input."""

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra.numpy import arrays

from rigl_ref.data import synthetic
from rigl_ref.interop import (from_arrays, from_flax, from_torch, load_npz, rigl_torch_masks, save_npz, to_arrays,
                              to_flax, to_torch)
from rigl_ref.nn.models import Model, architecture
from rigl_ref.optim import SGD, Adam
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer

DATA = synthetic(n_train=96, n_test=32)
CONFIGS = {
    "mlp": dict(model="mlp", hidden=[16, 12]),
    "lenet5": dict(model="lenet5", sparsity=0.8),
}


def _config(model, **changes):
    base = dict(dataset="synthetic", epochs=1, batch_size=32, update_interval=2, augment_shift=0, lr=0.05,
                **CONFIGS[model])
    base.update(changes)
    return RunConfig(**base)


def _trained(model, **changes):
    """A Trainer after a few iterations: momentum slots are nonzero and at least one mask update happened."""
    trainer = Trainer(_config(model, **changes), DATA)
    records = [trainer.train_iteration() for _ in range(3)]
    assert any(r.get("mask_update") for r in records)
    assert trainer.model.sparse_layers()
    return trainer


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def trained(request):
    return _trained(request.param)


def _fresh(trainer, seed=7):
    """Another model of the same config and sparsities (other weights and masks, same active counts)."""
    return Trainer(trainer.config.replace(seed=seed), DATA)


def _assert_same(a, b):
    """Two (model, optimizer) pairs hold identical weights, patterns, biases, slots and counters."""
    arrays_a, arrays_b = to_arrays(*a), to_arrays(*b)
    assert sorted(arrays_a) == sorted(arrays_b)
    for key, value in arrays_a.items():
        assert value.dtype == arrays_b[key].dtype and np.array_equal(value, arrays_b[key]), key
    model_a, model_b = a[0], b[0]
    for name, layer in model_a.sparse_layers().items():
        other = model_b.layers[name].weight
        assert np.array_equal(layer.weight.indptr, other.indptr) and np.array_equal(layer.weight.indices, other.indices)
        assert other.indices.dtype == layer.weight.indices.dtype
    if a[1] is not None:
        assert a[1].iterations == b[1].iterations
        for name in model_a.parameters():
            for slot, value in a[1].slots(name).items():
                assert np.array_equal(value, b[1].slots(name)[slot]), (name, slot)


def _different(trainer, fresh):
    arrays_a, arrays_b = to_arrays(trainer.model, trainer.optimizer), to_arrays(fresh.model, fresh.optimizer)
    return any(not np.array_equal(v, arrays_b[k]) for k, v in arrays_a.items())


# ---------------------------------------------------------------------- round trips
def test_npz_round_trip_is_exact(trained, tmp_path):
    path = save_npz(tmp_path / "state.npz", trained.model, trained.optimizer)
    fresh = _fresh(trained)
    assert _different(trained, fresh)
    load_npz(path, fresh.model, fresh.optimizer)
    _assert_same((trained.model, trained.optimizer), (fresh.model, fresh.optimizer))
    x, _ = trained.next_batch()
    assert np.array_equal(trained.model(x).value, fresh.model(x).value)
    assert not list(tmp_path.glob("*.tmp"))


def test_torch_layout_round_trip_is_exact(trained):
    fresh = _fresh(trained)
    from_torch(to_torch(trained.model, trained.optimizer), fresh.model, fresh.optimizer)
    _assert_same((trained.model, trained.optimizer), (fresh.model, fresh.optimizer))


def test_flax_layout_round_trip_is_exact(trained):
    fresh = _fresh(trained)
    from_flax(to_flax(trained.model, trained.optimizer), fresh.model, fresh.optimizer)
    _assert_same((trained.model, trained.optimizer), (fresh.model, fresh.optimizer))


def test_adam_slots_and_count_survive_every_layout(tmp_path):
    trainer = _trained("mlp", optimizer="adam")
    assert trainer.optimizer.iterations > 0
    state = to_torch(trainer.model, trainer.optimizer)
    assert set(state["optimizer"]["fc1.weight"]) == {"exp_avg", "exp_avg_sq", "step"}
    assert float(state["optimizer"]["fc1.weight"]["step"]) == trainer.optimizer.iterations
    tree = to_flax(trainer.model, trainer.optimizer)
    assert set(tree["opt_state"]) == {"mu", "nu", "count"} and int(tree["opt_state"]["count"]) == trainer.optimizer.iterations
    for load in (lambda m, o: from_torch(state, m, o), lambda m, o: from_flax(tree, m, o),
                 lambda m, o: load_npz(save_npz(tmp_path / "adam.npz", trainer.model, trainer.optimizer), m, o)):
        fresh = _fresh(trainer)
        assert fresh.optimizer.iterations == 0
        load(fresh.model, fresh.optimizer)
        _assert_same((trainer.model, trainer.optimizer), (fresh.model, fresh.optimizer))


def test_without_an_optimizer_only_the_model_moves(trained):
    arrays = to_arrays(trained.model)
    assert not any(k.endswith(".momentum") or k == "optimizer.iterations" for k in arrays)
    fresh = _fresh(trained)
    from_arrays(arrays, fresh.model)
    assert all(np.array_equal(v, to_arrays(fresh.model)[k]) for k, v in arrays.items())


# ---------------------------------------------------------------------- the layouts themselves
def test_axis_permutations(trained):
    arrays = to_arrays(trained.model, trained.optimizer)
    state, tree = to_torch(trained.model, trained.optimizer), to_flax(trained.model, trained.optimizer)
    for spec in trained.model.specs:
        name = spec.name
        w, torch_w, kernel = arrays[f"{name}.weight"], state["state_dict"][f"{name}.weight"], tree["params"][name]["kernel"]
        momentum = state["optimizer"][f"{name}.weight"]["momentum_buffer"]
        if spec.kind == "linear":
            assert w.shape == (spec.fan_in, spec.fan_out) and np.array_equal(torch_w, w.T) and np.array_equal(kernel, w)
            assert np.array_equal(momentum, arrays[f"{name}.weight.momentum"].T)
        else:
            k = spec.kernel_size
            assert torch_w.shape == (spec.fan_out, spec.fan_in, k, k) and np.array_equal(torch_w, w)
            o, i, a, b = 1, 0, 2, 3
            assert kernel[a, b, i, o] == w[o, i, a, b]
            assert np.array_equal(kernel, w.transpose(2, 3, 1, 0))
        assert kernel.shape == spec.framework_shape
        assert np.array_equal(tree["opt_state"]["trace"][name]["kernel"].shape, spec.framework_shape)
        if name in trained.model.sparse_layers():
            # the flax mask is in the layout the distributions and Model(masks=...) read
            csr_mask = trained.model.layers[name].weight.to_dense()[0]
            assert np.array_equal(spec.to_csr_layout(tree["masks"][name]["kernel"]), csr_mask)
            assert state["state_dict"][f"{name}.weight_mask"].dtype == bool
            assert not np.any(torch_w[~state["state_dict"][f"{name}.weight_mask"]])
        else:
            assert tree["masks"][name]["kernel"] is None and f"{name}.weight_mask" not in state["state_dict"]
        assert tree["masks"][name]["bias"] is None


def test_rigl_torch_mask_list_follows_the_layer_order(trained):
    state = to_torch(trained.model)["state_dict"]
    masks = rigl_torch_masks(state, trained.model)
    assert len(masks) == len(trained.model.specs)
    for spec, mask in zip(trained.model.specs, masks):
        if spec.name in trained.model.sparse_layers():
            assert mask is state[f"{spec.name}.weight_mask"]
        else:
            assert mask is None


def test_a_zero_weight_under_a_true_mask_stays_active(trained):
    name = next(iter(trained.model.sparse_layers()))
    arrays = to_arrays(trained.model)
    mask, weight = arrays[f"{name}.weight_mask"], arrays[f"{name}.weight"]
    weight[mask] = 0.0  # every active weight is 0 (as freshly grown ones are)
    fresh = _fresh(trained)
    from_arrays(arrays, fresh.model)
    layer = fresh.model.layers[name].weight
    assert layer.nnz == int(mask.sum()) and not np.any(layer.data)
    assert np.array_equal(to_arrays(fresh.model)[f"{name}.weight_mask"], mask)


def test_importing_the_package_imports_no_framework():
    code = "import sys, rigl_ref.interop; print(sorted(m for m in ('torch', 'jax', 'flax', 'tensorflow') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------------- hypothesis: small layers
LENET = architecture("lenet5", input_shape=(28, 28), num_classes=3, hidden=())
MLP = architecture("mlp", input_shape=(5,), num_classes=3, hidden=(4,))


def _mask(shape):
    return arrays(bool, shape)


@given(conv1=_mask(LENET[0].framework_shape), fc3=_mask(LENET[4].framework_shape),
       fc1=_mask(MLP[0].framework_shape), seed=st.integers(0, 2**16), layout=st.sampled_from(["npz", "torch", "flax"]))
def test_hypothesis_masks_round_trip(conv1, fc3, fc1, seed, layout, tmp_path_factory):
    rng = np.random.default_rng(seed)
    for name, specs, masks in (("lenet5", LENET, {"conv1": conv1, "fc3": fc3}), ("mlp", MLP, {"fc1": fc1})):
        model, optimizer = Model(name, specs, masks, rng), SGD(momentum=0.9)
        for pname, tensor in model.parameters().items():
            optimizer.set_slots(pname, {"momentum": rng.standard_normal(tensor.value.shape).astype(np.float32)})
            tensor.value[...] = rng.standard_normal(tensor.value.shape)
        optimizer.iterations = int(rng.integers(0, 100))
        # a target whose masks are all True: only strict=False may change the active counts
        target, target_opt = Model(name, specs, {k: np.ones_like(v) for k, v in masks.items()}, rng), SGD(momentum=0.9)
        if layout == "npz":
            path = save_npz(tmp_path_factory.mktemp("h") / "m.npz", model, optimizer)
            load_npz(path, target, target_opt, strict=False)
        elif layout == "torch":
            from_torch(to_torch(model, optimizer), target, target_opt, strict=False)
        else:
            from_flax(to_flax(model, optimizer), target, target_opt, strict=False)
        _assert_same((model, optimizer), (target, target_opt))
        for spec in specs:
            if spec.name in masks:
                assert np.array_equal(target.layers[spec.name].weight.to_dense()[0], spec.to_csr_layout(masks[spec.name]))


# ---------------------------------------------------------------------- torch: the exported state_dict works in torch
def _torch_copy(trainer):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    modules = {}
    for spec in trainer.model.specs:
        if spec.kind == "linear":
            modules[spec.name] = nn.Linear(spec.fan_in, spec.fan_out)
        else:
            modules[spec.name] = nn.Conv2d(spec.fan_in, spec.fan_out, spec.kernel_size)
        if spec.name in trainer.model.sparse_layers():
            modules[spec.name].register_buffer("weight_mask", torch.zeros_like(modules[spec.name].weight, dtype=torch.bool))
    return torch, nn.ModuleDict(modules)


def _torch_forward(torch, net, model_name, x):
    f = torch.nn.functional
    h = torch.from_numpy(x)
    if model_name == "lenet5":
        h = h.reshape(len(h), 1, 28, 28)
        h = f.max_pool2d(f.relu(net["conv1"](h)), 2)
        h = f.max_pool2d(f.relu(net["conv2"](h)), 2)
        h = h.flatten(1)
        names = ["fc1", "fc2", "fc3"]
    else:
        h = h.reshape(len(h), -1)
        names = list(net.keys())
    for name in names[:-1]:
        h = f.relu(net[name](h))
    return net[names[-1]](h)


def test_exported_state_dict_gives_the_same_forward_in_torch(trained):
    torch, net = _torch_copy(trained)
    state = to_torch(trained.model, trained.optimizer, as_torch=True)
    assert all(isinstance(v, torch.Tensor) for v in state["state_dict"].values())
    net.load_state_dict(state["state_dict"], strict=True)  # every key and shape matches torch's modules
    x, _ = trained.next_batch()
    with torch.no_grad():
        theirs = _torch_forward(torch, net, trained.config.model, x).numpy()
    ours = trained.model(x).value
    # float32 throughout; only the summation order differs (BLAS / CSR kernels vs torch's). A dot product of
    # n <= 784 terms differs by about sqrt(n) * eps32 ~ 3e-6 of its terms' scale, compounded over <= 5
    # layers: 1e-5 of the logits' scale bounds it (measured: 1.2e-6 on logits of 4.8, 3e-7 on LeNet-5).
    scale = float(np.max(np.abs(ours)))
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5 * max(scale, 1.0))
    # and torch's own state_dict (tensors) imports back exactly
    fresh = _fresh(trained)
    from_torch({"state_dict": net.state_dict(), "optimizer": state["optimizer"]}, fresh.model, fresh.optimizer)
    _assert_same((trained.model, trained.optimizer), (fresh.model, fresh.optimizer))


def test_momentum_buffers_load_into_a_torch_sgd(trained):
    torch, net = _torch_copy(trained)
    state = to_torch(trained.model, trained.optimizer, as_torch=True)
    net.load_state_dict(state["state_dict"])
    sgd = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    named = dict(net.named_parameters())
    for pname, slots in state["optimizer"].items():
        sgd.state[named[pname]]["momentum_buffer"] = slots["momentum_buffer"].clone()
    back = {p: {"momentum_buffer": sgd.state[named[p]]["momentum_buffer"], "step": slots["step"]}
            for p, slots in state["optimizer"].items()}
    fresh = _fresh(trained)
    from_torch({"state_dict": net.state_dict(), "optimizer": back}, fresh.model, fresh.optimizer)
    _assert_same((trained.model, trained.optimizer), (fresh.model, fresh.optimizer))


# ---------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def mlp():
    return _trained("mlp")


def _npz_with(tmp_path, trainer, change):
    arrays = to_arrays(trainer.model, trainer.optimizer)
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def _mask_key(trainer):
    return f"{next(iter(trainer.model.sparse_layers()))}.weight_mask"


def _drop_one_active(arrays, key):
    mask = arrays[key]
    flat = np.flatnonzero(mask)
    mask.flat[flat[0]] = False


def _move_one_active(arrays, key):
    """Same count, but a nonzero weight now sits outside the mask."""
    mask, weight = arrays[key], arrays[key.replace("_mask", "")]
    on, off = np.flatnonzero(mask), np.flatnonzero(~mask)
    weight.flat[on[0]] = 1.5
    mask.flat[on[0]], mask.flat[off[0]] = False, True


BAD_NPZ = {
    "missing": (lambda a, m: a.pop("fc1.bias"), r"missing key\(s\) \['fc1.bias'\]"),
    "extra": (lambda a, m: a.update(fc9_weight=np.zeros(2, np.float32)), r"unexpected key\(s\) \['fc9_weight'\]"),
    "shape": (lambda a, m: a.update({"fc1.weight": a["fc1.weight"].T.copy()}), r"key 'fc1.weight': shape"),
    "dtype": (lambda a, m: a.update({"fc2.bias": a["fc2.bias"].astype(np.float64)}), r"key 'fc2.bias': dtype float64"),
    "mask": (lambda a, m: a.update({m: a[m].astype(np.float32)}), r"weight_mask': a mask must have dtype bool, got float32"),
    "nan": (lambda a, m: a["fc1.weight.momentum"].__setitem__((0, 0), np.nan), r"key 'fc1.weight.momentum': 1 NaN"),
    "count": (lambda a, m: _drop_one_active(a, m), r"weight_mask': the mask has \d+ active positions, the model's"),
    "outside": (lambda a, m: _move_one_active(a, m), r"key 'fc\d.weight': 1 nonzero value\(s\) at inactive positions"),
    "iterations": (lambda a, m: a.update({"optimizer.iterations": np.array(-1)}), r"iteration count must be"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_is_one_line_naming_file_and_key_and_changes_nothing(case, mlp, tmp_path):
    change, message = BAD_NPZ[case]
    path = _npz_with(tmp_path, mlp, lambda a: change(a, _mask_key(mlp)))
    fresh = _fresh(mlp)
    before = to_arrays(fresh.model, fresh.optimizer)
    with pytest.raises(ValueError, match=message) as error:
        load_npz(path, fresh.model, fresh.optimizer)
    text = str(error.value)
    assert "\n" not in text and str(path) in text
    after = to_arrays(fresh.model, fresh.optimizer)
    assert all(np.array_equal(v, after[k]) for k, v in before.items())


def test_strict_false_accepts_a_new_count_and_drops_values_outside_the_mask(mlp, tmp_path):
    key = _mask_key(mlp)
    for change in (_drop_one_active, _move_one_active):
        path = _npz_with(tmp_path, mlp, lambda a: change(a, key))
        fresh = _fresh(mlp)
        load_npz(path, fresh.model, fresh.optimizer, strict=False)
        arrays = np.load(path)
        assert np.array_equal(to_arrays(fresh.model)[key], arrays[key])
        weight = to_arrays(fresh.model)[key.replace("_mask", "")]
        assert np.array_equal(weight, np.where(arrays[key], arrays[key.replace("_mask", "")], 0))


def test_export_refuses_slots_that_were_not_remapped(mlp):
    model, optimizer = _fresh(mlp).model, SGD(momentum=0.9)
    name = next(iter(model.sparse_layers()))
    optimizer.set_slots(f"{name}.weight", {"momentum": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match=rf"optimizer slot 'momentum' of {name}.weight has shape \(3,\)"):
        to_arrays(model, optimizer)


def test_unreadable_or_missing_files(mlp, tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"interop file '.*garbage.npz' is not a readable .npz archive"):
        load_npz(garbage, mlp.model)
    with pytest.raises(FileNotFoundError, match=r"interop file '.*absent.npz' does not exist"):
        load_npz(tmp_path / "absent.npz", mlp.model)


def test_slots_without_an_optimizer_are_unexpected(mlp, tmp_path):
    path = save_npz(tmp_path / "s.npz", mlp.model, mlp.optimizer)
    with pytest.raises(ValueError, match=r"unexpected key\(s\) .*fc1.bias.momentum.*pass the optimizer"):
        load_npz(path, _fresh(mlp).model)


def test_bad_torch_state(mlp):
    fresh = _fresh(mlp)
    good = to_torch(mlp.model, mlp.optimizer)
    untransposed = {"state_dict": {**good["state_dict"], "fc1.weight": good["state_dict"]["fc1.weight"].T},
                    "optimizer": good["optimizer"]}
    torch_shape = good["state_dict"]["fc1.weight"].shape  # (out, in)
    assert torch_shape == (16, 784)
    with pytest.raises(ValueError, match=re.escape("torch state, key 'state_dict/fc1.weight': shape (784, 16), "
                                                   "expected (16, 784)")):
        from_torch(untransposed, fresh.model, fresh.optimizer)
    no_momentum = {"state_dict": good["state_dict"], "optimizer": {}}
    with pytest.raises(ValueError, match=r"missing key\(s\) \['optimizer/fc1.weight/momentum_buffer'"):
        from_torch(no_momentum, fresh.model, fresh.optimizer)
    with pytest.raises(ValueError, match=r"expected a mapping with 'state_dict'"):
        from_torch(good["state_dict"], fresh.model)


def test_bad_torch_tensors():
    torch = pytest.importorskip("torch")
    trainer = _trained("mlp", optimizer="adam")
    fresh = _fresh(trainer)
    state = to_torch(trainer.model, trainer.optimizer, as_torch=True)
    key = _mask_key(trainer)
    float_mask = {**state, "state_dict": {**state["state_dict"], key: state["state_dict"][key].float()}}
    with pytest.raises(ValueError, match=rf"key 'state_dict/{key}': a mask must have dtype bool, got float32"):
        from_torch(float_mask, fresh.model, fresh.optimizer)
    uneven = {p: dict(s) for p, s in state["optimizer"].items()}
    uneven["fc1.bias"]["step"] = torch.tensor(99.0)
    with pytest.raises(ValueError, match=r"'step' differs between parameters"):
        from_torch({"state_dict": state["state_dict"], "optimizer": uneven}, fresh.model, fresh.optimizer)
    assert fresh.optimizer.iterations == 0


def test_bad_flax_tree(mlp):
    fresh = _fresh(mlp)
    tree = to_flax(mlp.model, mlp.optimizer)
    name = _mask_key(mlp).split(".")[0]
    tree["masks"][name]["kernel"] = None  # a sparse layer's mask left out
    with pytest.raises(ValueError, match=rf"flax tree: missing key\(s\) \['masks/{name}/kernel'\]"):
        from_flax(tree, fresh.model, fresh.optimizer)
    tree = to_flax(mlp.model, mlp.optimizer)
    tree["params"]["fc1"]["kernel"] = tree["params"]["fc1"]["kernel"].astype(np.float16)
    with pytest.raises(ValueError, match=r"key 'params/fc1/kernel': dtype float16, the model needs float32"):
        from_flax(tree, fresh.model, fresh.optimizer)
    tree = to_flax(mlp.model, mlp.optimizer)
    tree["opt_state"]["trace"]["fc2"]["bias"][0] = np.inf
    with pytest.raises(ValueError, match=r"key 'opt_state/trace/fc2/bias': 1 NaN or infinite"):
        from_flax(tree, fresh.model, fresh.optimizer)


def test_a_conv_kernel_in_torch_order_is_refused_by_the_flax_import():
    mask = np.ones(LENET[1].framework_shape, bool)
    model = Model("lenet5", LENET, {"conv2": mask}, 0)
    tree = to_flax(model)
    tree["params"]["conv2"]["kernel"] = to_torch(model)["state_dict"]["conv2.weight"]  # (out, in, kh, kw)
    with pytest.raises(ValueError, match=re.escape("flax tree, key 'params/conv2/kernel': shape (16, 6, 5, 5), "
                                                   "expected (5, 5, 6, 16)")):
        from_flax(tree, Model("lenet5", LENET, {"conv2": mask}, 1))
