"""Aggregates of a sweep's records (``sweep.jsonl``): mean ± std over seeds, as a table and as a plot.

Runs are grouped by their varying fields other than ``seed`` (``method``, ``sparsity``, ...). The std is
the sample standard deviation over the group's finished runs (``ddof=1``; shown as ``-`` for a single
run). Accuracies are fractions in the records and percentages in the table and the plot.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rigl_ref.train.files import write_atomic  # noqa: E402

JSONL = "sweep.jsonl"
PLOT = "accuracy_vs_sparsity.png"


def read_records(sweep_dir) -> list[dict]:
    """The records of ``sweep_dir/sweep.jsonl``; ValueError naming the file and line if one is damaged."""
    path = Path(sweep_dir) / JSONL
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{str(path)!r} line {number} is not valid JSON: {error}") from None
        if not isinstance(record, dict) or not isinstance(record.get("varying"), list) or "run" not in record:
            raise ValueError(f"{str(path)!r} line {number} is not a sweep record (no 'run' and 'varying')")
        records.append(record)
    return records


def group_fields(records: list[dict]) -> list[str]:
    """The varying fields except ``seed``, in the records' order."""
    names = []
    for record in records:
        names += [name for name in record["varying"] if name != "seed" and name not in names]
    return names


def _stats(values: list[float]) -> tuple[float, float]:
    mean = float(np.mean(values)) if values else math.nan
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return mean, std


def group_stats(records: list[dict]) -> list[dict]:
    """One row per group: ``sparsity``, its field values, ``runs``, ``finished``, ``seeds`` and the mean/std of
    ``test_accuracy`` and the mean of ``wall_s`` over its finished runs, in first-seen order."""
    keys = group_fields(records)
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(tuple(json.dumps(record.get(k)) for k in keys), []).append(record)
    rows = []
    for members in groups.values():
        done = [r for r in members if r.get("test_accuracy") is not None]
        mean, std = _stats([r["test_accuracy"] for r in done])
        rows.append({"sparsity": members[0].get("sparsity"), **{k: members[0].get(k) for k in keys}, "runs": len(members), "finished": len(done),
                     "seeds": [r.get("seed") for r in done], "test_accuracy_mean": mean,
                     "test_accuracy_std": std, "wall_s_mean": _stats([r["wall_s"] for r in done])[0]})
    return rows


def _percent(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.{digits}f}"


def summary_table(records: list[dict]) -> str:
    """The group rows as an aligned text table: test accuracy (%) mean ± std over seeds."""
    keys = group_fields(records)
    header = [*keys, "runs", "test acc % (mean ± std)", "wall s (mean)"]
    lines = [header]
    for row in group_stats(records):
        runs = f"{row['finished']}/{row['runs']}"
        accuracy = f"{_percent(row['test_accuracy_mean'])} ± {_percent(row['test_accuracy_std'])}"
        wall = "-" if math.isnan(row["wall_s_mean"]) else f"{row['wall_s_mean']:.1f}"
        lines.append([*(str(row[k]) for k in keys), runs, accuracy, wall])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines]
    text.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(text)


def plot_accuracy_vs_sparsity(records: list[dict], path) -> None:
    """Test accuracy (%) against sparsity, one line with std error bars per group of the varying fields
    other than ``sparsity`` and ``seed`` (``method``, or ``method`` and the others)."""
    keys = [k for k in group_fields(records) if k != "sparsity"]
    lines: dict[str, list[dict]] = {}
    for row in group_stats(records):
        if row["finished"]:
            label = ", ".join(f"{k}={row[k]}" if k != "method" else str(row[k]) for k in keys)
            lines.setdefault(label or str(row.get("method", "runs")), []).append(row)
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for label, rows in lines.items():
        rows = sorted(rows, key=lambda r: r["sparsity"])
        x = [r["sparsity"] for r in rows]
        y = [100 * r["test_accuracy_mean"] for r in rows]
        err = [0.0 if math.isnan(r["test_accuracy_std"]) else 100 * r["test_accuracy_std"] for r in rows]
        axis.errorbar(x, y, yerr=err, marker="o", ms=4, capsize=3, label=label)
    axis.set_xlabel("sparsity")
    axis.set_ylabel("test accuracy (%), mean ± std over seeds")
    axis.grid(alpha=0.3)
    if lines:
        axis.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    write_atomic(Path(path), buffer.getvalue())


def is_sweep_dir(path) -> bool:
    return (Path(path) / JSONL).is_file()


def sweep_report(sweep_dir) -> str:
    """``rigl-ref report SWEEP_DIR``: redraw ``accuracy_vs_sparsity.png`` from ``sweep.jsonl`` and return
    the summary table and the plot's path."""
    records = read_records(sweep_dir)
    if not records:
        raise ValueError(f"{str(Path(sweep_dir) / JSONL)!r} holds no records")
    plot_accuracy_vs_sparsity(records, Path(sweep_dir) / PLOT)
    return summary_table(records) + f"\n  plot: {Path(sweep_dir) / PLOT}"
