"""Tests of sobolev.theory against independent computations.

* (a) ``moving_boundary=False`` gradients against Monte-Carlo means of per-sample autograd
  gradients (10⁶ float64 Gaussian samples, generated in chunks), tolerance 5 standard errors
  per component;
* (b) ``moving_boundary=True`` gradients against central finite differences of the closed-form loss;
* (c) the closed-form losses against Monte-Carlo means of the per-sample losses.

Per-sample input derivatives come from autograd (``create_graph=True``); per-sample parameter
gradients from giving every sample its own copy of ``w``. For the Hessian term at d = 5 and 20 the
per-sample loss ½‖(∇²g(x;w) − ∇²g(x;w*))ξ‖² with an independent ξ ~ N(0, I) replaces
½‖∇²g(x;w) − ∇²g(x;w*)‖²_F: same expectation (E ξξᵀ = I), one Hessian-vector product per sample
instead of d Hessian rows; the standard error accounts for the extra variance.
"""

import math

import numpy as np
import pytest
import torch

from sobolev.montecarlo import (
    loglog_slope,
    monte_carlo_gradient,
    monte_carlo_loss,
    monte_carlo_mse,
    sample_pair,
)
from sobolev.proofs import descent_identity, m1_corrected, m_i3_corrected
from sobolev.theory import (
    TERMS,
    angle,
    dV_dt,
    flow_rhs,
    population_gradient,
    population_loss,
)

N_SAMPLES = 1_000_000
CHUNK = 100_000
DIMS = (2, 5, 20)
ANGLES = (1.0, 2.2)  # radians: one on each side of π/2


