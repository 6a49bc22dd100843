"""The two figures of a run: ``curves.png`` and ``connectivity.png`` (matplotlib, Agg backend, no display).

* Curves: training loss and test accuracy against the optimizer step, and the drop fraction (the f_decay
  schedule as it ran, with a marker at each mask update).
* Connectivity: for the input layer, the number of active outgoing connections of each input pixel
  (row nnz of the (in, out) CSR weight) as a heat map at initialisation and at the end — the RigL blog's
  picture in which background pixels lose their connections.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rigl_ref.train.files import write_atomic  # noqa: E402


def _save(figure, path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    write_atomic(Path(path), buffer.getvalue())


def _series(records, key):
    points = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    return ([p[0] for p in points], [p[1] for p in points]) if points else ([], [])


def plot_curves(records: list[dict], path, *, title: str = "") -> None:
    """Loss, test accuracy and drop fraction against the step, from ``metrics.jsonl`` records."""
    figure, (ax_loss, ax_acc, ax_drop) = plt.subplots(3, 1, figsize=(7, 8), sharex=True)
    steps, loss = _series(records, "loss")
    ax_loss.plot(steps, loss, lw=0.8, color="tab:blue")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log" if loss and min(loss) > 0 else "linear")
    steps, acc = _series(records, "test_accuracy")
    ax_acc.plot(steps, acc, marker="o", ms=3, color="tab:green", label="test")
    steps, train_acc = _series(records, "train_accuracy")
    ax_acc.plot(steps, train_acc, lw=0.6, alpha=0.6, color="tab:olive", label="train batch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.legend(loc="lower right")
    ax_drop.plot(*_series(records, "drop_fraction"), lw=0.8, color="tab:red", label="schedule")
    ax_drop.plot(*_series([r for r in records if r.get("mask_update")], "drop_fraction"), ls="none", marker=".",
                 color="tab:red", label="mask updates")
    ax_drop.set_ylabel("drop fraction")
    ax_drop.legend(loc="upper right")
    ax_drop.set_xlabel("step t")
    for axis in (ax_loss, ax_acc, ax_drop):
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)


def plot_connectivity(initial: np.ndarray, final: np.ndarray, path, *, image_shape=(28, 28), title: str = "") -> None:
    """Heat maps of per-input active outgoing connection counts, at init and at the end, on one colour scale."""
    initial, final = np.asarray(initial), np.asarray(final)
    size = int(np.prod(image_shape))
    if initial.size != size or final.size != size:
        raise ValueError(
            f"connectivity counts must have {size} entries for image_shape {tuple(image_shape)}, "
            f"got {initial.size} and {final.size}"
        )
    vmax = max(int(initial.max(initial=0)), int(final.max(initial=0)), 1)
    figure, axes = plt.subplots(1, 2, figsize=(8, 4))
    for axis, counts, label in ((axes[0], initial, "initialisation"), (axes[1], final, "end of training")):
        image = axis.imshow(counts.reshape(image_shape), cmap="viridis", vmin=0, vmax=vmax)
        axis.set_title(f"{label}\n(active outgoing connections per pixel)", fontsize=9)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(image, ax=axes, shrink=0.8)
    if title:
        figure.suptitle(title)
    _save(figure, path)
