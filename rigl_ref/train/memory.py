"""An up-front estimate of a run's peak memory, and the check that refuses a run that cannot fit.

:func:`estimate_peak_bytes` reads only the configuration and the data set's sizes (shapes, the
distribution's per-layer counts: nothing is allocated) and adds up what a run holds at its worst moment:

* the process itself (Python, NumPy, Numba, SciPy, matplotlib for the plots): :data:`PROCESS_BYTES`;
* the data set's arrays;
* per active connection of a sparse layer (CSR, O(nnz)): data, indices, the weight gradient, the
  optimizer slots, the transposed pattern of the forward (indices, int64 order, the gathered data);
* per weight of a dense layer: value, gradient, slots;
* the activations of one batch and their gradients (feature-major copies, the retained output gradient
  of growth-input recording), O(batch x width), or those of an evaluation batch of ``EVAL_BATCH``
  examples (no gradients), whichever is larger;
* the worst transient of one layer, on top of everything persistent: drawing the initial pattern
  (Floyd's sampler and the CSR conversion), a drop/grow update (scores, the rebuilt pattern, the remapped
  slots, the grow step's blockwise top-k buffers) or a checkpoint (the ``.npz`` payload is built in memory
  and copied once);
* what a method adds in dense form: SET's random grow scores and SNFS's gradient EMA have one value per
  position of a layer (``rigl_ref.sparse_training.updaters``), SNIP scores the dense initial network.

The coefficients are upper estimates of the arrays the code allocates; ``tests/train/test_memory.py``
holds the estimate between the measured peak RSS and :data:`TOLERANCE` times it on a few configurations.

:func:`check_memory` compares the estimate with what the machine can give (``MemAvailable`` of
``/proc/meminfo`` plus what this process already holds) and raises :class:`NotEnoughMemory`, one line
naming what the run needs, what the machine has and which flag to change. Skip it with
``RIGL_REF_SKIP_MEMORY_CHECK=1`` (``rigl-ref train --no-memory-check``).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

import numpy as np

from rigl_ref.sparse_training.distributions import active_counts
from rigl_ref.train.config import RunConfig
from rigl_ref.train.setup import initial_sparsities, model_specs, small_dense_width, target_sparsities

SKIP_ENV = "RIGL_REF_SKIP_MEMORY_CHECK"
PROCESS_BYTES = 320 << 20  # interpreter and libraries: measured 180-240 MB, about 60 MB more while Numba compiles
TOLERANCE = 3.0  # the tests ask measured <= estimate <= TOLERANCE x measured
EVAL_BATCH = 1000  # rigl_ref.train.loop.EVAL_BATCH

# bytes per active connection of a sparse layer, persistent: data 4, indices 4, gradient 4, transposed
# pattern (indices 4, order 8), the gathered data of the forward 4
SPARSE_ENTRY = 28
SLOT = 4  # one optimizer slot value (float32)
INIT_ENTRY = 64  # Floyd: highs 8 + draws 8 + hash table <= 32 + sample 8; then the CSR conversion
UPDATE_ENTRY = 96  # drop/grow: scores, orders, masks, rebuilt pattern and values, remapped slots
GROW_BUFFER = 8 * (65536 + 2 * 256 * 512) + 2 * 4 * 256 * 512  # grow_topk: spare keys, GEMM tile, candidates
ACTIVATION = 4 * 8  # per example and unit: output, ReLU, their gradients, feature-major copies (float32)
EVAL_ACTIVATION = 4 * 2  # per example and unit when evaluating (no gradients: each array and one temporary)
CONV_OUTPUT_POSITIONS = (24 * 24, 8 * 8)  # LeNet-5's conv outputs per example (their im2col columns too)
DENSE_SCORE = {"set": 40, "snfs": 48, "snip": 48}  # per position of the largest sparse layer (float64 scores)


@dataclass(frozen=True)
class MemoryEstimate:
    """The estimate in parts (bytes); ``total`` is their sum, ``dominant`` the largest part's name."""

    parts: dict

    @property
    def total(self) -> int:
        return int(sum(self.parts.values()))

    @property
    def dominant(self) -> str:
        return max(self.parts, key=self.parts.get)


def _dataset_bytes(dataset) -> int:
    return int(sum(np.asarray(getattr(dataset, name)).nbytes for name in ("train_x", "train_y", "test_x", "test_y")))


