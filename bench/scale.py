"""Scale benchmark: RigL through the real Trainer on an MLP with a W x W hidden layer, truly sparse.

    python bench/scale.py --width 65536 --sparsity 0.999 --steps 12 --json scale.json
    python bench/scale.py --find-largest --sparsity 0.9999 --budget-gib 20 --json largest.json
    python bench/scale.py --width 65536 --sparsity 0.999 --methods rigl gse --json scale_gse.json

The network is ``784 - W - W - 10`` (uniform sparsity S on every layer, so the W x W layer keeps
``round((1 - S) W^2)`` connections) trained by ``rigl_ref.train.loop.Trainer`` (RigL, paper convention,
SGD with momentum) on the synthetic Gaussian-blob data (no download), batch ``--batch-size``, with an update
every ``--update-interval`` iterations (default: 4 updates in ``--steps``). Each measurement runs in a fresh
subprocess so that its peak resident set (``VmHWM`` of ``/proc/self/status``) is its own. Records:

``width``, ``sparsity``, ``nnz`` (all layers), ``steps``, ``peak_rss_bytes``, ``median_step_s`` (ordinary
iterations), ``median_grow_s`` (the drop/grow/rebuild of an update iteration, ``method.update``),
``dense_gemm_estimate_s``: what the three dense ``batch x W x W`` products of one ordinary step of the
W x W layer would take at the float32 GEMM rate measured on this machine in the same run (a 1024^3
product), i.e. the dense baseline, which at W = 65 536 cannot be allocated (16 GiB per matrix).

``--find-largest`` doubles W from ``--width`` while a run fits in ``--budget-gib`` (the trainer's up-front
memory estimate refuses a run that would not fit, and so stops the search) and records every run.
``--methods rigl gse`` measures exact RigL and GSE (sampled growth, ``--sample-factor`` gamma) one after
the other at each width, in the same invocation, so their update times compare (each record has ``method``).
Threads: 1 (BLAS and Numba), as in the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if __package__ is None:  # run as a script from a checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import environment_record  # noqa: E402


def _vm_hwm() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def gemm_rate(size: int = 1024) -> float:
    """float32 multiply-adds per second of one ``size^3`` product (median of 5)."""
    a = np.ones((size, size), np.float32)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - start)
    return size**3 / float(np.median(times))


def measure(width: int, sparsity: float, steps: int, batch_size: int, update_interval: int | None,
            method: str = "rigl", sample_factor: float = 1.0) -> dict:
    """One run in this process (the child side)."""
    from rigl_ref.data import synthetic
    from rigl_ref.train.config import RunConfig
    from rigl_ref.train.loop import Trainer

    data = synthetic(n_train=max(batch_size * 4, 128), n_test=16)
    interval = update_interval or max(1, steps // 4)
    per_epoch = data.n_train // batch_size
    config = RunConfig(dataset="synthetic", model="mlp", hidden=[width, width], sparsity=sparsity,
                       distribution="uniform", method=method, gse_sample_factor=sample_factor,
                       batch_size=batch_size, epochs=-(-steps // per_epoch) + 1, update_interval=interval,
                       end_fraction=1.0, seed=0)
    trainer = Trainer(config, data)
    grow_times = []
    real_update = trainer.method.update

    def timed_update(*args):
        start = time.perf_counter()
        result = real_update(*args)
        grow_times.append(time.perf_counter() - start)
        return result

    trainer.method.update = timed_update
    step_times = []
    for _ in range(steps):
        start = time.perf_counter()
        record = trainer.train_iteration()
        if not record.get("mask_update"):
            step_times.append(time.perf_counter() - start)
    rate = gemm_rate()
    return {
        "method": method, "sample_factor": sample_factor if method == "gse" else None,
        "width": width, "sparsity": sparsity, "nnz": int(sum(trainer.model.nnz().values())), "steps": steps,
        "batch_size": batch_size, "update_interval": interval, "updates": len(grow_times),
        "peak_rss_bytes": _vm_hwm(),
        "median_step_s": float(np.median(step_times[1:] or step_times)),
        "median_grow_s": float(np.median(grow_times)) if grow_times else None,
        "dense_gemm_estimate_s": 3 * batch_size * width * width / rate,
        "dense_weight_bytes": 4 * width * width,
    }


def run_child(width, sparsity, steps, batch_size, update_interval, method="rigl", sample_factor=1.0) -> dict | str:
    """:func:`measure` in a fresh process; the record, or the one-line refusal of the memory check."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    args = [sys.executable, __file__, "--child", "--width", str(width), "--sparsity", str(sparsity),
            "--steps", str(steps), "--batch-size", str(batch_size), "--methods", method,
            "--sample-factor", str(sample_factor)]
    if update_interval:
        args += ["--update-interval", str(update_interval)]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return (done.stderr.strip().splitlines() or ["no output"])[-1]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(records: list[dict]) -> str:
    head = f"{'method':>6} {'width':>8} {'sparsity':>9} {'nnz':>12} {'peak RSS':>10} {'step s':>9} {'grow s':>9} {'dense GEMM s':>13} {'dense/sparse':>12}"
    rows = [head]
    for r in records:
        ratio = r["dense_gemm_estimate_s"] / r["median_step_s"]
        rows.append(f"{r['method']:>6} {r['width']:>8} {r['sparsity']:>9} {r['nnz']:>12} {r['peak_rss_bytes'] / 2**30:>8.2f}Gi "
                    f"{r['median_step_s']:>9.4f} {r['median_grow_s'] or float('nan'):>9.3f} "
                    f"{r['dense_gemm_estimate_s']:>13.3f} {ratio:>11.1f}x")
    return "\n".join(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=65536)
    parser.add_argument("--sparsity", type=float, default=0.999)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--update-interval", type=int, default=None)
    parser.add_argument("--methods", nargs="+", choices=["rigl", "gse"], default=["rigl"])
    parser.add_argument("--sample-factor", type=float, default=1.0, help="GSE: gamma, candidates per active connection")
    parser.add_argument("--find-largest", action="store_true")
    parser.add_argument("--budget-gib", type=float, default=20.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            print(json.dumps(measure(args.width, args.sparsity, args.steps, args.batch_size, args.update_interval,
                                     args.methods[0], args.sample_factor)))
        return 0
    records, width = [], args.width
    while True:
        results = [run_child(width, args.sparsity, args.steps, args.batch_size, args.update_interval, method,
                             args.sample_factor) for method in args.methods]
        refused = next((r for r in results if isinstance(r, str)), None)
        if refused is not None:
            print(f"width {width}: not run: {refused}")
            if not records:
                return 2
            break
        print(_table(results) if not records else "\n".join(_table(results).splitlines()[1:]), flush=True)
        records += results
        result = max(results, key=lambda r: r["peak_rss_bytes"])
        if not args.find_largest or result["peak_rss_bytes"] * 4 > args.budget_gib * 2**30:
            break  # doubling W at fixed sparsity roughly quadruples nnz and memory
        width *= 2
    if args.json:
        args.json.write_text(json.dumps({"environment": environment_record(), "records": records}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
