"""Random-shift augmentation: exact translation with zero fill, seeded per iteration."""

import numpy as np

from rigl_ref.train.augment import random_shifts


def test_shifts_translate_with_zero_fill_and_are_reproducible():
    images = np.arange(2 * 5 * 5, dtype=np.float32).reshape(2, 5, 5) + 1
    a = random_shifts(images, 2, seed=3, iteration=7)
    assert np.array_equal(a, random_shifts(images, 2, seed=3, iteration=7))
    assert not np.array_equal(a, random_shifts(images, 2, seed=3, iteration=8))
    for k in range(2):
        # find the shift: the pixel images[k, 2, 2] must appear at (2 + dy, 2 + dx), nothing else moved
        (r,), (c,) = np.nonzero(a[k] == images[k, 2, 2])
        dy, dx = r - 2, c - 2
        expected = np.zeros((5, 5), np.float32)
        for i in range(5):
            for j in range(5):
                if 0 <= i - dy < 5 and 0 <= j - dx < 5:
                    expected[i, j] = images[k, i - dy, j - dx]
        assert np.array_equal(a[k], expected)
    assert random_shifts(images, 0, seed=0, iteration=0) is images
