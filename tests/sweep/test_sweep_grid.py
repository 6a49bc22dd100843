"""Sweep files: the grid's expansion (count, order, names) and the one-line errors for bad files."""

import math
import random

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.cli.main import main
from rigl_ref.sweep.grid import expand_grid, load_sweep, parse_sweep, point_name
from rigl_ref.train.config import METHODS, RunConfig

# Candidate values per field that are valid together with the defaults (LeNet-300-100 on the subset) and
# FIXED: GraNet's default sparse start (granet_initial_sparsity 0.5) needs a final sparsity >= 0.5 and
# Top-KAST's default backward set (topkast_backward_sparsity 0.8) a forward sparsity >= 0.8, so these grids
# fix a dense start and a dense backward set, which every drawn sparsity admits.
FIXED = {"granet_initial_sparsity": 0.0, "topkast_backward_sparsity": 0.0}
VALUES = {
    "method": st.sampled_from([m for m in METHODS if m != "nm"]),  # nm fixes its sparsity (1 - N/M)
    "sparsity": st.floats(0.0, 0.99),
    "seed": st.integers(0, 2**31),
    "lr": st.floats(1e-6, 10.0),
    "distribution": st.sampled_from(["uniform", "er", "erk"]),
    "nesterov": st.booleans(),
    "lr_milestones": st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3),
    "update_interval": st.integers(1, 1000),
}


@st.composite
def grids(draw):
    keys = draw(st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=4, unique=True))
    return {key: draw(st.lists(VALUES[key], min_size=1, max_size=3, unique_by=repr)) for key in keys}


@given(grids())
def test_points_are_the_product_with_unique_stable_names(grid):
    sweep = parse_sweep({**FIXED, "grid": grid})
    assert len(sweep.points) == math.prod(len(values) for values in grid.values())
    names = [p.name for p in sweep.points]
    assert len(set(names)) == len(names)
    for point in sweep.points:
        assert point.name == point_name(point.values)  # a function of the point's own values only
        assert all(getattr(point.config, key) == value for key, value in point.values.items())
        assert "/" not in point.name and point.name not in (".", "..")
    # the order of the keys in the file does not matter
    keys = list(grid)
    random.Random(len(names)).shuffle(keys)
    assert [p.name for p in parse_sweep({**FIXED, "grid": {k: grid[k] for k in keys}}).points] == names
    # through a TOML file: the same points
    assert [p.name for p in parse_sweep(__import__("tomllib").loads(tomli_w.dumps({**FIXED, "grid": grid}))).points] == names


@given(grids(), st.data())
def test_adding_a_value_keeps_the_existing_names(grid, data):
    key = data.draw(st.sampled_from(sorted(grid)))
    extra = data.draw(VALUES[key])
    if repr(extra) in map(repr, grid[key]):
        return
    before = {p.name for p in parse_sweep({**FIXED, "grid": grid}).points}
    after = {p.name for p in parse_sweep({**FIXED, "grid": {**grid, key: grid[key] + [extra]}}).points}
    assert before < after


def test_documented_order_and_names():
    sweep = parse_sweep({"epochs": 3, "grid": {"seed": [0, 1], "sparsity": [0.9, 0.95], "method": ["rigl", "set"],
                                                "hidden": [[300, 100]], "model": "mlp"}})
    assert sweep.varying == ("hidden", "method", "sparsity", "seed")
    assert [p.name for p in sweep.points[:3]] == [
        "hidden=300_100,method=rigl,sparsity=0.9,seed=0", "hidden=300_100,method=rigl,sparsity=0.9,seed=1",
        "hidden=300_100,method=rigl,sparsity=0.95,seed=0"]
    assert sweep.fixed == {"epochs": 3, "model": "mlp"}
    assert sweep.points[-1].config == RunConfig(epochs=3, model="mlp", hidden=[300, 100], method="set",
                                                sparsity=0.95, seed=1)
    assert expand_grid({"seed": [0, 1], "method": ["a"]}) == [{"method": "a", "seed": 0}, {"method": "a", "seed": 1}]


def test_strings_are_escaped_into_safe_names():
    assert point_name({"data_dir": "/a b/c,d=e"}) == "data_dir=%2Fa%20b%2Fc%2Cd%3De"
    assert point_name({"sparsity": 1e-05, "nesterov": False}) == "sparsity=1e-05,nesterov=false"


@pytest.mark.parametrize("text, field", [
    ("[grid]\nbogus = [1, 2]\n", "'bogus'"),
    ("bogus = 1\n[grid]\nseed = [0]\n", "'bogus'"),
    ("[grid]\nseed = []\n", "'seed'"),
    ("[grid]\nsparsity = [0.9, 1.5]\n", "sparsity"),
    ("[grid]\nsparsity = [0.9, 'x']\n", "'sparsity'"),
    ("[grid]\nmethod = ['rigl', 'magic']\n", "method"),
    ("[grid]\nseed = [0, 0]\n", "'seed'"),
    ("seed = 1\n[grid]\nseed = [0, 2]\n", "'seed'"),
    ("seed = 1\n", "[grid]"),
    ("grid = 3\n", "'grid'"),
    ("[grid]\nseed = [0\n", "not valid TOML"),
])
def test_a_bad_sweep_file_is_one_line_naming_the_field(tmp_path, capsys, text, field):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="."):
        load_sweep(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err, err
    assert not (tmp_path / "out").exists()
