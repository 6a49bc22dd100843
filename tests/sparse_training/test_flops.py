"""FLOPs counter: hand-computed MicroNet counts, training formulas, and the RigL README's ResNet-50 table."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse_training.catalogues import ConvLayer, DenseLayer, lenet5, mlp, resnet50, scale_width, wide_resnet
from rigl_ref.sparse_training.flops import (
    DRIVER_T_END_FRACTION,
    IMAGENET_RIGL_T_END,
    IMAGENET_STEPS,
    METHODS,
    SMALL_DENSE_WIDTHS,
    PruningSchedule,
    counted_output_size,
    flops_report,
    inference_flops,
    layer_flops,
    pruning_inference_flops,
    rigl_step_flops,
    training_step_flops,
)

# --------------------------------------------------------------------------------------------------------
# Inference: hand-computed cases


def test_dense_layer_count_by_hand():
    # 4 -> 3 at sparsity 0.5: v = 2 products per output; mults 2*3 + 3 ReLUs = 9; adds (2-1)*3 + 3 biases = 6.
    assert layer_flops(DenseLayer("fc", 4, 3), 0.5) == 15


def test_conv_layer_count_by_hand():
    # 3x3, 2 -> 4 channels, 5x5 input, stride 2, same padding: 3x3 outputs per channel, 36 outputs.
    # v = 18; mults 18*36 + 36 = 684; adds 17*36 + 36 = 648.
    assert layer_flops(ConvLayer("c", 3, 2, 4, 2, 5), 0.0) == 684 + 648
    # at sparsity 0.75, v = 4.5: mults 4.5*36 + 36 = 198; adds 3.5*36 + 36 = 162.
    assert layer_flops(ConvLayer("c", 3, 2, 4, 2, 5), 0.75) == 198 + 162


def test_get_stats_counts_resnet50_conv1_at_115_pixels():
    conv1 = resnet50().first_layer
    assert conv1.output_size == 112
    assert counted_output_size(conv1, "get_stats") == 115  # 'same' over the 230-pixel padded image
    assert counted_output_size(conv1, "true") == 112
    per_output = 2 * 7 * 7 * 3 + 1  # 147 products, 146 adds, 1 bias, 1 ReLU
    difference = layer_flops(conv1, geometry="get_stats") - layer_flops(conv1, geometry="true")
    assert difference == (115**2 - 112**2) * 64 * per_output


def test_get_stats_counts_valid_convolutions_as_same():
    # get_stats builds every conv with padding='same': LeNet-5's valid 5x5 convs are counted at their input size.
    conv1, conv2 = lenet5().layers[:2]
    assert [counted_output_size(c, "get_stats") for c in (conv1, conv2)] == [28, 12]
    assert [counted_output_size(c, "true") for c in (conv1, conv2)] == [24, 8]
    assert layer_flops(conv1, geometry="true") == 24 * 24 * 6 * (2 * 25 + 1)


def test_dense_resnet50_is_the_readme_8_2e9():
    dense = inference_flops(resnet50())
    assert round(dense / 1e8) == 82  # README: "inference 8.2e9"
    # training 3.2e18 = 3 x 8.2e9 FLOPs x batch 4096 x 32000 steps
    assert round(3 * dense * 4096 * IMAGENET_STEPS / 1e17) == 32


@given(
    k=st.sampled_from([1, 3, 5]),
    c_in=st.integers(1, 64),
    c_out=st.integers(1, 64),
    size=st.integers(1, 40),
    stride=st.integers(1, 2),
    sparsity=st.floats(0, 0.999),
)
def test_layer_count_matches_closed_form(k, c_in, c_out, size, stride, sparsity):
    # mults + adds = 2 v n + n, v = k*k*c_in*(1-s), n = H_out^2 * c_out (products, sums, bias, ReLU).
    layer = ConvLayer("c", k, c_in, c_out, stride, size)
    n = math.ceil(size / stride) ** 2 * c_out
    expected = 2 * k * k * c_in * (1 - sparsity) * n + n
    assert layer_flops(layer, sparsity) == pytest.approx(expected, rel=1e-12)
    assert layer_flops(layer, sparsity) <= layer_flops(layer, 0.0)


@given(widths=st.lists(st.integers(1, 300), min_size=2, max_size=5), data=st.data())
def test_inference_flops_is_the_sum_of_layers(widths, data):
    model = mlp(widths)
    sparsities = {layer.name: data.draw(st.floats(0, 0.99), label=layer.name) for layer in model.layers}
    total = inference_flops(model, sparsities)
    assert total == pytest.approx(sum(layer_flops(layer, sparsities[layer.name]) for layer in model.layers))
    assert total <= inference_flops(model)
    assert inference_flops(model, {}) == inference_flops(model)  # missing layers are dense


def test_inference_bad_input():
    model = mlp([4, 3, 2])
    with pytest.raises(ValueError, match="fc9"):
        inference_flops(model, {"fc9": 0.5})
    with pytest.raises(ValueError, match="sparsity of fc1"):
        inference_flops(model, {"fc1": 1.0})
    with pytest.raises(ValueError, match="geometry"):
        inference_flops(model, geometry="exact")
    with pytest.raises(TypeError, match="ConvLayer or DenseLayer"):
        layer_flops(("fc", (4, 3)), 0.5)


# --------------------------------------------------------------------------------------------------------
# Training formulas


def test_training_formulas_by_hand():
    f_s, f_d = 1.0, 10.0
    assert training_step_flops("dense", f_s, f_d) == 30
    for method in ("static", "snip", "set", "small-dense", "pruning"):
        assert training_step_flops(method, f_s, f_d) == 3
    assert training_step_flops("snfs", f_s, f_d) == 12
    assert rigl_step_flops(f_s, f_d, 1) == (3 + 2 + 10) / 2
    # half the run updating masks with ΔT = 1, then sparse steps: (7.5 + 3) / 2.
    assert training_step_flops("rigl", f_s, f_d, delta_t=1, t_end_fraction=0.5) == 5.25
    assert training_step_flops("rigl", f_s, f_d, delta_t=1, t_end_fraction=0.0) == 3


@given(
    f_s=st.floats(1.0, 1e9), ratio=st.floats(1.0, 100.0), delta_t=st.integers(1, 10_000), t_end=st.floats(0, 1)
)
def test_rigl_costs_lie_between_sparse_and_snfs(f_s, ratio, delta_t, t_end):
    f_d = f_s * ratio
    rigl = training_step_flops("rigl", f_s, f_d, delta_t=delta_t, t_end_fraction=t_end)
    assert 3 * f_s * (1 - 1e-12) <= rigl <= training_step_flops("snfs", f_s, f_d) * (1 + 1e-12)
    assert training_step_flops("snfs", f_s, f_d) <= 3 * f_d * (1 + 1e-12)
    # the mask-update overhead shrinks as ΔT grows
    assert rigl_step_flops(f_s, f_d, delta_t + 1) <= rigl_step_flops(f_s, f_d, delta_t) * (1 + 1e-12)


def test_training_bad_input():
    with pytest.raises(ValueError, match="method"):
        training_step_flops("lottery", 1.0, 2.0)
    with pytest.raises(ValueError, match="delta_t"):
        training_step_flops("rigl", 1.0, 2.0, delta_t=0)
    with pytest.raises(ValueError, match="t_end_fraction"):
        training_step_flops("rigl", 1.0, 2.0, t_end_fraction=1.5)


def test_pruning_schedule_samples_and_bad_input():
    assert list(PruningSchedule(begin=10, end=20, total=30, every=5).sample_steps()) == [0, 5, 10, 15, 20, 25, 30]
    with pytest.raises(ValueError, match="begin"):
        PruningSchedule(begin=20, end=10)
    with pytest.raises(ValueError, match="every"):
        PruningSchedule(every=0)


def test_pruning_average_by_hand():
    # The cubic ramp from 0 to 0.8 over steps 0..2, sampled at t = 0, 1, 2: sparsities 0, 0.8 (1 - 0.5^3)
    # = 0.7 and 0.8, mean 0.5. FLOPs are affine in the density, so the average is the FLOPs at 0.5.
    model = mlp([10, 4])
    schedule = PruningSchedule(begin=0, end=2, total=2, every=1)
    assert pruning_inference_flops(model, {"fc1": 0.8}, schedule) == pytest.approx(
        inference_flops(model, {"fc1": 0.5})
    )


def test_pruning_average_uses_the_pruning_updaters_schedule():
    # One cubic schedule for training and counting: the sparsities averaged are the updater's s_t.
    from rigl_ref.sparse_training.updaters import GradualMagnitudePruning

    model = mlp([20, 8, 3])
    final = {"fc1": 0.9, "fc2": 0.6}
    schedule = PruningSchedule(begin=3, end=11, total=14, every=2)
    pruner = GradualMagnitudePruning([0.9, 0.6], begin_step=3, end_step=11)
    samples = [inference_flops(model, {n: pruner.sparsity_at(t, s) for n, s in final.items()})
               for t in range(0, 15, 2)]
    assert pruning_inference_flops(model, final, schedule) == sum(samples) / len(samples)


def test_pruning_average_agrees_with_the_colab_procedure():
    # The colab (Resnet_50_Param_Flops_Counting.ipynb) samples s_t = (1 - (1 - (t - 10000)/15000)^3) S
    # every 1000 steps over 0..32000, keeps fc1000 at 0.8 from step 0 and divides by the FLOPs of step 0;
    # rigl_ref ramps every layer with the updater's schedule and divides by the dense FLOPs. Both give the
    # same two decimals.
    model = resnet50()
    target = 0.8
    samples = []
    for step in range(0, 32001, 1000):
        s_t = 0.0 if step < 10000 else target if step > 25000 else (1 - (1 - (step - 10000) / 15000) ** 3) * target
        samples.append(inference_flops(model, {**{l.name: s_t for l in model.layers}, "conv1": 0.0, "fc1000": 0.8}))
    colab = sum(samples) / len(samples) / samples[0]
    ours = pruning_inference_flops(model, model.sparsities(target, "uniform")) / inference_flops(model)
    assert round(ours, 2) == round(colab, 2)
    assert abs(ours - colab) < 1e-3


# --------------------------------------------------------------------------------------------------------
# Reports


def test_report_rows_and_ratios():
    model = wide_resnet()
    sparsities = model.sparsities(0.9, "erk")
    report = flops_report(model, sparsities, method="set", multiplier=2)
    assert [row.name for row in report.layers] == [layer.name for layer in model.layers]
    assert report.layers[0].sparsity == 0.0 and report.layers[0].active == report.layers[0].size  # CIFAR conv_1
    assert sum(row.flops for row in report.layers) == pytest.approx(report.inference_flops)
    assert sum(row.dense_flops for row in report.layers) == pytest.approx(report.dense_inference_flops)
    assert report.training_flops_ratio == pytest.approx(2 * report.inference_flops_ratio)
    for row in report.layers:
        assert row.active == row.size - math.floor(row.sparsity * row.size)
    data = report.to_dict()
    assert data["training_flops_ratio"] == report.training_flops_ratio
    assert data["layers"][1]["shape"] == list(model.layers[1].shape)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reports_ratios_at_most_dense(method):
    model = mlp([784, 300, 100, 10])
    report = flops_report(model, model.sparsities(0.9, "erk"), method=method, small_dense_width=0.3)
    assert 0 < report.inference_flops_ratio <= 1
    assert 0 < report.training_flops_ratio <= 1
    if method == "dense":
        assert report.training_flops_ratio == 1 and report.inference_flops_ratio == 1


def test_small_dense_counts_the_narrow_network():
    model = resnet50()
    report = flops_report(model, method="small-dense", small_dense_width=SMALL_DENSE_WIDTHS[0.8])
    narrow = scale_width(model, 0.465)
    assert report.inference_flops == inference_flops(narrow)
    assert report.training_step_flops == 3 * inference_flops(narrow)
    assert report.layers[1].shape == narrow.layers[1].shape
    with pytest.raises(ValueError, match="small_dense_width"):
        flops_report(model, method="small-dense")


def test_report_bad_input():
    model = mlp([4, 3])
    with pytest.raises(ValueError, match="multiplier"):
        flops_report(model, method="set", multiplier=0)
    with pytest.raises(ValueError, match="method"):
        flops_report(model, method="prune")
    with pytest.raises(TypeError, match="ModelCatalogue"):
        flops_report(list(model.layers))


# --------------------------------------------------------------------------------------------------------
# The RigL README's ResNet-50 table (google-research/rigl README)
#
# README accounting: get_stats geometry (conv1 counted at 115x115), ERK masks conv1 except at 99 %,
# uniform keeps it dense, fc1000 masked. The training column is reproduced when the RigL mask-update
# overhead (f_D - f_S)/(ΔT + 1) is charged on every step of the run (rigl_ref's default); the ImageNet
# driver stops updates at T_end = 25000 of 32000 steps, which lowers seven of the extended-training entries
# by one unit in the last digit (see test_readme_training_column_charges_the_overhead_on_every_step).

WHOLE_RUN = 1.0

README_INFERENCE = [  # (distribution, sparsity, inference ratio)
    ("erk", 0.8, 0.42), ("uniform", 0.8, 0.23), ("erk", 0.9, 0.24), ("uniform", 0.9, 0.13),
    ("erk", 0.95, 0.12), ("uniform", 0.95, 0.08), ("erk", 0.965, 0.09), ("uniform", 0.965, 0.07),
    ("erk", 0.99, 0.05),
]
README_TRAINING = [  # (distribution, sparsity, multiplier, training ratio, decimals printed)
    ("erk", 0.8, 1, 0.42, 2), ("uniform", 0.8, 1, 0.23, 2), ("uniform", 0.9, 1, 0.13, 2),
    ("erk", 0.8, 5, 2.09, 2), ("uniform", 0.8, 5, 1.14, 2), ("erk", 0.9, 5, 1.23, 2), ("uniform", 0.9, 5, 0.66, 2),
    ("erk", 0.95, 5, 0.63, 2), ("uniform", 0.95, 5, 0.42, 2), ("erk", 0.965, 5, 0.45, 2),
    ("uniform", 0.965, 5, 0.34, 2),
    ("erk", 0.99, 5, 0.29, 2), ("erk", 0.99, 10, 0.58, 2), ("erk", 0.99, 40, 2.32, 2), ("erk", 0.99, 100, 5.8, 1),
]


def _resnet50_report(distribution, sparsity, multiplier=1, t_end_fraction=WHOLE_RUN, geometry="get_stats"):
    model = resnet50()
    return flops_report(
        model,
        model.sparsities(sparsity, distribution),
        method="rigl",
        multiplier=multiplier,
        delta_t=100,
        t_end_fraction=t_end_fraction,
        geometry=geometry,
    )


@pytest.mark.parametrize("distribution,sparsity,expected", README_INFERENCE)
def test_readme_inference_column(distribution, sparsity, expected):
    assert round(_resnet50_report(distribution, sparsity).inference_flops_ratio, 2) == expected


@pytest.mark.parametrize("distribution,sparsity,multiplier,expected,decimals", README_TRAINING)
def test_readme_training_column(distribution, sparsity, multiplier, expected, decimals):
    report = _resnet50_report(distribution, sparsity, multiplier)
    assert round(report.training_flops_ratio, decimals) == expected


README_ERK_0_9_1X_TRAINING = 0.24  # the one README training entry rigl_ref does not reproduce


@pytest.mark.xfail(
    strict=True,
    reason="README lists 0.24x training for ERK 0.9 at 1x; rigl_ref computes 0.2456 (0.2451 with the driver's "
    "T_end), i.e. 0.25x. The README's four 1x training entries are 3 f_S with no mask-update overhead (its "
    "inference column), while its 5x entries include the overhead; see "
    "test_readme_erk_0_9_at_1x_closest_value_and_reason.",
)
def test_readme_training_erk_0_9_at_1x():
    assert round(_resnet50_report("erk", 0.9).training_flops_ratio, 2) == README_ERK_0_9_1X_TRAINING


def test_readme_erk_0_9_at_1x_closest_value_and_reason():
    # The closest rigl_ref value: 0.2456 (overhead on every step), 0.2451 with the driver's T_end; both 0.25x.
    assert round(_resnet50_report("erk", 0.9).training_flops_ratio, 4) == 0.2456
    assert round(_resnet50_report("erk", 0.9, t_end_fraction=DRIVER_T_END_FRACTION).training_flops_ratio, 4) == 0.2451
    # The reason: the README's 1x training column is counted with no mask-update overhead (3 f_S, i.e. its
    # inference column) -- that accounting reproduces all four 1x entries, ERK 0.9 included ...
    model = resnet50()
    one_x = [(d, s, expected) for d, s, m, expected, _ in README_TRAINING if m == 1]
    one_x.append(("erk", 0.9, README_ERK_0_9_1X_TRAINING))
    assert len(one_x) == 4
    for distribution, sparsity, expected in one_x:
        no_overhead = flops_report(model, model.sparsities(sparsity, distribution), method="static")
        assert round(no_overhead.training_flops_ratio, 2) == expected
    # ... while its 5x column includes the overhead: ERK 0.9 at 5x is 1.23x only with it (1.22x without).
    no_overhead_5x = flops_report(model, model.sparsities(0.9, "erk"), method="static", multiplier=5)
    assert round(no_overhead_5x.training_flops_ratio, 2) == 1.22
    assert round(_resnet50_report("erk", 0.9, 5).training_flops_ratio, 2) == 1.23


def test_readme_training_column_charges_the_overhead_on_every_step():
    def reproduced(t_end_fraction):
        return {
            (d, s, m)
            for d, s, m, expected, decimals in README_TRAINING
            if round(_resnet50_report(d, s, m, t_end_fraction).training_flops_ratio, decimals) == expected
        }

    whole_run, driver = reproduced(WHOLE_RUN), reproduced(DRIVER_T_END_FRACTION)
    assert len(whole_run) == len(README_TRAINING)
    assert driver < whole_run
    assert whole_run - driver == {
        ("erk", 0.8, 5), ("uniform", 0.9, 5), ("uniform", 0.95, 5), ("erk", 0.965, 5),
        ("erk", 0.99, 10), ("erk", 0.99, 40), ("erk", 0.99, 100),
    }


def test_default_t_end_is_the_readme_accounting():
    model = resnet50()
    sparsities = model.sparsities(0.99, "erk")
    default = flops_report(model, sparsities, method="rigl", multiplier=100)
    assert default.training_flops_ratio == flops_report(
        model, sparsities, method="rigl", multiplier=100, t_end_fraction=WHOLE_RUN
    ).training_flops_ratio
    assert round(default.training_flops_ratio, 1) == 5.8  # README: 100x costs 5.8x
    assert DRIVER_T_END_FRACTION == IMAGENET_RIGL_T_END / IMAGENET_STEPS == 0.78125
    driver = flops_report(model, sparsities, method="rigl", multiplier=100, t_end_fraction=DRIVER_T_END_FRACTION)
    assert round(driver.training_flops_ratio, 1) == 5.7
    assert training_step_flops("rigl", 1.0, 10.0, delta_t=1) == rigl_step_flops(1.0, 10.0, 1)


def test_readme_inference_needs_the_get_stats_geometry():
    # Counting conv1 at its real 112x112 output lowers ERK 0.8 to 0.4146 (0.41x): the README used get_stats.
    true_geometry = {
        (d, s) for d, s, expected in README_INFERENCE
        if round(_resnet50_report(d, s, geometry="true").inference_flops_ratio, 2) == expected
    }
    assert ("erk", 0.8) not in true_geometry and len(true_geometry) < len(README_INFERENCE)


# --------------------------------------------------------------------------------------------------------
# rigl-ref flops


def _cli(capsys, *argv):
    from rigl_ref.cli.main import main

    code = main(["flops", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_json_reproduces_the_readme_row(capsys):
    import json

    code, out, _ = _cli(capsys, "--model", "resnet50", "--distribution", "erk", "--sparsity", "0.8",
                        "--multiplier", "5", "--json")
    assert code == 0
    data = json.loads(out)
    assert round(data["inference_flops_ratio"], 2) == 0.42 and round(data["training_flops_ratio"], 2) == 2.09
    assert data["first_layer"] == "sparse" and data["layers"][0]["name"] == "conv1"
    assert data["t_end_fraction"] == 1.0
    # the ImageNet driver's schedule stays selectable
    _, out, _ = _cli(capsys, "--model", "resnet50", "--distribution", "erk", "--sparsity", "0.8",
                     "--multiplier", "5", "--t-end-fraction", str(DRIVER_T_END_FRACTION), "--json")
    assert round(json.loads(out)["training_flops_ratio"], 2) == 2.08


def test_cli_table_and_json_file(capsys, tmp_path):
    import json

    path = tmp_path / "flops.json"
    code, out, _ = _cli(capsys, "--model", "resnet50", "--distribution", "uniform", "--sparsity", "0.9",
                        "--json", str(path))
    assert code == 0
    assert "first layer dense" in out and "fc1000" in out and "relative to one dense run" in out
    data = json.loads(path.read_text())
    assert data["layers"][0]["sparsity"] == 0.0 and data["layers"][-1]["sparsity"] == 0.9
    assert round(data["inference_flops_ratio"], 2) == 0.13


def test_cli_first_layer_flag_and_small_models(capsys):
    import json

    _, out, _ = _cli(capsys, "--model", "resnet50", "--sparsity", "0.8", "--first-layer", "dense", "--json")
    assert json.loads(out)["layers"][0]["sparsity"] == 0.0
    _, out, _ = _cli(capsys, "--model", "mlp", "--widths", "784,1000,1000,10", "--sparsity", "0.9",
                     "--method", "set", "--json")
    data = json.loads(out)
    assert [row["shape"] for row in data["layers"]] == [[784, 1000], [1000, 1000], [1000, 10]]
    assert data["training_flops_ratio"] == pytest.approx(data["inference_flops_ratio"])
    _, out, _ = _cli(capsys, "--model", "resnet50", "--sparsity", "0.9", "--method", "small-dense", "--json")
    assert json.loads(out)["small_dense_width"] == SMALL_DENSE_WIDTHS[0.9]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--sparsity", "1.5"], "sparsity"),
        (["--model", "mlp", "--sparsity", "0.5"], "--widths"),
        (["--model", "mlp", "--widths", "3,x", "--sparsity", "0.5"], "--widths"),
        (["--model", "lenet5", "--sparsity", "0.5", "--method", "small-dense"], "--small-dense-width"),
        (["--method", "rigl"], "--sparsity is required"),
        (["--sparsity", "0.5", "--multiplier", "-1"], "multiplier"),
        (["--sparsity", "0.5", "--small-dense-width", "0.3"], "--small-dense-width applies only"),
        (["--sparsity", "0.5", "--json", "/nonexistent-dir/flops.json"], "--json"),
    ],
)
def test_cli_bad_input_is_one_line(capsys, argv, message):
    code, _, err = _cli(capsys, *argv)
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
