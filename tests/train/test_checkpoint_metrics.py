"""Checkpoint files (atomic, checksummed, no pickle), metrics.jsonl and the plots."""

import json

import numpy as np
import pytest

from rigl_ref.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from rigl_ref.train.metrics import MetricsLog, read_metrics, truncate_metrics
from rigl_ref.train.plots import plot_connectivity, plot_curves


def _arrays():
    return {"fc1/indptr": np.array([0, 1, 3]), "fc1/data": np.array([1.5, -2.0, 0.0], np.float32)}


def test_round_trip_and_old_arrays_removed(tmp_path):
    save_checkpoint(tmp_path, _arrays(), {"iteration": 3}, tag=3)
    save_checkpoint(tmp_path, {"x": np.arange(4)}, {"iteration": 7, "rng": {"state": 2**100}}, tag=7)
    arrays, meta = load_checkpoint(tmp_path)
    assert meta == {"iteration": 7, "rng": {"state": 2**100}}
    assert np.array_equal(arrays["x"], np.arange(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-7.npz", "checkpoint.json"]
    assert has_checkpoint(tmp_path)


def test_object_arrays_are_refused_on_save(tmp_path):
    with pytest.raises(ValueError):
        save_checkpoint(tmp_path, {"bad": np.array([{"a": 1}], dtype=object)}, {}, tag=0)
    assert not has_checkpoint(tmp_path)


def test_corruptions_are_reported(tmp_path):
    save_checkpoint(tmp_path, _arrays(), {"iteration": 3}, tag=3)
    npz = tmp_path / "checkpoint-3.npz"
    payload = npz.read_bytes()
    npz.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="does not match the SHA-256"):
        load_checkpoint(tmp_path)
    npz.unlink()
    with pytest.raises(ValueError, match="which is missing"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt checkpoint record"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nothing")


def test_metrics_append_read_truncate(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLog(path) as log:
        for i in range(1, 6):
            log.write({"iteration": i, "step": i, "loss": np.float32(1.0 / i), "nnz": {"fc1": np.int64(i)}})
    before = path.read_bytes()
    with open(path, "a") as handle:
        handle.write('{"iteration": 6, "los')  # torn line from a killed run
    assert [r["iteration"] for r in read_metrics(path)] == [1, 2, 3, 4, 5]
    truncate_metrics(path, 5)
    assert path.read_bytes() == before
    truncate_metrics(path, 2)
    assert [json.loads(line)["iteration"] for line in path.read_text().splitlines()] == [1, 2]
    with MetricsLog(path) as log:
        log.write({"iteration": 3, "loss": float("nan")})
    assert read_metrics(path)[-1]["loss"] is None


def test_plots_are_written(tmp_path):
    records = [{"step": s, "loss": 1.0 / (s + 1), "test_accuracy": 0.5 + s / 100} for s in range(10)]
    records.append({"step": 5, "mask_update": True, "drop_fraction": 0.3})
    plot_curves(records, tmp_path / "curves.png", title="t")
    plot_connectivity(np.arange(784), np.zeros(784), tmp_path / "connectivity.png")
    for name in ("curves.png", "connectivity.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="must have 784 entries"):
        plot_connectivity(np.arange(10), np.arange(10), tmp_path / "x.png")
