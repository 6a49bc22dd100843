"""Run a sweep on Dask: one task per unfinished point, each an ordinary resumable run directory.

Layout of the output directory::

    OUT/<point name>/   a run directory of ``rigl-ref train`` (config.toml, checkpoints, summary.json, ...)
    OUT/sweep.jsonl     one record per point of the grid, in grid order (``rigl_ref.sweep.worker.point_record``)

A point whose directory holds ``summary.json`` is finished and not run again; one with a checkpoint
continues from it; so running the same sweep again after a crash, a Ctrl-C or a killed worker picks up
where it stopped. A point directory whose ``config.toml`` differs from the point's configuration (the
sweep file's fixed fields were edited) is refused, naming the fields, before anything runs.

Cluster: by default a ``distributed.LocalCluster`` on this machine, one single-threaded worker process
per core (at most one per point to run), listening on 127.0.0.1 without a dashboard, so it works
offline; ``scheduler="tcp://host:port"`` submits to an existing cluster instead and leaves it as it is
(its workers must import rigl_ref and see OUT at the same path). A worker that dies mid-run (killed,
out of memory) loses its task to the scheduler, which runs it again on a live worker (up to
``distributed.scheduler.allowed-failures`` times); an exception inside a run is retried ``retries``
times. Either way the rerun resumes from the run's last checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path

from tqdm import tqdm

from rigl_ref.sweep.grid import Sweep
from rigl_ref.sweep.summary import JSONL, summary_table
from rigl_ref.sweep.worker import finished, point_record, read_summary, run_point
from rigl_ref.train.config import config_changes, load_config
from rigl_ref.train.files import write_atomic

INSTALL_HINT = "rigl-ref sweep needs Dask: pip install 'rigl-ref[sweep]' (dask[distributed])"


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_run_dirs(sweep: Sweep, out_dir: Path) -> None:
    """Refuse point directories that hold a run of another configuration, naming the fields."""
    for point in sweep.points:
        run_dir = out_dir / point.name
        if run_dir.exists() and not run_dir.is_dir():
            raise ValueError(f"{str(run_dir)!r} exists and is not a directory")
        if (run_dir / "config.toml").is_file():
            changes = config_changes(load_config(run_dir / "config.toml").to_dict(), point.config)
            if changes:
                described = ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changes.items())
                raise ValueError(f"{str(run_dir)!r} holds a run of another configuration ({described}); "
                                 f"restore the sweep file or use another --out")


def _cluster(scheduler: str | None, workers: int):
    """(client, cluster or None, description)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    if scheduler is not None:
        return Client(scheduler, timeout="20s"), None, f"the cluster at {scheduler}"
    import dask

    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (return freed memory to the OS at once);
    # with training's per-step temporaries of a few hundred KiB that made every step page-fault: 30 % of a
    # worker's time in the kernel, SNFS on full MNIST 1.7x slower. Unset here, glibc's adaptive default.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster, f"a local cluster of {workers} worker process{'es' * (workers != 1)}"


def run_sweep(sweep: Sweep, out_dir, *, scheduler: str | None = None, workers: int | None = None,
              retries: int = 2, progress: bool = True, out=sys.stdout) -> list[dict]:
    """Bring every point of ``sweep`` to the end under ``out_dir``; write ``sweep.jsonl``, print the
    summary table, return the records (grid order). A point whose run fails has ``status`` ``failed``
    and its ``error``."""
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"output directory {str(out_dir)!r} exists and is not a directory")
    check_run_dirs(sweep, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    records = {p.name: point_record(p, read_summary(out_dir / p.name), status="skipped")
               for p in sweep.points if finished(out_dir / p.name)}
    todo = [p for p in sweep.points if p.name not in records]
    where = "nothing to run"
    if todo:
        workers = min(workers or default_workers(), len(todo))
        client, cluster, where = _cluster(scheduler, workers)
        where = f"{len(todo)} to run on {where}"
    print(f"# rigl-ref sweep -> {out_dir}: {len(sweep.points)} points ({', '.join(sweep.varying)}), "
          f"{len(records)} finished already, {where}", file=out, flush=True)
    if todo:
        try:
            records.update(_run_on(client, todo, out_dir, retries=retries, progress=progress,
                                   total=len(sweep.points), initial=len(records)))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    ordered = [records[p.name] for p in sweep.points]
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in ordered)
    write_atomic(out_dir / JSONL, text.encode())
    print(summary_table(ordered), file=out)
    for record in ordered:
        if record["status"] == "failed":
            print(f"# failed: {record['run']}: {record['error']}", file=out)
    print(f"# records: {out_dir / JSONL}; plot: rigl-ref report {out_dir}", file=out)
    return ordered


def _run_on(client, todo, out_dir: Path, *, retries: int, progress: bool, total: int, initial: int) -> dict:
    from distributed import as_completed

    token = uuid.uuid4().hex[:8]
    futures = {client.submit(run_point, p.config.to_dict(), str(out_dir / p.name), retries=retries, pure=False,
                             key=f"rigl-ref-sweep-{token}-{p.name}"): p for p in todo}
    records = {}
    with tqdm(total=total, initial=initial, unit="run", disable=not progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        for future in as_completed(futures):
            point = futures[future]
            try:
                result = future.result()
                records[point.name] = point_record(point, result["summary"], status=result["status"],
                                                   resumed_from=result["resumed_from"])
            except Exception as error:  # a failed run is a record, the others go on
                records[point.name] = point_record(point, None, status="failed",
                                                   error=f"{type(error).__name__}: {error}")
            bar.set_postfix_str(point.name, refresh=False)
            bar.update(1)
    return records
