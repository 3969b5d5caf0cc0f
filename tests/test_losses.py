import math

import numpy as np
import pytest
import torch

from sobolev.losses import input_derivatives, sobolev_loss
from sobolev.networks import MLP


class Quadratic(torch.nn.Module):
    """u(x) = a·x₀² x₁ + b·sin(x₁): derivatives known by hand."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(1.5, dtype=torch.float64))
        self.b = torch.nn.Parameter(torch.tensor(-0.7, dtype=torch.float64))

    def forward(self, x):
        return (self.a * x[:, 0] ** 2 * x[:, 1] + self.b * torch.sin(x[:, 1]))[:, None]


def hand_derivatives(model, x):
    a, b = model.a.detach(), model.b.detach()
    x0, x1 = x[:, 0], x[:, 1]
    grad = torch.stack([2 * a * x0 * x1, a * x0**2 + b * torch.cos(x1)], 1)
    hess = torch.stack(
        [
            torch.stack([2 * a * x1, 2 * a * x0], 1),
            torch.stack([2 * a * x0, -b * torch.sin(x1)], 1),
        ],
        1,
    )
    return grad, hess


def test_input_derivatives_match_hand_derivation():
    torch.manual_seed(0)
    model, x = Quadratic(), torch.randn(50, 2, dtype=torch.float64)
    u, grad, hess = input_derivatives(model, x, order=2)
    grad_ref, hess_ref = hand_derivatives(model, x)
    assert torch.allclose(grad, grad_ref, atol=1e-12)
    assert torch.allclose(hess, hess_ref, atol=1e-12)
    assert u.shape == (50,)


def test_input_derivatives_match_finite_differences():
    torch.manual_seed(0)
    model = MLP([2, 16, 16, 1], "tanh").double()
    x = torch.randn(20, 2, dtype=torch.float64)
    _, grad, hess = input_derivatives(model, x, order=2)
    h = 1e-5
    for i in range(2):
        e = torch.zeros(2, dtype=torch.float64)
        e[i] = h
        with torch.no_grad():
            fd = (model(x + e) - model(x - e))[:, 0] / (2 * h)
        assert torch.allclose(grad[:, i], fd, atol=1e-8)
        _, grad_plus, _ = input_derivatives(model, x + e, order=1)
        _, grad_minus, _ = input_derivatives(model, x - e, order=1)
        assert torch.allclose(hess[:, i, :], (grad_plus - grad_minus) / (2 * h), atol=1e-7)
    assert torch.allclose(hess, hess.transpose(1, 2), atol=1e-12)


def test_loss_terms_and_weights():
    torch.manual_seed(0)
    model, x = Quadratic(), torch.randn(40, 2, dtype=torch.float64)
    grad_ref, hess_ref = hand_derivatives(model, x)
    with torch.no_grad():
        u = model(x)[:, 0]
    value, gradient, hessian = u + 0.1, grad_ref + 0.2, hess_ref - 0.3
    loss = sobolev_loss(
        model, x, value, gradient, hessian, l2_weight=0.5, h1_weight=2.0, h2_weight=3.0
    )
    assert math.isclose(loss.terms["l2"].item(), 0.01, rel_tol=1e-12)
    assert math.isclose(loss.terms["h1"].item(), 2 * 0.04, rel_tol=1e-12)
    assert math.isclose(loss.terms["h2"].item(), 4 * 0.09, rel_tol=1e-12)
    assert math.isclose(loss.total.item(), 0.5 * 0.01 + 2 * 0.08 + 3 * 0.36, rel_tol=1e-12)


def test_h1_distance_of_a_network_to_itself_is_zero():
    torch.manual_seed(0)
    model = MLP([2, 32, 32, 1], "tanh")
    x = torch.rand(64, 2)
    u, grad, hess = input_derivatives(model, x, order=2)
    loss = sobolev_loss(model, x, u.detach(), grad.detach(), hess.detach())
    assert loss.total.item() == 0.0


def test_parameter_gradients_flow_through_every_term():
    torch.manual_seed(0)
    x = torch.rand(64, 2)
    for term, kwargs in [
        ("l2", {}),
        ("h1", {"gradient": torch.zeros(64, 2)}),
        ("h2", {"gradient": torch.zeros(64, 2), "hessian": torch.zeros(64, 2, 2)}),
    ]:
        model = MLP([2, 16, 16, 1], "tanh")
        weights = {
            "l2_weight": float(term == "l2"),
            "h1_weight": float(term == "h1"),
            "h2_weight": float(term == "h2"),
        }
        sobolev_loss(model, x, torch.zeros(64), **kwargs, **weights).total.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        # every layer's weight receives a nonzero gradient from this term alone
        assert all(g.abs().sum() > 0 for g in grads[::2]), term


def test_h1_parameter_gradient_matches_finite_differences():
    torch.manual_seed(0)
    model, x = Quadratic(), torch.randn(30, 2, dtype=torch.float64)
    target = torch.zeros(30, 2, dtype=torch.float64)

    def loss_at(a):
        with torch.no_grad():
            model.a.fill_(a)
        return sobolev_loss(model, x, torch.zeros(30), target, l2_weight=0.0)

    loss = loss_at(1.5)
    loss.total.backward()
    analytic = model.a.grad.item()
    h = 1e-6
    numeric = (loss_at(1.5 + h).total.item() - loss_at(1.5 - h).total.item()) / (2 * h)
    assert math.isclose(analytic, numeric, rel_tol=1e-6)


def test_bad_inputs_are_named():
    model = MLP([2, 8, 1])
    x = torch.rand(10, 2)
    with pytest.raises(ValueError, match=r"gradient must have shape \(10, 2\)"):
        sobolev_loss(model, x, torch.zeros(10), torch.zeros(10, 3))
    with pytest.raises(ValueError, match=r"value must have shape \(10,\)"):
        sobolev_loss(model, x, torch.zeros(9))
    with pytest.raises(ValueError, match=r"hessian must have shape \(10, 2, 2\)"):
        sobolev_loss(model, x, torch.zeros(10), torch.zeros(10, 2), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="h1_weight"):
        sobolev_loss(model, x, torch.zeros(10), torch.zeros(10, 2), h1_weight=-1.0)
    with pytest.raises(ValueError, match="l2_weight"):
        sobolev_loss(model, x, torch.zeros(10), l2_weight=True)
    with pytest.raises(ValueError, match=r"x must be a tensor of shape \(N, d\)"):
        sobolev_loss(model, torch.rand(10), torch.zeros(10))
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        input_derivatives(MLP([2, 8, 3]), x, order=1)
    with pytest.raises(ValueError, match="order"):
        input_derivatives(model, x, order=3)
    with pytest.raises(ValueError, match="order must be an integer"):
        input_derivatives(model, x, order=1.0)
    assert input_derivatives(model, x, order=np.int64(2))[2].shape == (10, 2, 2)


def test_a_weight_without_its_target_is_an_error():
    model = MLP([2, 8, 1])
    x, value = torch.rand(10, 2), torch.zeros(10)
    with pytest.raises(ValueError, match="h1_weight=5 asks for the H1 term, but no gradient"):
        sobolev_loss(model, x, value, h1_weight=5)
    with pytest.raises(ValueError, match="h2_weight=1 asks for the H2 term, but no hessian"):
        sobolev_loss(model, x, value, torch.zeros(10, 2), h2_weight=1.0)
    # no target and no weight, or weight 0 (the theory's single-term losses): fine
    assert set(sobolev_loss(model, x, value).terms) == {"l2"}
    loss = sobolev_loss(model, x, value, h1_weight=0.0, h2_weight=0)
    assert loss.weights == {"l2": 1.0}
    # a given target without a weight has weight 1; weight 0 keeps the term for logging
    assert sobolev_loss(model, x, value, torch.zeros(10, 2)).weights == {"l2": 1.0, "h1": 1.0}
    loss = sobolev_loss(model, x, value, torch.zeros(10, 2), h1_weight=0, l2_weight=0.5)
    assert loss.weights == {"l2": 0.5, "h1": 0.0}
    assert torch.equal(loss.total, 0.5 * loss.terms["l2"])
