"""The training loop: Algorithm 1 of RigL with the selected convention's timing.

One iteration consumes one batch::

    forward, loss, backward on the batch (recording growth inputs when an update will read them)
    if the method's update REPLACES the weight step (RigL in the paper/TF1/rigl-torch; RigL and SET in
    jaxpruner) and the predicate fires at the current clock:
        update the masks from this batch's gradient       # no weight step, the step counter stays
    else:
        weight step with lr(t) (after Top-KAST's exploration penalty joins the gradient);  t <- t + 1
        if the update FOLLOWS the weight step (SET/SNFS/static in TF1, everything in TF2) and the
        predicate fires at the clock read after the step:
            update the masks

The clock the predicate and the drop-fraction schedule read is the convention's ``step_origin``:
``iterations_before`` (the iteration's 0-based index), ``iterations_after`` (index + 1, rigl-torch) or
``global_step`` (weight steps done, read before the step when the update replaces it and after it when
the update follows). A run lasts T = epochs x batches-per-epoch on that clock (for ``global_step``, T weight
steps, so every RigL update consumes one extra batch: the ΔT + 1 of the paper's FLOPs formula).
T_end = ``end_fraction`` x T. The learning rate reads the weight-step counter t.

Everything is a function of the seed and the counters, so a run resumed from a checkpoint replays the
uninterrupted run bit for bit (batch order of epoch e: ``default_rng([seed, e])``, see ``rigl_ref.data``).
"""

from __future__ import annotations

import math

import numpy as np

from rigl_ref.autograd import log_softmax, softmax_cross_entropy
from rigl_ref.autograd.sparse_linear import feature_major
from rigl_ref.data import batches_per_epoch, hold_out_validation, stored_batch, to_float32
from rigl_ref.kernels import scaled_pixels
from rigl_ref.nn.sparse_layers import SparseLinear
from rigl_ref.sparse import CSRWeight
from rigl_ref.sparse_training.conventions import get_convention
from rigl_ref.sparse_training.schedules import STEP_ORIGINS
from rigl_ref.train.augment import random_shifts
from rigl_ref.train.config import RunConfig
from rigl_ref.train.memory import check_memory as memory_check
from rigl_ref.train.methods import make_method
from rigl_ref.train.setup import build_model, make_lr, make_optimizer

