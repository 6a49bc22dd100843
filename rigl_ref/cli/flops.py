"""``rigl-ref flops``: per-layer sparsity, active connections and FLOPs of a paper network, and the
inference and training FLOPs of a method relative to dense.

    rigl-ref flops --model resnet50 --distribution erk --sparsity 0.8 [--method rigl] [--multiplier 5]
                   [--first-layer dense|sparse] [--json [PATH]]

Counting follows google-research/rigl ``sparse_utils.get_stats`` (see ``rigl_ref.sparse_training.flops``).
RigL's update overhead is charged on every step by default, as the README's training column is; the
ImageNet driver's real schedule (updates stop at 25000 of 32000 steps) is ``--t-end-fraction 0.78125``.
"""

from __future__ import annotations

import json
import sys

from rigl_ref.sparse_training.catalogues import CATALOGUES, get_catalogue, mlp
from rigl_ref.sparse_training.flops import (
    DRIVER_T_END_FRACTION,
    GEOMETRIES,
    IMAGENET_RIGL_T_END,
    IMAGENET_STEPS,
    METHODS,
    README_T_END_FRACTION,
    SMALL_DENSE_WIDTHS,
    flops_report,
)

DISTRIBUTION_CHOICES = ("erk", "er", "uniform", "erdos_renyi_kernel", "erdos_renyi", "random")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "flops",
        help="count inference and training FLOPs of a sparse network (paper accounting)",
        description="Per-layer sparsity, active connections and FLOPs, and totals relative to dense, counted "
        "as google-research/rigl sparse_utils.get_stats does (MicroNet counting). Defaults follow the "
        "repository: ERK masks ResNet-50's first layer except at 99% sparsity, uniform keeps it dense, "
        "the last layer is masked.",
    )
    parser.set_defaults(run=run)
    parser.add_argument("--model", default="resnet50", choices=sorted(CATALOGUES) + ["mlp"],
                        help="layer catalogue (default resnet50)")
    parser.add_argument("--widths", metavar="W,W,...", help="layer widths for --model mlp, e.g. 784,1000,1000,10")
    parser.add_argument("--distribution", default="erk", choices=DISTRIBUTION_CHOICES,
                        help="per-layer sparsity distribution (default erk)")
    parser.add_argument("--sparsity", type=float, metavar="S", help="overall sparsity in [0, 1), e.g. 0.8")
    parser.add_argument("--method", default="rigl", choices=METHODS, help="training method (default rigl)")
    parser.add_argument("--multiplier", type=float, default=1.0, metavar="M",
                        help="training length relative to the standard run, e.g. 5 for RigL_5x (default 1)")
    parser.add_argument("--first-layer", choices=("dense", "sparse"),
                        help="mask the first layer or keep it dense (default: the repository's rule for the model)")
    parser.add_argument("--power-scale", type=float, default=1.0, metavar="P", help="ERK power scale (default 1)")
    parser.add_argument("--delta-t", type=int, default=100, metavar="STEPS", help="RigL mask update interval ΔT")
    parser.add_argument(
        "--t-end-fraction", type=float, default=README_T_END_FRACTION, metavar="F",
        help=f"share of steps with RigL mask updates, T_end/T (default {README_T_END_FRACTION:g}: the overhead on "
        f"every step, as the README's training column; {DRIVER_T_END_FRACTION:g} = {IMAGENET_RIGL_T_END}/"
        f"{IMAGENET_STEPS} is the ImageNet driver's schedule)",
    )
    parser.add_argument("--small-dense-width", type=float, metavar="W",
                        help="width multiplier of the small-dense network (ResNet-50 default: the paper's width "
                        "for the given sparsity)")
    parser.add_argument("--geometry", default="get_stats", choices=GEOMETRIES,
                        help="conv output sizes as get_stats counts them (default) or the layers' true sizes")
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write the result as JSON to PATH, or print it instead of the table when no PATH")


def _catalogue(args):
    if args.model == "mlp":
        if not args.widths:
            raise ValueError("--model mlp needs --widths, e.g. --widths 784,300,100,10")
        try:
            widths = [int(w) for w in args.widths.split(",")]
        except ValueError:
            raise ValueError(f"--widths must be comma-separated integers, got {args.widths!r}") from None
        return mlp(widths)
    if args.widths:
        raise ValueError(f"--widths applies only to --model mlp, not {args.model!r}")
    return get_catalogue(args.model)


