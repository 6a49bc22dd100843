"""The primitive table: every differentiable operation as one row ``Primitive(name, forward, vjp)``.

This is HIPS autograd's design (``defvjp``), kept small: each row puts an operation's forward function
on arrays next to its vector-Jacobian products (VJPs). Everything else (``Tensor`` operators, the
friendly functions in :mod:`rigl_ref.autograd.ops`, models) calls :func:`apply`, which runs the forward
function and records a graph node for ``Tensor.backward()``. The rows defined here are the tuple
:data:`TABLE` at the end of this module; :data:`PRIMITIVES` maps every registered name to its row,
including rows registered by other modules.

Row contract
------------
``forward(*input_values, **static) -> ndarray``
    Pure function of the input arrays (one per tensor input, all of one dtype, float32 or float64) and of
    static keyword arguments (axis, stride, padding, labels, masks, CSR patterns, ...). It returns an array
    of the same dtype and checks its own shapes, raising ``ValueError`` that names the operation and the
    offending shapes or values.
``vjp``: one function per tensor input, ``vjp_i(g, out, *input_values, **static) -> gradient_i``
    ``g`` is the gradient of the final scalar with respect to the output ``out``; the function returns the
    gradient with respect to input ``i`` (its shape and dtype). Only the functions of inputs that require a
    gradient are called, so the gradient of a data batch or a frozen weight costs nothing (this is
    HIPS autograd's ``defvjp(f, vjp_0, vjp_1, ...)``). A one-input primitive may give a bare function.
    VJPs recompute what they need from the inputs (no hidden state is saved by the forward pass).
``joint_vjp`` (optional): ``joint_vjp(g, out, *input_values, needs, **static) -> tuple``
    The gradients of all inputs in one call (``None`` where ``needs[i]``, "input ``i`` requires a
    gradient", is false), for a fused row whose VJPs share work (the pre-activation gradient of
    ``bias_activation``). ``Tensor.backward()`` then calls it once per node instead of the ``vjp``
    functions, which :meth:`Primitive.fused` derives from it (so the two cannot disagree).

Broadcasting binary rows sum their gradient back to each input's shape with :func:`unbroadcast`.

Adding a primitive (from any module)
------------------------------------
A module one layer up, or one that sits next to this one, defines its own row and registers it when it is
imported; nothing here needs editing::

    from rigl_ref.autograd.primitives import Primitive, apply, register_primitive

    SPARSE_LINEAR = register_primitive(Primitive(
        "sparse_linear",
        forward=lambda x, weight_data, *, pattern: ...,          # x (batch, in), weight_data (nnz,)
        vjp=(lambda g, out, x, weight_data, *, pattern: ...,     # gradient for x
             lambda g, out, x, weight_data, *, pattern: ...),    # gradient for weight_data (nnz,)
    ))

    y = apply(SPARSE_LINEAR, x, w_data, pattern=csr_pattern)      # or apply("sparse_linear", ...)

The CSR pattern is a static argument: it is passed unchanged to the forward and to both VJPs and is not
differentiated. :func:`rigl_ref.autograd.gradcheck.check_gradients` checks a new row against central
finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from rigl_ref.autograd import conv
from rigl_ref.autograd.tensor import Tensor, as_tensor


@dataclass(frozen=True)
class Primitive:
    """One row of the table: a forward function and one VJP function per tensor input, and optionally one
    joint VJP for all inputs at once (module docstring; build such a row with :meth:`fused`)."""

    name: str
    forward: Callable[..., np.ndarray]
    vjp: tuple[Callable[..., np.ndarray], ...]
    joint_vjp: Callable[..., tuple] | None = None

    def __post_init__(self):
        vjp = (self.vjp,) if callable(self.vjp) else tuple(self.vjp)
        if not vjp or not all(callable(f) for f in vjp):
            raise TypeError(f"primitive {self.name!r}: vjp must be a function or a tuple of functions")
        if self.joint_vjp is not None and not callable(self.joint_vjp):
            raise TypeError(f"primitive {self.name!r}: joint_vjp must be a function or None")
        object.__setattr__(self, "vjp", vjp)

    @classmethod
    def fused(cls, name: str, forward: Callable[..., np.ndarray], joint_vjp: Callable[..., tuple],
              n_inputs: int) -> Primitive:
        """A row whose VJPs share their work: ``joint_vjp(g, out, *input_values, needs, **static)`` returns
        one gradient per input (None where ``needs[i]`` is false); ``vjp_i`` is that function asked for
        input ``i`` alone (HIPS autograd's ``defvjp_argnums``)."""

        def one_input(i):
            needs = tuple(k == i for k in range(n_inputs))
            return lambda g, out, *inputs, **static: joint_vjp(g, out, *inputs, needs=needs, **static)[i]

        return cls(name, forward, tuple(one_input(i) for i in range(n_inputs)), joint_vjp)

    @property
    def n_inputs(self) -> int:
        return len(self.vjp)


#: Every registered primitive by name (filled from ``TABLE`` and by :func:`register_primitive`).
PRIMITIVES: dict[str, Primitive] = {}


def register_primitive(primitive: Primitive) -> Primitive:
    """Add a row to the table; a name can be registered only once. Returns the row."""
    if not isinstance(primitive, Primitive):
        raise TypeError(f"register_primitive expects a Primitive, got {type(primitive).__name__}")
    if primitive.name in PRIMITIVES:
        raise ValueError(f"a primitive named {primitive.name!r} is already registered")
    PRIMITIVES[primitive.name] = primitive
    return primitive


def apply(primitive: str | Primitive, *inputs, **static) -> Tensor:
    """Run a primitive's forward function and, if any input requires a gradient, record the graph node.

    ``inputs`` are Tensors (arrays and Python numbers become constant Tensors; a number takes the dtype
    of the first Tensor input); ``static`` keyword arguments go unchanged to the forward and VJP functions.
    """
    if not isinstance(primitive, Primitive):
        if primitive not in PRIMITIVES:
            raise ValueError(f"unknown primitive {primitive!r}; registered: {', '.join(sorted(PRIMITIVES))}")
        primitive = PRIMITIVES[primitive]
    if len(inputs) != primitive.n_inputs:
        raise TypeError(f"{primitive.name}: takes {primitive.n_inputs} tensor input(s), got {len(inputs)}")
    like = next((x for x in inputs if isinstance(x, Tensor)), None)
    tensors = tuple(as_tensor(x, like) for x in inputs)
    dtype = tensors[0].dtype
    if any(t.dtype != dtype for t in tensors):
        raise TypeError(
            f"{primitive.name}: inputs have different dtypes {[str(t.dtype) for t in tensors]}; "
            f"convert them to one dtype (float32 or float64)"
        )
    value = primitive.forward(*(t.value for t in tensors), **static)
    if np.result_type(value) != dtype:
        raise RuntimeError(
            f"forward of primitive {primitive.name!r} returned {np.result_type(value)} for {dtype} inputs"
        )
    out = Tensor(value)
    if any(t.requires_grad for t in tensors):
        out.requires_grad = True
        out.parents, out.primitive, out.static = tensors, primitive, static
    return out


# ----- helpers shared by the rows -----
def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that NumPy broadcasting added or stretched, so that it has ``shape``."""
    if grad.ndim > len(shape):
        grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def normalize_axes(name: str, axis, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``axis`` (None, an int or a tuple of ints) as sorted non-negative axes of ``shape``."""
    ndim = len(shape)
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a!r} is out of range for an array of shape {shape}")
    normalized = sorted(int(a) % ndim for a in axes)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{name}: repeated axis in {axis!r} for an array of shape {shape}")
    return tuple(normalized)


