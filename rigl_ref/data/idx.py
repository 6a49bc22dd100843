"""Reading and writing IDX files, the format MNIST and Fashion-MNIST are distributed in.

Format (LeCun, Cortes, Burges, "The MNIST database", yann.lecun.com/exdb/mnist): a big-endian 32-bit
magic number ``0x0000TTNN`` (``TT`` = element type, 0x08 = unsigned byte; ``NN`` = number of dimensions),
then one big-endian 32-bit size per dimension, then the elements in row-major order. Only the two kinds
the data sets use are accepted: images (magic 2051 = 0x0803, dimensions count x rows x cols) and labels
(magic 2049 = 0x0801, one dimension). A file may be raw or gzip-compressed (recognised by its first two
bytes, 1f 8b, whatever its name).

Every defect is reported as a ``ValueError`` that names the file and says what is wrong: a wrong magic
number, a header or payload shorter than declared, bytes after the payload, a broken gzip stream, or a
SHA-256 that differs from the expected one. The digest is always of the *decompressed* content, so a
re-gzipped copy of a file has the same digest as the original.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

from rigl_ref.validate import check_choice

#: Magic number of each accepted kind of IDX file, and the number of dimensions it implies.
MAGIC = {"images": 2051, "labels": 2049}
NDIM = {"images": 3, "labels": 1}

_GZIP_SIGNATURE = b"\x1f\x8b"
_CHUNK = 1 << 20
# A broken gzip stream surfaces as one of these, depending on where it breaks.
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def is_gzip(path) -> bool:
    """True when the file at ``path`` starts with the gzip signature."""
    with open(path, "rb") as handle:
        return handle.read(2) == _GZIP_SIGNATURE


def open_idx(path):
    """Open ``path`` for binary reading, transparently decompressing it if it is gzip data."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def _read_up_to(handle, size: int) -> bytearray:
    """Read ``size`` bytes from ``handle``, or fewer if the stream ends first.

    Reads in chunks, so a corrupt header that declares an absurd size costs no more memory than the file
    really holds.
    """
    content = bytearray()
    while len(content) < size:
        chunk = handle.read(min(_CHUNK, size - len(content)))
        if not chunk:
            break
        content += chunk
    return content


def read_idx(path, *, kind: str, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file of the given ``kind`` ("images" or "labels") into a uint8 array.

    Images come back with shape ``(count, rows, cols)``, labels with shape ``(count,)``. When
    ``expected_sha256`` is given, the SHA-256 of the decompressed content (header and payload) must equal
    it. Raises ``ValueError`` naming the file for every defect listed in the module docstring.
    """
    check_choice("kind", kind, MAGIC)
    path = Path(path)
    header_size = 4 + 4 * NDIM[kind]
    try:
        with open_idx(path) as handle:
            header = _read_up_to(handle, header_size)
            if len(header) < header_size:
                raise ValueError(
                    f"{path}: truncated IDX header: {len(header)} bytes, a {kind} header has {header_size}"
                )
            magic, *dims = (int.from_bytes(header[i : i + 4], "big") for i in range(0, header_size, 4))
            if magic != MAGIC[kind]:
                raise ValueError(
                    f"{path}: magic number {magic} (0x{magic:08x}), expected {MAGIC[kind]} for an IDX {kind} file"
                )
            declared = " x ".join(map(str, dims))
            expected_size = int(np.prod(dims, dtype=object))
            payload = _read_up_to(handle, expected_size)
            if len(payload) < expected_size:
                raise ValueError(
                    f"{path}: truncated IDX payload: {len(payload)} bytes, the header declares "
                    f"{declared} = {expected_size}"
                )
            if handle.read(1):
                raise ValueError(f"{path}: bytes after the IDX payload of {declared} = {expected_size} bytes")
    except _GZIP_ERRORS as error:
        raise ValueError(f"{path}: corrupt gzip stream ({error})") from None
    if expected_sha256 is not None:
        digest = hashlib.sha256(header)
        digest.update(payload)
        _check_digest(path, digest.hexdigest(), expected_sha256)
    return np.frombuffer(payload, dtype=np.uint8).reshape(dims)


def content_sha256(path) -> str:
    """SHA-256 (hex) of the decompressed content of ``path`` (raw or gzip)."""
    digest = hashlib.sha256()
    try:
        with open_idx(path) as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except _GZIP_ERRORS as error:
        raise ValueError(f"{path}: corrupt gzip stream ({error})") from None
    return digest.hexdigest()


def _check_digest(path, actual: str, expected: str) -> None:
    if actual != expected.lower():
        raise ValueError(f"{path}: SHA-256 of the decompressed content is {actual}, expected {expected.lower()}")


def copy_verified(source, destination, expected_sha256: str, *, origin: str | None = None) -> Path:
    """Decompress ``source`` into the raw IDX file ``destination`` if its SHA-256 equals ``expected_sha256``.

    The content goes to a temporary file in the destination's directory, is flushed to disk, and replaces
    ``destination`` with ``os.replace`` only after the digest matched; on any failure the temporary file is
    removed and ``destination`` is left as it was. ``origin`` names the source in error messages (e.g. the
    URL a temporary download came from). Returns ``destination`` as a Path.
    """
    destination = Path(destination)
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        try:
            with open_idx(source) as reader, open(temporary, "wb") as writer:
                for chunk in iter(lambda: reader.read(_CHUNK), b""):
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
        except _GZIP_ERRORS as error:
            raise ValueError(f"{origin or source}: corrupt gzip stream ({error})") from None
        _check_digest(origin or source, digest.hexdigest(), expected_sha256)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return destination


def write_idx(path, array, *, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file: 3-d arrays as images (2051), 1-d arrays as labels (2049).

    With ``compress=True`` the file is gzip data with a zero timestamp, so equal arrays give equal bytes.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"array must have dtype uint8 to be written as IDX, got {array.dtype}")
    kinds = {ndim: kind for kind, ndim in NDIM.items()}
    if array.ndim not in kinds:
        raise ValueError(f"array must be 3-d (images) or 1-d (labels) to be written as IDX, got shape {array.shape}")
    header = MAGIC[kinds[array.ndim]].to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    content = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    if compress:
        content = gzip.compress(content, mtime=0)
    path.write_bytes(content)
    return path
