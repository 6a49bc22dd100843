"""IDX reading/writing: round trips, and every kind of damaged file gives a ValueError naming the file."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rigl_ref.data.idx import content_sha256, copy_verified, read_idx, write_idx

images = st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6)).flatmap(
    lambda shape: arrays(np.uint8, shape)
)
labels = st.integers(0, 20).flatmap(lambda n: arrays(np.uint8, (n,)))


@given(array=st.one_of(images, labels), compress=st.booleans())
def test_round_trip_raw_and_gzip(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / "file"
    write_idx(path, array, compress=compress)
    kind = "images" if array.ndim == 3 else "labels"
    back = read_idx(path, kind=kind)
    assert back.dtype == np.uint8 and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_header_layout_by_hand(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.uint8).reshape(1, 2, 3))
    assert path.read_bytes() == bytes.fromhex("00000803 00000001 00000002 00000003 000102030405")
    path = write_idx(tmp_path / "y", np.array([7, 9], dtype=np.uint8))
    assert path.read_bytes() == bytes.fromhex("00000801 00000002 0709")


def test_digest_is_of_decompressed_content(tmp_path):
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    raw = write_idx(tmp_path / "raw", array)
    packed = write_idx(tmp_path / "packed.gz", array, compress=True)
    recompressed = tmp_path / "again.gz"
    recompressed.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=1, mtime=123))
    expected = hashlib.sha256(raw.read_bytes()).hexdigest()
    assert content_sha256(raw) == content_sha256(packed) == content_sha256(recompressed) == expected
    np.testing.assert_array_equal(read_idx(recompressed, kind="images", expected_sha256=expected.upper()), array)


def test_compressed_output_is_reproducible(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    first = write_idx(tmp_path / "a.gz", array, compress=True).read_bytes()
    assert write_idx(tmp_path / "b.gz", array, compress=True).read_bytes() == first


def _damaged(tmp_path, content: bytes, name="damaged"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, kind, message",
    [
        (b"", "images", "truncated IDX header: 0 bytes, a images header has 16"),
        (bytes.fromhex("00000803 00000001"), "images", "truncated IDX header: 8 bytes"),
        (bytes.fromhex("00000801 00000001 05"), "images", "truncated IDX header"),
        (
            bytes.fromhex("00000801 00000001 00000001 00000001 05"),
            "images",
            "magic number 2049 (0x00000801), expected 2051",
        ),
        (
            bytes.fromhex("00000803 00000001 00000002 00000002 010203"),
            "images",
            "truncated IDX payload: 3 bytes, the header declares 1 x 2 x 2 = 4",
        ),
        (bytes.fromhex("00000801 00000002 0102 03"), "labels", "bytes after the IDX payload of 2 = 2 bytes"),
        (bytes.fromhex("00000c03 00000001 00000001 00000001 05"), "images", "magic number 3075"),
        (b"PK\x03\x04 something else entirely", "labels", "magic number"),
    ],
)
def test_damaged_raw_files(tmp_path, content, kind, message):
    path = _damaged(tmp_path, content)
    with pytest.raises(ValueError, match=str(path)) as caught:
        read_idx(path, kind=kind)
    assert message in str(caught.value)


def test_absurd_declared_size_is_a_truncation_not_a_memory_error(tmp_path):
    path = _damaged(tmp_path, bytes.fromhex("00000803 ffffffff ffffffff ffffffff 0102"))
    with pytest.raises(ValueError, match="truncated IDX payload: 2 bytes"):
        read_idx(path, kind="images")


def test_truncated_and_corrupt_gzip(tmp_path):
    whole = gzip.compress(bytes.fromhex("00000801 00000004 01020304"), mtime=0)
    truncated = _damaged(tmp_path, whole[:-6], "truncated.gz")
    with pytest.raises(ValueError, match=f"{truncated}: corrupt gzip stream"):
        read_idx(truncated, kind="labels")
    flipped = bytearray(whole)
    flipped[12] ^= 0xFF
    corrupt = _damaged(tmp_path, bytes(flipped), "corrupt.gz")
    with pytest.raises(ValueError, match=f"{corrupt}"):
        read_idx(corrupt, kind="labels")
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        content_sha256(truncated)


def test_truncated_payload_inside_gzip(tmp_path):
    path = _damaged(tmp_path, gzip.compress(bytes.fromhex("00000801 00000004 0102"), mtime=0), "short.gz")
    with pytest.raises(ValueError, match="truncated IDX payload: 2 bytes, the header declares 4 = 4"):
        read_idx(path, kind="labels")


def test_wrong_digest_names_file_and_both_digests(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([1, 2, 3], dtype=np.uint8))
    actual = content_sha256(path)
    with pytest.raises(ValueError, match=f"{path}: SHA-256 .* is {actual}, expected {'0' * 64}"):
        read_idx(path, kind="labels", expected_sha256="0" * 64)


def test_bad_arguments(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([1], dtype=np.uint8))
    with pytest.raises(ValueError, match="unknown kind 'pictures'"):
        read_idx(path, kind="pictures")
    with pytest.raises(TypeError, match="dtype uint8"):
        write_idx(tmp_path / "f", np.zeros((2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"3-d \(images\) or 1-d \(labels\).*\(2, 2\)"):
        write_idx(tmp_path / "f", np.zeros((2, 2), dtype=np.uint8))


def test_copy_verified_installs_raw_content_atomically(tmp_path):
    source = write_idx(tmp_path / "src.gz", np.array([4, 5, 6], dtype=np.uint8), compress=True)
    destination = tmp_path / "out" / "labels"
    destination.parent.mkdir()
    copy_verified(source, destination, content_sha256(source))
    assert destination.read_bytes() == bytes.fromhex("00000801 00000003 040506")
    assert sorted(p.name for p in destination.parent.iterdir()) == ["labels"]


def test_copy_verified_rejects_a_mismatch_and_keeps_the_old_file(tmp_path):
    source = write_idx(tmp_path / "src", np.array([4, 5, 6], dtype=np.uint8))
    destination = tmp_path / "out" / "labels"
    destination.parent.mkdir()
    destination.write_bytes(b"previous content")
    with pytest.raises(ValueError, match="https://example.invalid/x: SHA-256"):
        copy_verified(source, destination, "f" * 64, origin="https://example.invalid/x")
    assert destination.read_bytes() == b"previous content"
    assert sorted(p.name for p in destination.parent.iterdir()) == ["labels"]
