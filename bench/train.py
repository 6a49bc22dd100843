"""Training benchmark: do time and memory of a training iteration scale with the active connections?

For each model and sparsity (uniform distribution, so every layer keeps round((1 - s) N_l) connections) it
runs the real training loop, ``rigl_ref.train.loop.Trainer`` (RigL, paper convention; sparsity 0 is the
``dense`` method, BLAS layers), on the embedded MNIST subset (no network) and measures

* ``iteration``: median wall time of an ordinary iteration (batch, forward, backward, SGD-Nesterov step);
* ``update_iteration``: median wall time of a RigL mask-update iteration (forward and backward recording the
  growth inputs, then drop + grow top-k + rebuild of every layer, no weight step: the paper convention);
* ``mask_update``: the drop/grow/rebuild part of it alone (``method.update``);
* ``state_bytes``: the model state, weights (CSR: ``indptr + indices + data``) + biases + optimizer slots,
  summed from the arrays' ``nbytes``;
* ``peak_extra_bytes``: tracemalloc's peak over one iteration above the memory held before it. It sees the
  NumPy buffers only: arrays allocated inside Numba kernels (the sparse products' outputs and input
  gradients, the SDDMM weight gradient of nnz values, the grow kernel's buffers) are NOT traced, so for
  ``rigl_ref`` it is a lower bound. (The resident set's high-water mark was tried and dropped: it rose by 0
  over rigl_ref iterations that tracemalloc saw allocate tens of MiB, because the allocator reuses pages.)

Baseline in the same run, ``impl = "dense_masked"``: the same network trained as TF1/rigl-torch simulate
sparsity, written below with rigl_ref's own autograd and optimizer: dense float32 weights ``W`` and a float32
mask ``M``, forward ``x @ (W * M) + b``, a dense gradient, dense momentum (same SGD as the trainer); its
mask update is the spec layer's dense ``rigl_ref.drop_grow`` on |W * M| and the dense gradient w.r.t.
``W * M``. It starts from the trainer's initial weights and masks and sees the same batches.

    python bench/train.py                   # full table (several minutes on 1 thread)
    python bench/train.py --quick           # under a minute
    python bench/train.py --json out.json   # also write the records (a JSON list)

BLAS and Numba run on 1 thread by default (``--threads``); times are medians of ``--repeats`` ordinary and
``--update-repeats`` mask-update iterations after warm-up iterations (one update among them; the Numba
kernels come from the on-disk cache or compile there). Every ``UPDATE_INTERVAL``-th iteration is an update.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

import numba
import numpy as np
from threadpoolctl import threadpool_limits

if __package__ is None:  # run as a script from a checkout: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib.py, shared by the bench scripts

from benchlib import environment_record, median_seconds  # noqa: E402

from rigl_ref import drop_grow
from rigl_ref.autograd import Tensor, relu, softmax_cross_entropy
from rigl_ref.data import batches, load_dataset
from rigl_ref.sparse_training.drop_grow import score_drop
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer
from rigl_ref.train.setup import make_optimizer

MODELS = {
    "mlp-4096-4096": dict(model="mlp", hidden=[4096, 4096]),
    "lenet-300-100": dict(model="lenet-300-100"),
}
SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
BATCH = 128
DROP_FRACTION = 0.3  # constant alpha: k = 0.3 nnz at every update, the paper's initial (largest) value
UPDATE_INTERVAL = 4  # every 4th iteration is a mask update, the others are ordinary
QUICK_PLAN = [("lenet-300-100", s) for s in SPARSITIES] + [("mlp-4096-4096", 0.99)]


def run_config(model: str, sparsity: float, seed: int, threads: int) -> RunConfig:
    """RigL (dense method at sparsity 0) with a uniform distribution, constant drop fraction, no augmentation;
    two epochs of the 10 000-image subset so that T_end (75 %) lies beyond every benchmarked iteration."""
    return RunConfig(
        **MODELS[model], dataset="mnist-subset", method="rigl" if sparsity > 0 else "dense", sparsity=sparsity,
        distribution="uniform", update_interval=UPDATE_INTERVAL, drop_fraction=DROP_FRACTION,
        drop_schedule="constant", augment_shift=0, epochs=2, batch_size=BATCH, seed=seed, blas_threads=threads,
    )


# ----------------------------------------------------------------------------------------- measurement
class Stopwatch:
    """Wraps a callable and keeps the wall time of each call (here: ``Trainer.method.update``)."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, []

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        result = self.fn(*args, **kwargs)
        self.seconds.append(time.perf_counter() - start)
        return result