def estimate(config: RunConfig, dataset) -> MemoryEstimate:
    """The run's estimated peak memory, in parts (see the module docstring)."""
    width = small_dense_width(config, dataset) if config.method == "small-dense" else 1.0
    specs = model_specs(config, dataset, width=width)
    slots = {"sgd": 1 if config.momentum > 0 else 0, "adam": 2, "adamw": 2}[config.optimizer]
    if config.method in ("dense", "small-dense"):
        nnz = {s.name: 0 for s in specs}
        sparse = set()
    else:
        sparsities = target_sparsities(config, specs)
        sparse = {name for name, s in sparsities.items() if s > 0.0}
        start = initial_sparsities(config, specs, sparsities)  # the densest masks of the run
        counts = active_counts([(s.name, s.framework_shape) for s in specs], start, config.convention)
        nnz = {s.name: int(counts[s.name]) if s.name in sparse else 0 for s in specs}
    dense_weights = sum(s.size for s in specs if s.name not in sparse)
    largest = max((s for s in specs if s.name in sparse), key=lambda s: nnz[s.name], default=None)
    largest_nnz = nnz[largest.name] if largest is not None else 0
    spatial = iter(CONV_OUTPUT_POSITIONS)
    units = specs[0].fan_in + sum(s.fan_out if s.kind == "linear"
                                  else (s.fan_out + s.fan_in * s.kernel_size**2) * next(spatial) for s in specs)
    training_batch = max(config.batch_size, config.grow_batch_size if config.grow_source == "fixed_batch" else 0)
    activations = units * max(min(training_batch, dataset.n_train) * ACTIVATION, min(EVAL_BATCH, dataset.n_test) * EVAL_ACTIVATION)
    state = sum(nnz.values()) * (8 + SLOT * slots) + dense_weights * 4 * (1 + slots)
    transient = max(INIT_ENTRY * largest_nnz,
                    UPDATE_ENTRY * largest_nnz + GROW_BUFFER if largest is not None else 0,
                    2 * state)
    parts = {
        "process": PROCESS_BYTES,
        "dataset": _dataset_bytes(dataset),
        "sparse weights": sum(nnz.values()) * (SPARSE_ENTRY + SLOT * slots) + sum(4 * s.csr_shape[0] for s in specs),
        "dense weights": dense_weights * 4 * (2 + slots),
        "activations": activations,
        "largest transient": transient,
        "dense scores": DENSE_SCORE.get(config.method, 0) * (largest.size if largest is not None else 0),
    }
    if config.method == "snip":  # the dense initial network, its gradient and the sensitivity scores
        parts["dense scores"] += sum(s.size for s in specs if s.name in sparse) * 12
    return MemoryEstimate(parts)


def estimate_peak_bytes(config: RunConfig, dataset) -> int:
    """The run's estimated peak resident memory in bytes (O(nnz + batch x width); module docstring)."""
    return estimate(config, dataset).total


def available_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (``None`` where the file or the field is missing)."""
    try:
        with open(meminfo) as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _current_rss() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class NotEnoughMemory(ValueError):
    """The up-front estimate of a run exceeds the memory this machine has available."""


ADVICE = {
    "sparse weights": "raise --sparsity or lower --hidden",
    "largest transient": "raise --sparsity or lower --hidden",
    "dense weights": "lower --hidden (or choose a sparse --method)",
    "activations": "lower --batch-size or --hidden",
    "dataset": "choose a smaller --dataset",
    "dense scores": "use --method rigl (this method scores every position of a layer densely) or lower --hidden",
    "process": "free memory on this machine",
}


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def check_memory(config: RunConfig, dataset, *, available: int | None = None) -> MemoryEstimate | None:
    """Refuse (:class:`NotEnoughMemory`) a run whose estimate exceeds ``available`` (default: MemAvailable
    plus what this process holds); return the estimate, or ``None`` when skipped by ``RIGL_REF_SKIP_MEMORY_CHECK``
    or when the machine does not say what it has."""
    if os.environ.get(SKIP_ENV, "") not in ("", "0"):
        return None
    if available is None:
        free = available_bytes()
        if free is None:
            return None
        available = free + _current_rss()
    result = estimate(config, dataset)
    if result.total > available:
        raise NotEnoughMemory(
            f"this run needs about {_gib(result.total)} (estimated peak; {result.dominant} "
            f"{_gib(result.parts[result.dominant])}), but this machine has {_gib(available)} available "
            f"(MemAvailable); {ADVICE[result.dominant]}, or skip the check with --no-memory-check "
            f"({SKIP_ENV}=1)")
    return result
