"""Tests of sobolev.flows against independent computations (Euler steps, closed forms, finite differences)."""

import numpy as np
import pytest

from sobolev import theory
from sobolev.flows import (
    curvature_at_optimum,
    gradient_descent,
    hessian_at_optimum,
    integrate_flow,
    time_to_reach,
)

W_STAR = np.array([0.6, -0.8, 0.0])
INSIDE = np.array([0.9, -0.2, 0.3])  # ||w - w*|| = 0.73 < ||w*|| = 1


def test_l2_relu_flow_parallel_start_has_closed_form():
    # theta = 0: grad L = (w - w*)/2, so V(t) = V(0) exp(-t)
    w0 = 2.5 * W_STAR
    flow = integrate_flow(["relu_l2"], w0, W_STAR, 10.0, n_eval=50)
    assert np.allclose(flow.V, flow.V[0] * np.exp(-flow.t), rtol=1e-7, atol=1e-14)


def test_flow_matches_explicit_euler_with_tiny_steps():
    terms, t_end, dt = ["relu2_l2", "relu2_h1"], 0.2, 1e-5
    w = INSIDE.copy()
    for _ in range(int(round(t_end / dt))):
        w = w + dt * theory.flow_rhs(terms, w, W_STAR)
    flow = integrate_flow(terms, INSIDE, W_STAR, t_end, n_eval=20)
    assert np.allclose(flow.w[-1], w, atol=2e-4)  # Euler is first order: error ~ dt * t_end * |w''|


@pytest.mark.parametrize(
    "terms",
    [["relu_l2"], ["relu_l2", "relu_h1"], ["relu2_l2"], ["relu2_l2", "relu2_h1", "relu2_h2"]],
)
def test_V_decreases_monotonically_inside_the_ball(terms):
    rng = np.random.default_rng(0)
    for _ in range(2):
        e = rng.normal(size=3)
        w0 = W_STAR + 0.9 * e / np.linalg.norm(e)
        flow = integrate_flow(terms, w0, W_STAR, 3.0, n_eval=60)
        assert np.all(np.diff(flow.V) <= 1e-12)
        assert flow.V[-1] < 0.5 * flow.V[0]


def test_kinked_flow_aligns_in_finite_time_and_the_smooth_one_does_not():
    kinked = integrate_flow(["relu_l2", "relu_h1"], INSIDE, W_STAR, 20.0, n_eval=100)
    smooth = integrate_flow(
        ["relu_l2", "relu_h1"], INSIDE, W_STAR, 20.0, n_eval=100, moving_boundary=False
    )
    assert kinked.t_aligned is not None and 0 < kinked.t_aligned < 5
    assert smooth.t_aligned is None
    # after alignment only the component along w* decays, at rate 2 (Hessian 1 along w*)
    tail = (kinked.t > kinked.t_aligned + 1) & (kinked.V > 1e-20)
    slope = -np.polyfit(kinked.t[tail], np.log(kinked.V[tail]), 1)[0]
    assert slope == pytest.approx(2.0, rel=1e-3)


@pytest.mark.parametrize("terms", [["relu_l2"], ["relu2_l2"], ["relu2_l2", "relu2_h1"]])
def test_hessian_matches_second_differences_of_the_loss_and_closed_form(terms):
    w_star = 1.3 * W_STAR
    hess = hessian_at_optimum(terms, w_star, step=1e-5)
    h, d = 1e-4, w_star.size
    loss = lambda w: sum(float(theory.population_loss(t, w, w_star)) for t in terms)  # noqa: E731
    second = np.empty((d, d))
    for i in range(d):
        for k in range(d):
            ei, ek = h * np.eye(d)[i], h * np.eye(d)[k]
            second[i, k] = (
                loss(w_star + ei + ek)
                - loss(w_star + ei - ek)
                - loss(w_star - ei + ek)
                + loss(w_star - ei - ek)
            ) / (4 * h * h)
    assert np.allclose(hess, second, atol=1e-4 * np.abs(hess).max())
    curv = curvature_at_optimum(terms, w_star)
    unit = w_star / np.linalg.norm(w_star)
    expected = curv["across"] * np.eye(d) + (curv["along"] - curv["across"]) * np.outer(unit, unit)
    assert np.allclose(hess, expected, rtol=1e-6, atol=1e-6)


