"""``rigl-ref conformance``: run reference-vector suites through rigl_ref and report the matches.

    rigl-ref conformance [PATH ...] [--max-failures N]

Each PATH is a suite folder (with ``manifest.json``) or a folder of suites; without PATH the suites
shipped in ``rigl_ref/conformance/vectors`` run. Prints ``SUITE: P/T cases match`` per suite, the first
differing cases with their index and differing values, and ``N passed, M failed``; exits 0 only if every
case matches.
"""

from __future__ import annotations

from rigl_ref.conformance.runner import VECTORS_DIR, format_report
from rigl_ref.conformance.runner import run as run_suites


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "conformance",
        help="check rigl_ref against framework reference vectors",
        description="Run reference-vector suites (computed by TF1 rigl, rigl-torch, jaxpruner) through rigl_ref "
        "under the convention each suite names, and report which cases match exactly.",
    )
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help=f"suite folder or folder of suites (default: {VECTORS_DIR})"
    )
    parser.add_argument(
        "--max-failures", type=int, default=10, metavar="N", help="differing cases to show in detail (default 10)"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.max_failures < 0:
        raise ValueError(f"--max-failures must be >= 0, got {args.max_failures}")
    reports = run_suites(args.paths or [VECTORS_DIR])
    print(format_report(reports, max_failures=args.max_failures))
    return 0 if all(report.n_failed == 0 for report in reports) else 1
