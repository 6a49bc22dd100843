"""Where IDX data sets are looked for on disk.

Search order for data set ``NAME`` (first directory holding all four files wins):

1. if a directory ``DIR`` is given explicitly (``data_dir=`` / ``--data-dir``): ``DIR/NAME`` then ``DIR``,
   and nowhere else;
2. otherwise, if the environment variable ``RIGL_REF_DATA_DIR`` is set: ``$RIGL_REF_DATA_DIR/NAME`` then
   ``$RIGL_REF_DATA_DIR``;
3. then the user cache: ``$XDG_CACHE_HOME/rigl_ref/NAME``, or ``~/.cache/rigl_ref/NAME`` when
   ``XDG_CACHE_HOME`` is unset.

In each directory a file is taken raw (``train-images-idx3-ubyte``) if present, else gzip-compressed
(``train-images-idx3-ubyte.gz``).
"""

from __future__ import annotations

import os
from pathlib import Path

from rigl_ref.data.catalog import FILE_NAMES

#: Environment variable naming the directory searched first for the full IDX data sets.
DATA_DIR_ENV = "RIGL_REF_DATA_DIR"


def cache_dir(name: str) -> Path:
    """The user-cache directory of data set ``name`` (it need not exist)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rigl_ref" / name


def default_destination(name: str) -> Path:
    """Where ``fetch``/``import`` write when no destination is given: ``$RIGL_REF_DATA_DIR/NAME`` or the cache."""
    root = os.environ.get(DATA_DIR_ENV)
    return Path(root) / name if root else cache_dir(name)


def search_dirs(name: str, data_dir=None) -> list[Path]:
    """The directories searched for data set ``name``, in order (see the module docstring)."""
    if data_dir is not None:
        return [Path(data_dir) / name, Path(data_dir)]
    root = os.environ.get(DATA_DIR_ENV)
    dirs = [Path(root) / name, Path(root)] if root else []
    return dirs + [cache_dir(name)]


def file_in(directory: Path, file_name: str) -> Path | None:
    """The raw or else ``.gz`` copy of ``file_name`` in ``directory``, or None."""
    for candidate in (directory / file_name, directory / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_files(name: str, data_dir=None) -> dict[str, Path] | None:
    """Paths of the four files (keyed by standard name) in the first directory holding them all, or None."""
    for directory in search_dirs(name, data_dir):
        found = {file_name: file_in(directory, file_name) for file_name in FILE_NAMES.values()}
        if all(found.values()):
            return found
    return None
