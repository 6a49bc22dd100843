"""Export and import a rigl_ref model's weights, masks and optimizer slots in three layouts.

Every layout is a permutation of one *canonical* set of dense arrays, the dense view of what rigl_ref's
layers store (``rigl_ref.nn.layers`` / ``rigl_ref.nn.sparse_layers``), keyed by layer name:

==============================  ========================  ==============================================
canonical key                   linear layer              conv layer (``k x k`` kernel)
==============================  ========================  ==============================================
``<layer>.weight``              ``(in, out)``             ``(out, in, kh, kw)`` (the CSR rows ``(out,
                                                          in*kh*kw)`` reshaped; OIHW of a dense Conv2d)
``<layer>.weight_mask``         bool, as ``weight``       bool, as ``weight`` (sparse layers only)
``<layer>.bias``                ``(out,)``                ``(out,)``
``<layer>.weight.<slot>``       as ``weight``             as ``weight`` (0 at inactive positions)
``<layer>.bias.<slot>``         ``(out,)``                ``(out,)``
``optimizer.iterations``        0-d int64: ``Optimizer.iterations`` (when an optimizer is given)
==============================  ========================  ==============================================

``<slot>`` is the optimizer's slot name (``SGD``: ``momentum``; ``Adam``/``AdamW``: ``m``, ``v``). A
dense layer (no ``CSRWeight``) has no mask key. The three layouts:

* **npz** (:func:`save_npz` / :func:`load_npz`): the canonical arrays as they are, one ``.npz`` file,
  written atomically (temp file + ``os.replace``), read with ``allow_pickle=False``.
* **torch** (:func:`to_torch` / :func:`from_torch`): ``{"state_dict": ..., "optimizer": ...}``. In
  ``state_dict`` a linear ``weight`` is transposed to torch's ``(out, in)`` (``nn.Linear`` computes
  ``x @ W.T``); a conv ``weight`` is already torch's ``(out, in, kh, kw)`` (no permutation). A sparse
  layer adds ``<layer>.weight_mask``: a bool tensor of the weight's shape, as rigl-torch 0.5.2 keeps its
  masks (``McCrearyD/rigl-torch rigl_torch/RigL.py``: ``RigLScheduler.backward_masks`` holds one bool
  tensor of ``w.shape`` per weight, ``None`` for a dense layer; it registers no buffer, so the key name
  follows ``torch.nn.utils.prune``'s ``weight_mask`` buffer). ``optimizer`` maps ``"<layer>.weight"`` /
  ``"<layer>.bias"`` to the slots under torch's names: ``momentum`` -> ``momentum_buffer`` (what
  rigl-torch's ``reset_momentum`` masks), ``m`` -> ``exp_avg``, ``v`` -> ``exp_avg_sq``, plus ``step``
  for every parameter (float32 scalar ``Optimizer.iterations``, as ``torch.optim.Adam`` keeps it; torch's
  SGD ignores it; exact up to 2**24; on import all must agree). Arrays are NumPy unless ``as_torch=True``; import takes
  either.
* **flax** (:func:`to_flax` / :func:`from_flax`): ``{"params": {layer: {"kernel", "bias"}}, "masks":
  {layer: {"kernel": mask or None, "bias": None}}, "opt_state": ...}``, NumPy only. A linear ``kernel``
  is ``(in, out)`` (no permutation); a conv ``kernel`` is ``(kh, kw, in, out)``: canonical
  ``transpose(2, 3, 1, 0)``, inverse ``transpose(3, 2, 0, 1)`` (the layout of ``LayerSpec.framework_shape``
  that the sparsity distributions read). ``masks`` is the parallel tree jaxpruner keeps (``None`` =
  not sparse). ``opt_state`` follows optax's names: SGD momentum ``{"trace": tree}``
  (``optax.TraceState``), Adam ``{"mu": tree, "nu": tree}`` (``optax.ScaleByAdamState``), each with
  ``"count"`` (int32 scalar, the iteration count; optax's Adam keeps it so).

Import rebuilds every sparse layer's ``CSRWeight`` from the mask: each True position becomes an active
connection, **even if its weight is 0** (a grown weight starts at 0). With ``strict=True`` (default) an
import refuses a mask whose active count differs from the model's layer, and nonzero weights or slots at
inactive positions (rigl_ref keeps no value there, so they would be lost); ``strict=False`` accepts a new
count and drops those values. Every input is checked before anything changes; a bad one is a one-line
``ValueError`` naming the source (file) and the key: a missing or unexpected key, a wrong shape or dtype
(weights and slots must have the model's dtype), a mask that is not bool, a NaN or infinite value. Only
the model and optimizer are touched; a ``Trainer``'s method state (e.g. SNFS's gradient EMA) is not.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from rigl_ref.train.files import write_atomic

TORCH_SLOTS = {"momentum": "momentum_buffer", "m": "exp_avg", "v": "exp_avg_sq"}
OPTAX_SLOTS = {"momentum": "trace", "m": "mu", "v": "nu"}
COUNT_KEY = "optimizer.iterations"


@dataclass(frozen=True)
class _Entry:
    """One canonical array: its key, layer, role (weight, mask, bias, slot, count) and storage shape."""

    key: str
    layer: str
    kind: str
    role: str
    shape: tuple
    dtype: np.dtype
    param: str = ""  # for slots: "weight" or "bias"
    slot: str = ""

    @property
    def weight_like(self) -> bool:
        return self.role in ("weight", "mask") or (self.role == "slot" and self.param == "weight")


def _storage_shape(spec) -> tuple:
    if spec.kind == "linear":
        return (spec.fan_in, spec.fan_out)
    return (spec.fan_out, spec.fan_in, spec.kernel_size, spec.kernel_size)


def _schema(model, optimizer) -> list[_Entry]:
    sparse = model.sparse_layers()
    entries = []
    for spec in model.specs:
        layer = model.layers[spec.name]
        dtype = layer.bias.value.dtype
        shape, name = _storage_shape(spec), spec.name
        entries.append(_Entry(f"{name}.weight", name, spec.kind, "weight", shape, dtype))
        if name in sparse:
            entries.append(_Entry(f"{name}.weight_mask", name, spec.kind, "mask", shape, np.dtype(bool)))
        entries.append(_Entry(f"{name}.bias", name, spec.kind, "bias", (spec.fan_out,), dtype))
        for slot in optimizer.slot_names if optimizer is not None else ():
            for param, pshape in (("weight", shape), ("bias", (spec.fan_out,))):
                entries.append(_Entry(f"{name}.{param}.{slot}", name, spec.kind, "slot", pshape, dtype, param, slot))
    if optimizer is not None:
        entries.append(_Entry(COUNT_KEY, "", "", "count", (), np.dtype(np.int64)))
    return entries


# ---------------------------------------------------------------------- canonical arrays of a model
def to_arrays(model, optimizer=None) -> dict[str, np.ndarray]:
    """The canonical arrays of ``model`` (and ``optimizer``'s slots) keyed as in the module docstring."""
    sparse = model.sparse_layers()
    arrays: dict[str, np.ndarray] = {}
    for spec in model.specs:
        name, layer, shape = spec.name, model.layers[spec.name], _storage_shape(spec)
        if name in sparse:
            mask2d, values2d = layer.weight.to_dense()
            arrays[f"{name}.weight"] = values2d.reshape(shape)
            arrays[f"{name}.weight_mask"] = mask2d.reshape(shape)
        else:
            mask2d = None
            arrays[f"{name}.weight"] = layer.weight.value.copy()
        arrays[f"{name}.bias"] = layer.bias.value.copy()
        for slot in optimizer.slot_names if optimizer is not None else ():
            for param, values in (("weight", layer.parameters()["weight"].value), ("bias", layer.bias.value)):
                stored = optimizer.slots(f"{name}.{param}").get(slot, np.zeros_like(values))
                if stored.shape != values.shape:
                    raise ValueError(f"optimizer slot {slot!r} of {name}.{param} has shape {stored.shape}, the "
                                     f"parameter {values.shape}: remap the slots after every pattern rebuild")
                if param == "weight" and mask2d is not None:
                    dense = np.zeros(mask2d.shape, dtype=stored.dtype)
                    dense[mask2d] = stored  # boolean indexing is row-major, the CSR entry order
                    stored = dense.reshape(shape)
                arrays[f"{name}.{param}.{slot}"] = np.array(stored, copy=True)
    if optimizer is not None:
        arrays[COUNT_KEY] = np.array(optimizer.iterations, dtype=np.int64)
    return arrays


def _as_numpy(value):
    """A NumPy array from an array or a torch tensor (torch is never imported here)."""
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _checked(given: Mapping, entries, source: str, names: Mapping[str, str], to_storage) -> dict[str, np.ndarray]:
    """Check ``given`` (format key -> value) against ``entries``; return canonical key -> storage array.

    ``names`` maps each canonical key to its key in the format; ``to_storage(entry, array)`` permutes a
    format array into the storage layout (and gives the shape the format expects via ``expected``).
    """
    expected = {names[e.key]: e for e in entries}
    missing = [k for k in expected if k not in given]
    if missing:
        raise ValueError(f"{source}: missing key(s) {missing}")
    extra = sorted(str(k) for k in given if k not in expected)
    if extra:
        hint = " (pass the optimizer to import its slots)" if any(k.count(".") > 1 or "optimizer" in k for k in extra) else ""
        raise ValueError(f"{source}: unexpected key(s) {extra}{hint}")
    out = {}
    for key, entry in expected.items():
        array = _as_numpy(given[key])
        where = f"{source}, key {key!r}"
        if entry.role == "mask" and array.dtype != bool:
            raise ValueError(f"{where}: a mask must have dtype bool, got {array.dtype}")
        if entry.role == "count":
            if array.shape != () or array.dtype.kind not in "iuf" or array != np.floor(array) or array < 0:
                raise ValueError(f"{where}: the iteration count must be a non-negative integer scalar, got "
                                 f"{array.dtype} {array.shape}")
            out[entry.key] = np.array(int(array), dtype=np.int64)
            continue
        if entry.role != "mask" and array.dtype != entry.dtype:
            raise ValueError(f"{where}: dtype {array.dtype}, the model needs {entry.dtype}")
        want = to_storage(entry, np.zeros(entry.shape, bool), inverse=True).shape
        if array.shape != want:
            raise ValueError(f"{where}: shape {array.shape}, expected {want}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            bad = int(np.count_nonzero(~np.isfinite(array)))
            raise ValueError(f"{where}: {bad} NaN or infinite value(s)")
        out[entry.key] = np.array(to_storage(entry, array), copy=True)
    return out


def _csr_shape(entry) -> tuple[int, int]:
    return (entry.shape[0], int(np.prod(entry.shape[1:])))


def _apply(arrays, entries, model, optimizer, *, strict: bool, source: str, names) -> None:
    """Install checked canonical ``arrays`` into ``model`` / ``optimizer`` (all checks happen first)."""
    from rigl_ref.sparse import CSRWeight

    sparse = model.sparse_layers()
    by_key = {e.key: e for e in entries}
    masks = {}
    for entry in entries:
        if entry.role != "mask":
            continue
        mask = arrays[entry.key].reshape(_csr_shape(entry))
        have = sparse[entry.layer].weight.nnz
        if strict and int(mask.sum()) != have:
            raise ValueError(f"{source}, key {names[entry.key]!r}: the mask has {int(mask.sum())} active positions, "
                             f"the model's layer {entry.layer!r} has {have} (strict=True)")
        masks[entry.layer] = mask
    for entry in entries:
        if strict and entry.weight_like and entry.role != "mask" and entry.layer in masks:
            outside = arrays[entry.key].reshape(_csr_shape(entry))[~masks[entry.layer]]
            if np.any(outside != 0):
                raise ValueError(f"{source}, key {names[entry.key]!r}: {int(np.count_nonzero(outside))} nonzero "
                                 f"value(s) at inactive positions of the mask would be lost (strict=True)")
    for spec in model.specs:
        name, layer = spec.name, model.layers[spec.name]
        weight = arrays[f"{name}.weight"]
        if name in masks:
            old = layer.weight
            layer.set_weight(CSRWeight.from_dense(masks[name], weight.reshape(masks[name].shape),
                                                  dtype=old.data.dtype, index_dtype=old.indices.dtype))
        else:
            layer.weight.value[...] = weight
        layer.bias.value[...] = arrays[f"{name}.bias"]
    if optimizer is None:
        return
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, entry in by_key.items():
        if entry.role != "slot":
            continue
        value = arrays[key]
        if entry.param == "weight" and entry.layer in masks:
            value = value.reshape(masks[entry.layer].shape)[masks[entry.layer]]
        grouped.setdefault(f"{entry.layer}.{entry.param}", {})[entry.slot] = value
    for param, slots in grouped.items():
        optimizer.set_slots(param, slots)
    if COUNT_KEY in arrays:
        optimizer.iterations = int(arrays[COUNT_KEY])


def _identity(entry, array, inverse=False):
    return array


def from_arrays(arrays: Mapping, model, optimizer=None, *, strict: bool = True, source: str = "arrays") -> None:
    """Install canonical ``arrays`` (as :func:`to_arrays` gives them) into ``model`` and ``optimizer``."""
    entries = _schema(model, optimizer)
    names = {e.key: e.key for e in entries}
    checked = _checked(arrays, entries, source, names, _identity)
    _apply(checked, entries, model, optimizer, strict=strict, source=source, names=names)


# ---------------------------------------------------------------------- npz
def save_npz(path, model, optimizer=None) -> Path:
    """Write :func:`to_arrays` to ``path`` (``.npz``) atomically; return the path."""
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **to_arrays(model, optimizer))
    write_atomic(path, buffer.getvalue())
    return path


def load_npz(path, model, optimizer=None, *, strict: bool = True) -> None:
    """Read a :func:`save_npz` file into ``model`` (and ``optimizer``); errors name the file and key."""
    source = f"interop file {str(path)!r}"
    try:
        with np.load(Path(path), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{source} does not exist") from None
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{source} is not a readable .npz archive: {error}") from None
    if not isinstance(arrays, dict):  # pragma: no cover - np.load of a .npy gives an array
        raise ValueError(f"{source} is not an .npz archive")
    from_arrays(arrays, model, optimizer, strict=strict, source=source)


# ---------------------------------------------------------------------- torch
def _torch_permute(entry, array, inverse=False):
    """Storage -> torch (``inverse``) or torch -> storage: a linear weight-like array is transposed."""
    return array.T if entry.weight_like and entry.kind == "linear" else array


def _torch_names(entries, optimizer) -> dict[str, str]:
    names = {}
    for e in entries:
        if e.role == "slot":
            names[e.key] = f"optimizer/{e.layer}.{e.param}/{TORCH_SLOTS[e.slot]}"
        elif e.role != "count":
            names[e.key] = f"state_dict/{e.key}"
    return names


def _torch_step_keys(model, optimizer) -> list[str]:
    """One ``step`` per parameter (torch's Adam keeps it so; torch's SGD ignores it) when there is an optimizer."""
    return [] if optimizer is None else [f"optimizer/{name}/step" for name in model.parameters()]


def to_torch(model, optimizer=None, *, as_torch: bool = False) -> dict:
    """``{"state_dict": {...}, "optimizer": {param: {slot: ...}}}`` in torch's layout (module docstring)."""
    arrays = to_arrays(model, optimizer)
    entries = _schema(model, optimizer)
    state_dict, opt = {}, {}
    for e in entries:
        if e.role == "count":
            continue
        value = np.ascontiguousarray(_torch_permute(e, arrays[e.key], inverse=True))
        if e.role == "slot":
            opt.setdefault(f"{e.layer}.{e.param}", {})[TORCH_SLOTS[e.slot]] = value
        else:
            state_dict[e.key] = value
    if optimizer is not None:
        for name in model.parameters():
            opt.setdefault(name, {})["step"] = np.array(float(optimizer.iterations), dtype=np.float32)
    if as_torch:
        import torch

        state_dict = {k: torch.from_numpy(v.copy()) for k, v in state_dict.items()}
        opt = {p: {k: torch.from_numpy(np.array(v)) for k, v in slots.items()} for p, slots in opt.items()}
    return {"state_dict": state_dict, "optimizer": opt}


def from_torch(state: Mapping, model, optimizer=None, *, strict: bool = True, source: str = "torch state") -> None:
    """Install a :func:`to_torch`-shaped ``state`` (NumPy arrays or torch tensors) into ``model``."""
    if not isinstance(state, Mapping) or "state_dict" not in state:
        raise ValueError(f"{source}: expected a mapping with 'state_dict' (and 'optimizer'), got {type(state).__name__}")
    flat = {f"state_dict/{k}": v for k, v in _mapping(state["state_dict"], source, "state_dict").items()}
    for param, slots in _mapping(state.get("optimizer", {}), source, "optimizer").items():
        for slot, value in _mapping(slots, source, f"optimizer/{param}").items():
            flat[f"optimizer/{param}/{slot}"] = value
    entries = _schema(model, optimizer)
    names = _torch_names(entries, optimizer)
    step_keys = _torch_step_keys(model, optimizer)
    steps = {k: flat.pop(k) for k in step_keys if k in flat}
    checked = _checked(flat, [e for e in entries if e.role != "count"], source, names, _torch_permute)
    if step_keys:
        missing = [k for k in step_keys if k not in steps]
        if missing:
            raise ValueError(f"{source}: missing key(s) {missing}")
        counts = [_checked({k: v}, [_Entry(COUNT_KEY, "", "", "count", (), np.dtype(np.int64))], source,
                           {COUNT_KEY: k}, _identity)[COUNT_KEY] for k, v in steps.items()]
        if len({int(c) for c in counts}) > 1:
            raise ValueError(f"{source}: 'step' differs between parameters ({sorted({int(c) for c in counts})}); "
                             f"rigl_ref keeps one count")
        checked[COUNT_KEY] = counts[0]
    kept = [e for e in entries if e.role != "count" or COUNT_KEY in checked]
    _apply(checked, kept, model, optimizer, strict=strict, source=source, names={**names, COUNT_KEY: "step"})


def _mapping(value, source, where) -> Mapping:
    if not isinstance(value, Mapping):
        raise ValueError(f"{source}: {where!r} must be a mapping, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------------- flax
def _flax_permute(entry, array, inverse=False):
    """Storage -> flax (``inverse``) or flax -> storage: a conv weight-like array (O,I,kh,kw) <-> (kh,kw,I,O)."""
    if entry.weight_like and entry.kind == "conv":
        return array.transpose(2, 3, 1, 0) if inverse else array.transpose(3, 2, 0, 1)
    return array


def _flax_names(entries) -> dict[str, str]:
    leaf = {"weight": "kernel", "bias": "bias"}
    names = {}
    for e in entries:
        if e.role in ("weight", "bias"):
            names[e.key] = f"params/{e.layer}/{leaf[e.role]}"
        elif e.role == "mask":
            names[e.key] = f"masks/{e.layer}/kernel"
        elif e.role == "slot":
            names[e.key] = f"opt_state/{OPTAX_SLOTS[e.slot]}/{e.layer}/{leaf[e.param]}"
        else:
            names[e.key] = "opt_state/count"
    return names


def to_flax(model, optimizer=None) -> dict:
    """``{"params": ..., "masks": ..., "opt_state": ...}`` nested dicts of NumPy arrays (module docstring)."""
    arrays = to_arrays(model, optimizer)
    entries = _schema(model, optimizer)
    tree: dict = {"params": {}, "masks": {}, "opt_state": {}}
    for spec in model.specs:
        tree["masks"][spec.name] = {"kernel": None, "bias": None}
    names = _flax_names(entries)
    for e in entries:
        name, value = names[e.key], arrays[e.key]
        value = np.array(value, dtype=np.int32) if e.role == "count" else np.ascontiguousarray(_flax_permute(e, value, True))
        node = tree
        *path, last = name.split("/")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def _flatten(tree, source, prefix="") -> dict:
    flat = {}
    for key, value in _mapping(tree, source, prefix or "tree").items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, source, name))
        elif value is not None:
            flat[name] = value
    return flat


def from_flax(tree: Mapping, model, optimizer=None, *, strict: bool = True, source: str = "flax tree") -> None:
    """Install a :func:`to_flax`-shaped ``tree`` (``None`` mask leaves = dense) into ``model``."""
    flat = _flatten(tree, source)
    entries = _schema(model, optimizer)
    names = _flax_names(entries)
    checked = _checked(flat, entries, source, names, _flax_permute)
    _apply(checked, entries, model, optimizer, strict=strict, source=source, names=names)


# ---------------------------------------------------------------------- rigl-torch's mask list
def rigl_torch_masks(state_dict: Mapping, model) -> list:
    """The masks of a :func:`to_torch` ``state_dict`` as rigl-torch's ``RigLScheduler.backward_masks``: one
    entry per weight layer in network order, the bool mask of a sparse layer or ``None`` for a dense one."""
    return [state_dict.get(f"{spec.name}.weight_mask") for spec in model.specs]
