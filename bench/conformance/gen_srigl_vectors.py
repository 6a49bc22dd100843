"""Generate the ``srigl_torch`` conformance suite by running the official SRigL code.

The official implementation (calgaryml/condensed-sparsity, ``src/rigl_torch/rigl_constant_fan.py``,
``RigLConstFanScheduler._rigl_step``) is PyTorch; this script drives it on the CPU wheel::

    pip install torch==2.13.0
    git clone https://github.com/calgaryml/condensed-sparsity   # or any copy of its src/ at the commit below
    python bench/conformance/gen_srigl_vectors.py --source condensed-sparsity/src \\
        --out rigl_ref/conformance/vectors/srigl_torch

Only the scheduler's own code runs. Its module imports three packages it does not use on this path, each
replaced by a stub module if it is not installed (named in the manifest's notes): ``wandb`` (logging),
``omegaconf`` (a type annotation) and ``torchvision`` (two classes in ``isinstance`` checks of ResNet
blocks). Each case:

* a two-layer MLP ``Linear(in, hidden) - ReLU - Linear(hidden, out)`` (no bias), ``torch.optim.SGD``
  with momentum, and ``RigLConstFanScheduler(model, optimizer, dense_allocation, T_end, "uniform",
  dynamic_ablation=True, min_salient_weights_per_neuron=...)``: its constant fan-in random masks;
* continuous random weights (tie-free: ``torch.topk`` leaves tie order open), a few neurons of the first
  layer made weak (small weights) so that dynamic ablation has something to ablate, random dense
  gradients (``IndexMaskHook.dense_grad``), momentum buffers and ``w.grad``; ``scheduler.step`` set, and
  ``_rigl_step()`` called once (its drop fraction is its own ``cosine_annealing()``, recorded);
* the masks, weights, momentum buffers and gradients before and after.

The run is deterministic (``--seed``); every case is computed twice and asserted byte-identical.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
from suite_files import SuiteFolder, computed_twice, parse_args

SOURCE_COMMIT = "calgaryml/condensed-sparsity@3052bb8bd708918576df4e6e66f273e37c960b24"
FUNCTION = "rigl_torch.rigl_constant_fan.RigLConstFanScheduler._rigl_step"


def install_stubs() -> list[str]:
    """Stub modules for the imports the scheduler's path never uses; returns the names stubbed."""
    stubbed = []
    try:
        import wandb  # noqa: F401
    except ImportError:
        wandb = types.ModuleType("wandb")
        wandb.log = lambda *args, **kwargs: None
        sys.modules["wandb"] = wandb
        stubbed.append("wandb")
    try:
        import omegaconf  # noqa: F401
    except ImportError:
        omegaconf = types.ModuleType("omegaconf")
        omegaconf.DictConfig = type("DictConfig", (), {})
        sys.modules["omegaconf"] = omegaconf
        stubbed.append("omegaconf")
    try:
        import torchvision  # noqa: F401
    except ImportError:
        torchvision = types.ModuleType("torchvision")
        models = types.ModuleType("torchvision.models")
        resnet = types.ModuleType("torchvision.models.resnet")
        resnet.Bottleneck = type("Bottleneck", (), {})
        resnet.BasicBlock = type("BasicBlock", (), {})
        torchvision.models, models.resnet = models, resnet
        sys.modules.update({"torchvision": torchvision, "torchvision.models": models,
                            "torchvision.models.resnet": resnet})
        stubbed.append("torchvision")
    return stubbed


CASES = [  # (in, hidden, out, dense_allocation, min_salient, step, T_end, alpha, weak neurons)
    (12, 8, 4, 0.5, 0.3, 100, 1000, 0.3, 2),
    (12, 8, 4, 0.5, 0.3, 500, 1000, 0.3, 0),
    (16, 10, 5, 0.25, 0.3, 200, 1000, 0.5, 3),
    (16, 10, 5, 0.25, 0.0, 200, 1000, 0.5, 3),
    (20, 6, 3, 0.3, 0.5, 300, 2000, 0.3, 1),
    (20, 6, 3, 0.3, 2, 300, 2000, 0.3, 2),
    (9, 12, 6, 0.4, 0.3, 0, 1000, 0.3, 4),
    (30, 16, 10, 0.1, 0.3, 400, 1000, 0.3, 5),
    (10, 10, 10, 0.6, 0.3, 700, 1000, 0.4, 2),
    (25, 7, 4, 0.2, 1, 150, 500, 0.3, 2),
]


