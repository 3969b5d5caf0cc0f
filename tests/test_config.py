import random

import numpy as np
import pytest
import torch

from sobolev import config


def test_default_scale_is_book(monkeypatch):
    monkeypatch.delenv("SOBOLEV_SCALE", raising=False)
    assert config.get_scale() == "book"


@pytest.mark.parametrize("scale", ["smoke", "book", "paper", " Paper "])
def test_valid_scales(monkeypatch, scale):
    monkeypatch.setenv("SOBOLEV_SCALE", scale)
    assert config.get_scale() == scale.strip().lower()


def test_invalid_scale_lists_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SOBOLEV_SCALE", "huge")
    with pytest.raises(ValueError, match=r"SOBOLEV_SCALE='huge'.*smoke, book, paper"):
        config.get_scale()


def test_by_scale_picks_the_current_scale(monkeypatch):
    monkeypatch.setenv("SOBOLEV_SCALE", "smoke")
    assert config.by_scale(smoke=1, book=2, paper=3) == 1
    assert config.by_scale(smoke=1, book=2, paper=3, scale="paper") == 3
    with pytest.raises(ValueError, match="scale="):
        config.by_scale(smoke=1, book=2, paper=3, scale="tiny")


def test_device_default_and_override(monkeypatch):
    monkeypatch.delenv("SOBOLEV_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected
    monkeypatch.setenv("SOBOLEV_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    monkeypatch.setenv("SOBOLEV_DEVICE", "not-a-device")
    with pytest.raises(ValueError, match="SOBOLEV_DEVICE"):
        config.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_gpu_is_refused(monkeypatch):
    monkeypatch.setenv("SOBOLEV_DEVICE", "cuda")
    with pytest.raises(ValueError, match="CUDA"):
        config.get_device()


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    config.seed_everything(123)
    first = draw()
    config.seed_everything(123)
    assert draw() == first
    config.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(seed)
