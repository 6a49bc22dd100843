"""What a Dask worker does for one point: bring its run directory to the end, and the point's record.

A point's run directory is an ordinary ``rigl-ref train`` run directory (``rigl_ref.train.run``):

* ``summary.json`` present: the run is finished and is left alone (status ``skipped``);
* a checkpoint present: the run was interrupted (its worker killed, the sweep stopped) and continues
  from it with :func:`rigl_ref.train.run.resume_run`, which replays the uninterrupted run bit for bit
  (status ``resumed``);
* otherwise (a new directory, or one whose run died before its first checkpoint): a new run with
  :func:`rigl_ref.train.run.start_run` (status ``ran``).

Testing hook: when the environment variable ``RIGL_REF_SWEEP_TEST_KILL`` is ``FLAG_FILE:RUN_NAME:ITERATION``,
the worker training the point ``RUN_NAME`` kills its own process (SIGKILL, as an out-of-memory killer or
a lost machine would) right after the first checkpoint at or past ``ITERATION``, provided it can create
``FLAG_FILE`` first. The flag file makes it happen once, however many workers see the variable.
"""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

from rigl_ref.train.checkpoint import RECORD, has_checkpoint
from rigl_ref.train.config import RunConfig
from rigl_ref.train.run import resume_run, start_run

KILL_ENV = "RIGL_REF_SWEEP_TEST_KILL"
ALWAYS = ("dataset", "model", "method", "sparsity", "distribution", "seed", "epochs")
"""Fields every record of ``sweep.jsonl`` carries, varying or not."""


def _kill_hook(run_name: str):
    """The ``on_checkpoint`` callback of the testing hook for ``run_name``, or None."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return None
    flag, name, iteration = spec.rsplit(":", 2)
    if name != run_name:
        return None

    def kill_once(at: int) -> None:
        if at < int(iteration):
            return
        try:
            os.close(os.open(flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os.kill(os.getpid(), signal.SIGKILL)

    return kill_once


def finished(run_dir) -> bool:
    return (Path(run_dir) / "summary.json").is_file()


def read_summary(run_dir) -> dict:
    path = Path(run_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{str(path)!r} is not valid JSON: {error}") from None


def run_point(config: dict, run_dir: str) -> dict:
    """Train (or resume, or skip) the point with configuration ``config`` (``RunConfig.to_dict()``) in
    ``run_dir``; return ``{"status", "resumed_from", "summary"}``. Runs on a Dask worker."""
    run_dir = Path(run_dir)
    sink = io.StringIO()  # the run's text output; summary.json holds everything it says
    hook = _kill_hook(run_dir.name)
    resumed_from = None
    if finished(run_dir):
        status = "skipped"
        summary = read_summary(run_dir)
    elif has_checkpoint(run_dir):
        status = "resumed"
        resumed_from = json.loads((run_dir / RECORD).read_text())["meta"]["iteration"]
        summary = resume_run(run_dir, progress=False, out=sink, on_checkpoint=hook)
    else:
        status = "ran"
        summary = start_run(RunConfig(**config), run_dir, force=True, progress=False, out=sink,
                            on_checkpoint=hook)
    return {"status": status, "resumed_from": resumed_from, "summary": summary}


def point_record(point, summary: dict | None, *, status: str, resumed_from=None, error: str | None = None) -> dict:
    """One line of ``sweep.jsonl``: the run's name, its varying fields (``varying`` lists them), the
    :data:`ALWAYS` fields and the final metrics of its ``summary.json`` (``test_accuracy`` is a fraction)."""
    config = point.config.to_dict()
    record = {"run": point.name, "varying": list(point.values)}
    record.update({key: config[key] for key in (*ALWAYS, *point.values)})
    record.update(status=status, resumed_from=resumed_from)
    if summary is not None:
        record.update(
            test_accuracy=summary["final_test_accuracy"], best_test_accuracy=summary["best_test_accuracy"],
            validation_accuracy=summary.get("final_validation_accuracy"),
            overall_sparsity=summary["overall_sparsity"], total_nnz=summary["total_nnz"],
            training_flops_ratio=summary["flops"]["training_flops_ratio"],
            inference_flops_ratio=summary["flops"]["inference_flops_ratio"],
            steps=summary["steps"], iterations=summary["iterations"], wall_s=summary["wall_time_seconds"],
        )
    if error is not None:
        record["error"] = error
    return record
