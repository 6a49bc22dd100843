"""Small configurations shared by the training tests (synthetic data, a tiny MLP, a few dozen steps)."""

import numpy as np

from rigl_ref.sparse_training.layer_states import LayerState
from rigl_ref.train.config import RunConfig


def tiny_config(**changes) -> RunConfig:
    base = dict(dataset="synthetic", model="mlp", hidden=[16], epochs=3, batch_size=64, update_interval=3,
                log_interval=2, checkpoint_interval=4, augment_shift=1, lr=0.05)
    base.update(changes)
    return RunConfig(**base)


def dense_state(layer) -> LayerState:
    """A ``CSRLayerState`` (what an updater sees in the trainer) as the dense spec state: mask, weights and
    slots scattered into the layer's shape, zeros outside the pattern."""
    mask, weights = layer.weight.to_dense()
    flat = layer.weight.active_flat_indices()
    slots = []
    for slot in layer.slots:
        full = np.zeros(mask.size, slot.dtype)
        full[flat] = slot
        slots.append(full.reshape(mask.shape))
    return LayerState(mask, weights, tuple(slots), slot_names=layer.slot_names)