def drawn_cases(seed: int, count: int = 60) -> list[tuple]:
    """More cases, drawn from ``seed``: sizes, densities, thresholds and steps; their weak neurons also get
    weak gradients (tagged ``weak_grads``), so that ablation happens more often."""
    rng = np.random.default_rng([seed, 7])
    cases = []
    while len(cases) < count:
        case = (int(rng.integers(6, 33)), int(rng.integers(4, 17)), int(rng.integers(2, 9)),
                float(rng.choice([0.1, 0.2, 0.3, 0.5, 0.7])), rng.choice([0.0, 0.3, 0.5, 0.9, 1, 2, 3]).item(),
                int(rng.integers(0, 1000)), 1000, float(rng.choice([0.3, 0.5])), int(rng.integers(0, 4)))
        n_in, hidden, _, density = case[:4]
        if int(n_in * density) >= 2 and int(hidden * density) >= 2:  # a constant fan-in of at least 2
            cases.append(case)
    return cases


def order_dependent(mask, weight, ablated, drop_fraction, sparsity) -> bool:
    """Whether the official keep step of this layer depends on an order torch leaves open: the
    ``n_keep``-th and the next drop score tie (``torch.topk`` picks among ties in an unspecified order; with
    ablated neurons the boundary often falls among the zero scores of inactive positions), or a neuron keeps
    more than the constant fan-in, so ``_get_drop_mask`` truncates it through an unstable ``sort`` of a bool
    row. The drop scores are rebuilt as ``_get_drop_mask`` forms them (ablated rows at ``min - 1``, in turn)."""
    n_ones = int(mask.sum())
    n_keep = n_ones - int(n_ones * drop_fraction)
    n_keep = min(n_keep, int(np.count_nonzero(weight)))
    scores = np.abs(weight).astype(np.float32)
    for row in range(len(scores)):
        if row in ablated:
            scores[row] = scores.min() - np.float32(1)
    ranked = np.sort(scores.reshape(-1))[::-1]
    if 0 < n_keep < ranked.size and ranked[n_keep - 1] == ranked[n_keep]:
        return True
    fan_in = int(mask.size * (1 - sparsity)) // (len(mask) - len(ablated))
    kept = np.zeros(scores.size, bool)
    kept[np.argsort(-scores.reshape(-1), kind="stable")[:n_keep]] = True
    return bool((kept.reshape(scores.shape).sum(axis=1) > fan_in).any())


def run_case(torch, scheduler_class, index: int, spec, seed: int, weak_grads: bool = False) -> tuple[dict, dict]:
    n_in, hidden, n_out, density, min_salient, step, t_end, alpha, weak = spec
    torch.manual_seed(seed * 1000 + index)
    rng = np.random.default_rng([seed, index])
    model = torch.nn.Sequential(torch.nn.Linear(n_in, hidden, bias=False), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, n_out, bias=False))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = scheduler_class(model, optimizer, dense_allocation=density, T_end=t_end,
                                sparsity_distribution="uniform", delta=100, alpha=alpha, dynamic_ablation=True,
                                min_salient_weights_per_neuron=min_salient,
                                use_sparse_const_fan_in_for_ablation=True)  # configs/config.yaml's value
    arrays, params = {}, {"dense_allocation": density, "min_salient": min_salient, "step": step, "T_end": t_end,
                          "alpha": alpha, "weak_neurons": weak, "weak_grads": weak_grads, "sparsities": [float(s) for s in scheduler.S],
                          "shapes": [list(w.shape) for w in scheduler.W], "layout": "torch (out, in)"}
    with torch.no_grad():
        for layer, w in enumerate(scheduler.W):
            mask = scheduler.backward_masks[layer]
            values = rng.standard_normal(tuple(w.shape)).astype(np.float32)
            if layer == 0 and weak:
                values[:weak] *= np.float32(1e-3)  # weak neurons: their magnitudes rank last
            w.data = torch.from_numpy(values) * mask
            grads = rng.standard_normal(tuple(w.shape)).astype(np.float32)
            if layer == 0 and weak and weak_grads:
                grads[:weak] *= np.float32(1e-3)
            dense_grad = torch.from_numpy(grads)
            scheduler.backward_hook_objects[layer].dense_grad = dense_grad.clone()
            momentum = torch.from_numpy(rng.standard_normal(tuple(w.shape)).astype(np.float32)) * mask
            optimizer.state[w]["momentum_buffer"] = momentum.clone()
            w.grad = dense_grad * mask
            arrays.update({f"mask_{layer}": mask.numpy().copy(), f"weight_{layer}": w.detach().numpy().copy(),
                           f"dense_grad_{layer}": dense_grad.numpy().copy(),
                           f"momentum_buffer_{layer}": momentum.numpy().copy(),
                           f"grad_{layer}": w.grad.numpy().copy()})
        scheduler.step = step
        fraction = float(scheduler.cosine_annealing())
        scheduler._rigl_step()
        for layer, w in enumerate(scheduler.W):
            arrays.update({f"expected_mask_{layer}": scheduler.backward_masks[layer].numpy().copy(),
                           f"expected_weight_{layer}": w.detach().numpy().copy(),
                           f"expected_momentum_buffer_{layer}": optimizer.state[w]["momentum_buffer"].numpy().copy(),
                           f"expected_grad_{layer}": w.grad.numpy().copy()})
    arrays["drop_fraction"] = np.float64(fraction)
    params["drop_fraction"] = fraction
    params["ablated_neurons"] = [len(a) for a in scheduler.dynamically_ablated_neuron_idx]
    params["order_dependent"] = any(
        order_dependent(arrays[f"mask_{i}"], arrays[f"weight_{i}"], list(scheduler.dynamically_ablated_neuron_idx[i]),
                        fraction, params["sparsities"][i]) for i in range(len(scheduler.W)))
    return arrays, params


