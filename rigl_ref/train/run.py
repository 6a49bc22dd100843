"""A run directory: start or resume a run, drive the loop, write every output file.

Files written into the run directory::

    config.toml           the effective configuration (written first; ``--resume`` reads it back)
    metrics.jsonl         one line per logged iteration (see ``rigl_ref.train.metrics``)
    checkpoint.json/.npz  the latest checkpoint (atomic; every ``checkpoint_interval`` iterations and at the end)
    summary.json          final and best test accuracy, per-layer sparsity and nnz, FLOPs, wall time
    curves.png, connectivity.png

A directory that already holds a run is never overwritten unless ``force=True`` (then only the files
above are replaced, all or none: they are first moved aside together, and put back if one cannot be).
Every checkpoint records the configuration and its fingerprint (``config_fingerprint``); resuming refuses
a ``config.toml`` that no longer matches it, naming the changed fields, unless ``allow_config_change=True``
(then the change is recorded as a ``config_change`` line of ``metrics.jsonl``). A NaN/Inf loss stops the run with :class:`TrainingDiverged`; the last checkpoint
written before it is kept as it was.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from rigl_ref.train.checkpoint import RECORD, has_checkpoint, load_checkpoint, save_checkpoint
from rigl_ref.train.config import (RunConfig, config_changes, config_fingerprint, config_to_toml, load_config,
                                   save_config)
from rigl_ref.train.files import write_atomic
from rigl_ref.train.loop import Trainer, TrainingDiverged
from rigl_ref.train.metrics import MetricsLog, read_metrics, truncate_metrics
from rigl_ref.train.plots import plot_connectivity, plot_curves
from rigl_ref.train.setup import load_data
from rigl_ref.train.summary import make_summary

RUN_FILES = ("config.toml", "metrics.jsonl", "summary.json", "curves.png", "connectivity.png", RECORD)


def default_run_dir(config: RunConfig) -> Path:
    """``runs/<method>-<model>-<dataset>-s<sparsity>-seed<seed>``."""
    return Path("runs") / f"{config.method}-{config.model}-{config.dataset}-s{config.sparsity:g}-seed{config.seed}"


def _prepare_new_dir(run_dir: Path, force: bool) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"output directory {str(run_dir)!r} exists and is not a directory")
    existing = [name for name in RUN_FILES if (run_dir / name).exists()] if run_dir.is_dir() else []
    if existing and not force:
        raise ValueError(
            f"{str(run_dir)!r} already holds a run ({', '.join(existing)}); use --resume {run_dir} to continue "
            f"it, --force to overwrite its results, or --out to choose another directory"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    _remove_all_or_none([run_dir / name for name in existing] + sorted(run_dir.glob("checkpoint-*.npz")), run_dir)


def _remove_all_or_none(paths: list[Path], run_dir: Path) -> None:
    """Delete ``paths`` (files of ``run_dir``) or, if one of them cannot be moved, none of them: each is
    renamed into a fresh hidden folder first, and the folder is deleted only once all are in it."""
    if not paths:
        return
    try:
        aside = Path(tempfile.mkdtemp(dir=run_dir, prefix=".replaced-"))
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(run_dir)) from None
    moved = []
    try:
        for path in paths:
            path.rename(aside / path.name)
            moved.append(path)
    except OSError as error:
        for path in reversed(moved):
            (aside / path.name).rename(path)
        aside.rmdir()
        raise type(error)(error.errno, error.strerror, str(error.filename)) from None
    shutil.rmtree(aside)


def start_run(config: RunConfig, run_dir, *, force: bool = False, progress: bool = True, out=sys.stdout,
              check_memory: bool = True, on_checkpoint=None) -> dict:
    """Train a new run in ``run_dir``; return the summary. ``check_memory=False`` skips the up-front
    memory estimate (``rigl_ref.train.memory``); ``on_checkpoint(iteration)``, if given, is called after
    each checkpoint is committed."""
    run_dir = Path(run_dir)
    trainer = Trainer(config, load_data(config), check_memory=check_memory)  # fail on bad data or config before touching the directory
    _prepare_new_dir(run_dir, force)
    save_config(config, run_dir / "config.toml")
    print(f"# rigl-ref train -> {run_dir}\n# effective configuration:\n{config_to_toml(config)}", file=out)
    return _drive(trainer, run_dir, progress=progress, out=out, elapsed=0.0, on_checkpoint=on_checkpoint)


def resume_run(run_dir, *, allow_config_change: bool = False, progress: bool = True, out=sys.stdout,
               check_memory: bool = True, on_checkpoint=None) -> dict:
    """Continue the run in ``run_dir`` from its checkpoint; the result equals an uninterrupted run's.
    A ``config.toml`` changed since the checkpoint is refused unless ``allow_config_change``.
    ``on_checkpoint`` as in :func:`start_run`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    config = load_config(run_dir / "config.toml")
    if not has_checkpoint(run_dir):
        raise ValueError(f"{str(run_dir)!r} has no checkpoint to resume from (no {RECORD})")
    arrays, meta = load_checkpoint(run_dir)
    changes = _config_changes(config, meta, run_dir, allow=allow_config_change)
    trainer = Trainer(config, load_data(config), check_memory=check_memory)
    try:
        trainer.load_state(arrays, meta)
        elapsed = float(meta.get("elapsed", 0.0))
    except (KeyError, TypeError, IndexError, ValueError) as error:
        if changes:
            raise ValueError(f"the checkpoint in {str(run_dir)!r} does not fit the edited configuration "
                             f"({_describe(changes)}): {error}") from None
        raise ValueError(f"corrupt checkpoint in {str(run_dir)!r}: {error}") from None
    truncate_metrics(run_dir / "metrics.jsonl", trainer.iteration)
    print(f"# rigl-ref train: resuming {run_dir} at iteration {trainer.iteration} (step {trainer.step})", file=out)
    if changes is not None:
        with MetricsLog(run_dir / "metrics.jsonl") as log:
            log.write({"iteration": trainer.iteration, "step": trainer.step,
                       "epoch": round(trainer.iteration / trainer.per_epoch, 6), "config_change": changes})
        print(f"# configuration changed since the checkpoint (--allow-config-change): {_describe(changes)}", file=out)
    return _drive(trainer, run_dir, progress=progress, out=out, elapsed=elapsed, on_checkpoint=on_checkpoint)


