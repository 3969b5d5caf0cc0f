"""Tests of sobolev.autoencoder: the H1 image loss on single Fourier modes, the network, the noise."""

import numpy as np
import pytest
import torch

from sobolev.autoencoder import (
    DenoisingAutoencoder,
    Noise,
    effective_weights,
    frequency_weights,
    h1_image_loss,
    image_loss,
    l2_image_loss,
    noisy_copy,
    per_image_mse,
    psnr,
    sine_pattern,
    spectral_gradient,
    train_denoiser,
    wavenumbers,
)

N = 28


def mode(kx, ky, n=N, phase=0.3):
    """The real pattern cos(2π(kx·i + ky·j)/n + phase) on an n×n grid, as (1, 1, n, n)."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    pattern = np.cos(2 * np.pi * (kx * i + ky * j) / n + phase)
    return torch.as_tensor(pattern[None, None], dtype=torch.float64)


def wrapped(k, n=N):
    return (k + n // 2) % n - n // 2


@pytest.mark.parametrize(
    "kx, ky",
    [(1, 0), (0, 1), (3, 0), (0, 5), (13, 0), (2, 2), (5, 5), (3, -3), (25, 0), (0, 27), (24, 24)],
)
def test_h1_loss_of_a_fourier_mode_is_one_plus_frequency_squared(kx, ky):
    """loss(mode k) = (1 + |ξ_k|²) · mean(mode²), ξ = 2πk/N with k wrapped: both axes, diagonals,
    and indices past N/2 (25 is the frequency -3, the same real pattern as 3)."""
    e = mode(kx, ky)
    zero = torch.zeros_like(e)
    xi2 = (2 * np.pi / N) ** 2 * (wrapped(kx) ** 2 + wrapped(ky) ** 2)
    l2 = l2_image_loss(e, zero).item()
    assert l2 == pytest.approx(0.5, rel=1e-12)
    assert h1_image_loss(e, zero).item() == pytest.approx(l2 * (1 + xi2), rel=1e-10)


def test_h1_loss_scales_like_one_plus_k_squared_and_mirrors_agree():
    zero = torch.zeros_like(mode(0, 0))
    ratios = [h1_image_loss(mode(k, 0), zero).item() / 0.5 for k in range(1, 14)]
    expected = [1 + (2 * np.pi * k / N) ** 2 for k in range(1, 14)]
    np.testing.assert_allclose(ratios, expected, rtol=1e-10)
    for k in range(1, 14):  # k and N - k are the same real pattern: same loss
        a = h1_image_loss(mode(k, 2), zero).item()
        b = h1_image_loss(mode(N - k, N - 2), zero).item()
        assert a == pytest.approx(b, rel=1e-10)


def test_nyquist_checkerboard_costs_one_plus_two_pi_squared():
    e = mode(N // 2, N // 2, phase=0.0)  # (-1)^(i+j)
    loss = h1_image_loss(e, torch.zeros_like(e)).item()
    assert loss == pytest.approx(1 + 2 * np.pi**2, rel=1e-10)


def test_spectral_gradient_is_the_derivative_of_a_smooth_periodic_image():
    i, j = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    a, b = 2 * np.pi * i / N, 2 * np.pi * j / N
    f = np.sin(a) * np.cos(2 * b) + 0.5 * np.cos(3 * a + b)
    d_rows = (2 * np.pi / N) * (np.cos(a) * np.cos(2 * b) - 1.5 * np.sin(3 * a + b))
    d_cols = (2 * np.pi / N) * (-2 * np.sin(a) * np.sin(2 * b) - 0.5 * np.sin(3 * a + b))
    rows, cols = spectral_gradient(torch.as_tensor(f[None, None]))
    np.testing.assert_allclose(rows[0, 0].numpy(), d_rows, atol=1e-12)
    np.testing.assert_allclose(cols[0, 0].numpy(), d_cols, atol=1e-12)
    # the loss is the mean of e² + |∇e|² (no Nyquist content here)
    e = torch.as_tensor(f[None, None])
    direct = (e**2 + rows**2 + cols**2).mean().item()
    assert h1_image_loss(e, torch.zeros_like(e)).item() == pytest.approx(direct, rel=1e-10)


def test_h1_loss_on_a_batch_is_the_mean_and_has_gradients():
    torch.manual_seed(0)
    out = torch.rand(4, 1, N, N, requires_grad=True)
    target = torch.rand(4, 1, N, N)
    total = h1_image_loss(out, target)
    each = [h1_image_loss(out[k : k + 1], target[k : k + 1]).item() for k in range(4)]
    assert total.item() == pytest.approx(np.mean(each), rel=1e-6)
    assert total.item() > l2_image_loss(out, target).item()
    total.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()
    with pytest.raises(ValueError, match="shape"):
        h1_image_loss(out, target[:2])
    assert image_loss("l2") is l2_image_loss and image_loss("h1") is h1_image_loss
    with pytest.raises(ValueError, match="loss"):
        image_loss("h2")


def test_frequency_weights():
    h1 = frequency_weights(N, "h1")
    assert h1[0, 0] == 1 and h1.max() == pytest.approx(1 + 2 * np.pi**2)
    np.testing.assert_allclose(effective_weights(h1), h1)  # symmetric already
    authors = frequency_weights(N, "authors")
    xi = 2 * np.pi / N
    assert authors[1, 0] == pytest.approx(1 + xi**2)  # frequency +1
    assert authors[N - 1, 0] == pytest.approx(1 + (xi * (N - 1)) ** 2)  # frequency -1: ≈ 1 + 4π²
    seen = effective_weights(authors)
    assert seen[1, 0] == pytest.approx(seen[N - 1, 0])
    assert seen[1, 0] > seen[N // 2, 0]  # lowest non-zero modes weighted most along an axis
    np.testing.assert_array_equal(frequency_weights(N, "l2"), np.ones((N, N)))
    np.testing.assert_allclose(wavenumbers(4), 2 * np.pi * np.array([0, 1, -2, -1]) / 4)
    with pytest.raises(ValueError, match="kind"):
        frequency_weights(N, "h2")


def test_autoencoder_layers_and_shapes():
    model = DenoisingAutoencoder()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == x.shape
    assert model.encoder(x).shape == (5, 32)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (1, 32, 1),
        (32, 64, 2),
        (64, 64, 2),
    ]
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, torch.nn.LeakyReLU)}
    assert slopes == {0.01}
    assert not isinstance(model.decoder[-1], torch.nn.LeakyReLU)  # no output activation
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.rand(2, 28, 28))


def test_noise():
    clean = torch.zeros(2000, 1, N, N)
    gaussian = Noise("gaussian", 0.5)
    noisy = noisy_copy(clean, gaussian, seed=1)
    assert noisy.std().item() == pytest.approx(0.5, rel=0.01)
    torch.testing.assert_close(noisy, noisy_copy(clean, gaussian, seed=1))
    sine = Noise("sine", 0.3)
    pattern = noisy_copy(clean[:2], sine, seed=0)
    torch.testing.assert_close(pattern[0, 0], pattern[1, 0])
    np.testing.assert_allclose(pattern[0, 0].numpy(), sine_pattern(N, 0.3, 1.0), atol=1e-7)
    assert abs(sine_pattern(N)).max() <= 0.3 and sine_pattern(N)[0, 0] == 0
    assert sine.describe() == "ε₂ = 0.3·sin(2π(x + y))"
    assert Noise("sine", 0.3, 5).describe() == "ε₂ = 0.3·sin(2π·5(x + y))"
    assert gaussian.describe() == "ε₁ ~ N(0, 0.5²)"
    with pytest.raises(ValueError, match="kind"):
        Noise("salt", 0.1)
    with pytest.raises(ValueError, match="level"):
        Noise("gaussian", -1)


def test_mse_and_psnr():
    clean = torch.zeros(3, 1, N, N)
    out = clean + 0.1
    np.testing.assert_allclose(per_image_mse(out, clean), 0.01, rtol=1e-6)
    assert psnr(0.01) == pytest.approx(20.0)


def test_training_is_seeded_and_lowers_the_test_error():
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    clean = (torch.rand(64, 1, N, N, generator=generator) > 0.8).float()
    noise = Noise("gaussian", 0.5)
    noisy = noisy_copy(clean[:16], noise, seed=2)
    kwargs = dict(
        steps=6, eval_clean=clean[:16], eval_noisy=noisy, eval_steps=[0, 3], batch_size=16
    )
    a = train_denoiser(clean, noise, "h1", seed=1, **kwargs)
    b = train_denoiser(clean, noise, "h1", seed=1, **kwargs)
    assert a.steps == [0, 3, 6]
    assert a.test_mse == b.test_mse
    assert a.test_mse[-1] < a.test_mse[0]
    assert a.seconds[0] == 0 and a.seconds[-1] >= a.seconds[1] > 0
    assert a.first_step_below(a.test_mse[-1]) <= 6
    assert a.first_step_below(-1.0) is None and a.seconds_to_reach(-1.0) is None
    assert a.seconds_to_reach(a.test_mse[0]) == 0
    with pytest.raises(ValueError, match="lr"):
        train_denoiser(clean, noise, "l2", lr=-1, **kwargs)
