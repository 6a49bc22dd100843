"""The trace format: what a framework records of its own RigL run so ``rigl-ref diff`` can replay it.

A trace is one ``.npz`` file (``numpy.savez``; no pickles). Key ``format`` holds the string
``"rigl-ref-trace/1"``; key ``layers`` the layer names in order (a 1-D string array). For every recorded
mask update ``u = 0, 1, ...`` (in the order they happened) and every layer ``L``:

=================================  ======================================================================
``update/<u>/step``                the framework's step counter at the update (int scalar; reported only)
``update/<u>/drop_fraction``       the drop fraction the framework used (float scalar; replayed as is)
``update/<u>/<L>/mask_before``     the mask before the update (bool, the layer's shape in the framework's
                                   own layout: ties are broken by the lower flat index of that layout)
``update/<u>/<L>/mask_after``      the mask after the update (bool, same shape)
``update/<u>/<L>/weights``         the weights the drop step ranked (float, same shape)
``update/<u>/<L>/grow_scores``     the grow scores (RigL: |dense gradient|; SET: the random draw), or
``update/<u>/<L>/gradient``        the dense gradient (grow scores are its magnitude)
``update/<u>/<L>/n_active``        optional: the active count the framework states for ``mask_after``
=================================  ======================================================================

:func:`read_trace` checks everything before anything is replayed and refuses in one line naming the file,
the update, the layer and the field: missing layers or fields, shapes that differ from ``mask_before``,
masks that are not boolean (or 0/1 integers), a stated ``n_active`` that ``mask_after`` does not have,
NaN or Inf in weights, gradients or scores. :func:`write_trace` writes a trace atomically (temporary file,
then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = "rigl-ref-trace/1"


class TraceError(ValueError):
    """A malformed trace; the message names the file, the update, the layer and the field."""


@dataclass(frozen=True)
class LayerRecord:
    """One layer at one update: the masks around it and what the drop and grow steps ranked."""

    mask_before: np.ndarray
    mask_after: np.ndarray
    weights: np.ndarray
    grow_scores: np.ndarray


@dataclass(frozen=True)
class UpdateRecord:
    """One recorded mask update: the framework's step, its drop fraction and every layer."""

    step: int
    drop_fraction: float
    layers: dict = field(default_factory=dict)


def write_trace(path, updates, layer_names=None) -> Path:
    """Write ``updates`` (a list of :class:`UpdateRecord`, or of dicts with the same keys) as a trace.

    A layer dict may give ``gradient`` instead of ``grow_scores``. Written atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {"format": np.array(FORMAT)}
    names = None if layer_names is None else list(layer_names)
    for u, update in enumerate(updates):
        if isinstance(update, UpdateRecord):
            update = {"step": update.step, "drop_fraction": update.drop_fraction,
                      "layers": {k: vars(v) for k, v in update.layers.items()}}
        names = list(update["layers"]) if names is None else names
        arrays[f"update/{u}/step"] = np.array(int(update["step"]))
        arrays[f"update/{u}/drop_fraction"] = np.array(update["drop_fraction"])
        for layer, record in update["layers"].items():
            for key, value in record.items():
                arrays[f"update/{u}/{layer}/{key}"] = np.asarray(value)
    arrays["layers"] = np.array(names or [], dtype=str)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_trace(path) -> tuple[list[str], list[UpdateRecord]]:
    """``(layer names, updates)`` of the trace at ``path``, every field checked (:class:`TraceError`)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise TraceError(f"{path}: no such trace file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise TraceError(f"{path}: not a readable .npz trace ({error})") from None
    where = _Where(path)
    if "format" not in arrays or str(arrays["format"]) != FORMAT:
        raise TraceError(f"{path}: field 'format' must be {FORMAT!r}, got "
                         f"{str(arrays['format']) if 'format' in arrays else 'nothing'!r}")
    if "layers" not in arrays or arrays["layers"].ndim != 1 or arrays["layers"].dtype.kind != "U" \
            or not len(arrays["layers"]):
        raise TraceError(f"{path}: field 'layers' must be a non-empty 1-D array of layer names")
    names = [str(name) for name in arrays["layers"]]
    count = 0
    while f"update/{count}/drop_fraction" in arrays or f"update/{count}/step" in arrays:
        count += 1
    if count == 0:
        raise TraceError(f"{path}: no updates recorded (expected keys 'update/0/...')")
    known = {"format", "layers"}
    updates = []
    for u in range(count):
        step = _scalar(arrays, where, u, None, "step", "iu")
        fraction = float(_scalar(arrays, where, u, None, "drop_fraction", "f"))
        if not 0.0 <= fraction <= 1.0:
            raise TraceError(f"{where(u, None, 'drop_fraction')} must lie in [0, 1], got {fraction!r}")
        known |= {f"update/{u}/step", f"update/{u}/drop_fraction"}
        layers = {}
        for name in names:
            layers[name] = _layer(arrays, where, u, name)
            known |= {f"update/{u}/{name}/{key}" for key in
                      ("mask_before", "mask_after", "weights", "grow_scores", "gradient", "n_active")}
        updates.append(UpdateRecord(step=int(step), drop_fraction=fraction, layers=layers))
    unknown = sorted(set(arrays) - known)
    if unknown:
        raise TraceError(f"{path}: unexpected field {unknown[0]!r} (a layer not listed in 'layers', "
                         f"an update after the last consecutive one, or a misspelt field)")
    return names, updates


class _Where:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self, u: int, layer, field_name: str) -> str:
        inside = f"layer {layer!r}, " if layer is not None else ""
        return f"{self.path}: update {u}, {inside}field {field_name!r}"