def peak_extra(fn) -> int:
    """tracemalloc's peak over one call of ``fn`` above the traced memory at its start (NumPy buffers)."""
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    return peak


def nbytes(arrays) -> int:
    return int(sum(np.asarray(a).nbytes for a in arrays))


# ----------------------------------------------------------------------------------------- rigl_ref
def trainer_state_bytes(trainer: Trainer) -> int:
    """Weights (CSR ``indptr + indices + data``, or the dense matrix), biases and optimizer slots."""
    arrays = []
    for name, layer in trainer.model.layers.items():
        if name in trainer.model.sparse_layers():
            arrays += [layer.weight.indptr, layer.weight.indices, layer.weight.data]
        else:
            arrays.append(layer.weight.value)
        arrays.append(layer.bias.value)
    return nbytes(arrays) + nbytes(trainer.optimizer.state_arrays().values())


def bench_rigl_ref(trainer: Trainer, repeats: int, update_repeats: int) -> dict:
    """Medians of ordinary and mask-update iterations of the real loop, plus the memory measures."""
    sparse = trainer.method.updates
    stopwatch = Stopwatch(getattr(trainer.method, "update", None))
    if sparse:
        trainer.method.update = stopwatch  # instance attribute: the loop calls it as before, now timed
    iteration_s, update_s = [], []
    for _ in range(UPDATE_INTERVAL):  # warm-up: the kernels, one update (iteration 0), the optimizer slots
        trainer.train_iteration()
    stopwatch.seconds.clear()
    while len(iteration_s) < repeats or (sparse and len(update_s) < update_repeats):
        start = time.perf_counter()
        record = trainer.train_iteration()
        (update_s if record.get("mask_update") else iteration_s).append(time.perf_counter() - start)
    peaks = {}
    while len(peaks) < 1 + sparse:
        updates_before = len(stopwatch.seconds)
        peak = peak_extra(trainer.train_iteration)
        peaks["update_iteration" if len(stopwatch.seconds) > updates_before else "iteration"] = peak
    result = {"iteration": (float(np.median(iteration_s)), peaks["iteration"])}
    if sparse:
        result["update_iteration"] = (float(np.median(update_s)), peaks["update_iteration"])
        result["mask_update"] = (float(np.median(stopwatch.seconds)), None)
    return result


