"""``rigl-ref report``: re-render a finished run's plots and return its summary as text."""

from __future__ import annotations

import json
from pathlib import Path

from rigl_ref.train.run import render_plots, summary_text


def report(run_dir) -> str:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise ValueError(f"{str(run_dir)!r} has no summary.json: the run has not finished "
                         f"(continue it with rigl-ref train --resume {run_dir})")
    try:
        summary = json.loads(summary_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{str(summary_path)!r} is not valid JSON: {error}") from None
    return summary_text(summary) + "\n" + render_plots(run_dir)
