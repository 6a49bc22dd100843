"""Small configurations shared by the training tests (synthetic data, a tiny MLP, a few dozen steps)."""

from rigl_ref.train.config import RunConfig


def tiny_config(**changes) -> RunConfig:
    base = dict(dataset="synthetic", model="mlp", hidden=[16], epochs=3, batch_size=64, update_interval=3,
                log_interval=2, checkpoint_interval=4, augment_shift=1, lr=0.05)
    base.update(changes)
    return RunConfig(**base)
