"""Traces and ``rigl-ref diff``: a trace recorded under a preset replays identical under it; a departure is
reported at the right update, layer and positions, with the preset and the one field that explain it; a
malformed trace is refused in one line naming file, update, layer and field, exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.trace import TraceError, diff_trace, read_trace, replay_layer, write_trace
from rigl_ref.trace.format import LayerRecord


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "rigl_ref", *args], capture_output=True, text=True)


def _record_run(preset, rng, shapes, fractions):
    """A trace as a framework following ``preset`` would record it (tie-free weights and scores)."""
    masks = {name: rng.random(shape) < 0.5 for name, shape in shapes.items()}
    updates = []
    for step, fraction in zip(range(0, 100 * len(fractions), 100), fractions):
        layers = {}
        for name, shape in shapes.items():
            weights = (rng.standard_normal(shape) * masks[name]).astype(np.float32)
            scores = rng.random(shape).astype(np.float32)
            record = LayerRecord(masks[name], masks[name], weights, scores)
            after = replay_layer(record, fraction, preset)
            layers[name] = {"mask_before": masks[name], "mask_after": after, "weights": weights,
                            "grow_scores": scores, "n_active": int(after.sum())}
            masks[name] = after
        updates.append({"step": step, "drop_fraction": fraction, "layers": layers})
    return updates


@settings(max_examples=25, deadline=None)
@given(preset=st.sampled_from(sorted(PRESETS)), seed=st.integers(0, 2**32 - 1),
       fractions=st.lists(st.sampled_from([0.1, 0.3, 0.5]), min_size=1, max_size=4))
def test_a_trace_recorded_under_a_preset_replays_identical(tmp_path_factory, preset, seed, fractions):
    path = tmp_path_factory.mktemp("trace") / "run.npz"
    write_trace(path, _record_run(preset, np.random.default_rng(seed), {"fc1": (6, 5), "fc2": (5, 3)}, fractions))
    report = diff_trace(path, preset)
    assert report.identical and report.mismatches == 0, report.summary()


def _reranking_trace(path):
    """TF1/TF2/rigl-torch rank every position: at f = 0 an active zero weight (flat 2) loses its place to the
    inactive position 0 (lower flat index, same score 0); the paper keeps the mask (issue 10, departure 1)."""
    before = np.array([[False, True], [True, False]])
    weights = np.array([[0.0, 0.5], [0.0, 0.0]], np.float32)
    scores = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    after = replay_layer(LayerRecord(before, before, weights, scores), 0.0, "tf1")
    assert after.tolist() == [[True, True], [False, False]]
    write_trace(path, [{"step": 7, "drop_fraction": 0.0, "layers": {
        "fc1": {"mask_before": before, "mask_after": before, "weights": weights, "grow_scores": scores},
        "fc2": {"mask_before": before, "mask_after": after, "weights": weights, "grow_scores": scores}}}])


def test_a_departure_names_update_layer_positions_presets_and_the_field(tmp_path):
    _reranking_trace(tmp_path / "t.npz")
    # fc1 follows the paper, fc2 TF1: no preset reproduces both layers
    report = diff_trace(tmp_path / "t.npz", "paper")
    assert not report.identical and report.mismatches == 1
    first = report.first
    assert (first.update, first.step, first.layer) == (0, 7, "fc2")
    assert first.only_framework == (0,) and first.only_rigl_ref == (2,)
    assert report.matching_presets == ()


def test_a_preset_and_a_single_field_explain_a_consistent_trace(tmp_path):
    before = np.array([[False, True], [True, False]])
    weights = np.array([[0.0, 0.5], [0.0, 0.0]], np.float32)
    scores = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    after = replay_layer(LayerRecord(before, before, weights, scores), 0.0, "tf1")
    write_trace(tmp_path / "t.npz", [{"step": 7, "drop_fraction": 0.0, "layers": {
        "fc": {"mask_before": before, "mask_after": after, "weights": weights, "grow_scores": scores}}}])
    report = diff_trace(tmp_path / "t.npz", "paper")
    assert set(report.matching_presets) == {"tf1", "rigl_torch"}  # tf2 skips an update at f = 0
    assert ("drop_ranking", "all_positions") in report.explaining_fields
    # the report docs/diff.md shows for this very trace
    assert report.summary().splitlines() == [
        "1 updates x 1 layers replayed under convention 'paper': 1 (update, layer) pairs differ",
        "first departure: update 0 (framework step 7), layer 'fc'",
        "  active only in the framework: 0",
        "  active only in rigl_ref:      2",
        "presets that reproduce the whole trace: tf1, rigl_torch",
        "explained by one field: drop_ranking='all_positions' (instead of 'active_only')",
    ]
    assert diff_trace(tmp_path / "t.npz", "tf1").identical


def test_cli_exit_codes_and_json(tmp_path):
    _reranking_trace(tmp_path / "t.npz")
    result = _cli("diff", str(tmp_path / "t.npz"), "--convention", "paper", "--json", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stderr
    assert "first departure: update 0 (framework step 7), layer 'fc2'" in result.stdout
    assert json.loads((tmp_path / "r.json").read_text())["first"]["layer"] == "fc2"
    rng = np.random.default_rng(0)
    write_trace(tmp_path / "ok.npz", _record_run("rigl_torch", rng, {"w": (4, 4)}, [0.3, 0.3]))
    result = _cli("diff", str(tmp_path / "ok.npz"), "--convention", "rigl_torch")
    assert result.returncode == 0 and "identical" in result.stdout


def _valid(tmp_path):
    updates = _record_run("paper", np.random.default_rng(1), {"fc1": (3, 4), "fc2": (4, 2)}, [0.5, 0.5])
    return updates


def _break(updates, update, layer, key, value):
    if value is None:
        del updates[update]["layers"][layer][key]
    else:
        updates[update]["layers"][layer][key] = value
    return updates


BAD = [
    ("missing layer", lambda u: (u[1]["layers"].pop("fc2"), u)[1], r"update 1, layer 'fc2', field 'mask_before' is missing"),
    ("wrong shape", lambda u: _break(u, 0, "fc1", "weights", np.zeros((4, 3), np.float32)),
     r"update 0, layer 'fc1', field 'weights' has shape \(4, 3\), but mask_before has \(3, 4\)"),
    ("stated count", lambda u: _break(u, 1, "fc2", "n_active", 99),
     r"update 1, layer 'fc2', field 'n_active' states 99 active connections, but mask_after has \d+"),
    ("non-bool mask", lambda u: _break(u, 0, "fc2", "mask_after", np.full((4, 2), 0.5)),
     r"update 0, layer 'fc2', field 'mask_after' must be boolean"),
    ("NaN score", lambda u: _break(u, 1, "fc1", "grow_scores", np.full((3, 4), np.nan, np.float32)),
     r"update 1, layer 'fc1', field 'grow_scores' holds nan at flat index 0"),
    ("no scores", lambda u: _break(u, 0, "fc1", "grow_scores", None),
     r"update 0, layer 'fc1', field 'grow_scores': give exactly one of 'grow_scores' and 'gradient'"),
]


@pytest.mark.parametrize("case, breaker, message", BAD, ids=[case for case, _, _ in BAD])
def test_a_malformed_trace_is_refused_in_one_line(tmp_path, case, breaker, message):
    path = tmp_path / "bad.npz"
    write_trace(path, breaker(_valid(tmp_path)), layer_names=["fc1", "fc2"])
    with pytest.raises(TraceError, match=message):
        read_trace(path)
    result = _cli("diff", str(path), "--json", str(tmp_path / "report.json"))
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr
    assert not (tmp_path / "report.json").exists()  # nothing is written


def test_not_a_trace(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(TraceError, match="not a readable .npz trace"):
        read_trace(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", format=np.array("something/else"))
    with pytest.raises(TraceError, match="field 'format' must be 'rigl-ref-trace/1'"):
        read_trace(tmp_path / "y.npz")
    with pytest.raises(TraceError, match="no such trace file"):
        read_trace(tmp_path / "missing.npz")
