"""``rigl-ref report DIR``: re-render a run's plots from its files and print its summary."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        help="re-render the plots of a run directory and print its summary",
        description="Read DIR/metrics.jsonl, DIR/summary.json and the checkpointed connectivity, rewrite "
        "DIR/curves.png and DIR/connectivity.png, and print the summary.",
    )
    parser.add_argument("run_dir", metavar="DIR", help="a directory written by rigl-ref train")
    parser.set_defaults(run=run)


def run(args) -> int:
    from rigl_ref.train.report import report

    print(report(args.run_dir), file=sys.stdout)
    return 0