EVAL_BATCH = 1000


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite."""


class Trainer:
    """All state of one run: model, optimizer, mask-update method and the counters."""

    def __init__(self, config: RunConfig, dataset, *, on_update=None, check_memory: bool = True):
        """``check_memory``: refuse a run whose estimated peak memory exceeds what the machine has,
        before allocating anything (``rigl_ref.train.memory.check_memory``; also skipped by
        ``RIGL_REF_SKIP_MEMORY_CHECK=1``)."""
        if check_memory:
            memory_check(config, dataset)
        dataset, self.validation = hold_out_validation(dataset, config.validation_fraction)
        self.config, self.dataset = config, dataset
        self.on_update = on_update  # called as on_update(step, layer_name, result) after each layer's update
        self.convention = get_convention(config.convention)
        self.flatten = config.model != "lenet5"
        self.per_epoch = batches_per_epoch(dataset.n_train, config.batch_size)
        self.total = config.epochs * self.per_epoch
        self.t_end = max(1, int(config.end_fraction * self.total))
        self.model, self.sparsities = build_model(config, dataset)
        self.model.use_kernels(config.kernels)
        self.lr = make_lr(config, self.total)
        self.method = make_method(config, self.convention, self.total, self.t_end, self.sparsities, self.lr,
                                  self.model.specs)
        self.method.start(self.model)
        self.optimizer = make_optimizer(config, self.method.undecayed_parameters(self.model))
        self.replaces = self.method.updates and self.convention.replaces_weight_step(config.method)
        self.growth_batch = self._fixed_growth_batch() if config.grow_source == "fixed_batch" else None
        self.iteration = 0  # batches consumed
        self.step = 0  # weight steps done (t)
        self.best_accuracy = None
        self.last_accuracy = None
        self.last_validation_accuracy = None
        self.initial_connectivity = self.model.input_connectivity()

    @property
    def feature_major_input(self) -> bool:
        """Whether :meth:`next_batch` hands the model its batch feature-major: a flat input whose first
        layer is a ``SparseLinear`` (which works on it in that layout)."""
        return self.flatten and isinstance(next(iter(self.model.layers.values())), SparseLinear)

    # ------------------------------------------------------------------ clocks
    def clock(self) -> int:
        """The counter the update predicate and the drop-fraction schedule read (``step_origin``)."""
        return STEP_ORIGINS[self.convention.step_origin].clock(self.iteration, self.step)

    def predicate_clock(self) -> int:
        """The clock the coming iteration's update predicate will read: :meth:`clock` now when the update
        replaces the weight step; after the step (``global_step`` one further) when it follows it."""
        after_step = not self.replaces and STEP_ORIGINS[self.convention.step_origin].counts_weight_steps
        return self.clock() + after_step

    def progress(self) -> int:
        """Position on the run-length clock (T = ``self.total``)."""
        counts_steps = STEP_ORIGINS[self.convention.step_origin].counts_weight_steps
        return self.step if counts_steps else self.iteration

    @property
    def done(self) -> bool:
        return self.progress() >= self.total

    # ------------------------------------------------------------------ one iteration
    def next_batch(self):
        """The batch of the current iteration (epoch order from the seed), augmented if configured: the
        float32 batch of ``rigl_ref.data.batches``, shifted by ``random_shifts``.

        The shifts move the stored pixels before they are scaled (a shift copies values and fills zeros,
        so it commutes with the elementwise scaling), and a flattened uint8 batch is scaled in one pass
        (``kernels.scaled_pixels``), straight into the feature-major layout a sparse first layer works on
        (``sparse_linear``), which saves its forward and its weight gradient one copy each; the values
        are those of ``to_float32``, bit for bit."""
        epoch, index = divmod(self.iteration, self.per_epoch)
        x, y = stored_batch(self.dataset.train_x, self.dataset.train_y, self.config.batch_size,
                            seed=self.config.seed, epoch=epoch, index=index)
        if self.config.augment_shift and x.ndim == 3:
            x = random_shifts(x, self.config.augment_shift, seed=self.config.seed, iteration=self.iteration)
        if not self.flatten:
            return to_float32(x), y
        x = x.reshape(len(x), -1)
        feature_major_input = self.feature_major_input
        if x.dtype == np.uint8:
            scaled = scaled_pixels(np.ascontiguousarray(x), feature_major_input)
            return (scaled.T if feature_major_input else scaled), y
        x = to_float32(x)
        return (feature_major(x).T if feature_major_input else x), y

    def train_iteration(self) -> dict:
        """Run one iteration; return its metrics record."""
        x, y = self.next_batch()
        clock = self.predicate_clock()
        # asked before the (stateful) predicate moves; a fixed growth batch is recorded by its own pass
        record_growth = self.growth_batch is None and self.method.needs_growth_inputs(clock)
        fraction, lr = self.method.drop_fraction(clock), self.lr(self.step)
        update_now = self.replaces and self.method.is_update(clock)
        for layer in self.model.sparse_layers().values():
            layer.record_growth_inputs = record_growth
        params = self.model.parameters()
        for tensor in params.values():
            tensor.grad = None
        logits = self.model(x)
        loss = softmax_cross_entropy(logits, y)
        loss_value = float(loss.value)
        if not math.isfinite(loss_value):
            raise TrainingDiverged(f"loss became {loss_value} at step {self.step} (iteration {self.iteration + 1})")
        loss.backward()
        self.method.observe(self.model, record_growth)
        counts = None
        if update_now:  # the mask update replaces the weight step: t does not move
            counts = self._update_masks(clock, fraction)
        else:
            self.method.add_penalty_gradients(self.model)
            self.optimizer.step({k: t.value for k, t in params.items()}, {k: t.grad for k, t in params.items()}, lr)
            self.step += 1
            if self.method.updates and not self.replaces and self.method.is_update(clock):
                counts = self._update_masks(clock, fraction)
        self.iteration += 1
        record = {
            "iteration": self.iteration, "step": self.step, "epoch": round(self.iteration / self.per_epoch, 6),
            "loss": loss_value, "train_accuracy": float(np.mean(np.argmax(logits.value, axis=1) == y)),
            "lr": lr, "drop_fraction": fraction,
        }
        if counts is not None:
            record.update(mask_update=True, changes=counts)
        record["nnz"] = self.model.nnz()
        return record

    def _fixed_growth_batch(self):
        """``grow_source = "fixed_batch"``: the first ``grow_batch_size`` training examples, unaugmented (TF2's
        ``train.py`` grows from one fixed 1000-example batch of its training stream, ``ds_train.take(2000)
        .batch(1000)``, the second one)."""
        n = min(self.config.grow_batch_size, self.dataset.n_train)
        x = to_float32(self.dataset.train_x[:n])
        return (x.reshape(n, -1) if self.flatten else x), self.dataset.train_y[:n]

    def _observe_growth_batch(self) -> None:
        """One extra forward and backward pass on the fixed growth batch at the current weights (after the
        weight step when the update follows it, as TF2's ``mask_updater.update``), recorded for the grow step."""
        x, y = self.growth_batch
        for layer in self.model.sparse_layers().values():
            layer.record_growth_inputs = True
        for tensor in self.model.parameters().values():
            tensor.grad = None
        softmax_cross_entropy(self.model(x), y).backward()
        self.method.observe(self.model, True)

    def _update_masks(self, clock: int, fraction: float) -> dict:
        """Run the method's update, report each layer to :attr:`on_update`, return the change counts."""
        if self.growth_batch is not None:
            self._observe_growth_batch()
        results = self.method.update(self.model, self.optimizer, clock, fraction)
        if self.on_update is not None:
            for name, result in results.items():
                self.on_update(clock, name, result)
        return {name: {"dropped": len(r.dropped), "grown": len(r.grown), "regrown": len(r.regrown)}
                for name, r in results.items()}

    # ------------------------------------------------------------------ evaluation
    def evaluate(self) -> tuple[float, float]:
        """Test loss and accuracy (batches of 1000, no gradient recorded)."""
        loss, accuracy = self._loss_and_accuracy(self.dataset.test_x, self.dataset.test_y)
        self.last_accuracy = accuracy
        self.best_accuracy = accuracy if self.best_accuracy is None else max(self.best_accuracy, accuracy)
        return loss, accuracy

    def evaluate_validation(self) -> tuple[float, float]:
        """Loss and accuracy on the held-out validation set (``validation_fraction`` > 0)."""
        if self.validation is None:
            raise ValueError("this run holds out no validation set (validation_fraction = 0)")
        loss, accuracy = self._loss_and_accuracy(*self.validation)
        self.last_validation_accuracy = accuracy
        return loss, accuracy

    def _loss_and_accuracy(self, xs: np.ndarray, ys: np.ndarray) -> tuple[float, float]:
        for layer in self.model.sparse_layers().values():
            layer.record_growth_inputs = False
        losses, correct = 0.0, 0
        for start in range(0, len(ys), EVAL_BATCH):
            x = to_float32(xs[start : start + EVAL_BATCH])
            y = ys[start : start + EVAL_BATCH]
            if self.flatten:
                x = x.reshape(len(x), -1)
            logits = self.model(x)
            log_probs = log_softmax(logits, axis=1).value
            losses += float(-log_probs[np.arange(len(y)), y].sum())
            correct += int((np.argmax(logits.value, axis=1) == y).sum())
        return losses / len(ys), correct / len(ys)

    def should_evaluate(self) -> bool:
        interval = self.config.eval_interval
        if self.done:
            return True
        return self.iteration % (interval or self.per_epoch) == 0

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> tuple[dict, dict]:
        """Every array and number the run needs to continue bit for bit."""
        arrays = {}
        for name, layer in self.model.layers.items():
            if name in self.model.sparse_layers():
                w = layer.weight
                arrays.update({f"model/{name}/indptr": w.indptr, f"model/{name}/indices": w.indices,
                               f"model/{name}/data": w.data})
                if layer.forward_mask is not None:
                    arrays[f"model/{name}/forward_mask"] = layer.forward_mask
            else:
                arrays[f"model/{name}/weight"] = layer.weight.value
            arrays[f"model/{name}/bias"] = layer.bias.value
        arrays.update({f"optimizer/{k}": v for k, v in self.optimizer.state_arrays().items()})
        method_arrays, method_meta = self.method.state()
        arrays.update({f"method/{k}": v for k, v in method_arrays.items()})
        if self.initial_connectivity is not None:
            arrays["connectivity/initial"] = self.initial_connectivity
            arrays["connectivity/final"] = self.model.input_connectivity()
        meta = {
            "iteration": self.iteration, "step": self.step, "optimizer_iterations": self.optimizer.iterations,
            "best_accuracy": self.best_accuracy, "last_accuracy": self.last_accuracy,
            "last_validation_accuracy": self.last_validation_accuracy, "method": method_meta,
        }
        return arrays, meta

    def load_state(self, arrays: dict, meta: dict) -> None:
        """Restore :meth:`state` (the model was built from the same config, so shapes agree)."""
        try:
            for name, layer in self.model.layers.items():
                if name in self.model.sparse_layers():
                    forward = (arrays[f"model/{name}/forward_mask"] if layer.forward_mask is not None else None)
                    layer.set_weight(CSRWeight(arrays[f"model/{name}/indptr"], arrays[f"model/{name}/indices"],
                                               arrays[f"model/{name}/data"], layer.weight.shape), forward_mask=forward)
                else:
                    _restore(layer.weight, arrays[f"model/{name}/weight"], f"{name}.weight")
                _restore(layer.bias, arrays[f"model/{name}/bias"], f"{name}.bias")
            self.optimizer.load_state_arrays(
                {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")},
                meta["optimizer_iterations"])
            self.method.load_state({k[len("method/"):]: v for k, v in arrays.items() if k.startswith("method/")},
                                   meta["method"])
            if "connectivity/initial" in arrays:
                self.initial_connectivity = arrays["connectivity/initial"]
            self.iteration, self.step = int(meta["iteration"]), int(meta["step"])
            self.best_accuracy, self.last_accuracy = meta["best_accuracy"], meta["last_accuracy"]
            self.last_validation_accuracy = meta.get("last_validation_accuracy")
        except KeyError as missing:
            raise ValueError(f"corrupt checkpoint: entry {missing} is missing") from None


def _restore(tensor, value, name: str) -> None:
    value = np.asarray(value)
    if value.shape != tensor.value.shape or value.dtype != tensor.value.dtype:
        raise ValueError(f"corrupt checkpoint: {name} has {value.dtype} {value.shape}, "
                         f"the model needs {tensor.value.dtype} {tensor.value.shape}")
    tensor.value[...] = value
