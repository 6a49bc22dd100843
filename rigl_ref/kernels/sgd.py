"""SGD with momentum in one pass over a parameter (``rigl_ref.optim.SGD``'s ``"separate"`` rounding).

``sgd_momentum_step`` updates ``param`` and its velocity ``velocity`` in place, element by element, with
every product and sum rounded on its own in the parameter's dtype (``g = grad + decay * w``;
``m <- mu * m + g``; ``w <- w - lr * m``, or with Nesterov ``w <- w - lr * (g + mu * m)``), the same
operations that NumPy's whole-array form performs one array at a time, so the two agree bit for bit. Its
twin (``reference.sgd_momentum_step``) is that NumPy form. Why a kernel: the NumPy form makes five passes
and three temporaries per parameter, which the trainer pays on every step (measured on the
784-1000-1000-10 MLP at 95 % sparsity: ``bench/epoch.py``'s step; see docs/performance.md).
"""

from __future__ import annotations

from .jit import jit


@jit
def sgd_momentum_step(param, grad, velocity, lr, momentum, decay, decayed, nesterov):
    """In place on the 1-D arrays ``param`` and ``velocity`` (``grad`` the same length), scalars in the
    parameter's dtype; ``decayed``: add the coupled L2 term ``decay * param`` to the gradient."""
    for t in range(param.shape[0]):
        g = grad[t] + decay * param[t] if decayed else grad[t]
        v = velocity[t] * momentum + g
        velocity[t] = v
        direction = g + momentum * v if nesterov else v
        param[t] = param[t] - lr * direction
