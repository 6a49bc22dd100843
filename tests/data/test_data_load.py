"""Finding the full data sets on disk, loading and verifying them, and the errors when that fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rigl_ref.data import (
    DATA_DIR_ENV,
    FILE_NAMES,
    MNIST,
    cache_dir,
    find_files,
    load_dataset,
    load_idx_files,
    search_dirs,
    write_idx,
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No RIGL_REF_DATA_DIR, and a private cache so the user's real cache never interferes."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def test_search_order(clean_env, monkeypatch, tmp_path):
    assert search_dirs("mnist") == [tmp_path / "xdg" / "rigl_ref" / "mnist"]
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert search_dirs("mnist") == [tmp_path / "env" / "mnist", tmp_path / "env", cache_dir("mnist")]
    assert search_dirs("mnist", tmp_path / "given") == [tmp_path / "given" / "mnist", tmp_path / "given"]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir("fashion-mnist") == tmp_path / "home" / ".cache" / "rigl_ref" / "fashion-mnist"


def test_first_complete_directory_wins_and_raw_beats_gz(clean_env, monkeypatch, tmp_path, make_idx_set):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    make_idx_set(tmp_path / "env", compress=True)  # directly in $RIGL_REF_DATA_DIR
    make_idx_set(tmp_path / "env" / "mnist", compress=True, n_train=3)
    (tmp_path / "env" / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()  # incomplete: skipped
    files = find_files("mnist")
    assert files == {name: tmp_path / "env" / f"{name}.gz" for name in FILE_NAMES.values()}
    make_idx_set(tmp_path / "env", compress=False, seed=1)
    assert find_files("mnist")[FILE_NAMES["train_images"]] == tmp_path / "env" / "train-images-idx3-ubyte"


def test_loading_generated_files_with_their_checksums(tmp_path, make_idx_set):
    arrays, checksums = make_idx_set(tmp_path, compress=False)
    spec = dataclasses.replace(MNIST, name="tiny", sha256=checksums)
    files = {name: tmp_path / name for name in FILE_NAMES.values()}
    data = load_idx_files(spec, files, source="here")
    np.testing.assert_array_equal(data.train_x, arrays["train_images"])
    np.testing.assert_array_equal(data.test_y, arrays["test_labels"])
    assert data.train_y.dtype == np.int64 and data.class_names == MNIST.class_names and data.source == "here"
    # the catalog's real MNIST digests reject these files, naming the file
    with pytest.raises(ValueError, match=f"{files['train-images-idx3-ubyte']}: SHA-256"):
        load_idx_files(MNIST, files)
    assert load_idx_files(MNIST, files, verify=False).n_train == len(arrays["train_labels"])


def test_count_mismatch_and_label_range_name_the_file(tmp_path, make_idx_set):
    make_idx_set(tmp_path, compress=False)
    files = {name: tmp_path / name for name in FILE_NAMES.values()}
    write_idx(files["t10k-labels-idx1-ubyte"], np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match=f"{files['t10k-labels-idx1-ubyte']}: 4 labels, but .* has 5 images"):
        load_idx_files(MNIST, files, verify=False)
    write_idx(files["t10k-labels-idx1-ubyte"], np.array([0, 1, 2, 10, 3], np.uint8))
    with pytest.raises(ValueError, match=f"{files['t10k-labels-idx1-ubyte']}: label 10 outside 0..9"):
        load_idx_files(MNIST, files, verify=False)


def test_truncated_file_found_on_disk_is_reported(clean_env, tmp_path, make_idx_set):
    make_idx_set(tmp_path / "given", compress=False)
    victim = tmp_path / "given" / "train-images-idx3-ubyte"
    victim.write_bytes(victim.read_bytes()[:-7])
    with pytest.raises(ValueError, match=f"{victim}: truncated IDX payload"):
        load_dataset("mnist", data_dir=tmp_path / "given")


def test_missing_data_set_says_where_it_looked_and_how_to_get_it(clean_env, tmp_path, make_idx_set):
    with pytest.raises(ValueError) as caught:
        load_dataset("fashion-mnist")
    message = str(caught.value)
    assert str(cache_dir("fashion-mnist")) in message and "(missing)" in message
    assert "rigl-ref data fetch fashion-mnist" in message and "--from DIR" in message
    make_idx_set(tmp_path / "partial", compress=True)
    (tmp_path / "partial" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ValueError, match=r"partial \(lacks train-labels-idx1-ubyte\)"):
        load_dataset("mnist", data_dir=tmp_path / "partial")


def test_unknown_name_and_needless_data_dir(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'cifar10'; expected one of .*'mnist-subset'"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="data_dir is only used by mnist, fashion-mnist"):
        load_dataset("mnist-subset", data_dir=tmp_path)


def test_synthetic_by_name():
    data = load_dataset("synthetic")
    assert data.name == "synthetic" and data.train_x.shape == (512, 28, 28)
