"""The ``Tensor``: a NumPy array, its gradient, and the graph node that produced it.

A Tensor made by a primitive (see :mod:`rigl_ref.autograd.primitives`) remembers the primitive, its
input Tensors (``parents``) and its static keyword arguments. ``backward()`` walks that graph once in
reverse topological order and applies each primitive's vector-Jacobian product (VJP), exactly as
reverse-mode differentiation is described in HIPS autograd's tutorial ("What's going on under the hood").

Conventions:

* Values are float32 or float64 and keep the dtype they were given; nothing is silently promoted.
  Integer data that a loss needs (class labels) is a static argument, never a Tensor.
* A Tensor requires a gradient if it was created with ``requires_grad=True`` (a leaf, e.g. a weight) or
  if any of its parents does. Nodes that need no gradient record no parents, so evaluation builds no graph.
* Gradients accumulate: ``backward()`` adds into ``.grad`` of every leaf that requires a gradient (and of
  intermediate Tensors that called :meth:`Tensor.retain_grad`); set ``grad = None`` or call
  :meth:`Tensor.zero_grad` between steps.
"""

from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _checked_value(value, dtype=None) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"Tensor value must have dtype float32 or float64, got {array.dtype}; convert it with "
            f".astype(numpy.float32) (integer class labels are passed to a loss as a static argument)"
        )
    return array


class Tensor:
    """A float32/float64 NumPy array ``value`` with an optional gradient ``grad`` of the same shape."""

    __slots__ = ("value", "grad", "requires_grad", "parents", "primitive", "static", "_retains_grad")
    __array_priority__ = 100  # ``ndarray + Tensor`` defers to ``Tensor.__radd__``

    def __init__(self, value, requires_grad: bool = False, *, dtype=None):
        self.value = _checked_value(value, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self.parents: tuple[Tensor, ...] = ()
        self.primitive = None  # the Primitive that made this Tensor; None for a leaf
        self.static: dict = {}
        self._retains_grad = False

    # ----- array-like facts -----
    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def is_leaf(self) -> bool:
        return self.primitive is None

    def __repr__(self) -> str:
        made_by = f", primitive={self.primitive.name!r}" if self.primitive is not None else ""
        return f"Tensor(shape={self.shape}, dtype={self.dtype}, requires_grad={self.requires_grad}{made_by})"

    # ----- gradients -----
    def zero_grad(self) -> None:
        """Forget the accumulated gradient (same as ``self.grad = None``)."""
        self.grad = None

    def retain_grad(self) -> Tensor:
        """Also store the gradient of this intermediate (non-leaf) Tensor during ``backward()``."""
        self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """A leaf Tensor sharing this value, outside the graph and requiring no gradient."""
        return Tensor(self.value)

    def backward(self, seed=None) -> None:
        """Accumulate d(self)/d(leaf), contracted with ``seed``, into ``.grad`` of every leaf in the graph.

        ``seed`` is the gradient of some scalar with respect to ``self``; it defaults to 1 for a Tensor
        with exactly one element and is required otherwise.
        """
        if not self.requires_grad:
            raise ValueError("backward: this Tensor does not require a gradient (no input had requires_grad=True)")
        if seed is None:
            if self.size != 1:
                raise ValueError(
                    f"backward: a seed gradient is required for a non-scalar Tensor of shape {self.shape}"
                )
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.asarray(seed)
            if seed.shape != self.shape:
                raise ValueError(f"backward: seed has shape {seed.shape}, but the Tensor has shape {self.shape}")
            seed = seed.astype(self.dtype, copy=False)

        grads = {id(self): seed}  # gradient of each node, held only until it has been passed on
        for node in reversed(_topological_order(self)):  # every consumer of a node runs before the node
            g = grads.pop(id(node))
            if node.primitive is None or node._retains_grad:  # copy: never alias the seed or another grad
                node.grad = np.array(g) if node.grad is None else node.grad + g
            if node.primitive is None:
                continue
            # chain rule: each input's VJP maps the output gradient to that input's gradient
            inputs = tuple(parent.value for parent in node.parents)
            needs = tuple(parent.requires_grad for parent in node.parents)
            if node.primitive.joint_vjp is not None:  # a fused row: every needed gradient from one call
                parent_grads = node.primitive.joint_vjp(g, node.value, *inputs, needs=needs, **node.static)
            else:
                parent_grads = tuple(vjp(g, node.value, *inputs, **node.static) if need else None
                                     for vjp, need in zip(node.primitive.vjp, needs))
            for i, (parent, parent_grad) in enumerate(zip(node.parents, parent_grads)):
                if needs[i]:
                    _check_gradient(node, i, parent_grad)
                    key = id(parent)
                    grads[key] = parent_grad if key not in grads else grads[key] + parent_grad

    # ----- operators: each one is a primitive -----
    def __add__(self, other):
        return _apply("add", self, other)

    def __radd__(self, other):
        return _apply("add", other, self)

    def __sub__(self, other):
        return _apply("sub", self, other)

    def __rsub__(self, other):
        return _apply("sub", other, self)

    def __mul__(self, other):
        return _apply("mul", self, other)

    def __rmul__(self, other):
        return _apply("mul", other, self)

    def __truediv__(self, other):
        return _apply("div", self, other)

    def __rtruediv__(self, other):
        return _apply("div", other, self)

    def __matmul__(self, other):
        return _apply("matmul", self, other)

    def __rmatmul__(self, other):
        return _apply("matmul", other, self)

    def __neg__(self):
        return _apply("neg", self)

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        return _apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        return _apply("mean", self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape) -> Tensor:
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _apply("reshape", self, shape=tuple(shape))

    def transpose(self, *axes) -> Tensor:
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _apply("transpose", self, axes=tuple(axes) if axes else None)

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        return _apply("transpose", self, axes=None)


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """Return ``value`` if it is a Tensor, else wrap it as a constant (``requires_grad=False``).

    A Python number takes the dtype of ``like`` (so ``x * 2.0`` stays float32 for a float32 ``x``, as in
    NumPy 2), or float64 without ``like``; an array keeps its own dtype.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Tensor(value, dtype=like.dtype if like is not None else np.float64)
    return Tensor(value)


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes that require a gradient, each after all of its parents (iterative depth-first search)."""
    order, visited = [], {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, pending_parents = stack[-1]
        for parent in pending_parents:
            if parent.requires_grad and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, iter(parent.parents)))
                break
        else:  # every parent is placed: place the node
            stack.pop()
            order.append(node)
    return order


def _check_gradient(node: Tensor, i: int, grad) -> None:
    """Catch a wrong VJP row early: the gradient of input ``i`` must have that input's shape and dtype."""
    parent = node.parents[i]
    if np.shape(grad) != parent.shape or np.result_type(grad) != parent.dtype:
        raise RuntimeError(
            f"VJP {i} of primitive {node.primitive.name!r} returned a gradient of shape {np.shape(grad)} and "
            f"dtype {np.result_type(grad)} for an input of shape {parent.shape} and dtype {parent.dtype}"
        )


def _apply(name: str, *inputs, **static) -> Tensor:
    from rigl_ref.autograd import primitives  # deferred: primitives imports this module

    return primitives.apply(name, *inputs, **static)