# ----------------------------------------------------------------------------------------- baseline
class DenseMaskedMLP:
    """The dense masked-weight simulation of sparse training (TF1 ``model_pruning`` masked layers,
    rigl-torch's masked ``nn.Linear``): ``relu(x @ (W * M) + b)``, dense gradient, dense optimizer slots.

    Built from a trainer's initial state (same pattern, weights and optimizer settings). ``mask_update``
    is Algorithm 1's drop/grow on dense arrays by the spec layer (``rigl_ref.drop_grow``), growing by the
    dense gradient with respect to ``W * M`` as TF1's RigL does.
    """

    def __init__(self, trainer: Trainer):
        self.convention = trainer.config.convention
        self.weights, self.masks, self.biases = {}, {}, {}
        sparse = trainer.model.sparse_layers()
        for name, layer in trainer.model.layers.items():
            if name in sparse:
                mask, values = layer.weight.to_dense()
            else:
                values = layer.weight.value.copy()
                mask = np.ones(values.shape, bool)
            self.weights[name] = Tensor(values, requires_grad=True)
            self.masks[name] = mask.astype(values.dtype)
            self.biases[name] = Tensor(layer.bias.value.copy(), requires_grad=True)
        self.optimizer = make_optimizer(trainer.config)

    def parameters(self) -> dict[str, Tensor]:
        return {**{f"{n}.weight": w for n, w in self.weights.items()}, **{f"{n}.bias": b for n, b in self.biases.items()}}

    def state_bytes(self) -> int:
        """Dense weights, float32 masks, biases and optimizer slots."""
        arrays = [t.value for t in self.parameters().values()] + list(self.masks.values())
        return nbytes(arrays) + nbytes(self.optimizer.state_arrays().values())

    def _forward_backward(self, x, y, retain_masked_grad: bool) -> dict[str, Tensor]:
        for tensor in self.parameters().values():
            tensor.grad = None
        h, masked = Tensor(x), {}
        names = list(self.weights)
        for name in names:
            masked[name] = self.weights[name] * Tensor(self.masks[name])
            if retain_masked_grad:
                masked[name].retain_grad()
            h = h @ masked[name] + self.biases[name]
            if name != names[-1]:
                h = relu(h)
        softmax_cross_entropy(h, y).backward()
        return masked

    def train_step(self, x, y, lr: float) -> None:
        self._forward_backward(x, y, retain_masked_grad=False)
        params = self.parameters()
        self.optimizer.step({k: t.value for k, t in params.items()}, {k: t.grad for k, t in params.items()}, lr)

    def mask_update(self, x, y, fraction: float) -> None:
        masked = self._forward_backward(x, y, retain_masked_grad=True)
        for name, weight in self.weights.items():
            param = f"{name}.weight"
            slots = self.optimizer.slots(param)
            mask = self.masks[name]
            result = drop_grow(mask, weight.value, score_drop(mask, weight.value, self.convention),
                               np.abs(masked[name].grad), fraction, convention=self.convention,
                               slots=tuple(slots.values()))
            weight.value[...] = result.weights
            mask[...] = result.mask
            if slots:
                self.optimizer.set_slots(param, dict(zip(slots, result.slots)))


def bench_dense_masked(trainer: Trainer, repeats: int, update_repeats: int) -> dict:
    """The baseline's medians and memory, on the batches of the trainer's first epoch."""
    net = DenseMaskedMLP(trainer)
    data, config = trainer.dataset, trainer.config
    stream = batches(data.train_x, data.train_y, BATCH, seed=config.seed, epoch=0, flatten=True)
    lr = config.lr

    def step():
        net.train_step(*next(stream), lr)

    def update():
        net.mask_update(*next(stream), DROP_FRACTION)

    sparse = trainer.method.updates
    step()  # warm-up, creates the momentum slots
    result = {"iteration": (median_seconds(step, repeats, warmup=False), peak_extra(step))}
    if sparse:
        result["update_iteration"] = (median_seconds(update, update_repeats, warmup=False), peak_extra(update))
    return result, net.state_bytes()



# ----------------------------------------------------------------------------------------- driver
def bench_case(model: str, sparsity: float, dataset, repeats: int, update_repeats: int, seed: int, threads: int) -> list[dict]:
    trainer = Trainer(run_config(model, sparsity, seed, threads), dataset)
    nnz = int(sum(trainer.model.nnz().values()))
    dense_size = int(sum(spec.size for spec in trainer.model.specs))
    common = dict(model=model, sparsity=sparsity, nnz=nnz, dense_size=dense_size, batch=BATCH)
    baseline, baseline_state = bench_dense_masked(trainer, repeats, update_repeats)
    ours = bench_rigl_ref(trainer, repeats, update_repeats)
    ours_state = trainer_state_bytes(trainer)
    records = []
    for impl, measured, state in (("rigl_ref", ours, ours_state), ("dense_masked", baseline, baseline_state)):
        for op, (median_s, peak) in measured.items():
            timed = update_repeats if op in ("update_iteration", "mask_update") else repeats
            record = dict(common, impl=impl, op=op, median_s=median_s, state_bytes=state, repeats=timed)
            if peak is not None:
                record["peak_extra_bytes"] = peak
            if impl == "rigl_ref" and op in baseline:
                record.update(time_ratio_to_dense_masked=median_s / baseline[op][0],
                              state_ratio_to_dense_masked=state / baseline_state)
            records.append(record)
    return records


def mib(n) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


