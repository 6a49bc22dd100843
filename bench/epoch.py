"""Per-epoch benchmark: rigl_ref's RigL against rigl-torch 0.5.2 and dense training, one thread each.

    python bench/epoch.py --json bench/results/epoch.json     # 90 / 95 / 99 %, 3 interleaved rounds
    python bench/epoch.py --quick                             # 95 % only, 1 round, a short window

Network ``784 - 1000 - 1000 - 10`` (``--hidden``), batch 100, SGD with Nesterov momentum 0.9, lr 0.1, on
the embedded MNIST subset (no download), RigL every ΔT = 100 steps (drop fraction 0.3), ERK-free: the same
uniform sparsity on every layer for rigl_ref, so each layer keeps ``N - floor(S N)`` connections. Four
implementations, each in a fresh subprocess (its own peak resident set, ``VmHWM``):

* ``rigl_ref``: ``Trainer`` (truly sparse CSR layers, Numba kernels), method ``rigl``, exact kernels;
* ``rigl_ref_fast``: the same with ``kernels = "fast"`` (the weight gradient's batch sums reassociated,
  within the bound of ``rigl_ref.kernels.fast``; everything else as ``rigl_ref``);
* ``rigl_torch``: a torch MLP driven by rigl-torch's ``RigLScheduler`` (dense weights and masks, the
  scheduler's backward hooks; its own layer rule, first layer dense, which does not change its cost:
  every layer is a dense GEMM whatever its mask);
* ``torch_dense``: the same torch MLP without the scheduler (the dense baseline);
* ``rigl_ref_dense``: rigl_ref's ``dense`` method (BLAS layers).

Each child runs ``--warmup`` steps, then a window of ``--steps`` steps that contains ``steps // ΔT``
mask updates. Records: ``impl``, ``sparsity`` (None for the dense ones), ``median_step_s`` (ordinary
steps of the window), ``epoch_s`` (the window's mean step time x the 600 steps of a full MNIST epoch at
batch 100, so the updates are amortised as in training), ``peak_rss_bytes``, ``threads`` (BLAS / Numba /
torch threads the child had), ``round``. The rounds interleave the implementations (every round runs all
of them once) so that machine noise spreads over all; the summary table gives the median over rounds and
ratios computed within the run: rigl-torch / rigl_ref, dense torch / rigl_ref and the fastest dense
epoch of the run (dense torch or rigl_ref dense, whichever was faster) / rigl_ref, per epoch (for both
kernel modes).
Needs the ``diff`` extra for the torch rows (``pip install '.[diff]'``); without it they are skipped.
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

STEPS_PER_EPOCH = 600  # full MNIST, 60 000 examples at batch 100
DELTA_T = 100
IMPLS = ("rigl_ref", "rigl_ref_fast", "rigl_torch", "torch_dense", "rigl_ref_dense")
SPARSE_IMPLS = ("rigl_ref", "rigl_ref_fast", "rigl_torch")
OURS = ("rigl_ref", "rigl_ref_fast")  # the rows that get the ratios


def _vm_hwm() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def _config(hidden, sparsity, method, steps, kernels="exact"):
    from rigl_ref.train.config import RunConfig

    return RunConfig(dataset="mnist-subset", model="mlp", hidden=list(hidden), method=method,
                     sparsity=sparsity, distribution="uniform", batch_size=100, epochs=steps // 100 + 2,
                     update_interval=DELTA_T, end_fraction=1.0, augment_shift=0, lr=0.1, lr_schedule="constant",
                     momentum=0.9, nesterov=True, weight_decay=0.0, log_interval=10**6,
                     checkpoint_interval=10**6, blas_threads=1, seed=0, kernels=kernels)


def _timed(step, warmup: int, steps: int, is_update):
    for _ in range(warmup):
        step()
    times, ordinary = [], []
    for index in range(steps):
        start = time.perf_counter()
        step()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        if not is_update(index):
            ordinary.append(elapsed)
    return float(np.median(ordinary)), float(np.mean(times)) * STEPS_PER_EPOCH


def _run_rigl_ref(hidden, sparsity, warmup, steps, kernels="exact"):
    from rigl_ref.data import load_dataset
    from rigl_ref.train.loop import Trainer

    method = "rigl" if sparsity is not None else "dense"
    trainer = Trainer(_config(hidden, sparsity or 0.0, method, warmup + steps, kernels), load_dataset("mnist-subset"))
    last = {}

    def step():
        last["record"] = trainer.train_iteration()

    updates = []

    def is_update(index):  # called right after each timed step: that step's metrics record
        updates.append(bool(last["record"].get("mask_update")))
        return updates[-1]

    median, epoch = _timed(step, warmup, steps, is_update)
    return median, epoch, sum(updates)


def _torch_net(torch, hidden):
    widths = [784, *hidden, 10]
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out))
        if index < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def _run_torch(hidden, sparsity, warmup, steps):
    import torch

    from rigl_ref.data import batches, load_dataset

    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = load_dataset("mnist-subset")
    stream = [(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
              for x, y in batches(data.train_x, data.train_y, 100, seed=0, flatten=True, mean=0.1307, std=0.3081)]
    net = _torch_net(torch, hidden)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    scheduler = None
    if sparsity is not None:
        from rigl_ref.interop.rigl_torch_import import import_rigl_torch

        scheduler = import_rigl_torch().RigLScheduler(
            net, optimizer, dense_allocation=1.0 - sparsity, T_end=warmup + steps + 1, delta=DELTA_T, alpha=0.3,
            ignore_linear_layers=False)
    position = {"i": 0}
    updated = []

    def step():
        x, y = stream[position["i"] % len(stream)]
        position["i"] += 1
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        if scheduler is None or scheduler():
            optimizer.step()
            updated.append(False)
        else:
            updated.append(True)

    def is_update(index):
        return updated[-1]

    median, epoch = _timed(step, warmup, steps, is_update)
    return median, epoch, sum(updated[warmup:])


def measure(impl: str, hidden, sparsity, warmup: int, steps: int) -> dict:
    """One implementation in this process (the child side)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(1):
        if impl.startswith("rigl_ref"):
            kernels = "fast" if impl == "rigl_ref_fast" else "exact"
            median, epoch, updates = _run_rigl_ref(hidden, sparsity, warmup, steps, kernels)
        else:
            median, epoch, updates = _run_torch(hidden, sparsity, warmup, steps)
        threads = {"blas": [info["num_threads"] for info in threadpool_info()]}
    import numba

    threads["numba"] = numba.get_num_threads()
    if impl.startswith("torch") or impl == "rigl_torch":
        import torch

        threads["torch"] = torch.get_num_threads()
    return {"impl": impl, "sparsity": sparsity, "hidden": list(hidden), "median_step_s": median, "epoch_s": epoch,
            "updates_in_window": updates, "steps": steps, "peak_rss_bytes": _vm_hwm(), "threads": threads}


