"""Tests of sobolev.montecarlo: sign checks against the plane formula, the Figure-1 panel."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sobolev.montecarlo import error_panel, sign_check  # noqa: E402
from sobolev.theory import descent_rate  # noqa: E402

RELU2 = ("relu2_l2", "relu2_h1", "relu2_h2")


def test_sign_check_agrees_with_the_plane_formula():
    check = sign_check(RELU2, 60, dims=(2, 7), inside=False, seed=3)
    assert check.n_pairs == 60
    for moving in (False, True):
        for term in RELU2:
            plane = descent_rate([term], check.theta, check.rho, moving_boundary=moving)
            # the R^d rate is b^4 times the plane rate at ρ = a/b: same sign everywhere
            assert np.array_equal(np.sign(plane), np.sign(check.descent[term, moving]))
    ratio = check.speedup(RELU2, RELU2[:1])
    assert np.allclose(ratio, check.rate(RELU2) / check.rate(RELU2[:1]))


def test_sign_check_inside_the_ball_has_no_violation_and_is_seeded():
    check = sign_check(RELU2, 200, inside=True, seed=0)
    assert np.all(check.theta < np.pi / 2)
    for term in RELU2:
        assert check.violations([term]) == 0.0
        assert check.violations([term], moving_boundary=True) == 0.0
    again = sign_check(RELU2, 200, inside=True, seed=0)
    assert np.array_equal(check.theta, again.theta)
    with pytest.raises(ValueError, match="n_pairs"):
        sign_check(RELU2, 0)
    with pytest.raises(ValueError, match="term"):
        sign_check(("relu2_l2", "relu_h1"), 5)


def test_error_panel_draws_one_band_per_dimension():
    sizes = np.array([10, 100, 1000])
    errors = {d: np.vstack([1 / sizes, 2 / sizes]) for d in (2, 5)}
    fig, ax = plt.subplots()
    error_panel(ax, sizes, errors, title="t")
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:2] == ["d = 2, slope -1.00", "d = 5, slope -1.00"] and "1/N" in labels
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    plt.close(fig)
