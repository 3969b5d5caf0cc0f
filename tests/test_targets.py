import numpy as np
import pytest
import torch

from sobolev.targets import ACKLEY, ACTIVATION_TARGET, F1, F2, TARGETS


def autograd_derivatives(target, x):
    """Gradient and Hessian of target.value by autograd (independent of the closed forms)."""
    x = x.clone().requires_grad_(True)
    value = target._value(x)
    (grad,) = torch.autograd.grad(value.sum(), x, create_graph=True)
    rows = [
        torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0] for i in range(x.shape[1])
    ]
    return grad.detach(), torch.stack(rows, 1)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_closed_form_derivatives_match_autograd(name):
    target = TARGETS[name]
    rng = np.random.default_rng(0)
    x = torch.as_tensor(target.uniform(500, rng))
    grad, hess = autograd_derivatives(target, x)
    assert torch.allclose(target.gradient(x), grad, rtol=1e-12, atol=1e-10)
    if target._hessian is not None:
        assert torch.allclose(target.hessian(x), hess, rtol=1e-12, atol=1e-9)


def test_known_values():
    assert abs(ACKLEY.value(torch.zeros(1, 2)).item()) < 1e-14  # global minimum 0 at the origin
    assert torch.equal(
        ACKLEY.gradient(torch.zeros(1, 2)), torch.zeros(1, 2)
    )  # symmetric limit at the cusp
    assert abs(F1.value(torch.tensor([[0.25]])).item() - (1.0 + np.sin(5 * np.pi))) < 1e-14
    assert abs(F2.value(torch.tensor([[1.0]])).item() - 1.0) < 1e-14
    x = torch.tensor([[1.0, -1.0]])
    assert abs(ACTIVATION_TARGET.value(x).item() - (0 + 4 - 1.5 - 2.5 + 1)) < 1e-14


def test_sample_casts_after_computing_in_float64():
    x = torch.tensor([[0.3, -1.1], [1.9, 0.2]], dtype=torch.float32)
    value, grad, hess = ACTIVATION_TARGET.sample(x, order=2, dtype=torch.float32)
    assert value.dtype == grad.dtype == hess.dtype == torch.float32
    exact = ACTIVATION_TARGET.value(x.double())
    assert torch.equal(value, exact.float())
    assert not value.requires_grad
    assert ACKLEY.sample(x, order=0)[1] is None


def test_ackley_has_no_hessian_and_bad_shapes_are_named():
    with pytest.raises(ValueError, match="Hessian"):
        ACKLEY.hessian(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"ackley: x must have shape \(N, 2\)"):
        ACKLEY.value(torch.zeros(3))
    with pytest.raises(ValueError, match="order"):
        F1.sample(torch.zeros(2, 1), order=3)
    assert F1.value(torch.zeros(3)).shape == (3,)  # 1-D input accepted for 1-D targets


def test_grids_cover_the_domain():
    grid = ACTIVATION_TARGET.grid(5)
    assert grid.shape == (25, 2)
    assert grid[:, 0].min() == 1 and grid[:, 0].max() == 4
    assert grid[:, 1].min() == -3 and grid[:, 1].max() == 4
    with pytest.raises(ValueError, match="n must be"):
        F1.grid(1)
