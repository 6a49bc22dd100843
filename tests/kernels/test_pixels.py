"""``kernels.scaled_pixels``: uint8 pixels to float32 in one pass, equal bit for bit to its NumPy twin and
to the data module's ``to_float32`` (division by 255, in either layout)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rigl_ref.data.dataset import to_float32
from rigl_ref.kernels import reference, scaled_pixels


@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 70))), st.booleans())
def test_scaled_pixels_equal_the_twin_and_to_float32_bit_for_bit(x, feature_major):
    out = scaled_pixels(x, feature_major)
    twin = reference.scaled_pixels(x, feature_major)
    expected = to_float32(x).T if feature_major else to_float32(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert out.tobytes() == twin.tobytes() == np.ascontiguousarray(expected).tobytes()


@pytest.mark.parametrize("feature_major", [False, True])  # the divided loop and the table alike
def test_every_pixel_value_is_divided_not_multiplied(feature_major):
    x = np.arange(256, dtype=np.uint8).reshape(1, 256)
    out = scaled_pixels(x, feature_major).reshape(-1)
    np.testing.assert_array_equal(out, (np.arange(256) / 255.0).astype(np.float32))  # float32(v / 255.0)
    assert np.any(out != np.arange(256, dtype=np.float32) * np.float32(1 / 255))  # the product would differ
