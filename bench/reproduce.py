"""Reproduction results: one JSON per run in ``bench/results/repro/``, and ``docs/results.md`` rendered from them.

    python bench/reproduce.py collect SWEEP_DIR --experiment NAME   # SWEEP_DIR/sweep.jsonl -> one JSON per run
    python bench/reproduce.py render                                # rewrite docs/results.md's tables + plot
    python bench/reproduce.py render --check                        # exit 1 if docs/results.md is stale

The experiments are the sweep files of ``bench/configs/`` run by ``rigl-ref sweep``. Every number in the
generated part of ``docs/results.md`` (between the BEGIN/END markers) is a mean or std over the per-run
JSON files, and ``tests/bench/test_results_traceable.py`` re-renders it from them: a number that is not
traceable to a run record fails the test. The published numbers the runs are set beside are in
:data:`PUBLISHED`, each with its source.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "repro"
DOC = ROOT / "docs" / "results.md"
PLOT = ROOT / "docs" / "img" / "results_accuracy_vs_sparsity.png"
BEGIN, END = "<!-- BEGIN bench/reproduce.py -->", "<!-- END bench/reproduce.py -->"

#: The fields every run record carries (``test_accuracy`` a fraction in [0, 1]).
REQUIRED = ("experiment", "dataset", "model", "method", "sparsity", "seed", "epochs", "test_accuracy", "wall_s")
#: Further fields copied from the sweep record when present.
EXTRA = ("validation_accuracy", "best_test_accuracy", "overall_sparsity", "total_nnz", "training_flops_ratio",
         "inference_flops_ratio", "steps", "iterations", "distribution", "run")

#: Published test accuracies (%), keyed by (experiment, method, sparsity); sparsity None for dense.
#: Dettmers & Zettlemoyer 2019, "Sparse Networks from Scratch: Faster Training without Losing Performance"
#: (arXiv 1907.04840), Table 1, LeNet-300-100 on MNIST (100 epochs): (method, sparsity) -> test accuracy %
SPARSE_MOMENTUM_TABLE_1 = {
    ("dense", None): 98.69,
    ("snfs", 0.9): 98.67, ("snfs", 0.95): 98.53, ("snfs", 0.98): 98.20,
    ("set", 0.9): 98.39, ("set", 0.95): 98.14, ("set", 0.98): 97.74,
}
PUBLISHED = {
    (experiment, method, sparsity): accuracy
    # experiment (a): the 20-epoch reduction and the full 100-epoch protocol
    for experiment in ("lenet300_mnist_sparse_momentum", "lenet300_mnist_sparse_momentum_100ep")
    for (method, sparsity), accuracy in SPARSE_MOMENTUM_TABLE_1.items()
}
PUBLISHED_SOURCE = ("Dettmers & Zettlemoyer 2019, arXiv 1907.04840, Table 1 (LeNet-300-100, MNIST, 100 "
                    "epochs)")


# ------------------------------------------------------------------ collect


def collect(sweep_dir: Path, experiment: str, results: Path = RESULTS) -> list[Path]:
    """Write ``results/<experiment>/<run>.json`` for every finished point of ``sweep_dir/sweep.jsonl``."""
    lines = (Path(sweep_dir) / "sweep.jsonl").read_text().splitlines()
    out_dir = Path(results) / experiment
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for line in lines:
        record = json.loads(line)
        if record.get("test_accuracy") is None:
            continue
        run = {"experiment": experiment, **{k: record[k] for k in REQUIRED if k != "experiment"}}
        run["sparsity"] = 0.0 if record["method"] == "dense" else float(record["sparsity"])
        run.update({k: record[k] for k in EXTRA if k in record})
        path = out_dir / f"{record['run']}.json"
        path.write_text(json.dumps(run, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


# ------------------------------------------------------------------ render


def load_runs(results: Path = RESULTS) -> list[dict]:
    """Every run record under ``results`` (sorted by path), checked for the required fields."""
    runs = []
    for path in sorted(Path(results).glob("*/*.json")):
        run = json.loads(path.read_text())
        missing = [k for k in REQUIRED if k not in run]
        if missing:
            raise ValueError(f"{path}: run record lacks {missing}")
        if not 0.0 <= run["test_accuracy"] <= 1.0:
            raise ValueError(f"{path}: test_accuracy must be a fraction in [0, 1], got {run['test_accuracy']!r}")
        runs.append(run)
    return runs


def group(runs: list[dict]) -> list[dict]:
    """Rows of (experiment, dataset, model, method, sparsity, epochs): mean and sample std of the test
    accuracy (%) over seeds, mean wall time, the published number and the difference."""
    groups = defaultdict(list)
    for run in runs:
        key = (run["experiment"], run["dataset"], run["model"], run["method"], run["sparsity"], run["epochs"])
        groups[key].append(run)
    rows = []
    for (experiment, dataset, model, method, sparsity, epochs), members in sorted(groups.items()):
        accuracies = [100 * r["test_accuracy"] for r in members]
        published = PUBLISHED.get((experiment, method, None if method == "dense" else sparsity))
        mean = statistics.fmean(accuracies)
        rows.append(dict(
            experiment=experiment, dataset=dataset, model=model, method=method, sparsity=sparsity, epochs=epochs,
            seeds=sorted(r["seed"] for r in members), mean=mean,
            std=statistics.stdev(accuracies) if len(accuracies) > 1 else math.nan,
            wall_s=statistics.fmean(r["wall_s"] for r in members), published=published,
            difference=None if published is None else mean - published,
        ))
    return rows


def _pct(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.2f}"


def render_tables(rows: list[dict]) -> str:
    lines = [BEGIN, ""]
    for experiment in dict.fromkeys(r["experiment"] for r in rows):
        members = [r for r in rows if r["experiment"] == experiment]
        lines += [f"### `{experiment}`", "",
                  "| dataset | model | method | sparsity | epochs | seeds | test accuracy % (mean ± std) | "
                  "published % | difference | wall s / run |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in members:
            difference = "-" if r["difference"] is None else f"{r['difference']:+.2f}"
            lines.append(
                f"| {r['dataset']} | {r['model']} | {r['method']} | {r['sparsity']:g} | {r['epochs']} | "
                f"{len(r['seeds'])} | {_pct(r['mean'])} ± {_pct(r['std'])} | {_pct(r['published'])} | "
                f"{difference} | {r['wall_s']:.0f} |")
        lines.append("")
    lines += [f"Published numbers: {PUBLISHED_SOURCE}.", "", END]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path = PLOT) -> None:
    """Accuracy vs sparsity, one panel per experiment, one line per (model, method); std as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experiments = list(dict.fromkeys(r["experiment"] for r in rows))
    fig, axes = plt.subplots(1, len(experiments), figsize=(5 * len(experiments), 4), squeeze=False)
    for ax, experiment in zip(axes[0], experiments):
        members = [r for r in rows if r["experiment"] == experiment]
        for model, method in dict.fromkeys((r["model"], r["method"]) for r in members):
            line = sorted((r for r in members if (r["model"], r["method"]) == (model, method)),
                          key=lambda r: r["sparsity"])
            xs = [r["sparsity"] for r in line]
            err = [0.0 if math.isnan(r["std"]) else r["std"] for r in line]
            if method == "dense":
                ax.axhline(line[0]["mean"], color="gray", linestyle="--", label=f"{model} dense")
                continue
            ax.errorbar(xs, [r["mean"] for r in line], yerr=err, marker="o", capsize=3, label=f"{model} {method}")
            published = [(r["sparsity"], r["published"]) for r in line if r["published"] is not None]
            if published:
                ax.plot(*zip(*published), linestyle=":", marker="x", label=f"{method} published")
        ax.set_title(experiment, fontsize=9)
        ax.set_xlabel("sparsity")
        ax.set_ylabel("test accuracy (%)")
        ax.legend(fontsize=6)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def updated_doc(results: Path = RESULTS) -> str:
    text = DOC.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render_tables(group(load_runs(results))) + text[stop:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="one JSON per finished run of a sweep")
    c.add_argument("sweep_dir", type=Path)
    c.add_argument("--experiment", required=True, help="experiment name (the sweep file's stem)")
    r = sub.add_parser("render", help="rewrite docs/results.md's generated tables and the plot")
    r.add_argument("--check", action="store_true", help="exit 1 if docs/results.md is stale")
    args = parser.parse_args(argv)
    if args.command == "collect":
        written = collect(args.sweep_dir, args.experiment)
        print(f"wrote {len(written)} run records to {RESULTS / args.experiment}")
        return 0
    new = updated_doc()
    if args.check:
        return 0 if new == DOC.read_text(encoding="utf-8") else 1
    DOC.write_text(new, encoding="utf-8")
    plot(group(load_runs()))
    print(f"wrote {DOC} and {PLOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
