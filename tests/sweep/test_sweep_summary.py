"""The sweep's aggregates from records alone: groups, mean ± std over seeds, the plot, report's checks."""

import json
import math

import pytest

from rigl_ref.cli.main import main
from rigl_ref.sweep.summary import JSONL, PLOT, group_stats, summary_table


def _records():
    records = []
    for method, base in (("rigl", 0.9), ("set", 0.8)):
        for sparsity in (0.9, 0.95):
            for seed in (0, 1, 2):
                records.append({"run": f"method={method},sparsity={sparsity},seed={seed}",
                                "varying": ["method", "sparsity", "seed"], "method": method, "sparsity": sparsity,
                                "seed": seed, "test_accuracy": base - sparsity / 10 + seed / 100,
                                "wall_s": 1.0 + seed, "status": "ran"})
    records[-1].update(test_accuracy=None, status="failed", error="TrainingDiverged: loss became nan")
    return records


def test_groups_are_the_other_varying_fields_with_sample_std_over_seeds():
    rows = group_stats(_records())
    assert [(r["method"], r["sparsity"]) for r in rows] == [("rigl", 0.9), ("rigl", 0.95), ("set", 0.9), ("set", 0.95)]
    first = rows[0]
    assert first["seeds"] == [0, 1, 2] and first["finished"] == 3
    assert math.isclose(first["test_accuracy_mean"], 0.9 - 0.09 + 0.01)
    assert math.isclose(first["test_accuracy_std"], 0.01)  # ddof=1 over 0, 0.01, 0.02
    assert rows[-1]["finished"] == 2 and rows[-1]["runs"] == 3
    table = summary_table(_records())
    assert "rigl    0.9       3/3   82.00 ± 1.00" in table, table
    assert "set     0.95      2/3" in table


def test_report_of_a_sweep_dir_draws_the_plot(tmp_path, capsys):
    (tmp_path / JSONL).write_text("".join(json.dumps(r) + "\n" for r in _records()))
    assert main(["report", str(tmp_path)]) == 0
    assert "82.00 ± 1.00" in capsys.readouterr().out
    assert (tmp_path / PLOT).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("text", ["{not json\n", '{"run": "a"}\n', "\n"])
def test_a_damaged_sweep_jsonl_is_one_line(tmp_path, capsys, text):
    (tmp_path / JSONL).write_text(text)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and JSONL in err, err
