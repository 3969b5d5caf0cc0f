"""Tests of sobolev.chebyshev against closed-form derivatives and numpy's polynomial algebra."""

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from sobolev.chebyshev import (
    cheb,
    cheb_interval,
    chebfft,
    chebyshev_points,
    finite_difference_matrix,
    gradient_2d,
    tensor_grid,
)


def smooth(x):
    """exp(sin πx) and its derivative, closed form."""
    f = np.exp(np.sin(np.pi * x))
    return f, np.pi * np.cos(np.pi * x) * f


def test_points_are_cosines_descending_and_symmetric():
    for n in (1, 2, 7, 64):
        x = chebyshev_points(n)
        np.testing.assert_allclose(x, np.cos(np.pi * np.arange(n + 1) / n), atol=1e-15)
        assert np.all(np.diff(x) < 0)
        np.testing.assert_array_equal(x, -x[::-1])


def test_small_matrix_matches_trefethen_table():
    # n = 2: x = (1, 0, -1); Trefethen (2000), p. 53
    D, x = cheb(2)
    expected = np.array([[1.5, -2.0, 0.5], [0.5, 0.0, -0.5], [-0.5, 2.0, -1.5]])
    np.testing.assert_allclose(D, expected, atol=1e-14)
    np.testing.assert_allclose(x, [1, 0, -1], atol=1e-16)


@pytest.mark.parametrize("n", [1, 2, 5, 16, 33])
def test_exact_on_polynomials_of_degree_at_most_n(n):
    rng = np.random.default_rng(n)
    p = Polynomial(rng.standard_normal(n + 1))
    D, x = cheb(n)
    np.testing.assert_allclose(D @ p(x), p.deriv()(x), atol=1e-10 * n**2)
    np.testing.assert_allclose(chebfft(p(x)), p.deriv()(x), atol=1e-10 * n**2)


@pytest.mark.parametrize("n", [1, 4, 64, 1024])
def test_annihilates_constants(n):
    D, _ = cheb(n)
    assert np.abs(D @ np.full(n + 1, 3.7)).max() < 1e-12 * max(n, 1) ** 2
    assert np.abs(chebfft(np.full(n + 1, 3.7))).max() < 1e-10 * max(n, 1) ** 2


def test_explicit_and_negative_sum_diagonals_agree_at_small_n():
    D1, _ = cheb(12)
    D2, _ = cheb(12, diagonal="explicit", differences="direct")
    np.testing.assert_allclose(D1, D2, atol=1e-12)


def test_spectral_accuracy_at_n_64():
    D, x = cheb(64)
    f, df = smooth(x)
    assert np.abs(D @ f - df).max() <= 1e-11
    assert np.abs(chebfft(f) - df).max() <= 1e-11


@pytest.mark.parametrize("n", [48, 63, 128, 255, 256, 300, 511, 512, 777, 1000, 1023, 1024])
def test_round_off_floor_stays_below_1e_9_up_to_1024(n):
    D, x = cheb(n)
    f, df = smooth(x)
    assert np.abs(D @ f - df).max() <= 1e-9
    assert np.abs(chebfft(f) - df).max() <= 1e-9


def test_fft_floor_for_every_n_from_48_to_1024():
    worst = 0.0
    for n in range(48, 1025):
        x = chebyshev_points(n)
        f, df = smooth(x)
        worst = max(worst, np.abs(chebfft(f) - df).max())
    assert worst <= 1e-9


def test_explicit_diagonal_is_what_breaks_the_floor():
    # Without the negative-sum trick the error at n = 1024 grows far past 1e-9.
    D, x = cheb(1024, diagonal="explicit", differences="direct")
    f, df = smooth(x)
    assert np.abs(D @ f - df).max() > 1e-7


def test_float32_authors_construction_is_much_worse_than_float32_negative_sum():
    n = 256
    x64 = chebyshev_points(n)
    f, df = smooth(x64)
    D_authors, _ = cheb(n, dtype=np.float32, diagonal="explicit", differences="direct")
    D_ours, _ = cheb(n, dtype=np.float32)
    err_authors = np.abs(D_authors @ f.astype(np.float32) - df).max()
    err_ours = np.abs(D_ours @ f.astype(np.float32) - df).max()
    assert D_ours.dtype == np.float32
    assert err_ours < 1e-2
    assert err_authors > 10 * err_ours


def test_matrix_and_fft_agree_and_fft_vectorises_over_axes():
    n = 40
    D, x = cheb(n)
    rng = np.random.default_rng(0)
    V = rng.standard_normal((3, n + 1, 5))
    W = chebfft(V, axis=1)
    np.testing.assert_allclose(W, np.einsum("ij,ajb->aib", D, V), atol=1e-10)
    np.testing.assert_allclose(chebfft(V[0, :, 0]), D @ V[0, :, 0], atol=1e-10)


def test_interval_mapping_scales_by_two_over_length():
    a, b = 0.0, 2.0
    D, t = cheb_interval(48, a, b)
    assert t[0] == pytest.approx(b) and t[-1] == pytest.approx(a)
    f = np.sin(2 * t) * np.exp(t / 3)
    df = (2 * np.cos(2 * t) + np.sin(2 * t) / 3) * np.exp(t / 3)
    assert np.abs(D @ f - df).max() < 1e-10


