"""Optimizers whose state lives in arrays aligned with each parameter's data.

A parameter is a named NumPy array: a dense bias or kernel, or the ``data`` vector of a CSR weight (one
entry per *active* connection). Each optimizer keeps, per parameter name, a dict of **slots** (e.g.
``{"momentum": array}``) of exactly the parameter's shape. After a RigL/SET pattern rebuild the loop
reads the slots with :meth:`Optimizer.slots`, lets the rebuild remap them (kept entries keep their value,
truly new entries start at 0, as the convention says) and stores them back with
:meth:`Optimizer.set_slots`. A step with a parameter whose shape no longer matches its slots raises
``ValueError`` instead of silently mixing entries.

Weight decay is the coupled L2 term ``g <- g + weight_decay * w`` applied to the parameter array, so on
a CSR weight it touches **active weights only**. The official TF1 code (google-research/rigl, masked
layers of ``tf.contrib.model_pruning``) puts the L2 regulariser on the raw dense ``kernel``, so there the
inactive entries keep decaying in memory; they never reach the output, so both placements train the
same active weights (google-research/rigl ``rigl/sparse_optimizers_base.py``, ``apply_gradients``). Biases are not decayed by default (:func:`is_decayed`).

Arithmetic is done in the parameter's dtype, with scalars cast to that dtype first, so float32 runs are
bit-for-bit reproducible. :class:`SGD` can also round as torch does (``arithmetic="fused"``).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from rigl_ref.kernels import reference, sgd_momentum_step
from rigl_ref.optim.fused import fma32
from rigl_ref.validate import check_finite


def is_decayed(name: str) -> bool:
    """Default weight-decay filter: every parameter except biases (names ending in ``bias``)."""
    return not name.endswith("bias")


class Optimizer:
    """Base class: per-parameter slot storage, shape checks and (de)serialisation.

    Subclasses set ``slot_names`` and implement :meth:`_update`, which changes ``param`` in place.
    """

    slot_names: tuple[str, ...] = ()

    def __init__(self, *, weight_decay: float = 0.0, decay_filter: Callable[[str], bool] = is_decayed):
        weight_decay = float(weight_decay)
        if not weight_decay >= 0.0 or not np.isfinite(weight_decay):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.weight_decay = weight_decay
        self.decay_filter = decay_filter
        self.iterations = 0  # number of completed step() calls (Adam's bias correction uses it)
        self._slots: dict[str, dict[str, np.ndarray]] = {}

    # ----------------------------------------------------------------- stepping
    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Apply one update to every parameter in ``params`` (in place), using ``grads`` of the same names."""
        lr = float(lr)
        if not np.isfinite(lr) or lr < 0.0:
            raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
        missing = sorted(set(params) - set(grads))
        if missing:
            raise ValueError(f"grads has no entry for parameter(s) {missing}")
        self.iterations += 1
        for name, param in params.items():
            grad = np.asarray(grads[name])
            if grad.shape != param.shape:
                raise ValueError(
                    f"gradient of parameter {name!r} has shape {grad.shape}, but the parameter has {param.shape}"
                )
            slots = self._slots_for(name, param)
            dtype = param.dtype.type
            decay = dtype(self.weight_decay) if self.weight_decay and self.decay_filter(name) else None
            self._update(param, grad.astype(param.dtype, copy=False), slots, dtype(lr), decay)

    def _update(self, param, grad, slots, lr, decay) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # ----------------------------------------------------------------- slots
    def _slots_for(self, name: str, param: np.ndarray) -> dict[str, np.ndarray]:
        slots = self._slots.get(name)
        if slots is None:
            slots = {slot: np.zeros_like(param) for slot in self.slot_names}
            self._slots[name] = slots
        for slot, array in slots.items():
            if array.shape != param.shape:
                raise ValueError(
                    f"optimizer slot {slot!r} of parameter {name!r} has shape {array.shape}, but the parameter "
                    f"has {param.shape}: remap the slots (set_slots) after every pattern rebuild"
                )
        return slots

    def slots(self, name: str) -> dict[str, np.ndarray]:
        """The slot arrays of parameter ``name`` (the live arrays; empty dict before its first step)."""
        return self._slots.get(name, {})

    def set_slots(self, name: str, slots: Mapping[str, np.ndarray]) -> None:
        """Replace the slots of ``name``, e.g. with arrays remapped by a pattern rebuild."""
        if set(slots) != set(self.slot_names):
            raise ValueError(
                f"slots for {name!r} must have exactly the names {list(self.slot_names)}, got {sorted(slots)}"
            )
        shapes = {np.shape(array) for array in slots.values()}
        if len(shapes) > 1:
            raise ValueError(f"slots for {name!r} must share one shape, got {sorted(shapes)}")
        self._slots[name] = {slot: np.array(slots[slot], copy=True) for slot in self.slot_names}

    # ----------------------------------------------------------------- checkpoints
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every slot as ``{"<param>/<slot>": array}``, ready for ``np.savez``."""
        return {f"{name}/{slot}": array for name, slots in self._slots.items() for slot, array in slots.items()}

    def load_state_arrays(self, arrays: Mapping[str, np.ndarray], iterations: int) -> None:
        """Inverse of :meth:`state_arrays` (plus the iteration counter)."""
        loaded: dict[str, dict[str, np.ndarray]] = {}
        for key, array in arrays.items():
            name, _, slot = key.rpartition("/")
            if slot not in self.slot_names or not name:
                raise ValueError(f"optimizer state key {key!r} does not name a slot of {type(self).__name__}")
            loaded.setdefault(name, {})[slot] = check_finite(f"optimizer state {key!r}", np.array(array))
        for name, slots in loaded.items():
            self.set_slots(name, slots)
        self.iterations = int(iterations)


class SGD(Optimizer):
    """SGD with optional (Nesterov) momentum, as TF1 ``MomentumOptimizer`` and ``torch.optim.SGD`` compute it.

    With ``g = grad + weight_decay * w`` (coupled L2), ``mu = momentum``:

    * no momentum: ``w <- w - lr * g``;
    * heavy ball: ``m <- mu * m + g``; ``w <- w - lr * m``;
    * Nesterov: ``m <- mu * m + g``; ``w <- w - lr * (g + mu * m)``.

    The velocity ``m`` holds no learning rate, so an lr schedule acts at once (both frameworks do this).
    The paper drivers use momentum 0.9 with Nesterov (google-research/rigl ``rigl/mnist/mnist_train_eval.py``).

    ``arithmetic`` says how each line is rounded:

    * ``"separate"`` (default): every product and sum rounded on its own in the parameter's dtype, as NumPy
      (and TF1's Eigen kernels) evaluate the formulas above;
    * ``"fused"``: the rounding of ``torch.optim.SGD`` (single-tensor path, the CPU default) in float32, whose
      ``add_(x, alpha=a)`` is one fused multiply-add (:func:`rigl_ref.optim.fused.fma32`):
      ``g = fma(wd, w, grad)``; ``m = fl(fl(mu * m) + g)``; Nesterov ``d = fma(mu, m, g)``;
      ``w = fma(-lr, d, w)`` (torch/optim/sgd.py ``_single_tensor_sgd``). Float32 parameters only. With
      it, rigl_ref's step equals torch's bit for bit (tests/differential/test_sgd_arithmetic.py); with
      ``"separate"`` about 5 % of the entries differ by an ulp after one step.
    """

    ARITHMETIC = ("separate", "fused")

    def __init__(self, *, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 decay_filter: Callable[[str], bool] = is_decayed, arithmetic: str = "separate"):
        super().__init__(weight_decay=weight_decay, decay_filter=decay_filter)
        if arithmetic not in self.ARITHMETIC:
            raise ValueError(f"arithmetic must be one of {self.ARITHMETIC}, got {arithmetic!r}")
        self.arithmetic = arithmetic
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0, got momentum=0.0")
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if momentum > 0.0 else ()

    def _update(self, param, grad, slots, lr, decay):
        if self.arithmetic == "fused":
            self._fused_update(param, grad, slots, lr, decay)
            return
        if not self.slot_names:
            param -= lr * (grad + decay * param if decay is not None else grad)
            return
        velocity = slots["momentum"]
        scalars = (lr, param.dtype.type(self.momentum), decay or param.dtype.type(0), decay is not None, self.nesterov)
        if param.flags.c_contiguous and velocity.flags.c_contiguous:  # one pass, the same rounding
            sgd_momentum_step(param.reshape(-1), np.ascontiguousarray(grad).reshape(-1), velocity.reshape(-1), *scalars)
        else:  # any other memory layout: the same formulas, one NumPy array operation at a time
            reference.sgd_momentum_step(param, grad, velocity, *scalars)

    def _fused_update(self, param, grad, slots, lr, decay):
        """torch's rounding: each ``add_(x, alpha=a)`` one fused multiply-add (see the class docstring)."""
        if param.dtype != np.float32:
            raise ValueError(f"SGD(arithmetic='fused') needs float32 parameters, got {param.dtype}")
        g = fma32(decay, param, grad) if decay is not None else grad
        direction = g
        if self.slot_names:
            mu = np.float32(self.momentum)
            velocity = slots["momentum"]
            velocity *= mu
            velocity += g
            direction = fma32(mu, velocity, g) if self.nesterov else velocity
        param[...] = fma32(-lr, direction, param)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015); ``decoupled=True`` gives AdamW (Loshchilov & Hutter 2019).

    ``m <- b1 m + (1-b1) g``; ``v <- b2 v + (1-b2) g^2``; ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)`` with
    ``m_hat = m / (1 - b1^t)``, ``v_hat = v / (1 - b2^t)`` and ``t`` the global step count (as optax and
    jaxpruner keep it: a grown connection's moments restart at 0, its ``t`` does not).
    Adam adds the L2 term to ``g``; AdamW instead shrinks ``w <- w - lr * weight_decay * w`` before the step,
    the order of ``torch.optim.AdamW``.
    """

    slot_names = ("m", "v")

    def __init__(self, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled: bool = False, decay_filter: Callable[[str], bool] = is_decayed):
        super().__init__(weight_decay=weight_decay, decay_filter=decay_filter)
        for name, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
        if not float(eps) > 0.0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.decoupled = bool(decoupled)

    def _update(self, param, grad, slots, lr, decay):
        f = param.dtype.type
        if decay is not None and self.decoupled:
            param -= lr * decay * param
            g = grad
        else:
            g = grad + decay * param if decay is not None else grad
        b1, b2, t = f(self.beta1), f(self.beta2), self.iterations
        m, v = slots["m"], slots["v"]
        m *= b1
        m += (f(1) - b1) * g
        v *= b2
        v += (f(1) - b2) * (g * g)
        m_hat = m / f(1.0 - self.beta1**t)
        v_hat = v / f(1.0 - self.beta2**t)
        param -= lr * m_hat / (np.sqrt(v_hat) + f(self.eps))


class AdamW(Adam):
    """Adam with decoupled weight decay: ``Adam(decoupled=True)``."""

    def __init__(self, **kwargs):
        super().__init__(decoupled=True, **kwargs)
