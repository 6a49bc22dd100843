"""Generate the ``granet_torch`` conformance suite by running the official GraNet code.

The official implementation (VITA-Group/GraNet, ``CIFAR/sparselearning/core.py``, class ``Masking``) is
PyTorch; this script drives its update on the CPU wheel::

    pip install torch==2.13.0
    git clone https://github.com/VITA-Group/GraNet           # or any copy of it at the commit below
    python bench/conformance/gen_granet_vectors.py --source GraNet/CIFAR \\
        --out rigl_ref/conformance/vectors/granet_torch

Each case is what ``Masking.step`` does for ``method='GraNet'`` at an update step ``t`` (after the weight
step): ``Masking.pruning(t)`` (global gradual magnitude pruning inside its window) then
``Masking.truncate_weights(t)`` (``magnitude_death`` and ``gradient_growth`` per layer, then
``apply_mask``). The ``Masking`` object is built by its own constructor, with the masks, weights, gradients
and momentum buffers of a two-layer MLP set directly (its ``init`` and ``add_module`` move tensors to CUDA
and are not called); ``prune_rate`` is the regeneration rate the case gives (the official ``CosineDecay``
value at that step). Values are continuous random, so no order torch leaves open decides anything
(``torch.sort`` of ``|g|`` for the regrowth is unstable; the regrowth never reaches the zero scores here).

The run is deterministic (``--seed``); every case is computed twice and asserted byte-identical.
"""

from __future__ import annotations

import contextlib
import io
import sys
import types
from pathlib import Path

import numpy as np
from suite_files import SuiteFolder, computed_twice, parse_args

SOURCE_COMMIT = "VITA-Group/GraNet@f338a2479758ba35660c3d64422ee9c83abb02a5"
FUNCTION = "sparselearning.core.Masking.pruning + Masking.truncate_weights (Masking.step, method='GraNet')"
SHAPES = ((20, 12), (6, 20))  # torch Linear layouts (out, in): 12 -> 20 -> 6


def drawn_cases(seed: int, count: int = 48) -> list[dict]:
    """Steps around and inside the pruning window, dense and sparse starts, regeneration rates."""
    rng = np.random.default_rng([seed, 11])
    cases = []
    for index in range(count):
        every = int(rng.choice([10, 25, 100]))
        per_epoch = int(rng.choice([20, 50]))
        init_epoch, final_epoch = int(rng.integers(0, 3)), int(rng.integers(4, 10))
        first, last = (init_epoch * per_epoch) // every, (final_epoch * per_epoch) // every
        iteration = int(rng.choice([first, first + 1, (first + last) // 2, last - 1, last, last + 1]))
        cases.append({
            "update_frequency": every, "loader_len": per_epoch, "multiplier": 1, "init_prune_epoch": init_epoch,
            "final_prune_epoch": final_epoch, "init_density": float(rng.choice([1.0, 0.5, 0.3])),
            "final_density": float(rng.choice([0.1, 0.2])), "step": max(iteration, 1) * every,
            "prune_rate": float(rng.choice([0.5, 0.3, 0.1, 0.005])),
        })
    return cases


def run_case(torch, masking_class, index: int, params: dict, seed: int) -> dict:
    torch.manual_seed(seed * 1000 + index)
    rng = np.random.default_rng([seed, index])
    layers = [torch.nn.Linear(shape[1], shape[0], bias=False) for shape in SHAPES]
    model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    args = types.SimpleNamespace(sparse_init="ERK", fix=False, update_frequency=params["update_frequency"],
                                 method="GraNet", init_density=params["init_density"],
                                 final_density=params["final_density"], init_prune_epoch=params["init_prune_epoch"],
                                 final_prune_epoch=params["final_prune_epoch"], multiplier=params["multiplier"])
    masking = masking_class(optimizer, prune_rate=params["prune_rate"], growth_mode="gradient",
                            death_mode="magnitude", args=args, train_loader=[None] * params["loader_len"])
    masking.modules = [model]
    arrays = {}
    with torch.no_grad():
        for i, (name, weight) in enumerate(model.named_parameters()):
            density = params["init_density"] if params["init_density"] < 1 else 1.0
            mask = torch.from_numpy((rng.random(tuple(weight.shape)) < max(density, 0.35)).astype(np.float32))
            weight.data = torch.from_numpy(rng.standard_normal(tuple(weight.shape)).astype(np.float32)) * mask
            weight.grad = torch.from_numpy(rng.standard_normal(tuple(weight.shape)).astype(np.float32))
            momentum = torch.from_numpy(rng.standard_normal(tuple(weight.shape)).astype(np.float32)) * mask
            optimizer.state[weight]["momentum_buffer"] = momentum.clone()
            masking.masks[name] = mask.clone()
            arrays.update({f"mask_{i}": mask.numpy().copy(), f"weight_{i}": weight.detach().numpy().copy(),
                           f"grad_{i}": weight.grad.numpy().copy(), f"momentum_buffer_{i}": momentum.numpy().copy()})
        masking.prune_rate = params["prune_rate"]
        masking.pruning(params["step"])
        masking.truncate_weights(params["step"])
        for i, (name, weight) in enumerate(model.named_parameters()):
            arrays.update({f"expected_mask_{i}": masking.masks[name].numpy().copy(),
                           f"expected_weight_{i}": weight.detach().numpy().copy(),
                           f"expected_momentum_buffer_{i}": optimizer.state[weight]["momentum_buffer"].numpy().copy()})
    return arrays


def main(argv=None) -> int:
    args = parse_args(__doc__, "GraNet's CIFAR/ folder (holds sparselearning/)", argv)
    sys.path.insert(0, str(Path(args.source).resolve()))
    import torch
    from sparselearning.core import Masking

    folder = SuiteFolder(args.out)
    cases = []
    for index, params in enumerate(drawn_cases(args.seed)):
        with contextlib.redirect_stdout(io.StringIO()):  # Masking.pruning prints its progress
            arrays = computed_twice(lambda: run_case(torch, Masking, index, params, args.seed), index)
        name = folder.save_case(index, arrays)
        first = params["init_prune_epoch"] * params["loader_len"] // params["update_frequency"]
        last = params["final_prune_epoch"] * params["loader_len"] // params["update_frequency"]
        where = params["step"] // params["update_frequency"]
        tag = "before" if where < first else "after" if where >= last else "inside"
        cases.append({"id": f"granet_torch-{index:04d}-mlp-window={tag}-d0={params['init_density']}",
                      "file": name, "params": {**params, "shapes": [list(s) for s in SHAPES],
                                               "layout": "torch (out, in)"}})
    folder.write_manifest(
        suite="granet_torch", source=SOURCE_COMMIT, function=FUNCTION,
        notes=(f"torch {torch.__version__} (CPU). Two-layer MLP Linear(12, 20) - ReLU - Linear(20, 6), bias=False, "
                  "torch.optim.SGD(lr=0.1, momentum=0.9); Masking(optimizer, prune_rate, growth_mode='gradient', "
                  "death_mode='magnitude', args, train_loader of loader_len batches) with masking.modules = [model], "
                  "masks (float32 0/1, random at about the start density), weights = random * mask, w.grad random "
                  "(dense), momentum_buffer = random * mask; then masking.pruning(step) and "
                  "masking.truncate_weights(step), as Masking.step does for method='GraNet' at an update step. "
                  "Continuous random values (torch.sort is unstable; no tie decides). Generated by "
                  f"bench/conformance/gen_granet_vectors.py --seed {args.seed}; every case computed twice, "
                  "byte-identical."),
        cases=cases)
    print(f"wrote {len(cases)} cases to {folder.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
