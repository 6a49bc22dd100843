"""``rigl-ref diff TRACE --convention NAME``: replay a framework's trace and report where it departs.

    rigl-ref diff run.trace.npz --convention rigl_torch [--json REPORT.json]

Exit 0 when every recorded update is reproduced, 1 when one is not (the first departure, the positions
that differ, the presets and single convention fields that would reproduce the trace), 2 on a malformed
trace (one line naming the file, update, layer and field; nothing is written). Format:
``rigl_ref.trace.format`` and ``docs/diff.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.trace import diff_trace


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "diff", help="replay a framework's RigL trace and report the first departure",
        description="Replay every recorded mask update of a trace (rigl_ref.trace.format) through rigl_ref's "
        "spec layer under a convention; report the first update and layer where the framework departs, the "
        "differing positions, and which preset or single convention field would reproduce the trace.",
    )
    parser.add_argument("trace", type=Path, help="the trace file (.npz)")
    parser.add_argument("--convention", default="paper", choices=list(PRESETS),
                        help="the preset the framework claims to follow (default: paper)")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the report as JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    report = diff_trace(args.trace, args.convention)
    print(report.summary())
    if args.json is not None:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    return 0 if report.identical else 1