def _broadcasting(name: str, op: Callable) -> Callable:
    """``op(x, y)`` with NumPy broadcasting, failing with a message that names ``name`` and both shapes."""

    def forward(x, y):
        try:
            return op(x, y)
        except ValueError:
            raise ValueError(f"{name}: shapes {x.shape} and {y.shape} cannot be broadcast together") from None

    return forward


# ----- matmul: (n, k) @ (k, m), or a batch (..., n, k) @ (k, m) -----
def _matmul(a, b):
    if a.ndim < 2 or b.ndim != 2:
        raise ValueError(f"matmul: expected (n, k) @ (k, m) or (..., n, k) @ (k, m), got shapes {a.shape} @ {b.shape}")
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")
    return a @ b


def _matmul_vjp_b(g, out, a, b):
    # sum over the batch of a_i^T g_i == (all rows of a)^T (all rows of g)
    return a.reshape(-1, a.shape[-1]).T @ g.reshape(-1, g.shape[-1])


# ----- reductions -----
def _sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=normalize_axes("sum", axis, x.shape), keepdims=keepdims)


def _mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=normalize_axes("mean", axis, x.shape), keepdims=keepdims)


def _spread(g, x, axis, keepdims):
    """The VJP of a sum: copy ``g`` back over the reduced axes of ``x``."""
    axes = normalize_axes("sum", axis, x.shape)
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, x.shape)


def _mean_vjp(g, out, x, axis=None, keepdims=False):
    count = int(np.prod([x.shape[a] for a in normalize_axes("mean", axis, x.shape)]))
    return _spread(g, x, axis, keepdims) / count


# ----- shape changes -----
def _reshape(x, shape):
    try:
        return x.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: cannot reshape an array of shape {x.shape} into shape {shape!r}") from None


