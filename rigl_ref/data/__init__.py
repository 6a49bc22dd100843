"""Data for rigl_ref: the embedded MNIST subset, IDX loaders, fetch/import with SHA-256, synthetic data.

Typical use::

    from rigl_ref.data import load_dataset, batches
    data = load_dataset()                      # real MNIST digits shipped with the package, offline
    for x, y in batches(data.train_x, data.train_y, 100, seed=0, epoch=0, flatten=True):
        ...                                    # x: float32 (100, 784) in [0, 1], y: int64 (100,)
"""

from rigl_ref.data.catalog import FASHION_MNIST, FILE_NAMES, IDX_DATASETS, MNIST, MNIST_SUBSET, IdxDatasetSpec
from rigl_ref.data.dataset import (
    Dataset,
    batches,
    batches_per_epoch,
    epoch_permutation,
    hold_out_validation,
    stored_batch,
    to_float32,
    train_mean_std,
)
from rigl_ref.data.idx import content_sha256, read_idx, write_idx
from rigl_ref.data.load import DATASET_NAMES, DEFAULT_DATASET, load_dataset, load_idx_files
from rigl_ref.data.locate import DATA_DIR_ENV, cache_dir, find_files, search_dirs
from rigl_ref.data.synthetic import synthetic

__all__ = [
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "DEFAULT_DATASET",
    "Dataset",
    "FASHION_MNIST",
    "FILE_NAMES",
    "IDX_DATASETS",
    "IdxDatasetSpec",
    "MNIST",
    "MNIST_SUBSET",
    "batches",
    "batches_per_epoch",
    "cache_dir",
    "content_sha256",
    "epoch_permutation",
    "hold_out_validation",
    "find_files",
    "load_dataset",
    "load_idx_files",
    "read_idx",
    "search_dirs",
    "stored_batch",
    "synthetic",
    "to_float32",
    "train_mean_std",
    "write_idx",
]