def _pair(d, theta, seed, a=1.3, b=0.9):
    """(w, w*) with ‖w‖ = a, ‖w*‖ = b and angle θ, in random directions (float64 numpy)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(d, 2)))
    e, f = q[:, 0], q[:, 1]
    return a * (math.cos(theta) * e + math.sin(theta) * f), b * e


def _per_sample(x, w_expanded, w_star, xi=None):
    """Per-sample losses of the five terms; ``w_expanded`` is (n, d), one copy of w per sample."""
    x = x.clone().requires_grad_(True)
    z_w, z_s = (x * w_expanded).sum(1), x @ w_star
    out = {}
    for power, prefix in ((1, "relu_"), (2, "relu2_")):
        g_w = torch.relu(z_w) ** power
        g_s = torch.relu(z_s) ** power
        (dg_w,) = torch.autograd.grad(g_w.sum(), x, create_graph=True)
        (dg_s,) = torch.autograd.grad(g_s.sum(), x, create_graph=True)
        out[prefix + "l2"] = 0.5 * (g_w - g_s) ** 2
        out[prefix + "h1"] = 0.5 * ((dg_w - dg_s) ** 2).sum(1)
        if power == 2:
            d = x.shape[1]
            if xi is None:  # exact Frobenius norm from the d Hessian rows
                total = 0.0
                for i in range(d):
                    (row_w,) = torch.autograd.grad(dg_w[:, i].sum(), x, create_graph=True)
                    (row_s,) = torch.autograd.grad(dg_s[:, i].sum(), x, create_graph=True)
                    total = total + ((row_w - row_s) ** 2).sum(1)
                out["relu2_h2"] = 0.5 * total
            else:  # unbiased: E_ξ ½‖(H_w − H_*)ξ‖² = ½‖H_w − H_*‖²_F
                (hv_w,) = torch.autograd.grad((dg_w * xi).sum(), x, create_graph=True)
                (hv_s,) = torch.autograd.grad((dg_s * xi).sum(), x, create_graph=True)
                out["relu2_h2"] = 0.5 * ((hv_w - hv_s) ** 2).sum(1)
    return out


def _monte_carlo(d, w, w_star, seed):
    """Means and standard errors of per-sample losses and autograd gradients of every term."""
    gen = torch.Generator().manual_seed(seed)
    w_t, ws_t = torch.tensor(w), torch.tensor(w_star)
    sums = {
        t: [0.0, torch.zeros(d, dtype=torch.float64), torch.zeros(d, dtype=torch.float64), 0.0]
        for t in TERMS
    }
    for _ in range(N_SAMPLES // CHUNK):
        x = torch.randn(CHUNK, d, dtype=torch.float64, generator=gen)
        xi = torch.randn(CHUNK, d, dtype=torch.float64, generator=gen) if d > 2 else None
        w_expanded = w_t.expand(CHUNK, d).clone().requires_grad_(True)
        losses = _per_sample(x, w_expanded, ws_t, xi)
        for k, term in enumerate(TERMS):
            (grads,) = torch.autograd.grad(
                losses[term].sum(), w_expanded, retain_graph=k < len(TERMS) - 1
            )
            acc = sums[term]
            acc[0] += float(losses[term].detach().sum())
            acc[1] += grads.sum(0)
            acc[2] += (grads**2).sum(0)
            acc[3] += float((losses[term].detach() ** 2).sum())
    result = {}
    for term, (s_loss, s_grad, s_grad2, s_loss2) in sums.items():
        n = N_SAMPLES
        mean_grad = s_grad / n
        se_grad = torch.sqrt((s_grad2 / n - mean_grad**2).clamp_min(0) / (n - 1))
        mean_loss = s_loss / n
        se_loss = math.sqrt(max(s_loss2 / n - mean_loss**2, 0.0) / (n - 1))
        result[term] = (mean_loss, se_loss, mean_grad.numpy(), se_grad.numpy())
    return result


@pytest.fixture(scope="module")
def monte_carlo():
    torch.set_num_threads(1)
    out = {}
    for i, d in enumerate(DIMS):
        for j, theta in enumerate(ANGLES):
            w, w_star = _pair(d, theta, seed=10 * i + j)
            out[(d, theta)] = (w, w_star, _monte_carlo(d, w, w_star, seed=100 + 10 * i + j))
    return out


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("theta", ANGLES)
@pytest.mark.parametrize("term", TERMS)
def test_autograd_expectation_matches_monte_carlo(monte_carlo, term, theta, d):
    w, w_star, mc = monte_carlo[(d, theta)]
    _, _, mean_grad, se_grad = mc[term]
    closed = population_gradient(term, w, w_star, moving_boundary=False)
    assert np.all(np.abs(mean_grad - closed) <= 5 * se_grad + 1e-12), (mean_grad, closed, se_grad)


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("theta", ANGLES)
@pytest.mark.parametrize("term", TERMS)
def test_loss_matches_monte_carlo(monte_carlo, term, theta, d):
    w, w_star, mc = monte_carlo[(d, theta)]
    mean_loss, se_loss, _, _ = mc[term]
    assert abs(mean_loss - population_loss(term, w, w_star)) <= 5 * se_loss


@pytest.mark.parametrize("term", ["relu_h1", "relu2_h2"])
def test_moving_boundary_gradient_is_not_what_autograd_estimates(monte_carlo, term):
    """The two conventions differ by far more than the Monte-Carlo error away from θ = π/2."""
    w, w_star, mc = monte_carlo[(5, 1.0)]
    _, _, mean_grad, se_grad = mc[term]
    true_grad = population_gradient(term, w, w_star, moving_boundary=True)
    assert np.max(np.abs(mean_grad - true_grad) / se_grad) > 20


@pytest.mark.parametrize("d", DIMS)
@pytest.mark.parametrize("theta", (0.3, 1.0, math.pi / 2, 2.2, 3.0))
@pytest.mark.parametrize("term", TERMS)
def test_population_gradient_matches_finite_differences(term, theta, d):
    w, w_star = _pair(d, theta, seed=d + int(100 * theta))
    h = 1e-6
    fd = np.array(
        [
            (population_loss(term, w + h * e, w_star) - population_loss(term, w - h * e, w_star))
            / (2 * h)
            for e in np.eye(d)
        ]
    )
    grad = population_gradient(term, w, w_star, moving_boundary=True)
    assert np.allclose(grad, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("term", ["relu_l2", "relu2_l2", "relu2_h1"])
def test_conventions_coincide_for_continuous_per_sample_losses(term):
    w, w_star = _pair(4, 1.1, seed=3)
    assert np.allclose(
        population_gradient(term, w, w_star),
        population_gradient(term, w, w_star, moving_boundary=True),
        rtol=1e-13,
        atol=1e-13,
    )


@pytest.mark.parametrize("moving_boundary", [False, True])
@pytest.mark.parametrize("term", TERMS)
def test_teacher_is_a_zero_of_loss_and_gradient(term, moving_boundary):
    w_star = np.array([0.3, -1.2, 0.7])
    assert abs(population_loss(term, w_star.copy(), w_star)) < 1e-12
    grad = population_gradient(term, w_star.copy(), w_star, moving_boundary=moving_boundary)
    assert np.allclose(grad, 0.0, atol=1e-12)


def test_angle_is_accurate_at_both_ends():
    w_star = np.array([1.0, 0.0, 0.0])
    for theta in (1e-9, 0.5, math.pi / 2, math.pi - 1e-9):
        w = np.array([math.cos(theta), math.sin(theta), 0.0]) * 2.5
        assert abs(float(angle(w, w_star)) - theta) < 1e-14


def test_types_and_dtypes_follow_the_input():
    w, w_star = _pair(3, 0.8, seed=1)
    out = population_gradient("relu_l2", w.astype(np.float32), w_star.astype(np.float32))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    assert isinstance(population_loss("relu_h1", w, w_star), np.floating)
    wt, wst = torch.tensor(w, dtype=torch.float32), torch.tensor(w_star, dtype=torch.float32)
    out_t = population_gradient("relu2_h2", wt, wst, moving_boundary=True)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    loss_t = population_loss("relu2_l2", wt, wst)
    assert isinstance(loss_t, torch.Tensor) and loss_t.ndim == 0
    assert np.allclose(
        out_t.numpy(), population_gradient("relu2_h2", w, w_star, moving_boundary=True), rtol=1e-5
    )


def test_torch_losses_are_differentiable_and_match_the_gradient():
    w, w_star = _pair(4, 1.3, seed=2)
    for term in TERMS:
        wt = torch.tensor(w, requires_grad=True)
        population_loss(term, wt, torch.tensor(w_star)).backward()
        assert np.allclose(
            wt.grad.numpy(),
            population_gradient(term, w, w_star, moving_boundary=True),
            rtol=1e-10,
            atol=1e-12,
        )


def test_flow_rhs_and_dv_dt():
    w, w_star = _pair(5, 0.9, seed=4)
    terms = ("relu_l2", "relu_h1")
    total = sum(population_gradient(t, w, w_star, moving_boundary=True) for t in terms)
    assert np.allclose(flow_rhs(terms, w, w_star), -total)
    assert np.isclose(dV_dt(terms, w, w_star), -2 * (w - w_star) @ total)
    # dV/dt is the time derivative of ‖w − w*‖² along the flow (finite difference in time)
    h = 1e-6
    v_plus = np.sum((w + h * flow_rhs(terms, w, w_star) - w_star) ** 2)
    v_minus = np.sum((w - h * flow_rhs(terms, w, w_star) - w_star) ** 2)
    assert np.isclose(dV_dt(terms, w, w_star), (v_plus - v_minus) / (2 * h), rtol=1e-6)


@pytest.mark.parametrize("moving_boundary", [False, True])
@pytest.mark.parametrize("term", TERMS)
def test_corrected_identities_are_exact(term, moving_boundary):
    for seed in range(5):
        w, w_star = _pair(3, 0.2 + 0.5 * seed, seed=seed, a=0.5 + 0.3 * seed)
        lhs = (w - w_star) @ population_gradient(term, w, w_star, moving_boundary=moving_boundary)
        rhs = descent_identity(term, w, w_star, moving_boundary=moving_boundary)
        assert np.isclose(lhs, rhs, rtol=1e-10, atol=1e-12)


def test_matrices_shapes_and_known_values():
    assert m1_corrected(0.5).shape == (2, 2)
    assert m1_corrected(np.linspace(0.1, 1, 7)).shape == (7, 2, 2)
    # at θ = 0 the Theorem-2 and I3 matrices are singular with null vector (1, 1): w = w*
    for m in (m1_corrected(0.0), m_i3_corrected(0.0)):
        assert np.allclose(m @ np.array([1.0, 1.0]), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="theta"):
        m1_corrected(4.0)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("relu_l3", np.ones(3), np.ones(3)), {}, "term"),
        (("relu_l2", [1.0, 2.0], np.ones(2)), {}, "w must"),
        (("relu_l2", np.ones(2), (1.0, 2.0)), {}, "w_star must"),
        (("relu_l2", np.ones((2, 2)), np.ones(2)), {}, "w must be 1-D"),
        (("relu_l2", np.ones(1), np.ones(1)), {}, "w must have length"),
        (("relu_l2", np.ones(3), np.ones(2)), {}, "same length"),
        (("relu_l2", np.zeros(3), np.ones(3)), {}, "w must be nonzero"),
        (("relu_l2", np.ones(3), np.zeros(3)), {}, "w_star must be nonzero"),
        (("relu_l2", np.ones(3), torch.ones(3)), {}, "both"),
        (("relu_l2", np.array([1.0, np.nan]), np.ones(2)), {}, "finite"),
        (("relu_h1", np.ones(3), np.ones(3)), {"moving_boundary": "yes"}, "moving_boundary"),
    ],
)
def test_bad_inputs_raise(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        population_gradient(*args, **kwargs)


def test_bad_inputs_raise_for_loss_and_flow():
    with pytest.raises(ValueError, match="term"):
        population_loss("h1", np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="w_star"):
        population_loss("relu_h1", np.ones(2), "w*")
    with pytest.raises(ValueError, match="terms"):
        flow_rhs((), np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="term"):
        dV_dt(("relu_l2", "bogus"), np.ones(2), np.ones(2))


def test_sample_pair_regions():
    rng = np.random.default_rng(0)
    for d in (2, 7):
        for _ in range(200):
            w, w_star = sample_pair(d, rng)
            assert np.linalg.norm(w - w_star) <= np.linalg.norm(w_star)
            w, w_star = sample_pair(d, rng, inside=False)
            assert (
                np.linalg.norm(w_star)
                <= np.linalg.norm(w - w_star)
                <= 3 * np.linalg.norm(w_star) + 1e-12
            )
    with pytest.raises(ValueError, match="d must"):
        sample_pair(1, rng)
    with pytest.raises(ValueError, match="rng must"):
        sample_pair(3, 0)


def test_package_monte_carlo_helpers_agree_with_closed_forms():
    """monte_carlo_gradient/loss go through SingleNeuron and sobolev_loss (weights ½)."""
    torch.set_num_threads(1)
    w, w_star = _pair(3, 1.2, seed=5)
    for term in TERMS:
        grad = monte_carlo_gradient(term, w, w_star, 100_000, seed=1)
        exact = population_gradient(term, w, w_star)
        assert np.linalg.norm(grad - exact) < 0.05 * np.linalg.norm(exact), term
        loss = monte_carlo_loss(term, w, w_star, 100_000, seed=1)
        assert abs(loss - population_loss(term, w, w_star)) < 0.05 * population_loss(
            term, w, w_star
        ), term
    errors = monte_carlo_mse("relu_l2", 3, [100, 10_000], 3, seed=0)
    assert errors.shape == (3, 2) and np.mean(errors[:, 1]) < np.mean(errors[:, 0])
    with pytest.raises(ValueError, match="n_samples"):
        monte_carlo_gradient("relu_l2", w, w_star, 0)


def test_loglog_slope_recovers_a_known_power_law():
    sizes = np.array([10, 100, 1000, 10000])
    errors = np.vstack([3.0 / sizes, 5.0 / sizes])  # two repeats, both exactly ∝ 1/N
    assert abs(loglog_slope(sizes, errors) + 1) < 1e-12
    assert abs(loglog_slope(sizes, sizes**-0.5) + 0.5) < 1e-12
    with pytest.raises(ValueError, match="errors must have shape"):
        loglog_slope(sizes, errors[:, :3])


@pytest.mark.parametrize("moving_boundary", [False, True])
def test_descent_rate_is_the_rate_of_the_closed_form_gradients(moving_boundary):
    """descent_rate on the (θ, ρ) plane against (w − w*)·∇ in R^d, with ‖w*‖ ≠ 1."""
    from sobolev.theory import descent_rate

    for seed, (theta, b) in enumerate([(0.3, 0.7), (1.4, 1.9), (2.6, 1.2)]):
        w, w_star = _pair(5, theta, seed=seed, a=0.8, b=b)
        for term in TERMS:
            power = 1 if term.startswith("relu_") else 2
            lhs = (w - w_star) @ population_gradient(
                term, w, w_star, moving_boundary=moving_boundary
            )
            rhs = descent_rate([term], theta, 0.8 / b, moving_boundary=moving_boundary)
            assert np.isclose(lhs, b ** (2 * power) * rhs, rtol=1e-10), term


def test_h1_gradient_is_twice_the_l2_gradient_plus_a_unit_pull():
    """eq-h-decomposition of chapter 02: ∇(L + J) = 2∇L + (b/2π) n, n = (u − cos θ v)/sin θ,
    and the autograd mean 2∇L + (b sin θ/2π) u."""
    for seed, theta in enumerate((0.4, 1.3, 2.5)):
        w, w_star = _pair(4, theta, seed=seed, a=1.1, b=0.7)
        a, b = np.linalg.norm(w), np.linalg.norm(w_star)
        u, v = w / a, w_star / b
        n = (u - np.cos(theta) * v) / np.sin(theta)
        assert np.isclose(np.linalg.norm(n), 1) and abs(n @ v) < 1e-12
        grad_l = population_gradient("relu_l2", w, w_star)
        exact = grad_l + population_gradient("relu_h1", w, w_star, moving_boundary=True)
        mean = grad_l + population_gradient("relu_h1", w, w_star)
        assert np.allclose(exact, 2 * grad_l + b / (2 * np.pi) * n, atol=1e-12)
        assert np.allclose(mean, 2 * grad_l + b * np.sin(theta) / (2 * np.pi) * u, atol=1e-12)


def test_terms_are_checked_once_for_every_function():
    from sobolev.theory import _check_terms

    assert _check_terms("relu_l2") == ("relu_l2",)
    for bad, match in (
        ((), "at least one"),
        (("relu_l2", "relu_l2"), "repeat"),
        (("relu_l2", "relu2_h1"), "one activation"),
        (("relu_h3",), "term must be one of"),
        (3, "list"),
    ):
        with pytest.raises(ValueError, match=match):
            _check_terms(bad)
