"""Training-data augmentation: random translations of images by up to ``max_shift`` pixels.

Each training image is shifted by ``(dy, dx)``, both drawn uniformly from ``-max_shift .. max_shift``, with
zero fill (the MNIST background). The shifts of iteration ``i`` come from
``default_rng([seed, AUGMENT_STREAM, i])``: stateless per iteration, so a resumed run draws the same
shifts as an uninterrupted one. On the embedded 10 000-image MNIST subset this lifts LeNet-300-100 at
90 % sparsity from about 94.7 % to about 97 % test accuracy (measured; ``docs/training.md``).
"""

from __future__ import annotations

import numpy as np

AUGMENT_STREAM = 1_000_005


def random_shifts(images: np.ndarray, max_shift: int, *, seed: int, iteration: int) -> np.ndarray:
    """``images`` (batch, H, W) translated by random integer offsets (see the module docstring)."""
    if max_shift == 0:
        return images
    if images.ndim != 3:
        raise ValueError(f"random shifts need images of shape (batch, H, W), got {images.shape}")
    batch, height, width = images.shape
    rng = np.random.default_rng([seed, AUGMENT_STREAM, iteration])
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, batch))
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    rows = np.arange(height)[None, :] + max_shift - dy[:, None]  # output row r reads input row r - dy
    cols = np.arange(width)[None, :] + max_shift - dx[:, None]
    return padded[np.arange(batch)[:, None, None], rows[:, :, None], cols[:, None, :]]
