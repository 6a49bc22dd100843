"""Replay a framework's trace through the spec layer and say where, and why, the framework departs.

Every recorded update of every layer is replayed with :func:`rigl_ref.drop_grow` (drop scores per the
convention's ``drop_score`` from the recorded weights, the recorded grow scores, the recorded drop
fraction) and the new mask compared with the framework's ``mask_after``. When the named convention does
not reproduce the trace, every preset is tried, and so is every single-field change of the named
convention: a field whose change alone reproduces the whole trace *explains* the departure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rigl_ref.sparse_training.conventions import PRESETS, Conventions, get_convention
from rigl_ref.sparse_training.drop_grow import drop_grow, score_drop
from rigl_ref.trace.format import UpdateRecord, read_trace

SHOWN_POSITIONS = 10  # how many differing flat indices a report lists


@dataclass(frozen=True)
class Departure:
    """The first (update, layer) whose replayed mask differs from the framework's."""

    update: int
    step: int
    layer: str
    only_framework: tuple  # flat indices active in the framework's mask_after only
    only_rigl_ref: tuple  # flat indices active in rigl_ref's replay only
    error: str = ""  # the replay refused (e.g. TF's disjointness assertion)


@dataclass(frozen=True)
class TraceDiff:
    """Outcome of :func:`diff_trace`."""

    convention: str
    updates: int
    layers: tuple
    first: Departure | None
    mismatches: int  # (update, layer) pairs that differ under the named convention
    matching_presets: tuple = ()
    explaining_fields: tuple = ()  # ("field", "value") single changes that reproduce the whole trace

    @property
    def identical(self) -> bool:
        return self.first is None

    def summary(self) -> str:
        """A short human-readable report."""
        head = f"{self.updates} updates x {len(self.layers)} layers replayed under convention {self.convention!r}"
        if self.identical:
            return f"{head}: identical"
        d = self.first
        lines = [f"{head}: {self.mismatches} (update, layer) pairs differ",
                 f"first departure: update {d.update} (framework step {d.step}), layer {d.layer!r}"]
        if d.error:
            lines.append(f"  rigl_ref refused the update: {d.error}")
        else:
            lines.append(f"  active only in the framework: {_shown(d.only_framework)}")
            lines.append(f"  active only in rigl_ref:      {_shown(d.only_rigl_ref)}")
        if self.matching_presets:
            lines.append(f"presets that reproduce the whole trace: {', '.join(self.matching_presets)}")
        else:
            lines.append("no preset reproduces the whole trace")
        for name, value in self.explaining_fields:
            lines.append(f"explained by one field: {name}={value!r} (instead of "
                         f"{getattr(get_convention(self.convention), name)!r})")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["identical"] = self.identical
        return out


def _shown(flat: tuple) -> str:
    more = f" ... ({len(flat)} in all)" if len(flat) > SHOWN_POSITIONS else ""
    return (", ".join(map(str, flat[:SHOWN_POSITIONS])) or "none") + more


def replay_layer(record, drop_fraction: float, convention) -> np.ndarray:
    """rigl_ref's new mask for one recorded layer update (raises what ``drop_grow`` raises)."""
    conv = get_convention(convention)
    drop_scores = score_drop(record.mask_before, record.weights, conv)
    return drop_grow(record.mask_before, record.weights, drop_scores, record.grow_scores, drop_fraction,
                     convention=conv).mask


def _departures(updates: list[UpdateRecord], convention, *, stop_at_first: bool):
    found = []
    for u, update in enumerate(updates):
        for name, record in update.layers.items():
            try:
                mask = replay_layer(record, update.drop_fraction, convention)
            except ValueError as error:
                found.append(Departure(u, update.step, name, (), (), error=str(error)))
            else:
                if not np.array_equal(mask, record.mask_after):
                    after, flat_mask = record.mask_after.reshape(-1), mask.reshape(-1)
                    found.append(Departure(u, update.step, name,
                                           tuple(int(i) for i in np.flatnonzero(after & ~flat_mask)),
                                           tuple(int(i) for i in np.flatnonzero(flat_mask & ~after))))
            if found and stop_at_first:
                return found
    return found


def _single_field_variants(conv: Conventions):
    for spec in dataclasses.fields(Conventions):
        choices = spec.metadata.get("choices")
        if spec.name == "reinit_when_same":
            choices = (False, True)
        if choices is None:
            continue
        for value in choices:
            if value != getattr(conv, spec.name):
                yield spec.name, value, dataclasses.replace(conv, name=f"{conv.name}+{spec.name}={value}",
                                                            **{spec.name: value})


def diff_updates(updates: list[UpdateRecord], layers, convention) -> TraceDiff:
    """:func:`diff_trace` on records already read (:func:`rigl_ref.trace.read_trace`)."""
    conv = get_convention(convention)
    found = _departures(updates, conv, stop_at_first=False)
    if not found:
        return TraceDiff(conv.name, len(updates), tuple(layers), None, 0)
    matching = tuple(name for name, preset in PRESETS.items()
                     if not _departures(updates, preset, stop_at_first=True))
    explaining = tuple((name, value) for name, value, variant in _single_field_variants(conv)
                       if not _departures(updates, variant, stop_at_first=True))
    return TraceDiff(conv.name, len(updates), tuple(layers), found[0], len(found), matching, explaining)


def diff_trace(path, convention="paper") -> TraceDiff:
    """Replay the trace at ``path`` (``rigl_ref.trace.format``) under ``convention``; see the module docstring.

    Raises :class:`~rigl_ref.trace.format.TraceError` (a ``ValueError``) on a malformed trace."""
    layers, updates = read_trace(path)
    return diff_updates(updates, layers, convention)
