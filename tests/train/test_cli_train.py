"""``rigl-ref train`` / ``report`` end to end: outputs, SIGKILL + resume equals an uninterrupted run,
bad input answered in one line without destroying anything."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.cli.main import main
from rigl_ref.train.checkpoint import load_checkpoint
from rigl_ref.train.config import save_config

from train_helpers import tiny_config

REPO = Path(__file__).resolve().parents[2]


def _cli(*argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "rigl_ref.cli.main", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_train_writes_every_output_and_report_rerenders(tmp_path, capsys):
    config = tmp_path / "c.toml"
    save_config(tiny_config(), config)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress", "--epochs", "2"]) == 0
    printed = capsys.readouterr().out
    assert "effective configuration" in printed and "epochs = 2" in printed and "test accuracy" in printed
    assert "departures from the official RigL code" in printed and "augment_shift = 1" in printed
    for name in ("config.toml", "metrics.jsonl", "summary.json", "curves.png", "connectivity.png", "checkpoint.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and 0 <= summary["final_test_accuracy"] <= 1
    assert summary["best_test_accuracy"] >= summary["final_test_accuracy"]
    assert 0 < summary["flops"]["inference_flops_ratio"] < 1 and 0 < summary["flops"]["training_flops_ratio"] < 1
    assert {layer["nnz"] for layer in summary["layers"].values()} and summary["layers"]["fc1"]["sparse"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    updates = [r for r in records if r.get("mask_update")]
    assert updates and all({"dropped", "grown", "regrown"} <= set(r["changes"]["fc1"]) for r in updates)
    assert all({"step", "epoch", "loss", "lr", "drop_fraction", "nnz"} <= set(r) for r in records)
    (out / "curves.png").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "curves.png").is_file() and "test accuracy" in capsys.readouterr().out


def _final_state(run_dir):
    arrays, meta = load_checkpoint(run_dir)
    meta.pop("elapsed")
    return arrays, meta


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    config = tmp_path / "c.toml"
    save_config(tiny_config(method="rigl", epochs=150, hidden=[32], checkpoint_interval=400, log_interval=5,
                            grow_batches=2), config)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = _cli("train", "--config", str(config), "--out", str(killed), "--no-progress")

    def last_logged_iteration():
        lines = (killed / "metrics.jsonl").read_text().splitlines() if (killed / "metrics.jsonl").exists() else []
        return json.loads(lines[-2])["iteration"] if len(lines) > 1 else 0  # the last line may be torn

    deadline = time.time() + 120
    # kill once metrics.jsonl runs 10 iterations past the first checkpoint (400 iterations before the next)
    while last_logged_iteration() < 410 and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "summary.json").exists()
    assert load_checkpoint(killed)[1]["iteration"] == 400 < last_logged_iteration()  # lines to cut on resume
    resumed = _cli("train", "--resume", str(killed), "--no-progress")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    reference = _cli("train", "--config", str(config), "--out", str(whole), "--no-progress")
    assert reference.wait(timeout=300) == 0, reference.stderr.read()
    (a, meta_a), (b, meta_b) = _final_state(killed), _final_state(whole)
    assert meta_a == meta_b and sorted(a) == sorted(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert (killed / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()
    summary_a, summary_b = (json.loads((d / "summary.json").read_text()) for d in (killed, whole))
    for summary in (summary_a, summary_b):
        summary.pop("wall_time_seconds"), summary.pop("seconds_per_step")
    assert summary_a == summary_b


def _error(capsys, *argv) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def _one_epoch_run(tmp_path):
    """A finished one-epoch tiny run through the CLI: (its run directory, its configuration file)."""
    out, config = tmp_path / "run", tmp_path / "c.toml"
    save_config(tiny_config(epochs=1), config)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    return out, config


def test_bad_input_is_one_line_and_destroys_nothing(tmp_path, capsys):
    out, config = _one_epoch_run(tmp_path)
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "already holds a run" in _error(capsys, "train", "--config", str(config), "--out", str(out), "--no-progress")
    assert "sparsity must lie in [0, 1), got 1.0" in _error(capsys, "train", "--out", str(tmp_path / "x"), "--sparsity", "1")
    assert "unknown dataset 'cifar'" in _error(capsys, "train", "--dataset", "cifar", "--out", str(tmp_path / "x"))
    assert "not found" in _error(capsys, "train", "--dataset", "mnist", "--data-dir", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "x"))
    bad = tmp_path / "bad.toml"
    bad.write_text("sparsty = 0.5\n")
    assert "unknown config key 'sparsty'" in _error(capsys, "train", "--config", str(bad), "--out", str(tmp_path / "x"))
    assert "drop --epochs" in _error(capsys, "train", "--resume", str(out), "--epochs", "3")
    assert not (tmp_path / "x").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    npz = next(out.glob("checkpoint-*.npz"))
    npz.write_bytes(npz.read_bytes()[:100])
    assert "corrupt checkpoint" in _error(capsys, "train", "--resume", str(out))
    assert "does not exist" in _error(capsys, "report", str(tmp_path / "nothing"))
    for flag, value in (("--method", "lottery"), ("--distribution", "erk2"), ("--convention", "tf3"),
                        ("--model", "resnet"), ("--init", "he")):
        field = flag[2:]
        assert f"unknown {field} {value!r}; expected one of" in _error(capsys, "train", flag, value, "--out", str(tmp_path / "x"))
    assert "--hidden takes comma-separated integers" in _error(capsys, "train", "--model", "mlp", "--hidden", "3,x")
    assert not (tmp_path / "x").exists()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_force_replaces_results_and_diverging_run_keeps_last_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    config = tmp_path / "c.toml"
    save_config(tiny_config(epochs=1, method="static"), config)
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    save_config(tiny_config(epochs=2, method="static", lr=1e30, momentum=0.0, checkpoint_interval=1), config)
    err = _error(capsys, "train", "--config", str(config), "--out", str(out), "--no-progress", "--force")
    assert "loss became" in err and "at step" in err and "last good checkpoint is kept" in err
    arrays, meta = load_checkpoint(out)  # the last good checkpoint is intact
    assert meta["iteration"] >= 1 and all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")


def test_lenet5_run_says_why_connectivity_is_not_drawn(tmp_path, capsys):
    config = tmp_path / "c.toml"
    save_config(tiny_config(model="lenet5", hidden=[], epochs=1), config)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert "connectivity.png is not drawn: the first layer is a convolution" in capsys.readouterr().out
    assert (out / "curves.png").is_file() and not (out / "connectivity.png").exists()
    assert main(["report", str(out)]) == 0
    assert "connectivity.png is not drawn" in capsys.readouterr().out


def test_resume_refuses_an_edited_config_unless_allowed(tmp_path, capsys):
    from rigl_ref.train.config import config_fingerprint, load_config

    out, _ = _one_epoch_run(tmp_path)
    capsys.readouterr()
    meta = load_checkpoint(out)[1]
    assert meta["config_fingerprint"] == config_fingerprint(load_config(out / "config.toml"))
    assert meta["config"] == load_config(out / "config.toml").to_dict()
    save_config(tiny_config(epochs=2, dataset="mnist-subset", model="mlp"), out / "config.toml")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    err = _error(capsys, "train", "--resume", str(out), "--no-progress")
    assert "config.toml changed since the checkpoint" in err and "--allow-config-change" in err
    assert "epochs 1 -> 2" in err and "dataset 'synthetic' -> 'mnist-subset'" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert "--resume DIR only" in _error(capsys, "train", "--allow-config-change", "--out", str(tmp_path / "x"))
    save_config(tiny_config(epochs=2), out / "config.toml")  # extend the run: allowed explicitly
    assert main(["train", "--resume", str(out), "--allow-config-change", "--no-progress"]) == 0
    assert "configuration changed since the checkpoint (--allow-config-change): epochs 1 -> 2" in capsys.readouterr().out
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    (change,) = [r for r in records if "config_change" in r]
    assert change["config_change"] == {"epochs": [1, 2]} and change["iteration"] == meta["iteration"]
    assert records[-1]["epoch"] == 2 and load_checkpoint(out)[1]["config"]["epochs"] == 2
    save_config(tiny_config(epochs=2, hidden=[7]), out / "config.toml")  # a change the arrays cannot follow
    err = _error(capsys, "train", "--resume", str(out), "--allow-config-change", "--no-progress")
    assert "does not fit the edited configuration (hidden [16] -> [7])" in err


def test_a_checkpoint_of_an_older_version_resumes_when_the_new_fields_are_at_their_defaults(tmp_path, capsys):
    # a run written before RunConfig had `kernels`: its checkpoint's config lacks the field
    from rigl_ref.train.config import config_fingerprint

    out, _ = _one_epoch_run(tmp_path)
    record_path = out / "checkpoint.json"
    record = json.loads(record_path.read_text())
    older = {k: v for k, v in record["meta"]["config"].items() if k != "kernels"}
    record["meta"] = {**record["meta"], "config": older, "config_fingerprint": config_fingerprint(older)}
    record_path.write_text(json.dumps(record))
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    assert "resuming" in capsys.readouterr().out
    save_config(tiny_config(epochs=1, kernels="fast"), out / "config.toml")  # the new field set otherwise
    assert "kernels None -> 'fast'" in _error(capsys, "train", "--resume", str(out), "--no-progress")
    save_config(tiny_config(epochs=1), out / "config.toml")
    record["meta"]["config_fingerprint"] = "0" * 64  # a damaged fingerprint is still refused
    record_path.write_text(json.dumps(record))
    assert "config.toml changed since the checkpoint" in _error(capsys, "train", "--resume", str(out), "--no-progress")


def test_damaged_checkpoint_meta_is_one_line(tmp_path, capsys):
    out, _ = _one_epoch_run(tmp_path)
    record_path = out / "checkpoint.json"
    record = json.loads(record_path.read_text())
    for meta in ([1, 2], {**record["meta"], "iteration": None}, {**record["meta"], "method": 3}):
        record_path.write_text(json.dumps({**record, "meta": meta}))
        assert "corrupt checkpoint" in _error(capsys, "train", "--resume", str(out), "--no-progress")
    record_path.write_text(json.dumps({k: v for k, v in record.items() if k != "meta"} | {"meta": {
        k: v for k, v in record["meta"].items() if k != "config_fingerprint"}}))
    assert "records no configuration fingerprint" in _error(capsys, "train", "--resume", str(out), "--no-progress")