def test_kinked_hessian_grows_like_one_over_step():
    for terms in (["relu_l2", "relu_h1"], ["relu2_l2", "relu2_h1", "relu2_h2"]):
        curv = curvature_at_optimum(terms, W_STAR)
        for step in (1e-4, 1e-6):  # across w*: (c + lambda h - (-c - lambda h)) / 2h = c/h + lambda
            top = np.linalg.eigvalsh(hessian_at_optimum(terms, W_STAR, step=step))[-1]
            assert top == pytest.approx(curv["kink"] / step + curv["across"], rel=1e-6)


def test_gradient_descent_on_quadratic_regime():
    # on the line of w*, grad L = (w - w*)/2: one step with lr = 2 lands on w*
    V = gradient_descent(["relu_l2"], 2 * W_STAR, W_STAR, 2.0, 3)
    assert V[0] == pytest.approx(1.0) and V[1] < 1e-28
    V = gradient_descent(["relu_l2"], 2 * W_STAR, W_STAR, 0.5, 4, stop_below=0.3)
    assert np.allclose(V, [1.0, 0.5625, 0.31640625, 0.177978515625])
    assert np.all(np.isinf(gradient_descent(["relu2_l2"], INSIDE, W_STAR, 10.0, 30)[-1:]))


def test_time_to_reach_interpolates_in_log():
    t = np.array([0.0, 1.0, 2.0])
    assert time_to_reach(t, np.exp(-t), np.exp(-1.5)) == pytest.approx(1.5)
    assert time_to_reach(t, np.exp(-t), 1e-9) is None


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="terms"):
        integrate_flow([], INSIDE, W_STAR, 1.0)
    with pytest.raises(ValueError, match="terms"):
        integrate_flow(["relu_l2", "relu_l2"], INSIDE, W_STAR, 1.0)
    with pytest.raises(ValueError, match="terms"):
        integrate_flow(["relu_l2", "relu2_h1"], INSIDE, W_STAR, 1.0)
    with pytest.raises(ValueError, match="term must be one of"):
        hessian_at_optimum(["relu_h3"], W_STAR)
    with pytest.raises(ValueError, match="w0"):
        integrate_flow(["relu_l2"], INSIDE[:2], W_STAR, 1.0)
    with pytest.raises(ValueError, match="w_star"):
        integrate_flow(["relu_l2"], INSIDE, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="t_end"):
        integrate_flow(["relu_l2"], INSIDE, W_STAR, -1.0)
    with pytest.raises(ValueError, match="n_eval"):
        integrate_flow(["relu_l2"], INSIDE, W_STAR, 1.0, n_eval=1)
    with pytest.raises(ValueError, match="step"):
        hessian_at_optimum(["relu_l2"], W_STAR, step=0.0)
    with pytest.raises(ValueError, match="lr"):
        gradient_descent(["relu_l2"], INSIDE, W_STAR, -0.1, 5)
    with pytest.raises(ValueError, match="n_steps"):
        gradient_descent(["relu_l2"], INSIDE, W_STAR, 0.1, 0)
    with pytest.raises(ValueError, match="level"):
        time_to_reach([0, 1], [1, 0.5], 0.0)


def test_condition_numbers_and_rates_match_finite_difference_hessians():
    from sobolev.flows import condition_number, largest_curvature, predicted_rate

    for terms in (["relu_l2"], ["relu2_l2"], ["relu2_l2", "relu2_h1"]):
        eig = np.linalg.eigvalsh(hessian_at_optimum(terms, W_STAR))
        assert condition_number(terms, W_STAR) == pytest.approx(eig.max() / eig.min(), rel=1e-5)
        assert largest_curvature(terms, W_STAR) == pytest.approx(eig.max(), rel=1e-5)
        assert predicted_rate(terms, W_STAR) == pytest.approx(2 * eig.min(), rel=1e-5)
    kinked = ["relu2_l2", "relu2_h1", "relu2_h2"]
    assert condition_number(kinked, W_STAR) == np.inf
    eig = np.linalg.eigvalsh(hessian_at_optimum(kinked, W_STAR, moving_boundary=False))
    assert condition_number(kinked, W_STAR, moving_boundary=False) == pytest.approx(
        eig.max() / eig.min(), rel=1e-5
    )


