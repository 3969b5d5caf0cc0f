"""MNIST digits for the denoising autoencoder of Figure 6, read offline and checked.

The project ships 10,000 real MNIST digits (``data/mnist_10k.npz``, 1.6 MB; see
``data/README.md`` for provenance and licence), so that a fresh clone needs no
network. :func:`load_mnist` reads that file, or any ``.npz`` a user points it
to (e.g. the full MNIST), and checks what it reads: a missing file, a file that
is not a readable ``.npz``, missing arrays, or arrays of the wrong shape, dtype
or range raise an error that names the path. Nothing is ever downloaded.

Where the file is looked for, in order (:func:`default_path`):

1. ``<repository>/data/mnist_10k.npz`` — a clone of the repository (and an
   editable install);
2. ``<package>/data/mnist_10k.npz`` — a copy shipped inside the installed
   package, where the packaging includes one (a ``pip install`` from git).

Two layouts are accepted: this project's (``images`` uint8 (n, 28, 28) and
``labels`` uint8 (n,)) and the common ``mnist.npz`` of Keras (``x_train``,
``y_train``, ``x_test``, ``y_test``), whose two parts are concatenated.
"""

from __future__ import annotations

import hashlib
import pathlib
import zipfile

import numpy as np

#: The file name of the shipped digits.
FILE_NAME = "mnist_10k.npz"

#: The sha256 of the shipped file (also in ``data/README.md``).
SHA256 = "0217e13bd0668deb198aa7d305edbf0331eb89f8a6e7dd226e03d1aa3a9bd4ef"

#: The side of an MNIST image, in pixels.
SIDE = 28

_PACKAGE = pathlib.Path(__file__).resolve().parent

#: Where the shipped digits are looked for, first found wins.
SEARCH_PATHS = (_PACKAGE.parent / "data" / FILE_NAME, _PACKAGE / "data" / FILE_NAME)

_HELP = (
    "The book ships it in the repository's data/ folder. If you installed the package with "
    "pip (e.g. on Colab), clone the repository instead, or download data/{name} from it and "
    "pass its path: load_mnist('/content/{name}')."
)


def default_path() -> pathlib.Path:
    """The shipped ``mnist_10k.npz``: the first of :data:`SEARCH_PATHS` that exists.

    Raises ``FileNotFoundError`` naming every place looked in, and what to do.
    """
    for path in SEARCH_PATHS:
        if path.is_file():
            return path
    looked = " or ".join(str(p) for p in SEARCH_PATHS)
    raise FileNotFoundError(
        f"MNIST digits not found: expected {looked}. " + _HELP.format(name=FILE_NAME)
    )


def sha256(path) -> str:
    """The sha256 hex digest of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_arrays(images, labels, path) -> tuple[np.ndarray, np.ndarray]:
    where = f"{path}: "
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"{where}images must have shape (n, {SIDE}, {SIDE}), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"{where}images must be uint8 (0-255), got dtype {images.dtype}")
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"{where}labels must have shape ({images.shape[0]},) to match the images, "
            f"got {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}labels must be integers, got dtype {labels.dtype}")
    if images.shape[0] == 0:
        raise ValueError(f"{where}the file holds no images")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{where}labels must be digits 0-9, got {labels.min()}..{labels.max()}")
    return images, labels.astype(np.uint8)


def load_mnist(path=None, *, verify: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The digits and their labels: ``images`` uint8 (n, 28, 28), ``labels`` uint8 (n,).

    ``path`` defaults to the shipped ``mnist_10k.npz`` (:func:`default_path`); give
    the path of another ``.npz`` (this project's layout or Keras's ``mnist.npz``)
    to use the full MNIST. With ``verify`` the file's sha256 must be
    :data:`SHA256` (only meaningful for the shipped file).

    Raises ``FileNotFoundError`` (no such file) or ``ValueError`` (not a readable
    ``.npz``, missing arrays, wrong shape, dtype or labels), naming the path.
    """
    path = default_path() if path is None else pathlib.Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST digits not found: expected a file at {path}. " + _HELP.format(name=FILE_NAME)
        )
    if verify and sha256(path) != SHA256:
        raise ValueError(
            f"{path}: sha256 is {sha256(path)}, expected {SHA256} (the file is damaged or "
            f"not the shipped {FILE_NAME})"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            names = set(data.files)
            if {"images", "labels"} <= names:
                images, labels = data["images"], data["labels"]
            elif {"x_train", "y_train", "x_test", "y_test"} <= names:
                images = np.concatenate([data["x_train"], data["x_test"]])
                labels = np.concatenate([data["y_train"], data["y_test"]])
            else:
                raise ValueError(
                    f"{path}: expected arrays 'images' and 'labels' (or Keras's 'x_train', "
                    f"'y_train', 'x_test', 'y_test'), found {sorted(names) or 'none'}"
                )
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    except ValueError as error:
        if str(error).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    return _check_arrays(np.asarray(images), np.asarray(labels), path)


def train_test_split(images, labels, n_test: int, *, seed: int = 0, n_train: int | None = None):
    """A seeded split: ``(train_images, train_labels, test_images, test_labels)``.

    The digits are shuffled with ``numpy.random.default_rng(seed)`` (the shipped
    file is sorted by label); the first ``n_test`` are the test set, the next
    ``n_train`` (default: all the rest) the training set, so the test set does not
    change with ``n_train``.
    """
    n = len(images)
    if len(labels) != n:
        raise ValueError(f"images and labels differ in length: {n} and {len(labels)}")
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be between 1 and {n - 1}, got {n_test!r}")
    rest = n - n_test
    n_train = rest if n_train is None else n_train
    if not 0 < n_train <= rest:
        raise ValueError(f"n_train must be between 1 and {rest}, got {n_train!r}")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test : n_test + n_train]
    return images[train], labels[train], images[test], labels[test]


def to_unit(images) -> np.ndarray:
    """uint8 images (0–255) as float32 in [0, 1], with a channel axis: (n, 1, 28, 28)."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got dtype {images.dtype}")
    return (images.astype(np.float32) / 255.0)[:, None]
