"""``rigl-ref train``: run Algorithm 1 (or a baseline) and write a run directory.

Configuration precedence: the defaults of :class:`rigl_ref.train.config.RunConfig`, then ``--config
FILE.toml``, then ``--set KEY=VALUE`` pairs, then the named flags. ``--resume DIR`` continues the run in
DIR from its last checkpoint with DIR's own ``config.toml`` (no configuration flags allowed with it); it
refuses a ``config.toml`` edited since the checkpoint (naming the changed fields) unless
``--allow-config-change`` is given. An existing run directory is never overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import sys

from rigl_ref.train.config import CHOICES, RunConfig, config_from_dict, load_config, tomllib


def _one_of(name: str, help: str) -> dict:
    """A flag whose value must be one of ``CHOICES[name]``: RunConfig checks it, so a wrong value is a
    one-line error naming the flag's field and the choices (argparse ``choices`` would print its usage)."""
    return dict(metavar="{" + ",".join(CHOICES[name]) + "}", help=help)


# flag name -> RunConfig field, for the flags that set one field each
_FIELD_FLAGS = {
    "method": _one_of("method", "training method (default rigl)"),
    "sparsity": dict(type=float, help="overall sparsity S in [0, 1) (default 0.9)"),
    "distribution": _one_of("distribution", "per-layer sparsity distribution (default erk)"),
    "convention": _one_of("convention", "implementation conventions (default paper)"),
    "dataset": _one_of("dataset", "data set (default mnist-subset, embedded in the package)"),
    "data_dir": dict(metavar="DIR", help="directory holding the IDX files of mnist / fashion-mnist"),
    "model": _one_of("model", "network (default lenet-300-100)"),
    "init": _one_of("init", "weight initialisation: scaled (default; Glorot / sqrt(layer density)) or "
                    "glorot (dense fans, the official code)"),
    "augment_shift": dict(type=int, metavar="N", help="shift training images at random by up to N pixels "
                          "(default 2; 0 = none, the official code)"),
    "epochs": dict(type=int, help="passes over the training set"),
    "batch_size": dict(type=int, help="examples per batch"),
    "lr": dict(type=float, help="initial learning rate"),
    "lr_schedule": _one_of("lr_schedule", "learning-rate schedule (default cosine)"),
    "optimizer": _one_of("optimizer", "optimizer (default sgd with Nesterov momentum 0.9)"),
    "momentum": dict(type=float, help="SGD momentum"),
    "weight_decay": dict(type=float, help="L2 on active weights (biases too with --set decay_biases=true)"),
    "seed": dict(type=int, help="seed of every random choice (data order, masks, weights)"),
    "update_interval": dict(type=int, metavar="DT", help="ΔT: steps between mask updates (default 100)"),
    "drop_fraction": dict(type=float, metavar="ALPHA", help="α: initial drop fraction (default 0.3)"),
    "drop_schedule": _one_of("drop_schedule", "drop-fraction decay (default cosine; lr_scaled: TF2's default)"),
    "end_fraction": dict(type=float, help="T_end as a fraction of training (default 0.75)"),
    "checkpoint_interval": dict(type=int, metavar="N", help="checkpoint every N iterations"),
    "kernels": _one_of("kernels", "sparse backward kernels: exact (default; the same floats on every CPU) "
                       "or fast (reassociated, within stated bounds of exact; docs/performance.md)"),
}


def _hidden(text: str) -> list[int]:
    try:
        return [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise ValueError(f"--hidden takes comma-separated integers, got {text!r}") from None


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a sparse network (RigL, SET, SNFS, static, pruning, SNIP, dense, small-dense)",
        description="Train with Algorithm 1 of RigL or a baseline; writes config.toml, metrics.jsonl, "
        "summary.json, curves.png, connectivity.png and checkpoints into the output directory.",
    )
    parser.add_argument("--config", metavar="FILE.toml", help="start from this configuration file")
    parser.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its last checkpoint")
    parser.add_argument("--out", "-o", metavar="DIR", help="output directory (default runs/<method>-<model>-...)")
    parser.add_argument("--force", action="store_true", help="overwrite the results of an existing run in --out")
    parser.add_argument("--allow-config-change", action="store_true",
                        help="with --resume: continue even though config.toml differs from the checkpoint's "
                        "configuration (the change is recorded in metrics.jsonl)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="set any configuration key (TOML value), e.g. --set grow_batches=2")
    parser.add_argument("--hidden", metavar="W1,W2", help="hidden widths for --model mlp")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-memory-check", action="store_true",
                        help="start even if the up-front estimate of the peak memory exceeds what the machine "
                        "has available (same as RIGL_REF_SKIP_MEMORY_CHECK=1)")
    for name, options in _FIELD_FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), dest=name, **options)
    parser.set_defaults(run=run)


def _parse_overrides(pairs) -> dict:
    values = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {pair!r}")
        try:
            values[key.strip()] = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            values[key.strip()] = text  # a bare word is a string: --set dataset=mnist
    return values


def effective_config(args) -> RunConfig:
    """The configuration of a new run from the defaults, ``--config``, ``--set`` and flags."""
    config = load_config(args.config) if args.config else RunConfig()
    config = config_from_dict(_parse_overrides(args.overrides), base=config, source="--set")
    flags = {name: getattr(args, name) for name in _FIELD_FLAGS if getattr(args, name) is not None}
    if args.hidden is not None:
        flags["hidden"] = _hidden(args.hidden)
    return config_from_dict(flags, base=config, source="command-line flags")


def memory_hint(args) -> str:
    """What to shrink when a run does not fit in memory (``rigl_ref.cli.main`` prints it)."""
    if args.hidden is not None:
        return f"the hidden widths --hidden {args.hidden} are too large for this machine; choose smaller ones"
    return "the network is too large for this machine; choose a smaller --model or --hidden, or a smaller --batch-size"


def run(args) -> int:
    from rigl_ref.train.run import default_run_dir, resume_run, start_run

    progress = not args.no_progress
    if args.resume:
        given = [name for name in (*_FIELD_FLAGS, "hidden", "config", "out") if getattr(args, name) is not None]
        if given or args.overrides:
            raise ValueError(
                f"--resume continues a run with its own config.toml; drop {', '.join('--' + g for g in given) or '--set'}"
            )
        summary = resume_run(args.resume, progress=progress, out=sys.stdout,
                             allow_config_change=args.allow_config_change, check_memory=not args.no_memory_check)
    else:
        if args.allow_config_change:
            raise ValueError("--allow-config-change applies to --resume DIR only")
        config = effective_config(args)
        run_dir = args.out or default_run_dir(config)
        summary = start_run(config, run_dir, force=args.force, progress=progress, out=sys.stdout,
                            check_memory=not args.no_memory_check)
    return 0 if summary is not None else 1
