"""``summary.json``: what a finished run achieved and what it cost.

FLOPs use the paper's accounting through :mod:`rigl_ref.sparse_training.flops` (MicroNet-style inference
counts per layer; training per method: RigL ``(3 f_S ΔT + 2 f_S + f_D)/(ΔT + 1)`` until T_end and
``3 f_S`` after, SET/static/SNIP ``3 f_S``, SNFS ``2 f_S + f_D``, pruning ``3 f`` averaged over its
schedule, small-dense ``3 f`` of the narrow network), relative to dense training of the full network.
The sparsities fed to the counter are the run's final per-layer sparsities ``1 - nnz / size``.
"""

from __future__ import annotations

import math

from rigl_ref.sparse_training.catalogues import lenet5, mlp
from rigl_ref.sparse_training.flops import PruningSchedule, flops_report, inference_flops, training_step_flops
from rigl_ref.sparse_training.registry import METHOD_REGISTRY
from rigl_ref.train.setup import model_specs


def catalogue_of(specs, model: str):
    """The FLOPs counter's layer catalogue for the model built from ``specs``."""
    if model == "lenet5":
        conv1, conv2, fc1, fc2, fc3 = specs
        return lenet5(hidden_sizes=(conv1.fan_out, conv2.fan_out, fc1.fan_out, fc2.fan_out), num_classes=fc3.fan_out)
    return mlp([specs[0].fan_in] + [s.fan_out for s in specs], name=model)


def flops_summary(trainer) -> dict:
    config, specs = trainer.config, trainer.model.specs
    catalogue = catalogue_of(specs, config.model)
    if config.method == "small-dense":
        full = catalogue_of(model_specs(config, trainer.dataset), config.model)
        f_small, f_dense = inference_flops(catalogue), inference_flops(full)
        step = training_step_flops("small-dense", f_small, f_dense)
        return {"inference_flops_ratio": f_small / f_dense, "training_flops_ratio": step / (3 * f_dense),
                "inference_flops": f_small, "dense_inference_flops": f_dense}
    nnz = trainer.model.nnz()
    sparsities = {s.name: 1.0 - nnz[s.name] / s.size for s in specs}
    if config.method == "pruning":
        sparsities = {name: trainer.sparsities[name] for name in sparsities}
    counted_as = METHOD_REGISTRY[config.method].training_flops
    if counted_as is None:  # inference FLOPs of the final masks; training FLOPs not modelled
        data = flops_report(catalogue, sparsities, method="static", convention=config.convention).to_dict()
        return {"inference_flops_ratio": data["inference_flops_ratio"], "training_flops_ratio": None,
                "inference_flops": data["inference_flops"], "dense_inference_flops": data["dense_inference_flops"]}
    report = flops_report(
        catalogue, sparsities, method=counted_as, delta_t=config.update_interval,
        t_end_fraction=config.end_fraction,
        pruning=PruningSchedule(begin=trainer.method.schedule.begin_step, end=trainer.method.schedule.end_step,
                                total=trainer.total, every=config.update_interval)
        if config.method == "pruning" else PruningSchedule(),
        convention=config.convention,
    )
    data = report.to_dict()
    return {key: data[key] for key in ("inference_flops_ratio", "training_flops_ratio", "inference_flops",
                                       "dense_inference_flops")}


def make_summary(trainer, wall_time: float) -> dict:
    config, model = trainer.config, trainer.model
    nnz = model.nnz()
    layers = {
        s.name: {"shape": list(s.framework_shape), "nnz": nnz[s.name], "size": s.size,
                 "sparsity": 1.0 - nnz[s.name] / s.size, "target_sparsity": trainer.sparsities[s.name],
                 "sparse": s.name in model.sparse_layers()}
        for s in model.specs
    }
    total = sum(s.size for s in model.specs)
    return {
        "method": config.method, "model": config.model, "dataset": config.dataset,
        "distribution": config.distribution, "convention": config.convention, "seed": config.seed,
        "final_test_accuracy": trainer.last_accuracy, "best_test_accuracy": trainer.best_accuracy,
        "final_validation_accuracy": trainer.last_validation_accuracy,
        "validation_examples": 0 if trainer.validation is None else len(trainer.validation[1]),
        "overall_sparsity": 1.0 - sum(nnz.values()) / total, "total_nnz": sum(nnz.values()), "total_weights": total,
        "layers": layers, "flops": flops_summary(trainer),
        "steps": trainer.step, "iterations": trainer.iteration, "epochs": config.epochs,
        "wall_time_seconds": round(wall_time, 3),
        "seconds_per_step": round(wall_time / max(trainer.iteration, 1), 6) if math.isfinite(wall_time) else None,
    }