def _transpose_axes(x, axes) -> tuple[int, ...]:
    if axes is None:
        return tuple(reversed(range(x.ndim)))
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of the axes of shape {x.shape}")
    return tuple(axes)


# ----- log-softmax and the fused softmax cross-entropy -----
def _log_softmax(x, axis=-1):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"log_softmax: axis must be an int, got {axis!r}")
    (axis,) = normalize_axes("log_softmax", axis, x.shape)
    shifted = x - x.max(axis=axis, keepdims=True)  # exp never overflows
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_vjp(g, out, x, axis=-1):
    return g - np.exp(out) * g.sum(axis=axis, keepdims=True)


def check_labels(logits: np.ndarray, labels) -> np.ndarray:
    """Integer class labels of shape ``(batch,)``, each in ``[0, classes)`` for ``logits (batch, classes)``."""
    if logits.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: logits must be 2-D (batch, classes), got shape {logits.shape}")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"softmax_cross_entropy: labels must be integers, got dtype {labels.dtype}")
    batch, classes = logits.shape
    if labels.shape != (batch,):
        raise ValueError(
            f"softmax_cross_entropy: labels have shape {labels.shape}, expected ({batch},) for logits {logits.shape}"
        )
    if batch == 0:
        raise ValueError("softmax_cross_entropy: the batch is empty (logits of shape (0, classes))")
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        raise ValueError(
            f"softmax_cross_entropy: label {labels[bad[0]]} at index {bad[0]} is out of range for {classes} classes"
        )
    return labels


def _softmax_cross_entropy(logits, labels):
    """Mean over the batch of ``-log softmax(logits_i)[labels_i]``, computed through a stable log-softmax."""
    labels = check_labels(logits, labels)
    picked = _log_softmax(logits, axis=1)[np.arange(logits.shape[0]), labels]
    return np.asarray(-picked.mean())


def _softmax_cross_entropy_vjp(g, out, logits, labels):
    # d/dlogits of the mean loss: (softmax - one_hot(labels)) / batch
    p = np.exp(_log_softmax(logits, axis=1))
    p[np.arange(logits.shape[0]), labels] -= 1
    return p * (g / logits.shape[0])


# ----- THE TABLE: name, forward, VJP per tensor input -----
#: The built-in primitives: name, forward function and one VJP per tensor input.
TABLE: tuple[Primitive, ...] = (
    Primitive("add", _broadcasting("add", np.add),
              (lambda g, out, x, y: unbroadcast(g, x.shape), lambda g, out, x, y: unbroadcast(g, y.shape))),
    Primitive("sub", _broadcasting("sub", np.subtract),
              (lambda g, out, x, y: unbroadcast(g, x.shape), lambda g, out, x, y: unbroadcast(-g, y.shape))),
    Primitive("mul", _broadcasting("mul", np.multiply),
              (lambda g, out, x, y: unbroadcast(g * y, x.shape), lambda g, out, x, y: unbroadcast(g * x, y.shape))),
    Primitive("div", _broadcasting("div", np.divide),
              (lambda g, out, x, y: unbroadcast(g / y, x.shape),
               lambda g, out, x, y: unbroadcast(-g * out / y, y.shape))),
    Primitive("neg", np.negative, lambda g, out, x: -g),
    Primitive("matmul", _matmul, (lambda g, out, a, b: g @ b.T, _matmul_vjp_b)),
    Primitive("sum", _sum, lambda g, out, x, axis=None, keepdims=False: _spread(g, x, axis, keepdims)),
    Primitive("mean", _mean, _mean_vjp),
    Primitive("reshape", _reshape, lambda g, out, x, shape: g.reshape(x.shape)),
    Primitive("transpose", lambda x, axes=None: x.transpose(_transpose_axes(x, axes)),
              lambda g, out, x, axes=None: g.transpose(np.argsort(_transpose_axes(x, axes)))),
    Primitive("relu", lambda x: np.maximum(x, 0), lambda g, out, x: g * (x > 0)),  # gradient 0 at x == 0
    Primitive("exp", np.exp, lambda g, out, x: g * out),
    Primitive("log", np.log, lambda g, out, x: g / x),
    Primitive("log_softmax", _log_softmax, _log_softmax_vjp),
    Primitive("softmax_cross_entropy", _softmax_cross_entropy, _softmax_cross_entropy_vjp),
    Primitive("conv2d", conv.conv2d_forward, (conv.conv2d_vjp_input, conv.conv2d_vjp_weight)),
    Primitive("max_pool2d", conv.max_pool2d_forward, conv.max_pool2d_vjp),
    Primitive("dropout", lambda x, mask: x * mask, lambda g, out, x, mask: g * mask),  # mask: keep / (1 - p)
)
for _row in TABLE:
    register_primitive(_row)
