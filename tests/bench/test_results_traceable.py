"""docs/results.md's tables are what bench/reproduce.py renders from the per-run JSON files in
bench/results/repro/: every number there is traceable to run records, each with the documented fields."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reproduce(load_script):
    return load_script("bench/reproduce.py")


def test_results_doc_is_rendered_from_the_run_records(reproduce):
    runs = reproduce.load_runs()
    assert runs, "bench/results/repro holds no run record"
    assert reproduce.updated_doc() == reproduce.DOC.read_text(encoding="utf-8"), \
        "docs/results.md is stale: run  python bench/reproduce.py render"


def test_every_run_record_has_the_documented_fields_and_each_experiment_its_sweep_file(reproduce):
    for run in reproduce.load_runs():
        assert set(reproduce.REQUIRED) <= set(run)
        assert 0.0 <= run["test_accuracy"] <= 1.0 and run["wall_s"] > 0
        assert (ROOT / "bench" / "configs" / f"{run['experiment']}.toml").is_file(), run["experiment"]


def test_the_plot_is_committed(reproduce):
    assert reproduce.PLOT.is_file()
