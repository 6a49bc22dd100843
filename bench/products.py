"""The products of one training step, rigl_ref's kernels against oneMKL's, and the step budget they leave.

    python bench/products.py --json bench/results/products.json   # 90 / 95 / 99 %
    python bench/products.py --quick                               # 95 % only, fewer repeats

``bench/epoch.py`` asks rigl_ref to be 5x faster per step than dense training at 95 %. This script
measures, in one run on 1 thread, what that asks of the sparse products. For each layer of the epoch
benchmark's MLP (``784 - 1000 - 1000 - 10``, batch 100, the same uniform sparsity on every layer, ``N -
floor(S N)`` entries each, patterns drawn at random) and each product of a step:

* ``forward`` ``y = x @ W``; ``input_grad`` ``dx = dy @ W^T`` (not for the first layer, whose input needs
  none); ``weight_grad`` ``dW`` at the active entries only (SDDMM; dense: the whole ``x^T @ dy``);

it times these implementations (median of ``--repeats`` calls after one warm-up):

* ``rigl_ref`` / ``rigl_ref_fast``: the layer's own kernels (``csr_matmul`` on the cached transposed
  pattern with ``np.take(data, order)``, ``csr_matmul``, ``sddmm`` / ``sddmm_fast``); each product on its
  own, so for ``rigl_ref_fast`` past the first layer this is the two kernels that the layer has computed
  in one pass since 2026-12-08 (``sparse_linear_backward_fast``, 1.31-1.38x faster than the two:
  ``bench/kernels.py``'s ``backward_both`` rows), and ``rigl_ref_fast_products_s`` overstates them;
* ``onemkl``: torch's CSR tensors on the CPU, whose ``csr @ dense`` is oneMKL's sparse BLAS
  (``torch.__config__.show()`` names the oneMKL build), and ``torch.sparse.sampled_addmm`` for the SDDMM;
* ``dense``: torch's dense GEMMs of the same shapes (what the dense step computes).

It also runs the whole steps in the same process (``epoch.py``'s runners: dense torch's median step,
rigl_ref's mean step over a window holding ``steps // 100`` updates, i.e. amortised as in an epoch).
The summary, per sparsity: the 5x budget (dense step / 5), rigl_ref's step, the time its products take,
and ``best_products_s``, every product at the fastest of the sparse implementations, against the budget:
what would be left for everything else (activations, loss, optimizer, the mask updates) if rigl_ref's
products were as fast as the fastest library here. Needs torch (the ``diff`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np

if __package__ is None:  # run as a script from a checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib.py, epoch.py

import epoch  # noqa: E402
from benchlib import environment_record, median_seconds  # noqa: E402

from rigl_ref.kernels import csr_matmul, sddmm, sddmm_fast, transpose_pattern  # noqa: E402

BATCH = 100
WIDTHS = (784, 1000, 1000, 10)
SPARSE_IMPLS = ("rigl_ref", "rigl_ref_fast", "onemkl")
PRODUCTS = ("forward", "input_grad", "weight_grad")
TARGET = 5.0  # bench/epoch.py's target against the dense step at 95 %


def layer_problem(fan_in: int, fan_out: int, sparsity: float, rng) -> dict:
    """A uniformly random CSR pattern of ``N - floor(S N)`` entries (the epoch run's count), its transposed
    view, values, and feature-major activations ``XT`` (in, batch) and output gradients ``dYT`` (out, batch)."""
    n = fan_in * fan_out
    flat = np.sort(rng.choice(n, n - int(np.floor(sparsity * n)), replace=False))
    rows, cols = np.divmod(flat, fan_out)
    indptr = np.searchsorted(rows, np.arange(fan_in + 1)).astype(np.int32)
    indices = cols.astype(np.int32)
    return dict(indptr=indptr, indices=indices, data=rng.standard_normal(len(flat)).astype(np.float32),
                transposed=transpose_pattern(indptr, indices, fan_out), shape=(fan_in, fan_out),
                XT=rng.standard_normal((fan_in, BATCH)).astype(np.float32),
                dYT=rng.standard_normal((fan_out, BATCH)).astype(np.float32))


def rigl_ref_products(p: dict, weight_gradient) -> dict:
    t_indptr, t_indices, order = p["transposed"]
    return {
        "forward": lambda: csr_matmul(t_indptr, t_indices, np.take(p["data"], order), p["XT"]),
        "input_grad": lambda: csr_matmul(p["indptr"], p["indices"], p["data"], p["dYT"]),
        "weight_grad": lambda: weight_gradient(p["indptr"], p["indices"], p["XT"], p["dYT"]),
    }


def onemkl_products(torch, p: dict) -> dict:
    t_indptr, t_indices, order = p["transposed"]
    fan_in, fan_out = p["shape"]
    # the invariants are checked once here, outside every timed call (and torch then warns of nothing)
    weight = torch.sparse_csr_tensor(torch.from_numpy(p["indptr"]), torch.from_numpy(p["indices"]),
                                     torch.from_numpy(p["data"]), size=(fan_in, fan_out), check_invariants=True)
    weight_t = torch.sparse_csr_tensor(torch.from_numpy(t_indptr), torch.from_numpy(t_indices),
                                       torch.from_numpy(p["data"][order]), size=(fan_out, fan_in),
                                       check_invariants=True)
    XT, dYT = torch.from_numpy(p["XT"]), torch.from_numpy(p["dYT"])
    dY = dYT.T
    return {
        "forward": lambda: weight_t @ XT,
        "input_grad": lambda: weight @ dYT,
        "weight_grad": lambda: torch.sparse.sampled_addmm(weight, XT, dY, beta=0.0),
    }


def dense_products(torch, p: dict) -> dict:
    fan_in, fan_out = p["shape"]
    W = torch.randn(fan_in, fan_out)
    X, dY = torch.from_numpy(np.ascontiguousarray(p["XT"].T)), torch.from_numpy(np.ascontiguousarray(p["dYT"].T))
    XT = torch.from_numpy(p["XT"])  # already the contiguous (in, batch) factor of x^T @ dy
    return {"forward": lambda: X @ W, "input_grad": lambda: dY @ W.T, "weight_grad": lambda: XT @ dY}


def measure_products(torch, sparsity: float, repeats: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    records = []
    for index, (fan_in, fan_out) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        p = layer_problem(fan_in, fan_out, sparsity, rng)
        impls = {"rigl_ref": rigl_ref_products(p, sddmm), "rigl_ref_fast": rigl_ref_products(p, sddmm_fast),
                 "onemkl": onemkl_products(torch, p), "dense": dense_products(torch, p)}
        for product in PRODUCTS:
            if product == "input_grad" and index == 0:
                continue
            for impl, calls in impls.items():
                macs = BATCH * (fan_in * fan_out if impl == "dense" else len(p["indices"]))
                seconds = median_seconds(calls[product], repeats)
                records.append({"sparsity": sparsity, "layer": f"{fan_in}x{fan_out}", "nnz": len(p["indices"]),
                                "product": product, "impl": impl, "median_s": seconds,
                                "gmac_per_s": macs / seconds / 1e9})
    return records


def summarize(records: list[dict], steps: dict, dense_step_s: float) -> list[dict]:
    """Per sparsity: the budget, rigl_ref's steps, the products' sums per implementation, the best case."""
    rows = []
    for sparsity in sorted({r["sparsity"] for r in records}):
        mine = [r for r in records if r["sparsity"] == sparsity]
        row = {"sparsity": sparsity, "dense_step_s": dense_step_s, "budget_s": dense_step_s / TARGET,
               **{f"{kernels}_step_s": steps[sparsity, kernels] for kernels in ("exact", "fast")}}
        for impl in (*SPARSE_IMPLS, "dense"):
            row[f"{impl}_products_s"] = sum(r["median_s"] for r in mine if r["impl"] == impl)
        cases = {(r["layer"], r["product"]) for r in mine}
        row["best_products_s"] = sum(min(r["median_s"] for r in mine if (r["layer"], r["product"]) == case
                                         and r["impl"] in SPARSE_IMPLS) for case in cases)
        row["left_for_the_rest_s"] = row["budget_s"] - row["best_products_s"]
        row["fast_rest_s"] = row["fast_step_s"] - row["rigl_ref_fast_products_s"]
        rows.append(row)
    return rows


def _table(rows) -> str:
    ms = (lambda v: f"{1e3 * v:.2f}")
    out = [f"{'sparsity':>8} {'dense/5':>8} {'exact step':>10} {'fast step':>9} {'fast prod.':>10} "
           f"{'fast rest':>9} {'oneMKL prod.':>12} {'best prod.':>10} {'budget left':>11}   (ms)"]
    for r in rows:
        out.append(f"{r['sparsity']:>8} {ms(r['budget_s']):>8} {ms(r['exact_step_s']):>10} {ms(r['fast_step_s']):>9} "
                   f"{ms(r['rigl_ref_fast_products_s']):>10} {ms(r['fast_rest_s']):>9} "
                   f"{ms(r['onemkl_products_s']):>12} {ms(r['best_products_s']):>10} "
                   f"{ms(r['left_for_the_rest_s']):>11}")
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.99])
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20, help="steps before each timed window")
    parser.add_argument("--steps", type=int, default=300, help="timed window of each whole-step run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="95 %% only, 20 repeats, a window of 100 steps")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.sparsities, args.repeats, args.steps = [0.95], 20, 100
    try:
        import torch
    except ImportError:
        print("bench/products.py needs torch (pip install '.[diff]')", file=sys.stderr)
        return 2
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
    torch.set_num_threads(1)
    hidden = list(WIDTHS[1:-1])
    with threadpool_limits(1):
        records = [r for s in args.sparsities for r in measure_products(torch, s, args.repeats, args.seed)]
        dense_step_s = epoch._run_torch(hidden, None, args.warmup, args.steps)[0]
        steps = {(s, kernels): epoch._run_rigl_ref(hidden, s, args.warmup, args.steps, kernels)[1]
                 / epoch.STEPS_PER_EPOCH for s in args.sparsities for kernels in ("exact", "fast")}
    rows = summarize(records, steps, dense_step_s)
    for r in records:
        print(f"{r['sparsity']:>5} {r['layer']:>10} {r['product']:>11} {r['impl']:>13} "
              f"{1e3 * r['median_s']:8.3f} ms {r['gmac_per_s']:7.1f} GMAC/s")
    print(_table(rows))
    if args.json:
        environment = {**environment_record(), "torch": torch.__version__,
                       "torch_onemkl": next((line.strip() for line in torch.__config__.show().splitlines()
                                             if "Math Kernel Library" in line), "")}
        args.json.write_text(json.dumps({"environment": environment, "records": records, "summary": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