def _get(arrays, where, u, layer, name):
    key = f"update/{u}/{name}" if layer is None else f"update/{u}/{layer}/{name}"
    if key not in arrays:
        raise TraceError(f"{where(u, layer, name)} is missing (key {key!r})")
    return arrays[key]


def _scalar(arrays, where, u, layer, name, kinds):
    value = _get(arrays, where, u, layer, name)
    if value.ndim != 0 or value.dtype.kind not in kinds:
        raise TraceError(f"{where(u, layer, name)} must be a scalar of kind {kinds!r}, got {value.dtype} "
                         f"shape {value.shape}")
    if value.dtype.kind == "f" and not np.isfinite(value):
        raise TraceError(f"{where(u, layer, name)} is {value}")
    return value.item()


def _mask(arrays, where, u, layer, name) -> np.ndarray:
    mask = _get(arrays, where, u, layer, name)
    if mask.dtype != bool:
        if mask.dtype.kind not in "iu" or not np.isin(mask, (0, 1)).all():
            raise TraceError(f"{where(u, layer, name)} must be boolean (or 0/1 integers), got dtype {mask.dtype}"
                             + ("" if mask.dtype.kind not in "iu" else " holding other values"))
        mask = mask.astype(bool)
    if mask.size == 0:
        raise TraceError(f"{where(u, layer, name)} is empty")
    return mask


def _values(arrays, where, u, layer, name, shape) -> np.ndarray:
    values = _get(arrays, where, u, layer, name)
    if values.dtype.kind not in "fiu":
        raise TraceError(f"{where(u, layer, name)} must be numeric, got dtype {values.dtype}")
    if values.shape != shape:
        raise TraceError(f"{where(u, layer, name)} has shape {values.shape}, but mask_before has {shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise TraceError(f"{where(u, layer, name)} holds {values.reshape(-1)[position]} at flat index {position}")
    return values


def _layer(arrays, where, u, layer) -> LayerRecord:
    before = _mask(arrays, where, u, layer, "mask_before")
    after = _mask(arrays, where, u, layer, "mask_after")
    if after.shape != before.shape:
        raise TraceError(f"{where(u, layer, 'mask_after')} has shape {after.shape}, but mask_before has "
                         f"{before.shape}")
    weights = _values(arrays, where, u, layer, "weights", before.shape)
    has_scores = f"update/{u}/{layer}/grow_scores" in arrays
    has_gradient = f"update/{u}/{layer}/gradient" in arrays
    if has_scores == has_gradient:
        raise TraceError(f"{where(u, layer, 'grow_scores')}: give exactly one of 'grow_scores' and 'gradient'")
    if has_scores:
        scores = _values(arrays, where, u, layer, "grow_scores", before.shape)
    else:
        scores = np.abs(_values(arrays, where, u, layer, "gradient", before.shape))
    if f"update/{u}/{layer}/n_active" in arrays:
        stated = _scalar(arrays, where, u, layer, "n_active", "iu")
        if int(stated) != int(after.sum()):
            raise TraceError(f"{where(u, layer, 'n_active')} states {stated} active connections, but mask_after "
                             f"has {int(after.sum())}")
    return LayerRecord(mask_before=before, mask_after=after, weights=weights, grow_scores=scores)
