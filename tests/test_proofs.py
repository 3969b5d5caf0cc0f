"""Tests of sobolev.proofs against independent computations (dense grids, analytic roots)."""

import numpy as np
import pytest
from scipy.optimize import brentq

from sobolev import theory
from sobolev.proofs import (
    MATRICES,
    first_not_positive_definite,
    m_i2_corrected,
    positive_definite_on,
    sign_threshold,
    smallest_eigenvalue,
)


def _diag_cos(theta):
    t = np.asarray(theta, dtype=float)
    z = np.zeros_like(t)
    return np.stack([np.stack([np.cos(t), z], -1), np.stack([z, 1 + z], -1)], -2)


def _off_diagonal(theta):
    t = np.asarray(theta, dtype=float)
    one = np.ones_like(t)
    return np.stack([np.stack([one, t], -1), np.stack([t, one], -1)], -2)


def test_first_failure_of_matrices_with_known_roots():
    # diag(cos θ, 1) fails at π/2; [[1, θ], [θ, 1]] fails where 1 − θ = 0
    assert first_not_positive_definite(_diag_cos) == pytest.approx(np.pi / 2, abs=1e-10)
    assert first_not_positive_definite(_off_diagonal) == pytest.approx(1.0, abs=1e-10)
    assert first_not_positive_definite(lambda t: _off_diagonal(0 * np.asarray(t))) is None
    # the result does not depend on the grid
    for n in (11, 101, 5001):
        assert first_not_positive_definite(_off_diagonal, n_grid=n) == pytest.approx(1, abs=1e-10)


@pytest.mark.parametrize("key", sorted(MATRICES))
def test_first_failure_agrees_with_a_dense_grid(key):
    grid = np.linspace(1e-3, np.pi, 400_001)
    smallest = smallest_eigenvalue(MATRICES[key], grid)
    bad = np.nonzero(smallest <= 0)[0]
    found = first_not_positive_definite(MATRICES[key])
    if bad.size == 0:
        assert found is None
    else:
        assert abs(found - grid[bad[0]]) <= 2 * (grid[1] - grid[0])


def test_known_angles_of_the_proofs():
    # printed M of I1 fails inside (0, π/2], the corrected one beyond, M2 of I2 exactly at π/2
    assert not positive_definite_on(MATRICES["M (I1) printed"], np.pi / 2)
    assert positive_definite_on(MATRICES["M (I1) corrected"], np.pi / 2)
    assert not positive_definite_on(MATRICES["M2 (I2)"], np.pi / 2)
    assert positive_definite_on(MATRICES["M2 (I2)"], np.pi / 2 - 1e-3)
    assert first_not_positive_definite(m_i2_corrected) == pytest.approx(np.pi / 2, abs=1e-9)
    # M3 of Theorem 3 is M2 of Theorem 2
    t = np.linspace(0, np.pi, 7)
    assert np.allclose(MATRICES["M3 (I3)"](t), MATRICES["M2"](t))
    with pytest.raises(ValueError, match="lo"):
        first_not_positive_definite(_diag_cos, lo=2.0, hi=1.0)


def _worst_rate(terms, theta, moving_boundary):
    """min over a dense ρ grid of (w − w*)·∇ / ρ at angle θ, from population_gradient in R²
    (not descent_rate)."""
    w_star = np.array([1.0, 0.0])
    u = np.array([np.cos(theta), np.sin(theta)])
    worst = np.inf
    for r in np.geomspace(1e-6, 10, 400):
        w = r * u
        rate = sum(
            (w - w_star) @ theory.population_gradient(x, w, w_star, moving_boundary=moving_boundary)
            for x in terms
        )
        worst = min(worst, rate / r)
    return worst


@pytest.mark.parametrize(
    "terms",
    [("relu2_h1",), ("relu2_h2",), ("relu2_l2", "relu2_h1"), ("relu2_l2", "relu2_h1", "relu2_h2")],
)
@pytest.mark.parametrize("moving_boundary", [False, True])
def test_sign_threshold_separates_good_from_bad_angles(terms, moving_boundary):
    exact = sign_threshold(terms, moving_boundary=moving_boundary)
    assert exact is not None
    assert _worst_rate(terms, exact - 2e-3, moving_boundary) > 0
    assert _worst_rate(terms, exact + 2e-3, moving_boundary) < 0


def test_sign_threshold_closed_forms():
    # I2 for small ‖w‖: the rate is (‖w‖/π)(M2)11, which vanishes where
    # sin θ (1 + cos² θ) + 2(π − θ) cos θ = 0
    root = brentq(
        lambda t: np.sin(t) * (1 + np.cos(t) ** 2) + 2 * (np.pi - t) * np.cos(t), 1.8, 2.5
    )
    assert sign_threshold(["relu2_h1"]) == pytest.approx(root, abs=1e-6)
    assert sign_threshold(["relu2_h2"]) == pytest.approx(np.pi / 2, abs=1e-6)
    for terms in (["relu_l2"], ["relu_h1"], ["relu_l2", "relu_h1"], ["relu2_l2"]):
        for moving in (False, True):
            assert sign_threshold(terms, moving_boundary=moving) is None
