"""Small configurations shared by the training tests (synthetic data, a tiny MLP, a few dozen steps)."""

import numpy as np

from rigl_ref.sparse_training.layer_states import LayerState
from rigl_ref.train.checkpoint import load_checkpoint, save_checkpoint
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer


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


def assert_same_state(a, b) -> None:
    """Two trainers hold the same weights, patterns, optimizer slots, method state and counters."""
    (arrays_a, meta_a), (arrays_b, meta_b) = a.state(), b.state()
    assert meta_a == meta_b and sorted(arrays_a) == sorted(arrays_b)
    for key, value in arrays_a.items():
        assert np.array_equal(value, arrays_b[key]), key


def assert_resume_is_bit_exact(config: RunConfig, data, run_dir, *, after: int) -> dict:
    """Run ``config`` uninterrupted; run it again for ``after`` iterations, checkpoint into ``run_dir``,
    resume in a fresh Trainer and finish: the records from the checkpoint on and the final state must be
    those of the uninterrupted run. Returns the checkpoint's arrays (for tests of what it holds)."""
    whole = Trainer(config, data)
    whole_records = []
    while not whole.done:
        whole_records.append(whole.train_iteration())
    first = Trainer(config, data)
    for _ in range(after):
        first.train_iteration()
    arrays, meta = first.state()
    save_checkpoint(run_dir, arrays, meta, tag=first.iteration)
    second = Trainer(config, data)
    second.load_state(*load_checkpoint(run_dir))
    records = []
    while not second.done:
        records.append(second.train_iteration())
    assert records == whole_records[after:]
    assert_same_state(second, whole)
    return arrays