def _small_dense_width(args):
    if args.method != "small-dense":
        if args.small_dense_width is not None:
            raise ValueError(f"--small-dense-width applies only to --method small-dense, not {args.method!r}")
        return None
    if args.small_dense_width is not None:
        return args.small_dense_width
    if args.model == "resnet50" and args.sparsity in SMALL_DENSE_WIDTHS:
        return SMALL_DENSE_WIDTHS[args.sparsity]
    raise ValueError(
        "--method small-dense needs --small-dense-width here (paper widths exist only for resnet50 at "
        f"sparsity {', '.join(map(str, SMALL_DENSE_WIDTHS))})"
    )


def run(args) -> int:
    model = _catalogue(args)
    small_dense_width = _small_dense_width(args)
    if args.sparsity is None and args.method not in ("dense", "small-dense"):
        raise ValueError(f"--sparsity is required for --method {args.method}")
    sparsities = None
    first_layer = None
    if args.sparsity is not None and args.method not in ("dense", "small-dense"):
        first_layer = args.first_layer or model.default_first_layer(args.distribution, args.sparsity)
        sparsities = model.sparsities(args.sparsity, args.distribution, first_layer=first_layer,
                                      power_scale=args.power_scale)
    report = flops_report(
        model,
        sparsities,
        method=args.method,
        multiplier=args.multiplier,
        delta_t=args.delta_t,
        t_end_fraction=args.t_end_fraction,
        small_dense_width=small_dense_width,
        geometry=args.geometry,
    )
    settings = {
        "distribution": args.distribution,
        "sparsity": args.sparsity,
        "first_layer": first_layer,
        "power_scale": args.power_scale,
        "delta_t": args.delta_t,
        "t_end_fraction": args.t_end_fraction,
        "small_dense_width": small_dense_width,
        "geometry": args.geometry,
    }
    data = {**settings, **report.to_dict()}
    if args.json == "-":
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    if args.json is not None:
        try:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2)
                handle.write("\n")
        except OSError as error:
            raise ValueError(f"--json: cannot write {args.json!r}: {error.strerror}") from None
    _print_table(report, settings)
    return 0


def _print_table(report, settings) -> None:
    head = f"{report.model}, method {report.method}, {report.multiplier:g}x training"
    if settings["small_dense_width"] is not None:
        head += f", width multiplier {settings['small_dense_width']:g}"
    elif settings["first_layer"] is not None:
        head += (f", {settings['distribution']} at sparsity {settings['sparsity']:g}, "
                 f"first layer {settings['first_layer']}")
    if report.method == "rigl":
        head += f", ΔT {settings['delta_t']}, T_end/T {settings['t_end_fraction']:g}"
    print(head)
    print(f"{'layer':<18} {'shape':<16} {'sparsity':>8} {'active':>10} {'size':>10} {'MFLOPs':>10} {'dense MFLOPs':>12}")
    for row in report.layers:
        shape = "x".join(map(str, row.shape))
        print(f"{row.name:<18} {shape:<16} {row.sparsity:>8.4f} {row.active:>10,d} {row.size:>10,d} "
              f"{row.flops / 1e6:>10.2f} {row.dense_flops / 1e6:>12.2f}")
    active = sum(row.active for row in report.layers)
    size = sum(row.size for row in report.layers)
    print(f"{'total':<18} {'':<16} {1 - active / size:>8.4f} {active:>10,d} {size:>10,d} "
          f"{report.inference_flops / 1e6:>10.2f} {report.dense_inference_flops / 1e6:>12.2f}")
    print(f"inference FLOPs per example: {report.inference_flops:.4g}  "
          f"({report.inference_flops_ratio:.4f}x dense {report.dense_inference_flops:.4g})")
    print(f"training FLOPs per example and step: {report.training_step_flops:.4g}  "
          f"(dense {report.dense_training_step_flops:.4g})")
    print(f"training FLOPs of the run relative to one dense run: {report.training_flops_ratio:.4f}x")
