"""Kernel benchmark of the truly sparse substrate (issue 4): rigl_ref's Numba kernels vs scipy.sparse vs dense
NumPy BLAS, for the forward (``y = x @ W``; ``rigl_ref`` is the layer's path, ``csr_matmul`` on the
cached ``transpose_pattern`` view with ``np.take(data, order)`` per call, ``rigl_ref_scatter`` the one-off
``csr_transposed_matmul``, same values bit for bit), the input gradient (``dx = dy @ W^T``) and the weight gradient
(SDDMM at the active entries, exact and ``kernels = "fast"``'s ``sddmm_fast``; dense: the full
``x^T @ dy``), the fast mode's backward of a layer whose input needs a gradient (``backward_both``:
``sparse_linear_backward_fast`` in one pass against ``csr_matmul`` plus ``sddmm_fast``), plus RigL's grow-score top-k against one dense
``x^T @ dy`` GEMM with the peak extra memory of each.

    python bench/kernels.py                 # full table (a few minutes on 1 thread; run from the repo root
                                            # or with rigl_ref installed)
    python bench/kernels.py --quick         # under a minute
    python bench/kernels.py --json out.json # also write the records

Defaults to 1 thread for BLAS (threadpoolctl) and Numba (2 threads under contention were measured 10-100x
slower on the 2-core machine). Times are medians of ``--repeats``
runs after one warm-up call. GFLOP/s count 2*batch*nnz for sparse and 2*batch*in*out for dense products.
Peak extra memory: the dense GEMM's is measured with tracemalloc (NumPy reports its allocations to it); the
grow top-k's NumPy buffers (outputs included) are measured the same way, plus an explicit sum of the arrays
it allocates inside Numba (``grow_extra_bytes``); ``output_bytes`` is the part its two outputs take.
"""

from __future__ import annotations

import argparse
import json
import sys
import tracemalloc
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

if __package__ is None:  # run as a script from a checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib.py, shared by the bench scripts

from benchlib import environment_record, median_seconds  # noqa: E402

from rigl_ref.kernels import (
    csr_matmul,
    csr_transposed_matmul,
    grow_topk,
    sddmm,
    sddmm_fast,
    sparse_linear_backward_fast,
    transpose_pattern,
)
from rigl_ref.sparse import CSRWeight
from rigl_ref.sparse_training.csr_update import GROW_BLOCK

LAYERS = ((784, 300), (4096, 4096))
SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.99)
BATCH = 256
GROW_FRACTION = 0.3  # k = drop fraction * nnz, the paper's alpha
BLOCK_ROWS, BLOCK_COLS = GROW_BLOCK



def random_weight(rows, cols, sparsity, rng):
    """A uniformly random pattern with exactly round((1 - sparsity) * rows * cols) entries."""
    nnz = int(round((1 - sparsity) * rows * cols))
    mask = np.zeros(rows * cols, bool)
    mask[rng.choice(rows * cols, nnz, replace=False)] = True
    return CSRWeight.from_dense(mask.reshape(rows, cols), rng.standard_normal((rows, cols)))


