"""Gradient checking by central finite differences along random directions (HIPS autograd's ``check_grads``
idea: compare a directional derivative, never a full Jacobian).

For a scalar function ``f`` of Tensors ``x_1 .. x_k`` and, for each input ``i`` in turn, a random
direction ``d`` (standard normal, drawn from an explicit Generator), the check compares

    numeric  = (f(.., x_i + eps*d, ..) - f(.., x_i - eps*d, ..)) / (2*eps)     (error O(eps^2))
    analytic = <grad_i f, d>                                                   (from backward())

and passes when ``|numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|)``. Everything is done on
float64 copies of the inputs, so the function must keep float64 inputs in float64. Checking each input
separately tells which gradient is wrong. The function must be deterministic (a dropout inside it draws its
mask from a Generator created inside the function with a fixed seed) and smooth near the inputs (no
relu argument or max-pool tie within ``eps`` of a kink).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rigl_ref.autograd.tensor import Tensor
from rigl_ref.validate import as_generator


@dataclass(frozen=True)
class DirectionCheck:
    """One comparison: input ``input_index`` moved along random direction number ``direction_index``."""

    input_index: int
    direction_index: int
    numeric: float
    analytic: float
    tolerance: float

    @property
    def error(self) -> float:
        return abs(self.numeric - self.analytic)

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)  # False for NaN


@dataclass(frozen=True)
class GradcheckReport:
    """All comparisons of one :func:`gradient_report` call; ``str(report)`` is a readable table."""

    checks: tuple[DirectionCheck, ...]
    shapes: tuple[tuple[int, ...], ...]
    eps: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def __str__(self) -> str:
        lines = [f"gradient check (central differences, eps={self.eps:g}): {'ok' if self.ok else 'MISMATCH'}"]
        header = ("input", 5), ("shape", 16), ("dir", 3), ("numeric", 16), ("analytic", 16), ("|diff|", 10), ("tol", 10)
        lines.append(" ".join(f"{title:>{width}}" for title, width in header))
        for c in self.checks:
            lines.append(
                f"{c.input_index:>5} {str(self.shapes[c.input_index]):>16} {c.direction_index:>3} {c.numeric:>16.9g} "
                f"{c.analytic:>16.9g} {c.error:>10.3g} {c.tolerance:>10.3g}{'' if c.ok else '  <-- wrong'}"
            )
        return "\n".join(lines)


def gradient_report(
    fn: Callable[..., Tensor],
    inputs: Sequence,
    rng,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    n_directions: int = 2,
) -> GradcheckReport:
    """Compare ``backward()`` gradients of the scalar ``fn(*inputs)`` with central finite differences.

    ``inputs`` are Tensors or arrays (their values are copied to float64); ``rng`` is a Generator or seed
    for the directions. Returns the report without raising on a mismatch.
    """
    rng = as_generator(rng)
    if not eps > 0 or n_directions < 1:
        raise ValueError(f"gradient_report: eps must be > 0 and n_directions >= 1, got {eps!r}, {n_directions!r}")
    values = [np.array(x.value if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]

    tensors = [Tensor(v, requires_grad=True) for v in values]
    out = _scalar_output(fn, tensors)
    if out.requires_grad:
        out.backward()
    grads = [t.grad if t.grad is not None else np.zeros_like(t.value) for t in tensors]

    checks = []
    for i, value in enumerate(values):
        for k in range(n_directions):
            direction = rng.standard_normal(value.shape)
            shifted = [list(values), list(values)]
            shifted[0][i], shifted[1][i] = value + eps * direction, value - eps * direction
            f_plus, f_minus = (float(_scalar_output(fn, [Tensor(a) for a in arrays]).value) for arrays in shifted)
            numeric = (f_plus - f_minus) / (2 * eps)
            analytic = float(np.sum(grads[i] * direction))
            tolerance = atol + rtol * max(abs(numeric), abs(analytic))
            checks.append(DirectionCheck(i, k, numeric, analytic, tolerance))
    return GradcheckReport(tuple(checks), tuple(v.shape for v in values), eps)


def _scalar_output(fn, tensors) -> Tensor:
    out = fn(*tensors)
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError(f"gradient_report: fn must return a Tensor with one element, got {out!r}")
    if out.dtype != np.float64:
        raise ValueError(f"gradient_report: fn must keep float64 inputs in float64, but returned {out.dtype}")
    return out


def check_gradients(fn: Callable[..., Tensor], inputs: Sequence, rng, **options) -> GradcheckReport:
    """Like :func:`gradient_report`, but raise ``AssertionError`` with the report's table on any mismatch."""
    report = gradient_report(fn, inputs, rng, **options)
    if not report.ok:
        raise AssertionError(str(report))
    return report
