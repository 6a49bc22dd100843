"""``rigl-ref sweep CONFIG.toml``: run a grid of training runs on Dask (see ``rigl_ref.sweep``).

Each point of the grid is an ordinary run directory under ``--out`` (default ``sweeps/<file stem>``):
finished points are skipped and interrupted ones resume from their checkpoint, so the same command
continues a sweep that stopped. ``--scheduler ADDRESS`` uses an existing Dask cluster; otherwise a
local one with ``--workers`` processes (default: one per core) runs the points.
"""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of training runs (seeds x sparsities x methods ...) on Dask",
        description="Expand the [grid] table of CONFIG.toml (any rigl-ref train configuration key may be a "
        "list) and run every point as a resumable run directory under --out; writes OUT/sweep.jsonl and "
        "prints test accuracy mean ± std over seeds. Needs the 'sweep' extra (dask[distributed]).",
    )
    parser.add_argument("config", metavar="CONFIG.toml", help="sweep file: fixed keys plus a [grid] table")
    parser.add_argument("--out", "-o", metavar="DIR", help="output directory (default sweeps/<CONFIG stem>)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="address of a running Dask scheduler (tcp://host:port); default: a local cluster")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="worker processes of the local cluster (default: one per core)")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="times a run that raised is tried again, from its checkpoint (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from rigl_ref.sweep.grid import load_sweep
    from rigl_ref.sweep.runner import run_sweep
    from rigl_ref.validate import check_positive_int

    if args.workers is not None:
        check_positive_int("--workers", args.workers)
        if args.scheduler is not None:
            raise ValueError("--workers sizes the local cluster; it does not apply with --scheduler")
    if args.retries < 0:
        raise ValueError(f"--retries must be an integer >= 0, got {args.retries}")
    sweep = load_sweep(args.config)
    out_dir = args.out or Path("sweeps") / Path(args.config).stem
    records = run_sweep(sweep, out_dir, scheduler=args.scheduler, workers=args.workers, retries=args.retries,
                        progress=not args.no_progress, out=sys.stdout)
    return 1 if any(r["status"] == "failed" for r in records) else 0