def grow_extra_bytes(xt, dyt, ip, ix, k):
    """Peak extra memory of one grow_topk call: tracemalloc's peak (the NumPy buffers: the rank-key buffer
    that becomes the flat-index output, the gradient output, one GEMM tile, the tile's candidate columns and
    values, the sampled block of the first cutoff, the per-row cursor) plus the arrays Numba allocates
    outside Python's allocator, summed explicitly (the two norm vectors; inside the per-tile SDDMM its
    output for at most one tile, its per-row cursor and its 4 x 16 accumulators)."""
    tracemalloc.start()
    grow_topk(xt, dyt, ip, ix, k, np.float32(1), BLOCK_ROWS, BLOCK_COLS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    numba_arrays = (xt.shape[0] + dyt.shape[0]) * 8 + BLOCK_ROWS * BLOCK_COLS * xt.itemsize + BLOCK_ROWS * 8 + 64 * xt.itemsize
    return peak + numba_arrays


def bench_layer(rows, cols, sparsity, repeats, rng, batch=BATCH):
    w = random_weight(rows, cols, sparsity, rng)
    x = rng.standard_normal((batch, rows)).astype(np.float32)
    dy = rng.standard_normal((batch, cols)).astype(np.float32)
    xt, dyt = np.ascontiguousarray(x.T), np.ascontiguousarray(dy.T)
    dense_w = w.to_dense()[1]
    scipy_w = w.to_scipy()
    ip, ix, data = w.indptr, w.indices, w.data
    t_ip, t_ix, order = transpose_pattern(ip, ix, cols)  # built once per pattern, as SparseLinear does
    cases = {
        ("forward", "rigl_ref"): lambda: csr_matmul(t_ip, t_ix, np.take(data, order), xt),
        ("forward", "rigl_ref_scatter"): lambda: csr_transposed_matmul(ip, ix, data, xt, cols),
        ("forward", "scipy"): lambda: x @ scipy_w,
        ("forward", "dense"): lambda: x @ dense_w,
        ("backward_input", "rigl_ref"): lambda: csr_matmul(ip, ix, data, dyt),
        ("backward_input", "scipy"): lambda: scipy_w @ dyt,
        ("backward_input", "dense"): lambda: dy @ dense_w.T,
        ("sddmm", "rigl_ref"): lambda: sddmm(ip, ix, xt, dyt),
        ("sddmm", "rigl_ref_fast"): lambda: sddmm_fast(ip, ix, xt, dyt),
        ("sddmm", "dense"): lambda: x.T @ dy,
        # the fast mode's backward of a layer whose input needs a gradient: the two kernels, or one pass
        ("backward_both", "rigl_ref_fast_two_kernels"): lambda: (csr_matmul(ip, ix, data, dyt), sddmm_fast(ip, ix, xt, dyt)),
        ("backward_both", "rigl_ref_fast"): lambda: sparse_linear_backward_fast(ip, ix, data, xt, dyt),
        ("backward_both", "dense"): lambda: (dy @ dense_w.T, x.T @ dy),
    }
    records = []
    for (op, impl), fn in cases.items():
        seconds = median_seconds(fn, repeats)
        flops = 2 * batch * (rows * cols if impl == "dense" else w.nnz) * (2 if op == "backward_both" else 1)
        records.append(dict(op=op, impl=impl, rows=rows, cols=cols, batch=batch, sparsity=sparsity, nnz=w.nnz,
                            median_s=seconds, gflops=flops / seconds / 1e9))
    k = int(GROW_FRACTION * w.nnz)
    seconds = median_seconds(lambda: grow_topk(xt, dyt, ip, ix, k, np.float32(1), BLOCK_ROWS, BLOCK_COLS), repeats)
    records.append(dict(op="grow_topk", impl="rigl_ref", rows=rows, cols=cols, batch=batch, sparsity=sparsity,
                        nnz=w.nnz, k=k, median_s=seconds, peak_extra_bytes=grow_extra_bytes(xt, dyt, ip, ix, k),
                        output_bytes=k * (8 + xt.itemsize), block=[BLOCK_ROWS, BLOCK_COLS]))
    seconds = median_seconds(lambda: x.T @ dy, repeats)
    tracemalloc.start()
    x.T @ dy
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    records.append(dict(op="grow_topk", impl="dense", rows=rows, cols=cols, batch=batch, sparsity=sparsity,
                        nnz=w.nnz, k=k, median_s=seconds, peak_extra_bytes=peak,
                        note="one dense x.T @ dy GEMM only (no masking, no selection)"))
    return records


def print_table(records):
    by_key = {(r["op"], r["impl"], r["rows"], r["cols"], r["sparsity"]): r for r in records}
    print(f"{'layer':>10} {'sparsity':>8} {'op':>15} {'rigl_ref ms':>12} {'GF/s':>6} {'scipy ms':>10} {'GF/s':>6} "
          f"{'dense ms':>10} {'GF/s':>6} {'dense/rigl':>10}")
    for (op, impl, rows, cols, s), r in by_key.items():
        if impl != "rigl_ref" or op == "backward_both":
            continue
        dense = by_key[(op, "dense", rows, cols, s)]
        scipy_r = by_key.get((op, "scipy", rows, cols, s))
        sc = f"{scipy_r['median_s'] * 1e3:>10.3f} {scipy_r['gflops']:>6.1f}" if scipy_r else f"{'-':>10} {'-':>6}"
        gf = f"{r['gflops']:>6.1f}" if "gflops" in r else f"{'-':>6}"
        dgf = f"{dense['gflops']:>6.1f}" if "gflops" in dense else f"{'-':>6}"
        print(f"{rows}x{cols:<5} {s:>8.2f} {op:>15} {r['median_s'] * 1e3:>12.3f} {gf} {sc} "
              f"{dense['median_s'] * 1e3:>10.3f} {dgf} {dense['median_s'] / r['median_s']:>10.2f}")
        if op == "forward":
            scatter = by_key[(op, "rigl_ref_scatter", rows, cols, s)]
            print(f"{'':>10} {'':>8} {'  scatter':>15} {scatter['median_s'] * 1e3:>12.3f} {scatter['gflops']:>6.1f}")
        if op == "sddmm":
            one_pass, two = (by_key[("backward_both", impl, rows, cols, s)]
                             for impl in ("rigl_ref_fast", "rigl_ref_fast_two_kernels"))
            print(f"{'':>10} {'':>8} {'  fast dx+dW':>15} {one_pass['median_s'] * 1e3:>12.3f} {one_pass['gflops']:>6.1f}"
                  f"   one pass; {two['median_s'] * 1e3:.3f} ms as two kernels ({two['median_s'] / one_pass['median_s']:.2f}x)")
            fast = by_key[(op, "rigl_ref_fast", rows, cols, s)]
            print(f"{'':>10} {'':>8} {'  fast':>15} {fast['median_s'] * 1e3:>12.3f} {fast['gflops']:>6.1f}")
            total = sum(by_key[(o, "rigl_ref", rows, cols, s)]["median_s"] for o in ("forward", "backward_input", "sddmm"))
            dense_total = sum(by_key[(o, "dense", rows, cols, s)]["median_s"] for o in ("forward", "backward_input", "sddmm"))
            print(f"{'':>10} {'':>8} {'fwd+bwd+sddmm':>15} {total * 1e3:>12.3f} {'':>6} {'':>10} {'':>6} "
                  f"{dense_total * 1e3:>10.3f} {'':>6} {dense_total / total:>10.2f}")
        if op == "grow_topk":
            print(f"{'':>10} {'':>8} {'peak extra MiB':>15} {r['peak_extra_bytes'] / 2**20:>12.2f} {'':>6} {'':>10} "
                  f"{'':>6} {dense['peak_extra_bytes'] / 2**20:>10.2f}")
            print(f"{'':>10} {'':>8} {'  of it outputs':>15} {r['output_bytes'] / 2**20:>12.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the records as a JSON list to this file")
    parser.add_argument("--quick", action="store_true", help="a subset that runs in under a minute")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and Numba threads (default 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 5, quick 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=BATCH, help=f"batch size (default {BATCH})")
    parser.add_argument("--layers", nargs="+", metavar="INxOUT", default=None,
                        help="layer shapes instead of the default ones, e.g. 784x1000 1000x1000")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    layers = LAYERS if args.layers is None else [tuple(int(n) for n in shape.split("x")) for shape in args.layers]
    plan = [(r, c, s) for r, c in layers for s in SPARSITIES]
    if args.quick:
        plan = [(784, 300, s) for s in SPARSITIES] + [(4096, 4096, 0.99)]
    rng = np.random.default_rng(args.seed)
    records = []
    with threadpool_limits(limits=args.threads):
        environment = environment_record()
        print(json.dumps(environment))
        for rows, cols, sparsity in plan:
            records += bench_layer(rows, cols, sparsity, repeats, rng, args.batch)
    for r in records:
        r.update(numba_threads=environment["numba_threads"], blas_threads=[b["num_threads"] for b in environment["blas"]])
    print_table(records)
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        print(f"wrote {len(records)} records to {args.json}")


if __name__ == "__main__":
    main()
