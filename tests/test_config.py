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


@pytest.fixture
def torch_settings():
    """Restore the process-wide torch settings that start_chapter and set_threads change."""
    saved = (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cudnn.benchmark,
    )
    yield
    torch.set_num_threads(saved[0])
    torch.use_deterministic_algorithms(saved[1])
    torch.backends.cuda.matmul.allow_tf32 = saved[2]
    torch.backends.cudnn.allow_tf32 = saved[3]
    torch.backends.cudnn.benchmark = saved[4]


@pytest.mark.parametrize(
    "raw, expected",
    [(None, False), ("", False), ("0", False), ("off", False), (" False ", False)]
    + [("1", True), ("true", True), ("YES", True), ("on", True)],
)
def test_perturbed_reads_the_switch(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv("SOBOLEV_PERTURB", raising=False)
    else:
        monkeypatch.setenv("SOBOLEV_PERTURB", raw)
    assert config.perturbed() is expected


def test_perturbed_refuses_other_values(monkeypatch):
    monkeypatch.setenv("SOBOLEV_PERTURB", "2")
    with pytest.raises(ValueError, match="SOBOLEV_PERTURB='2'"):
        config.perturbed()


def test_threads_default_to_one_or_two_under_perturbation(monkeypatch, torch_settings):
    monkeypatch.delenv("SOBOLEV_THREADS", raising=False)
    monkeypatch.delenv("SOBOLEV_PERTURB", raising=False)
    assert config.set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("SOBOLEV_PERTURB", "1")
    assert config.set_threads() == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv("SOBOLEV_THREADS", "1")  # an explicit thread count wins
    assert config.set_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("SOBOLEV_THREADS", "two")
    with pytest.raises(ValueError, match="SOBOLEV_THREADS"):
        config.set_threads()


def test_arithmetic_turns_tf32_off_and_perturbation_allows_nondeterminism(
    monkeypatch, torch_settings
):
    torch.backends.cudnn.allow_tf32 = True  # torch's default for cuDNN convolutions
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    monkeypatch.delenv("SOBOLEV_PERTURB", raising=False)
    config.set_arithmetic()
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert torch.are_deterministic_algorithms_enabled()  # left as the caller set it
    monkeypatch.setenv("SOBOLEV_PERTURB", "1")
    config.set_arithmetic()
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


def test_describe_names_the_perturbation(monkeypatch):
    monkeypatch.delenv("SOBOLEV_PERTURB", raising=False)
    assert "perturbed" not in config.describe()
    monkeypatch.setenv("SOBOLEV_PERTURB", "1")
    assert "perturbed arithmetic (SOBOLEV_PERTURB)" in config.describe()


def perturbed_loss_and_gradient(monkeypatch, flag: str):
    """The H2 Sobolev loss of a fixed tanh network on 1000 points, and its parameter gradient."""
    from sobolev import MLP, sobolev_loss

    monkeypatch.setenv("SOBOLEV_PERTURB", flag)
    torch.manual_seed(0)
    model = MLP([2, 32, 32, 1])
    x = torch.randn(1000, 2)
    value, gradient = torch.sin(x).sum(dim=1), torch.cos(x)
    hessian = torch.diag_embed(-torch.sin(x))
    loss = sobolev_loss(model, x, value, gradient, hessian)
    loss.total.backward()
    return loss.detached(), torch.cat([p.grad.flatten() for p in model.parameters()])


def test_perturbation_reorders_the_sums_of_the_loss(monkeypatch):
    """SOBOLEV_PERTURB changes the loss and its gradient in the last bits only.

    The same network, points and targets: the loss terms differ (so the switch does
    something) by less than 1e-5 relative (so it does not change the mathematics), and
    both agree with the loss recomputed in float64 from the network's own derivatives.
    """
    plain, plain_grad = perturbed_loss_and_gradient(monkeypatch, "0")
    perturbed, perturbed_grad = perturbed_loss_and_gradient(monkeypatch, "1")
    for name in ("l2", "h1", "h2", "total"):
        relative = abs(perturbed[name] - plain[name]) / abs(plain[name])
        assert 0 < relative < 1e-5, (name, plain[name], perturbed[name])
    gradient_change = (perturbed_grad - plain_grad).abs().max() / plain_grad.abs().max()
    assert 0 < gradient_change < 1e-5

    # independent check: the L2 term in float64, from the same network's values
    from sobolev import MLP

    torch.manual_seed(0)
    model = MLP([2, 32, 32, 1]).double()
    x = torch.randn(1000, 2).double()
    reference = (model(x)[:, 0] - torch.sin(x).sum(dim=1)).square().mean().item()
    assert plain["l2"] == pytest.approx(reference, rel=1e-6)
    assert perturbed["l2"] == pytest.approx(reference, rel=1e-6)
