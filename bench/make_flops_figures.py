"""Draw the figure of docs/flops.md: ResNet-50 per-layer sparsity and inference FLOPs, ERK vs uniform.

    python3 bench/make_flops_figures.py [--sparsity 0.9] [--out docs/img/resnet50_erk_vs_uniform.png]

(with rigl_ref installed, e.g. ``pip install -e .``, or ``PYTHONPATH=.`` from the repository root).

Pure arithmetic over the layer catalogue (no training, no randomness): rerunning it redraws the same plot.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rigl_ref.sparse_training.catalogues import resnet50  # noqa: E402
from rigl_ref.sparse_training.flops import flops_report  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "resnet50_erk_vs_uniform.png"


def draw(sparsity: float, out: Path) -> Path:
    model = resnet50()
    names = [layer.name for layer in model.layers]
    reports = {
        label: flops_report(model, model.sparsities(sparsity, distribution), method="static")
        for label, distribution in (("ERK", "erk"), ("uniform", "uniform"))
    }
    x = range(len(names))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7.5), sharex=True, constrained_layout=True)
    styles = {"ERK": dict(color="tab:blue", marker="o"), "uniform": dict(color="tab:orange", marker="s")}
    for label, report in reports.items():
        top.plot(x, [row.sparsity for row in report.layers], ms=3.5, lw=1, label=label, **styles[label])
        bottom.plot(x, [row.flops / 1e6 for row in report.layers], ms=3.5, lw=1,
                    label=f"{label} ({report.inference_flops_ratio:.2f}x dense)", **styles[label])
    bottom.plot(x, [row.dense_flops / 1e6 for row in reports["ERK"].layers], color="0.4", lw=1, ls="--",
                label="dense")
    top.set_ylabel("layer sparsity")
    top.set_ylim(-0.02, 1.02)
    top.set_title(f"ResNet-50 at overall sparsity {sparsity:g}: ERK (first layer masked) vs uniform "
                  "(first layer dense); last layer masked")
    top.legend(loc="lower right")
    bottom.set_ylabel("inference MFLOPs (get_stats counting)")
    bottom.set_yscale("log")
    bottom.legend(loc="lower left")
    bottom.set_xticks(list(x))
    bottom.set_xticklabels(names, rotation=90, fontsize=7)
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    print(draw(args.sparsity, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
