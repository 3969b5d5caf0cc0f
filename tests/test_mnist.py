"""Tests of sobolev.mnist: the shipped digits load offline, bad files fail clearly."""

import numpy as np
import pytest

from sobolev import mnist
from sobolev.mnist import SHA256, default_path, load_mnist, sha256, to_unit, train_test_split


def test_the_shipped_file_is_the_shared_one_and_loads():
    path = default_path()
    assert path.name == "mnist_10k.npz" and sha256(path) == SHA256
    images, labels = load_mnist(verify=True)
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert abs(images.mean() - 33.4) < 0.1


def test_split_is_seeded_disjoint_and_mixes_digits():
    images = np.arange(100 * 28 * 28, dtype=np.int64).reshape(100, 28, 28).astype(np.uint8)
    labels = np.repeat(np.arange(10), 10).astype(np.uint8)
    a = train_test_split(images, labels, 20, seed=3)
    b = train_test_split(images, labels, 20, seed=3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    train_images, train_labels, test_images, test_labels = a
    assert len(train_images) == 80 and len(test_images) == 20
    assert len(set(test_labels.tolist())) > 3  # shuffled, not the first digits of a sorted file
    small = train_test_split(images, labels, 20, seed=3, n_train=10)
    np.testing.assert_array_equal(small[2], test_images)  # the test set does not move
    assert len(small[0]) == 10
    with pytest.raises(ValueError, match="n_test"):
        train_test_split(images, labels, 0)
    with pytest.raises(ValueError, match="n_train"):
        train_test_split(images, labels, 20, n_train=81)


def test_to_unit_scales_to_the_unit_interval():
    x = to_unit(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 2) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1
    with pytest.raises(ValueError, match="uint8"):
        to_unit(np.zeros((1, 28, 28)))


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(FileNotFoundError, match="nowhere.npz"):
        load_mnist(missing)


def test_no_shipped_file_names_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "SEARCH_PATHS", (tmp_path / "data" / "mnist_10k.npz",))
    with pytest.raises(FileNotFoundError, match=r"data.mnist_10k\.npz.*clone the repository"):
        default_path()


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz"):
        load_mnist(bad)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(default_path().read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.npz"):
        load_mnist(truncated)
    with pytest.raises(ValueError, match="sha256"):
        load_mnist(truncated, verify=True)


def write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pixels": np.zeros((2, 28, 28), np.uint8)}, "expected arrays 'images' and 'labels'"),
        (
            {"images": np.zeros((2, 28, 27), np.uint8), "labels": np.zeros(2, np.uint8)},
            r"shape \(n, 28, 28\)",
        ),
        ({"images": np.zeros((2, 28, 28)), "labels": np.zeros(2, np.uint8)}, "uint8"),
        ({"images": np.zeros((2, 28, 28), np.uint8), "labels": np.zeros(3, np.uint8)}, "labels"),
        (
            {"images": np.zeros((2, 28, 28), np.uint8), "labels": np.array([0, 10], np.uint8)},
            "0-9",
        ),
        ({"images": np.zeros((2, 28, 28), np.uint8), "labels": np.zeros(2)}, "integers"),
    ],
)
def test_wrong_contents_are_clear_errors(tmp_path, arrays, message):
    path = write(tmp_path / "wrong.npz", **arrays)
    with pytest.raises(ValueError, match=message) as error:
        load_mnist(path)
    assert "wrong.npz" in str(error.value)


def test_object_arrays_are_refused(tmp_path):
    path = write(
        tmp_path / "pickled.npz",
        images=np.array([None], dtype=object),
        labels=np.zeros(1, np.uint8),
    )
    with pytest.raises(ValueError, match="pickled.npz"):
        load_mnist(path)


def test_keras_layout_is_read(tmp_path):
    path = write(
        tmp_path / "mnist.npz",
        x_train=np.ones((3, 28, 28), np.uint8),
        y_train=np.array([1, 2, 3], np.uint8),
        x_test=np.zeros((2, 28, 28), np.uint8),
        y_test=np.array([4, 5], np.uint8),
    )
    images, labels = load_mnist(path)
    assert images.shape == (5, 28, 28) and labels.tolist() == [1, 2, 3, 4, 5]
