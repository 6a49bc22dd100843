"""A tiny real sweep on a real two-worker LocalCluster: 2 methods x 2 seeds on the embedded MNIST subset.

One point's worker kills itself (SIGKILL) after a mid-run checkpoint (the testing hook of
``rigl_ref.sweep.worker``) and another point was interrupted before the sweep started, as if an earlier
sweep had been stopped; both must finish from their checkpoints with exactly the final metrics of
uninterrupted runs. A second invocation finds every run finished and starts no cluster.
"""

import io
import json

import pytest

pytest.importorskip("distributed")

from rigl_ref.cli.main import main  # noqa: E402
from rigl_ref.sweep.grid import parse_sweep  # noqa: E402
from rigl_ref.sweep.worker import KILL_ENV  # noqa: E402
from rigl_ref.train.run import start_run  # noqa: E402

FIXED = {"model": "mlp", "hidden": [16], "epochs": 2, "batch_size": 500, "update_interval": 5,
         "checkpoint_interval": 10, "log_interval": 5}
TEXT = """model = "mlp"
hidden = [16]
epochs = 2
batch_size = 500
update_interval = 5
checkpoint_interval = 10
log_interval = 5
[grid]
seed = [0, 1]
method = ["rigl", "set"]
"""
KILLED = "method=rigl,seed=1"
INTERRUPTED = "method=set,seed=0"
SAME = ("test_accuracy", "best_test_accuracy", "total_nnz", "steps", "iterations", "overall_sparsity")


class Stop(Exception):
    pass


def _stop_at(iteration):
    def hook(at):
        if at >= iteration:
            raise Stop
    return hook


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    (root / "tiny.toml").write_text(TEXT)
    out = root / "out"
    sweep = parse_sweep({**FIXED, "grid": {"seed": [0, 1], "method": ["rigl", "set"]}})
    reference = {}
    for point in sweep.points:  # uninterrupted runs of the same points, in this process
        reference[point.name] = start_run(point.config, root / "ref" / point.name, progress=False, out=io.StringIO())
    interrupted = next(p for p in sweep.points if p.name == INTERRUPTED)
    with pytest.raises(Stop):
        start_run(interrupted.config, out / INTERRUPTED, progress=False, out=io.StringIO(), on_checkpoint=_stop_at(20))
    flag = root / "killed.flag"
    mp = pytest.MonkeyPatch()
    mp.setenv(KILL_ENV, f"{flag}:{KILLED}:20")  # inherited by the worker processes
    try:
        code = main(["sweep", str(root / "tiny.toml"), "--out", str(out), "--workers", "2", "--no-progress"])
    finally:
        mp.undo()
    records = [json.loads(line) for line in (out / "sweep.jsonl").read_text().splitlines()]
    return dict(root=root, out=out, code=code, records=records, reference=reference, flag=flag)


def test_every_point_finishes_in_grid_order(sweep_run):
    assert sweep_run["code"] == 0
    assert [r["run"] for r in sweep_run["records"]] == [
        "method=rigl,seed=0", "method=rigl,seed=1", "method=set,seed=0", "method=set,seed=1"]
    for record in sweep_run["records"]:
        assert (sweep_run["out"] / record["run"] / "summary.json").is_file()
        assert record["varying"] == ["method", "seed"] and 0 <= record["test_accuracy"] <= 1
        assert record["wall_s"] > 0 and record["dataset"] == "mnist-subset"


def test_killed_and_interrupted_runs_resume_with_the_uninterrupted_metrics(sweep_run):
    assert sweep_run["flag"].is_file(), "the testing hook did not kill the worker"
    status = {r["run"]: (r["status"], r["resumed_from"]) for r in sweep_run["records"]}
    assert status[KILLED] == ("resumed", 20)
    assert status[INTERRUPTED] == ("resumed", 20)
    assert status["method=rigl,seed=0"] == ("ran", None)
    for record in sweep_run["records"]:
        reference = sweep_run["reference"][record["run"]]
        expected = {"test_accuracy": reference["final_test_accuracy"], "best_test_accuracy":
                    reference["best_test_accuracy"], "total_nnz": reference["total_nnz"], "steps": reference["steps"],
                    "iterations": reference["iterations"], "overall_sparsity": reference["overall_sparsity"]}
        assert {key: record[key] for key in SAME} == expected, record["run"]


def test_a_second_invocation_skips_finished_runs(sweep_run, capsys):
    before = {r["run"]: (sweep_run["out"] / r["run"] / "summary.json").stat().st_mtime_ns
              for r in sweep_run["records"]}
    capsys.readouterr()
    assert main(["sweep", str(sweep_run["root"] / "tiny.toml"), "--out", str(sweep_run["out"]), "--no-progress"]) == 0
    assert "4 finished already, nothing to run" in capsys.readouterr().out
    records = [json.loads(line) for line in (sweep_run["out"] / "sweep.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["skipped"] * 4
    assert [r["test_accuracy"] for r in records] == [r["test_accuracy"] for r in sweep_run["records"]]
    assert before == {r["run"]: (sweep_run["out"] / r["run"] / "summary.json").stat().st_mtime_ns for r in records}


def test_report_plots_the_sweep_and_prints_mean_and_std(sweep_run, capsys):
    capsys.readouterr()
    assert main(["report", str(sweep_run["out"])]) == 0
    text = capsys.readouterr().out
    assert (sweep_run["out"] / "accuracy_vs_sparsity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rigl = [r["test_accuracy"] for r in sweep_run["records"] if r["method"] == "rigl"]
    mean = 100 * sum(rigl) / 2
    std = 100 * abs(rigl[0] - rigl[1]) / 2 ** 0.5
    assert f"rigl    2/2   {mean:.2f} ± {std:.2f}" in text, text


def test_an_edited_fixed_field_is_refused(sweep_run, tmp_path, capsys):
    edited = tmp_path / "tiny.toml"
    edited.write_text(TEXT.replace("epochs = 2", "epochs = 3"))
    capsys.readouterr()
    assert main(["sweep", str(edited), "--out", str(sweep_run["out"]), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epochs 2 -> 3" in err, err


def test_local_workers_keep_glibc_memory_trimming_adaptive(monkeypatch):
    # Dask's default MALLOC_TRIM_THRESHOLD_=65536 made every training step page-fault (rigl_ref.sweep.runner)
    from rigl_ref.sweep.runner import _cluster

    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    client, cluster, _ = _cluster(None, 1)
    try:
        environ = client.run(lambda: {k: __import__("os").environ.get(k)
                                      for k in ("MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS")})
    finally:
        client.close()
        cluster.close()
    assert list(environ.values()) == [{"MALLOC_TRIM_THRESHOLD_": None, "OPENBLAS_NUM_THREADS": "1"}]