def test_gradient_2d_of_smooth_function():
    n = 64
    D, x = cheb(n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    F = np.exp(np.sin(np.pi * X) + np.cos(np.pi * Y))
    Fx, Fy = gradient_2d(F, D)
    assert np.abs(Fx - np.pi * np.cos(np.pi * X) * F).max() <= 1e-10
    assert np.abs(Fy + np.pi * np.sin(np.pi * Y) * F).max() <= 1e-10
    # row order of tensor_grid matches values.ravel()
    points = tensor_grid(x)
    np.testing.assert_array_equal(points[:, 0], X.ravel())
    np.testing.assert_array_equal(points[:, 1], Y.ravel())


def test_gradient_2d_with_different_axes():
    Dx, x = cheb_interval(20, -1.0, 1.0)
    Dy, y = cheb_interval(30, 0.0, 3.0)
    X, Y = np.meshgrid(x, y, indexing="ij")
    F = X**3 * Y**2
    Fx, Fy = gradient_2d(F, Dx, Dy)
    np.testing.assert_allclose(Fx, 3 * X**2 * Y**2, atol=1e-10)
    np.testing.assert_allclose(Fy, 2 * X**3 * Y, atol=1e-10)


def test_finite_differences_exact_on_quadratics_on_any_points():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-1, 1, 12))[::-1]  # descending, irregular
    p = Polynomial([0.3, -1.2, 2.5])
    np.testing.assert_allclose(finite_difference_matrix(x) @ p(x), p.deriv()(x), atol=1e-10)
    # a cubic is not differentiated exactly (so the scheme is exactly second order)
    q = Polynomial([0, 0, 0, 1.0])
    assert np.abs(finite_difference_matrix(x) @ q(x) - q.deriv()(x)).max() > 1e-3


def test_finite_differences_uniform_interior_is_central_difference():
    x = np.linspace(0, 1, 11)
    D = finite_difference_matrix(x)
    h = 0.1
    np.testing.assert_allclose(D[5, 4:7], [-1 / (2 * h), 0, 1 / (2 * h)], atol=1e-12)
    np.testing.assert_allclose(D[0, :3], [-3 / (2 * h), 4 / (2 * h), -1 / (2 * h)], atol=1e-12)


@pytest.mark.parametrize("kind", ["chebyshev", "uniform"])
def test_finite_differences_converge_at_second_order(kind):
    errors = []
    ns = (64, 128, 256)
    for n in ns:
        x = chebyshev_points(n) if kind == "chebyshev" else np.linspace(-1, 1, n + 1)
        f, df = smooth(x)
        errors.append(np.abs(finite_difference_matrix(x) @ f - df).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.3)), orders


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8", True, None])
def test_cheb_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="n must be an integer"):
        cheb(bad)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="diagonal"):
        cheb(4, diagonal="closed")
    with pytest.raises(ValueError, match="differences"):
        cheb(4, differences="exact")
    with pytest.raises(ValueError, match="dtype"):
        cheb(4, dtype=np.int64)
    with pytest.raises(ValueError, match="interval"):
        cheb_interval(4, 1.0, 1.0)
    with pytest.raises(ValueError, match="values"):
        chebfft(np.ones(1))
    with pytest.raises(ValueError, match="Dx"):
        gradient_2d(np.ones((5, 5)), np.eye(4))
    with pytest.raises(ValueError, match="Dy"):
        gradient_2d(np.ones((5, 6)), np.eye(5), np.eye(5))
    with pytest.raises(ValueError, match="values"):
        gradient_2d(np.ones(5), np.eye(5))
    with pytest.raises(ValueError, match="x must"):
        finite_difference_matrix(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="monotone"):
        finite_difference_matrix(np.array([0.0, 1.0, 0.5]))


def test_grid_gradients_on_a_polynomial_are_exact_for_chebyshev():
    from types import SimpleNamespace

    from sobolev.chebyshev import grid_gradients

    poly = SimpleNamespace(
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        value=lambda p: p[:, 0] ** 3 - 2 * p[:, 0] * p[:, 1] ** 2,
        gradient=lambda p: np.stack(
            [3 * p[:, 0] ** 2 - 2 * p[:, 1] ** 2, -4 * p[:, 0] * p[:, 1]], 1
        ),
    )
    g = grid_gradients(poly, 8)
    assert g.points.shape == (81, 2) and g.values.shape == (9, 9)
    np.testing.assert_allclose(g.values.ravel(), poly.value(g.points))
    assert g.mse("chebyshev") < 1e-24
    assert g.mse("fd") > 1e-6  # cubic: second-order differences are not exact
    u = grid_gradients(poly, 8, grid="uniform")
    assert set(u.gradients) == {"exact", "fd"}
    np.testing.assert_allclose(u.x, np.linspace(-2, 2, 9))
    with pytest.raises(ValueError, match="method"):
        u.mse("chebyshev")
    with pytest.raises(ValueError, match="grid"):
        grid_gradients(poly, 8, grid="random")


def test_ackley_gradient_error_on_the_authors_grid():
    from sobolev.chebyshev import grid_gradients
    from sobolev.targets import ACKLEY

    g = grid_gradients(ACKLEY, 100)
    cheb_mse, fd_mse = g.mse("chebyshev"), g.mse("fd")
    # the numbers chapters 07 and 08 quote: about 1e-3 and 8e-3 on the 101x101 grid
    assert 5e-4 < cheb_mse < 2e-3
    assert 5e-3 < fd_mse < 1.2e-2
    assert g.error("chebyshev").max() > 0.5  # the ringing next to the cusp
    far = np.linalg.norm(g.points, axis=1) >= 0.25
    assert g.error("chebyshev")[far].max() < g.error("chebyshev").max() / 2