def _describe(changes: dict) -> str:
    return ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changes.items()) or "fields unknown"


def _config_changes(config: RunConfig, meta: dict, run_dir: Path, *, allow: bool) -> dict | None:
    """``None`` if ``config`` is the configuration the checkpoint was written under; else the changed
    fields ``{name: [old, new]}`` when ``allow``, and a ``ValueError`` naming them when not."""
    if meta.get("config_fingerprint") == config_fingerprint(config):
        return None
    saved = meta.get("config")
    if "config_fingerprint" not in meta:
        what = "the checkpoint records no configuration fingerprint"
        changes = {}
    elif not isinstance(saved, dict):
        what = "the checkpoint records a fingerprint but no configuration"
        changes = {}
    else:
        changes = {name: list(pair) for name, pair in config_changes(saved, config).items()}
        if not changes and written_by_older_version(saved, meta["config_fingerprint"], config):
            return None  # only fields added to rigl_ref since, all at their defaults: the same run
        what = f"config.toml changed since the checkpoint: {_describe(changes)}"
    if not allow:
        raise ValueError(f"cannot resume {str(run_dir)!r}: {what}; restore config.toml, or pass "
                         f"--allow-config-change to continue under the edited configuration")
    return changes


def written_by_older_version(saved: dict, fingerprint: str, config: RunConfig) -> bool:
    """Whether ``saved`` (with its ``fingerprint``) is a configuration written by an older rigl_ref: its
    fields are a strict subset of today's, and the fingerprint is that of ``saved`` itself (not a
    damaged record)."""
    return set(saved) < set(config.to_dict()) and config_fingerprint(saved) == fingerprint


def _checkpoint(trainer: Trainer, run_dir: Path, elapsed: float) -> None:
    arrays, meta = trainer.state()
    meta["elapsed"] = elapsed
    meta["config"] = trainer.config.to_dict()
    meta["config_fingerprint"] = config_fingerprint(trainer.config)
    save_checkpoint(run_dir, arrays, meta, tag=trainer.iteration)


def _drive(trainer: Trainer, run_dir: Path, *, progress: bool, out, elapsed: float, on_checkpoint=None) -> dict:
    """Train to the end with BLAS limited to ``blas_threads`` (one thread was 14x faster than two for the
    784x300 products on this shared 2-core machine, and a fixed thread count keeps sums reproducible).
    NumPy's overflow warnings are silenced: the loop checks every loss and stops with one message."""
    with threadpool_limits(limits=trainer.config.blas_threads or None, user_api="blas"), \
            np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _train_to_end(trainer, run_dir, progress=progress, out=out, elapsed=elapsed,
                             on_checkpoint=on_checkpoint)