def main(argv=None) -> int:
    args = parse_args(__doc__, "the condensed-sparsity src/ folder (holds rigl_torch/)", argv)
    stubbed = install_stubs()
    sys.path.insert(0, str(Path(args.source).resolve()))
    import torch
    from rigl_torch.rigl_constant_fan import RigLConstFanScheduler

    folder = SuiteFolder(args.out)
    cases, left_out = [], []
    specs = [(spec, False) for spec in CASES] + [(spec, True) for spec in drawn_cases(args.seed)]
    for index, (spec, weak_grads) in enumerate(specs):
        arrays, params = computed_twice(
            lambda: run_case(torch, RigLConstFanScheduler, index, spec, args.seed, weak_grads), index)
        if params["order_dependent"]:
            left_out.append(index)
            continue
        name = folder.save_case(index, arrays)
        tags = [f"min_salient={params['min_salient']}", f"ablated={params['ablated_neurons']}"]
        cases.append({"id": f"srigl_torch-{index:04d}-mlp-{'-'.join(tags)}", "file": name, "params": params})
    folder.write_manifest(
        suite="srigl_torch", source=SOURCE_COMMIT, function=FUNCTION,
        notes=(f"torch {torch.__version__} (CPU). Two-layer MLP Linear(in, hidden) - ReLU - Linear(hidden, out), "
                  "bias=False, torch.optim.SGD(lr=0.1, momentum=0.9), RigLConstFanScheduler(model, opt, "
                  "dense_allocation, T_end, sparsity_distribution='uniform', delta=100, alpha, dynamic_ablation=True, "
                  "min_salient_weights_per_neuron, use_sparse_const_fan_in_for_ablation=True (the value of the "
                  "official configs/config.yaml; the constructor's default False reads a fractional threshold as a "
                  "share of the dense fan-in)). Its constant fan-in random masks are kept; weights <- continuous "
                  "random * mask (the first `weak_neurons` rows of layer 0 scaled by 1e-3, and their dense_grad too "
                  "where `weak_grads`), IndexMaskHook.dense_grad <- dense_grad, momentum_buffer <- random * mask, w.grad <- dense_grad * mask, scheduler.step <- "
                  "step; _rigl_step() once (drop_fraction: its own cosine_annealing() in float64). "
                  "no_ablation_module_names is left None, which __init__ turns into [] before _rigl_step's `is None` "
                  "test, so the last layer may be ablated as well (params.ablated_neurons). Tie-free values (torch.topk leaves tie order "
                  "open). Stub modules for imports this path does not use: "
                  f"{', '.join(stubbed) if stubbed else 'none'}. Generated by bench/conformance/gen_srigl_vectors.py "
                  f"--seed {args.seed}; every case computed twice, byte-identical. Left out as order-dependent "
                  f"(the keep step's n_keep boundary among tied scores, or a neuron truncated through torch's "
                  f"unstable bool sort; see order_dependent in the generator): cases {left_out} of "
                  f"{len(specs)}."),
        cases=cases)
    print(f"wrote {len(cases)} cases to {folder.out}; left out {len(left_out)} order-dependent ones: {left_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
