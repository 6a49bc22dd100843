"""``rigl-ref report DIR``: re-render a run's plots from its files and print its summary; for a sweep's
output directory (one holding ``sweep.jsonl``), draw accuracy vs sparsity per method and print the
mean ± std table."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render the plots of a run directory (or a sweep directory) and print its summary",
        description="Run directory: read DIR/metrics.jsonl, DIR/summary.json and the checkpointed "
        "connectivity, rewrite DIR/curves.png and DIR/connectivity.png, and print the summary. Sweep "
        "directory (written by rigl-ref sweep): read DIR/sweep.jsonl, write DIR/accuracy_vs_sparsity.png "
        "and print test accuracy mean ± std over seeds.",
    )
    parser.add_argument("run_dir", metavar="DIR", help="a directory written by rigl-ref train or rigl-ref sweep")
    parser.set_defaults(run=run)


def run(args) -> int:
    from rigl_ref.sweep.summary import is_sweep_dir, sweep_report
    from rigl_ref.train.report import report

    text = sweep_report(args.run_dir) if is_sweep_dir(args.run_dir) else report(args.run_dir)
    print(text, file=sys.stdout)
    return 0