def amortised_seconds(iteration_s: float, update_s: float, interval: int = 100) -> float:
    """Mean time per iteration when one in ``interval`` iterations is a mask update (the paper's ΔT = 100)."""
    return ((interval - 1) * iteration_s + update_s) / interval


def print_table(records) -> None:
    """One row per model and sparsity: ``rigl_ref / dense_masked`` times (ms), their ratio, memory (MiB)."""
    by_key = {(r["model"], r["sparsity"], r["impl"], r["op"]): r for r in records}
    print(f"{'model':>14} {'sparsity':>8} {'nnz':>10} {'iter ms ours/masked':>21} {'ratio':>6} "
          f"{'update-iter ms ours/masked':>27} {'ratio':>6} {'mask upd ms':>11} {'dT=100 ratio':>12} "
          f"{'state MiB ours/masked':>22} {'peak+ MiB (tracemalloc) ours/masked':>36}")
    for model, sparsity, impl, op in by_key:
        if impl != "rigl_ref" or op != "iteration":
            continue
        ours, masked = (by_key[model, sparsity, i, "iteration"] for i in ("rigl_ref", "dense_masked"))
        columns = [f"{ours['median_s'] * 1e3:.3g} / {masked['median_s'] * 1e3:.3g}",
                   f"{ours['median_s'] / masked['median_s']:.2f}x"]
        if (model, sparsity, "rigl_ref", "update_iteration") in by_key:
            ours_up, masked_up = (by_key[model, sparsity, i, "update_iteration"] for i in ("rigl_ref", "dense_masked"))
            amortised = (amortised_seconds(ours["median_s"], ours_up["median_s"])
                         / amortised_seconds(masked["median_s"], masked_up["median_s"]))
            columns += [f"{ours_up['median_s'] * 1e3:.3g} / {masked_up['median_s'] * 1e3:.3g}",
                        f"{ours_up['median_s'] / masked_up['median_s']:.2f}x",
                        f"{by_key[model, sparsity, 'rigl_ref', 'mask_update']['median_s'] * 1e3:.3g}",
                        f"{amortised:.2f}x"]
        else:
            columns += ["-"] * 4
        columns += [f"{mib(ours['state_bytes'])} / {mib(masked['state_bytes'])}",
                    f"{mib(ours['peak_extra_bytes'])} / {mib(masked['peak_extra_bytes'])}"]
        widths = (21, 6, 27, 6, 11, 12, 22, 36)
        print(f"{model:>14} {sparsity:>8.2f} {ours['nnz']:>10} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths)))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the records as a JSON list to this file")
    parser.add_argument("--quick", action="store_true", help="LeNet-300-100 and the wide MLP at 99 %%, under a minute")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), help="models to run (default: all)")
    parser.add_argument("--sparsities", nargs="+", type=float, help=f"sparsities (default {SPARSITIES})")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and Numba threads (default 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed ordinary iterations per case (default 7, quick 3)")
    parser.add_argument("--update-repeats", type=int, default=None,
                        help="timed mask-update iterations per case (default 3, quick 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    for name in ("repeats", "update_repeats"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    for s in args.sparsities or ():
        if not 0 <= s < 1:
            parser.error(f"--sparsities must lie in [0, 1), got {s}")
    return args


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    update_repeats = args.update_repeats or (2 if args.quick else 3)
    plan = [(m, s) for m in (args.models or MODELS) for s in (args.sparsities or SPARSITIES)]
    if args.quick and not (args.models or args.sparsities):
        plan = QUICK_PLAN
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    dataset = load_dataset("mnist-subset")
    records = []
    with threadpool_limits(limits=args.threads):
        environment = environment_record()
        print(json.dumps(environment))
        for model, sparsity in plan:
            records += bench_case(model, sparsity, dataset, repeats, update_repeats, args.seed, args.threads)
    load_after = list(os.getloadavg())
    for r in records:
        r.update(numba_threads=environment["numba_threads"], blas_threads=[b["num_threads"] for b in environment["blas"]])
    print_table(records)
    print(f"load average before {environment['load_average']}, after {load_after}")
    if args.json:
        args.json.write_text(json.dumps(records, indent=1))
        print(f"wrote {len(records)} records to {args.json}")
    return records


if __name__ == "__main__":
    main()
