"""Putting the full IDX data sets on disk: download (``fetch``) or copy local files (``import_files``).

Both end in ``rigl_ref.data.idx.copy_verified``: every file is decompressed into a temporary file next to
its destination, its SHA-256 is compared with the catalog (``rigl_ref.data.catalog``), and only then is it
moved into place with ``os.replace``. Files are stored raw (``train-images-idx3-ubyte``), whatever form
they arrived in. A failed download or a wrong checksum leaves no file behind, and a destination file that
already verifies is never rewritten.

Download sources: the ``base_urls`` argument (``--url``, repeatable) if given, else the data set's
environment variable (``RIGL_REF_MNIST_URL`` / ``RIGL_REF_FASHION_MNIST_URL``) if set, else the catalog's
mirrors. For each file the base URLs are tried in order until one serves content with the right digest.
From base URL ``B`` the file ``B/<standard name>.gz`` is requested, and ``B/<standard name>`` if that
answers HTTP 404. Any URL scheme urllib opens works, including ``file://``.
"""

from __future__ import annotations

import math
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from tqdm import tqdm

from rigl_ref.data.catalog import FILE_NAMES, IDX_DATASETS, IdxDatasetSpec
from rigl_ref.data.idx import content_sha256, copy_verified
from rigl_ref.data.locate import default_destination, file_in, find_files, search_dirs

_CHUNK = 1 << 16


@dataclass(frozen=True)
class InstalledFile:
    """One file of a fetch/import: where it is, what happened ("present", "downloaded", "imported"), from where."""

    path: Path
    status: str
    origin: str


def _spec(name: str) -> IdxDatasetSpec:
    if name not in IDX_DATASETS:
        raise ValueError(
            f"cannot fetch or import data set {name!r}; only {', '.join(map(repr, IDX_DATASETS))} come from "
            f"files (mnist-subset is embedded in the package, synthetic is generated)"
        )
    return IDX_DATASETS[name]


def _checksums(spec: IdxDatasetSpec, checksums: Mapping[str, str] | None) -> dict[str, str]:
    """The catalog digests of ``spec``, or ``checksums`` (which must name exactly the four files) instead."""
    if checksums is None:
        return dict(spec.sha256)
    if set(checksums) != set(FILE_NAMES.values()):
        raise ValueError(f"checksums must have exactly the keys {sorted(FILE_NAMES.values())}, got {sorted(checksums)}")
    return {file_name: str(digest).lower() for file_name, digest in checksums.items()}


def _already_good(path: Path | None, expected: str) -> bool:
    if path is None:
        return False
    try:
        return content_sha256(path) == expected
    except ValueError:  # a broken gzip stream: not good, will be replaced by a verified copy
        return False


def _install_missing(directory: Path, expected: Mapping[str, str], obtain) -> list[InstalledFile]:
    """For each of the four files: keep the copy in ``directory`` if it verifies, else ``obtain(file_name)``."""
    installed = []
    for file_name in FILE_NAMES.values():
        existing = file_in(directory, file_name)
        if _already_good(existing, expected[file_name]):
            installed.append(InstalledFile(existing, "present", ""))
        else:
            installed.append(obtain(file_name))
    return installed


def _destination(name: str, dest) -> Path:
    directory = Path(dest) if dest is not None else default_destination(name)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def download_sources(spec: IdxDatasetSpec, base_urls: Sequence[str] | None = None) -> list[str]:
    """The base URLs ``fetch`` tries, in order (see the module docstring)."""
    if isinstance(base_urls, str):
        raise TypeError(f"base_urls must be a sequence of base URLs, not the string {base_urls!r}")
    if base_urls:
        return list(base_urls)
    override = os.environ.get(spec.url_env)
    return [override] if override else list(spec.mirrors)


def _download(url: str, target: Path, *, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``target`` (a temporary path the caller removes)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
        length = response.headers.get("Content-Length")
        with tqdm(
            total=int(length) if length else None,
            unit="B",
            unit_scale=True,
            desc=url.rsplit("/", 1)[-1],
            disable=None if progress else True,
            leave=False,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _fetch_one(file_name: str, directory: Path, bases, expected: str, *, timeout: float, progress: bool) -> str:
    """Download and install one file from the first base URL that serves a verified copy; return the URL."""
    failures = []
    temporary = directory / f".{file_name}.{os.getpid()}.download"
    try:
        for base in bases:
            for remote_name in (f"{file_name}.gz", file_name):
                url = f"{base.rstrip('/')}/{remote_name}"
                try:
                    _download(url, temporary, timeout=timeout, progress=progress)
                    copy_verified(temporary, directory / file_name, expected, origin=url)
                    return url
                except urllib.error.HTTPError as error:
                    failures.append(f"{url}: HTTP {error.code} {error.reason}")
                    if error.code != 404:
                        break
                except ValueError as error:  # corrupt or wrong content; the message names the URL
                    failures.append(str(error))
                    break
                except (urllib.error.URLError, OSError) as error:
                    failures.append(f"{url}: {getattr(error, 'reason', error)}")
                    break
    finally:
        temporary.unlink(missing_ok=True)
    raise ValueError(f"could not fetch {file_name}: " + "; ".join(failures or ["no base URL to try"]))


def fetch(
    name: str,
    *,
    base_urls: Sequence[str] | None = None,
    dest=None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    progress: bool = True,
) -> list[InstalledFile]:
    """Download the four IDX files of data set ``name`` into ``dest`` (default: see ``default_destination``).

    ``checksums`` replaces the catalog digests (for a private mirror of other data, or tests). Raises
    ``ValueError`` naming the file and every URL tried when a file cannot be obtained with the right digest;
    files installed before the failure stay (they are verified).
    """
    spec = _spec(name)
    expected = _checksums(spec, checksums)
    bases = download_sources(spec, base_urls)
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r} (finite, so inf is refused too)")
    directory = _destination(name, dest)

    def download(file_name: str) -> InstalledFile:
        url = _fetch_one(file_name, directory, bases, expected[file_name], timeout=timeout, progress=progress)
        return InstalledFile(directory / file_name, "downloaded", url)

    return _install_missing(directory, expected, download)


def import_files(
    name: str, source_dir, *, dest=None, checksums: Mapping[str, str] | None = None
) -> list[InstalledFile]:
    """Copy the four IDX files (raw or .gz) of data set ``name`` from ``source_dir`` (or ``source_dir/name``).

    Same verification and atomic write as ``fetch``; raises ``ValueError`` if the source lacks a file or a
    file's digest is wrong (nothing is written for that file).
    """
    spec = _spec(name)
    expected = _checksums(spec, checksums)
    sources = find_files(name, source_dir)
    if sources is None:
        looked = " and ".join(str(directory) for directory in search_dirs(name, source_dir))
        raise ValueError(
            f"no complete set of {name} IDX files in {looked}: need {', '.join(FILE_NAMES.values())} (raw or .gz)"
        )
    directory = _destination(name, dest)

    def copy(file_name: str) -> InstalledFile:
        copy_verified(sources[file_name], directory / file_name, expected[file_name])
        return InstalledFile(directory / file_name, "imported", str(sources[file_name]))

    return _install_missing(directory, expected, copy)
