"""Framework traces: the format a framework records its RigL run in (:mod:`rigl_ref.trace.format`) and the
replay that finds where, and why, it departs from rigl_ref (:mod:`rigl_ref.trace.replay`, ``rigl-ref diff``)."""

from rigl_ref.trace.format import LayerRecord, TraceError, UpdateRecord, read_trace, write_trace
from rigl_ref.trace.replay import Departure, TraceDiff, diff_trace, diff_updates, replay_layer

__all__ = [
    "Departure", "LayerRecord", "TraceDiff", "TraceError", "UpdateRecord",
    "diff_trace", "diff_updates", "read_trace", "replay_layer", "write_trace",
]