def _train_to_end(trainer: Trainer, run_dir: Path, *, progress: bool, out, elapsed: float,
                  on_checkpoint=None) -> dict:
    config = trainer.config
    started = time.perf_counter() - elapsed
    bar = tqdm(total=trainer.total, initial=trainer.progress(), disable=not progress, unit="step",
               dynamic_ncols=True, file=sys.stderr)
    last_tick = time.perf_counter()
    with MetricsLog(run_dir / "metrics.jsonl") as log:
        while not trainer.done:
            try:
                record = trainer.train_iteration()
            except TrainingDiverged as error:
                bar.close()
                kept = f"the last good checkpoint is kept in {run_dir}" if has_checkpoint(run_dir) else "no checkpoint was written yet"
                raise TrainingDiverged(f"{error}; training stopped, {kept}") from None
            if trainer.should_evaluate():
                record["test_loss"], record["test_accuracy"] = trainer.evaluate()
                if trainer.validation is not None:
                    record["validation_loss"], record["validation_accuracy"] = trainer.evaluate_validation()
            if (trainer.iteration % config.log_interval == 0 or record.get("mask_update")
                    or "test_accuracy" in record or trainer.done):
                log.write(record)
            if trainer.iteration % config.checkpoint_interval == 0 or trainer.done:
                _checkpoint(trainer, run_dir, time.perf_counter() - started)
                if on_checkpoint is not None:
                    on_checkpoint(trainer.iteration)
            now = time.perf_counter()
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['train_accuracy']:.2f}",
                            drop=f"{record['drop_fraction']:.3f}",
                            ms_step=f"{1000 * (now - last_tick):.1f}", refresh=False)
            last_tick = now
            bar.update(trainer.progress() - bar.n)
    bar.close()
    wall = time.perf_counter() - started
    summary = make_summary(trainer, wall)
    write_atomic(run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
    plots = render_plots(run_dir)
    print(summary_text(summary) + "\n" + plots, file=out)
    return summary


CONV_FIRST_LAYER = (
    "connectivity.png is not drawn: the first layer is a convolution, whose kernels every pixel shares, so "
    "each pixel away from the border has the same count of active outgoing connections (the layer's nnz) "
    "and the per-pixel picture says nothing about which pixels matter; it is drawn for MLPs"
)


def render_plots(run_dir) -> str:
    """(Re)draw ``curves.png`` and ``connectivity.png`` from the run's files; return one line naming the
    plots drawn, and one saying why ``connectivity.png`` is not drawn when it is not."""
    run_dir = Path(run_dir)
    records = read_metrics(run_dir / "metrics.jsonl")
    config = load_config(run_dir / "config.toml")
    title = f"{config.method} {config.model} {config.dataset} S={config.sparsity:g} {config.distribution}"
    plot_curves(records, run_dir / "curves.png", title=title)
    drawn, reason = [run_dir / "curves.png"], None
    arrays, _ = load_checkpoint(run_dir)
    initial = arrays.get("connectivity/initial")
    if initial is None:
        reason = CONV_FIRST_LAYER
    elif initial.size != 28 * 28:
        reason = f"connectivity.png is not drawn: the input has {initial.size} features, not a 28x28 image"
    else:
        plot_connectivity(initial, arrays["connectivity/final"], run_dir / "connectivity.png",
                          title=f"input layer, {title}")
        drawn.append(run_dir / "connectivity.png")
    return f"  plots: {', '.join(map(str, drawn))}" + (f"\n  {reason}" if reason else "")


def summary_text(summary: dict) -> str:
    """A few readable lines of a ``summary.json``."""
    training = summary["flops"]["training_flops_ratio"]
    training = "not modelled" if training is None else f"{training:.3f}x"
    lines = [
        f"{summary['method']} on {summary['model']} / {summary['dataset']}: test accuracy "
        f"final {summary['final_test_accuracy']:.4f}, best {summary['best_test_accuracy']:.4f}",
        f"  sparsity {summary['overall_sparsity']:.4f} ({summary['total_nnz']} of {summary['total_weights']} weights)"
        f"; FLOPs vs dense: training {training}, inference {summary['flops']['inference_flops_ratio']:.3f}x",
        f"  {summary['steps']} steps ({summary['iterations']} batches) in {summary['wall_time_seconds']:.1f} s",
    ]
    for name, layer in summary["layers"].items():
        lines.append(f"  {name:8s} {str(tuple(layer['shape'])):18s} nnz {layer['nnz']:8d}  sparsity {layer['sparsity']:.4f}")
    return "\n".join(lines)
