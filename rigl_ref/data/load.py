"""``load_dataset``: one entry point for every data set rigl_ref knows.

* ``"mnist-subset"`` (the default): real MNIST digits embedded in the package; works offline right after
  ``pip install``.
* ``"mnist"``, ``"fashion-mnist"``: the full IDX files, found on disk as described in
  ``rigl_ref.data.locate`` (put there by ``rigl-ref data fetch`` / ``rigl-ref data import``).
* ``"synthetic"``: ``rigl_ref.data.synthetic.synthetic()`` with its defaults (seed 0).

IDX files are checked structurally (``rigl_ref.data.idx.read_idx``) and, unless ``verify=False``, against
the SHA-256 digests of the catalog, so a wrong or damaged file is an error naming the file, never a
silently different data set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from rigl_ref.data.catalog import FILE_NAMES, IDX_DATASETS, MNIST_SUBSET, IdxDatasetSpec
from rigl_ref.data.dataset import Dataset
from rigl_ref.data.idx import read_idx
from rigl_ref.data.locate import file_in, find_files, search_dirs
from rigl_ref.data.synthetic import synthetic
from rigl_ref.validate import check_choice

#: The data set used when none is named: the embedded MNIST subset.
DEFAULT_DATASET = MNIST_SUBSET.name
#: Every name ``load_dataset`` accepts.
DATASET_NAMES = (MNIST_SUBSET.name, *IDX_DATASETS, "synthetic")

#: Directory of the embedded MNIST subset (gz IDX files and PROVENANCE.md).
EMBEDDED_DIR = Path(__file__).resolve().parent / "mnist_subset"


def load_dataset(name: str = DEFAULT_DATASET, *, data_dir=None, verify: bool = True) -> Dataset:
    """Load data set ``name`` (one of ``DATASET_NAMES``) into memory as uint8 images and int64 labels.

    ``data_dir`` is the directory to look in for ``mnist``/``fashion-mnist`` (see ``rigl_ref.data.locate``);
    it is an error to give it for the embedded or synthetic sets. A missing data set raises ``ValueError``
    saying where it was looked for and how to get it.
    """
    check_choice("data set", name, DATASET_NAMES)
    if name in IDX_DATASETS:
        spec = IDX_DATASETS[name]
        files = find_files(name, data_dir)
        if files is None:
            raise ValueError(_not_found_message(spec, data_dir))
        return load_idx_files(spec, files, verify=verify, source=str(files[FILE_NAMES["train_images"]].parent))
    if data_dir is not None:
        raise ValueError(
            f"data_dir is only used by {', '.join(IDX_DATASETS)}; {name!r} needs no files, got {data_dir!r}"
        )
    if name == MNIST_SUBSET.name:
        files = {file_name: file_in(EMBEDDED_DIR, file_name) for file_name in FILE_NAMES.values()}
        return load_idx_files(MNIST_SUBSET, files, verify=verify, source="embedded in rigl_ref")
    return synthetic()


def load_idx_files(
    spec: IdxDatasetSpec, files: Mapping[str, Path], *, verify: bool = True, source: str = ""
) -> Dataset:
    """Read the four files of ``spec`` (paths keyed by standard file name) into a ``Dataset``.

    Checks, each failing with a ``ValueError`` naming the file: IDX structure, the SHA-256 digest (if
    ``verify``), image and label counts agreeing, and labels in ``0 .. num_classes-1``.
    """
    arrays = {}
    for role, file_name in FILE_NAMES.items():
        path = files.get(file_name)
        if path is None:
            raise ValueError(f"no path given for {file_name} of data set {spec.name!r}")
        expected = spec.sha256[file_name] if verify else None
        arrays[role] = read_idx(path, kind=role.split("_")[1], expected_sha256=expected)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        labels_path = files[FILE_NAMES[f"{split}_labels"]]
        if len(images) != len(labels):
            raise ValueError(
                f"{labels_path}: {len(labels)} labels, but {files[FILE_NAMES[f'{split}_images']]} has "
                f"{len(images)} images"
            )
        if len(labels) and labels.max() >= spec.num_classes:
            raise ValueError(f"{labels_path}: label {labels.max()} outside 0..{spec.num_classes - 1}")
    return Dataset(
        name=spec.name,
        train_x=arrays["train_images"],
        train_y=arrays["train_labels"].astype(np.int64),
        test_x=arrays["test_images"],
        test_y=arrays["test_labels"].astype(np.int64),
        num_classes=spec.num_classes,
        class_names=spec.class_names,
        source=source,
    )


def _not_found_message(spec: IdxDatasetSpec, data_dir) -> str:
    looked = []
    for directory in search_dirs(spec.name, data_dir):
        missing = [file_name for file_name in FILE_NAMES.values() if file_in(directory, file_name) is None]
        status = "missing" if len(missing) == len(FILE_NAMES) else f"lacks {', '.join(missing)}"
        looked.append(f"{directory} ({status})")
    return (
        f"data set {spec.name!r} not found; looked in {'; '.join(looked)}. It needs the files "
        f"{', '.join(FILE_NAMES.values())} (raw or .gz). Get them with `rigl-ref data fetch {spec.name}` "
        f"(download) or `rigl-ref data import {spec.name} --from DIR` (local IDX files), or point "
        f"--data-dir / RIGL_REF_DATA_DIR at a directory holding them"
    )
