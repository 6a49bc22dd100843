"""rigl_ref.oracle.Oracle: the trainer's update timing for every preset, the spec layer's update, and
one-line errors on bad input. (Its agreement with live rigl-torch: tests/differential.)"""

import sys
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.data import synthetic
from rigl_ref.oracle import Oracle
from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.train.loop import Trainer

sys.path.insert(0, str(Path(__file__).parent / "train"))
from train_helpers import tiny_config  # noqa: E402

DATA = synthetic()


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("method", ["rigl", "set", "snfs"])
def test_the_oracle_updates_on_the_trainers_iterations(method, preset):
    trainer = Trainer(tiny_config(method=method, convention=preset), DATA)
    expected = []
    while not trainer.done:
        expected.append(bool(trainer.train_iteration().get("mask_update")))
    rng = np.random.default_rng(0)
    masks = {"w": rng.random((6, 5)) < 0.5}
    oracle = Oracle(preset, masks, method=method, update_interval=trainer.config.update_interval,
                    end_step=trainer.t_end, drop_fraction=trainer.config.drop_fraction)
    got = []
    for _ in expected:
        weights = {"w": rng.standard_normal((6, 5)).astype(np.float32)}
        grads = {"w": rng.standard_normal((6, 5)).astype(np.float32)}
        out = oracle.step(weights, grads)
        got.append(out.updated)
        assert out.skip_weight_step == (out.updated and PRESETS[preset].replaces_weight_step(method))
        assert int(out.masks["w"].sum()) == int(masks["w"].sum()) or preset == "jaxpruner"
    assert got == expected


def test_an_update_is_the_spec_layers():
    from rigl_ref import drop_grow
    from rigl_ref.sparse_training.drop_grow import score_drop

    rng = np.random.default_rng(1)
    mask = rng.random((4, 7)) < 0.4
    oracle = Oracle("paper", {"w": mask}, method="rigl", update_interval=2, end_step=10)
    w, g, m = (rng.standard_normal((4, 7)).astype(np.float32) for _ in range(3))
    out = oracle.step({"w": w}, {"w": g}, {"w": (m,)})  # iteration 0: 0 mod 2 == 0, an update
    assert out.updated and out.skip_weight_step and out.clock == 0 and out.drop_fraction == 0.3
    spec = drop_grow(mask, w, score_drop(mask, w, "paper"), np.abs(g), 0.3, convention="paper", slots=(m,))
    assert np.array_equal(out.masks["w"], spec.mask) and np.array_equal(out.weights["w"], spec.weights)
    assert np.array_equal(out.slots["w"][0], spec.slots[0])
    out = oracle.step({"w": w}, None, {"w": (m,)})  # iteration 1: no update, nothing moves
    assert not out.updated and not out.skip_weight_step and np.array_equal(out.masks["w"], spec.mask)


@pytest.mark.parametrize("build, message", [
    (lambda: Oracle("paper", {}, end_step=10), "masks must map at least one layer"),
    (lambda: Oracle("paper", {"w": np.ones(3, bool)}, method="static", end_step=10), "method 'static' has no drop/grow"),
    (lambda: Oracle("paper", {"w": np.ones(3, bool)}, method="nope", end_step=10), "method"),
    (lambda: Oracle("paper", {"w": np.ones(3, bool)}, end_step=0), "end_step"),
    (lambda: Oracle("paper", {"w": np.ones(3, bool)}, end_step=5, drop_fraction=1.5), "drop_fraction"),
    (lambda: Oracle("nope", {"w": np.ones(3, bool)}, end_step=5), "unknown convention 'nope'"),
])
def test_bad_construction_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_steps_are_refused():
    oracle = Oracle("paper", {"w": np.ones((2, 3), bool)}, method="snfs", end_step=5)
    with pytest.raises(ValueError, match=r"weights must have exactly the layers \['w'\]"):
        oracle.step({"v": np.zeros((2, 3))}, {"w": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"dense_grads\['w'\] has shape \(3, 2\), but the mask has \(2, 3\)"):
        oracle.step({"w": np.zeros((2, 3))}, {"w": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="reads the gradient of every iteration"):
        oracle.step({"w": np.zeros((2, 3))}, None)
    with pytest.raises(ValueError, match="weights"):
        oracle.step({"w": np.full((2, 3), np.nan)}, {"w": np.zeros((2, 3))})
