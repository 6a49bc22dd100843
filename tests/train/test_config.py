"""Run configuration: TOML round trip, unknown keys and wrong types named, field validation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.train.config import RunConfig, config_from_dict, load_config, save_config


def test_defaults_are_the_paper_rigl_settings():
    config = RunConfig()
    assert (config.method, config.distribution, config.sparsity) == ("rigl", "erk", 0.9)
    assert (config.update_interval, config.drop_fraction, config.drop_schedule, config.end_fraction) == (
        100, 0.3, "cosine", 0.75)
    assert (config.optimizer, config.momentum, config.model, config.dataset) == (
        "sgd", 0.9, "lenet-300-100", "mnist-subset")


@given(
    sparsity=st.floats(0, 0.99),
    method=st.sampled_from(["rigl", "set", "static", "dense"]),
    hidden=st.lists(st.integers(1, 500), min_size=1, max_size=3),
    nesterov=st.booleans(),
)
def test_toml_round_trip(tmp_path_factory, sparsity, method, hidden, nesterov):
    config = RunConfig(sparsity=sparsity, method=method, model="mlp", hidden=hidden, nesterov=nesterov)
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    save_config(config, path)
    assert load_config(path) == config


def test_partial_file_keeps_defaults_and_ints_become_floats(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('method = "set"\nlr = 1\n')
    config = load_config(path)
    assert config.method == "set" and config.lr == 1.0 and isinstance(config.lr, float)
    assert config.sparsity == RunConfig().sparsity


@pytest.mark.parametrize(
    "text, message",
    [
        ("sparsty = 0.5\n", "unknown config key 'sparsty'"),
        ('epochs = "ten"\n', "config key 'epochs' must be of type int"),
        ("sparsity = 1.0\n", r"sparsity must lie in \[0, 1\), got 1.0"),
        ('method = "lottery"\n', "unknown method 'lottery'"),
        ("nesterov = 1\n", "config key 'nesterov' must be of type bool"),
        ("epochs = [\n", "is not valid TOML"),
        ('model = "mlp"\n', "model 'mlp' needs hidden widths"),
        ("pruning_begin_fraction = 0.8\n", "pruning_begin_fraction .* must be below"),
    ],
)
def test_bad_files_are_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_config(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config("/nonexistent/run.toml")


def test_overrides_apply_on_a_base():
    base = RunConfig(method="set", epochs=3)
    config = config_from_dict({"epochs": 5}, base=base)
    assert (config.method, config.epochs) == ("set", 5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        RunConfig(batch_size=0)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("distribution", "lognormal", "unknown distribution 'lognormal'"),
        ("convention", "keras", "unknown convention 'keras'"),
        ("dataset", "cifar10", "unknown dataset 'cifar10'"),
        ("method", "dnw", "unknown method 'dnw'"),
    ],
)
def test_unknown_names_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{field: value})


def test_config_file_names_the_departures_from_the_official_code(tmp_path):
    path = tmp_path / "config.toml"
    save_config(RunConfig(), path)
    text = path.read_text()
    header = text[: text.index("dataset =")]
    assert "augment_shift = 2" in header and "augment_shift = 0" in header  # the default and the official value
    assert 'init = "scaled"' in header and 'init = "glorot"' in header
    assert load_config(path) == RunConfig()
    save_config(RunConfig(augment_shift=0, init="glorot"), path)
    assert not path.read_text().startswith("#")


def test_flags_restore_the_official_behaviour():
    from rigl_ref.cli.main import build_parser
    from rigl_ref.cli.train import effective_config

    args = build_parser().parse_args(["train", "--init", "glorot", "--augment-shift", "0"])
    config = effective_config(args)
    assert (config.init, config.augment_shift) == ("glorot", 0)
    args = build_parser().parse_args(["train", "--set", "init=glorot", "--set", "augment_shift=0"])
    assert effective_config(args) == config


def test_rigl_torch_with_adam_is_refused_up_front():
    # rigl-torch masks only SGD's momentum_buffer; Adam's moments at dropped connections are not stored
    # by the truly sparse trainer (Conventions.masked_slots)
    with pytest.raises(ValueError, match="convention 'rigl_torch' masks only SGD's momentum, so optimizer 'adam'"):
        RunConfig(convention="rigl_torch", optimizer="adam")
    RunConfig(convention="rigl_torch", optimizer="sgd")
    RunConfig(convention="tf1", optimizer="adam")