def run_child(impl, hidden, sparsity, warmup, steps) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    args = [sys.executable, __file__, "--child", impl, "--hidden", *map(str, hidden), "--warmup", str(warmup),
            "--steps", str(steps), "--sparsity", "none" if sparsity is None else str(sparsity)]
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} at sparsity {sparsity} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary_rows(records: list[dict]) -> list[dict]:
    """Median over rounds per (impl, sparsity), and the ratios against rigl_ref at each sparsity."""
    keys = sorted({(r["impl"], r["sparsity"]) for r in records}, key=lambda k: (IMPLS.index(k[0]), k[1] or 0.0))

    def median(impl, sparsity, field):
        values = [r[field] for r in records if r["impl"] == impl and r["sparsity"] == sparsity]
        return float(np.median(values)) if values else None

    rows = []
    for impl, sparsity in keys:
        row = {"impl": impl, "sparsity": sparsity, "median_step_s": median(impl, sparsity, "median_step_s"),
               "epoch_s": median(impl, sparsity, "epoch_s"), "peak_rss_bytes": median(impl, sparsity, "peak_rss_bytes")}
        if impl in OURS:
            ours = row["epoch_s"]
            peer = median("rigl_torch", sparsity, "epoch_s")
            dense = median("torch_dense", None, "epoch_s")
            denses = [e for e in (dense, median("rigl_ref_dense", None, "epoch_s")) if e is not None]
            row["rigl_torch_over_rigl_ref"] = None if peer is None else peer / ours
            row["torch_dense_over_rigl_ref"] = None if dense is None else dense / ours
            row["fastest_dense_over_rigl_ref"] = min(denses) / ours if denses else None
            row["ideal"] = 1.0 / (1.0 - sparsity)
        rows.append(row)
    return rows


def _table(rows) -> str:
    out = [f"{'impl':>15} {'sparsity':>8} {'step ms':>9} {'epoch s':>8} {'peak RSS MiB':>12} {'rigl-torch/ours':>15} "
           f"{'dense torch/ours':>16} {'fastest dense/ours':>18} {'ideal':>7}"]
    for r in rows:
        ratio = (lambda v: f"{v:.2f}x" if v is not None else "-")
        out.append(f"{r['impl']:>15} {('-' if r['sparsity'] is None else r['sparsity']):>8} "
                   f"{1e3 * r['median_step_s']:>9.2f} {r['epoch_s']:>8.2f} {r['peak_rss_bytes'] / 2**20:>12.0f} "
                   f"{ratio(r.get('rigl_torch_over_rigl_ref')) if r['impl'] in OURS else '':>15} "
                   f"{ratio(r.get('torch_dense_over_rigl_ref')) if r['impl'] in OURS else '':>16} "
                   f"{ratio(r.get('fastest_dense_over_rigl_ref')) if r['impl'] in OURS else '':>18} "
                   f"{(str(round(r['ideal'])) + 'x') if r['impl'] in OURS else '':>7}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.99])
    parser.add_argument("--hidden", type=int, nargs="+", default=[1000, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--steps", type=int, default=200, help="timed window (contains steps // 100 updates)")
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--quick", action="store_true", help="95 %% only, 1 round, window of 100 steps")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--sparsity", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        sparsity = None if args.sparsity == "none" else float(args.sparsity)
        print(json.dumps(measure(args.child, args.hidden, sparsity, args.warmup, args.steps)))
        return 0
    if args.quick:
        args.sparsities, args.rounds, args.steps = [0.95], 1, 100
    from rigl_ref.interop.rigl_torch_import import rigl_torch_available

    impls = [i for i in args.impls if rigl_torch_available() or not (i.startswith("torch") or i == "rigl_torch")]
    skipped = sorted(set(args.impls) - set(impls))
    if skipped:
        print(f"skipped (pip install '.[diff]' for torch and rigl-torch): {', '.join(skipped)}")
    records = []
    for round_index in range(args.rounds):
        for impl in impls:
            for sparsity in (args.sparsities if impl in SPARSE_IMPLS else [None]):
                record = run_child(impl, args.hidden, sparsity, args.warmup, args.steps)
                record["round"] = round_index
                records.append(record)
                print(f"round {round_index} {impl:>15} {sparsity if sparsity is not None else '-':>6}: "
                      f"{1e3 * record['median_step_s']:.2f} ms/step, {record['epoch_s']:.2f} s/epoch", flush=True)
    rows = summary_rows(records)
    print(_table(rows))
    if args.json:
        args.json.write_text(json.dumps({"environment": environment_record(), "records": records, "summary": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