def test_fitted_rate_recovers_an_exponential():
    from sobolev.flows import Flow, fitted_rate

    t = np.linspace(0, 20, 200)
    flow = Flow(
        ("relu_l2",), True, t, np.zeros((t.size, 3)), 2.0 * np.exp(-3 * t), None, None, None
    )
    assert fitted_rate(flow) == pytest.approx(3.0, rel=1e-10)
    assert fitted_rate(flow, low=1e-300, high=1e-290) is None


def test_best_steps_matches_a_direct_search():
    from sobolev.flows import best_steps

    lrs = [0.5, 1.0, 2.0]
    starts = [INSIDE, np.array([0.7, -0.9, -0.2])]
    result = best_steps(["relu2_l2"], starts, W_STAR, [0.05, 0.1, 0.2], 200)
    for w0, steps, lr in zip(starts, result.steps, result.lr):
        direct = {
            r: gradient_descent(["relu2_l2"], w0, W_STAR, r, 200, stop_below=1e-6)
            for r in (0.05, 0.1, 0.2)
        }
        reached = {r: V.size - 1 for r, V in direct.items() if V[-1] <= 1e-6}
        assert steps == min(reached.values()) and reached[lr] == steps
    # Newton on the ReLU L2 loss near w*: ≤ 5 steps at lr 2
    assert best_steps(["relu_l2"], [INSIDE], W_STAR, lrs, 50).median_steps <= 5
    with pytest.raises(ValueError, match="max_steps"):
        best_steps(["relu_l2"], [INSIDE], W_STAR, lrs, 0)


def test_spurious_minimum_of_the_h2_loss_is_a_local_minimum():
    from sobolev.flows import fate, hessian, stationary_point

    terms = ["relu2_l2", "relu2_h1", "relu2_h2"]
    w_star = np.array([1.0, 0.0, 0.0])
    start = 0.9 * np.array([np.cos(np.radians(128)), np.sin(np.radians(128)), 0.0])
    flow = integrate_flow(terms, start, w_star, 100.0)
    assert fate(flow, w_star) == "stationary point"
    point = stationary_point(terms, flow.w[-1], w_star)
    assert np.linalg.norm(point - flow.w[-1]) < 1e-6
    assert np.linalg.norm(point) == pytest.approx(0.2034, abs=1e-3)
    assert np.degrees(float(theory.angle(point, w_star))) == pytest.approx(147.4, abs=0.1)
    eig = np.linalg.eigvalsh(hessian(terms, point, w_star))
    assert eig[0] == pytest.approx(0, abs=1e-6) and np.all(eig[1:] > 0.5)  # one rotation about w*
    # independent: second differences of the loss in the plane are positive definite
    loss = lambda w: sum(float(theory.population_loss(t, w, w_star)) for t in terms)  # noqa: E731
    h, e = 1e-4, np.eye(3)[:2]
    second = np.array(
        [
            [
                (
                    loss(point + h * p + h * q)
                    - loss(point + h * p - h * q)
                    - loss(point - h * p + h * q)
                    + loss(point - h * p - h * q)
                )
                / (4 * h * h)
                for q in e
            ]
            for p in e
        ]
    )
    assert np.allclose(second, hessian(terms, point, w_star)[:2, :2], atol=1e-4)
    assert np.all(np.linalg.eigvalsh(second) > 0)
    assert loss(point) < loss(1e-9 * w_star)


def test_fate_of_flows():
    from sobolev.flows import fate

    w_star = np.array([1.0, 0.0])
    assert fate(integrate_flow(["relu_l2"], INSIDE[:2], w_star, 40.0), w_star) == "converged"
    w0 = np.array([np.cos(np.radians(150)), np.sin(np.radians(150))])
    dead = integrate_flow(["relu_l2", "relu_h1"], w0, w_star, 100.0)
    assert fate(dead, w_star) == "died"
    drift = integrate_flow(["relu2_l2", "relu2_h1"], w0, w_star, 100.0)
    assert fate(drift, w_star) == "shrinking to w = 0"
