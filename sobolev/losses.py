r"""Sobolev losses: the L2, H1 and H2 terms between a network and a target.

For a network :math:`u` and a target :math:`f` sampled at points :math:`x_j`,

.. math::

   \ell_{L^2} = \frac1N\sum_j |u(x_j) - f(x_j)|^2, \quad
   \ell_{H^1} = \frac1N\sum_j \|\nabla_x u(x_j) - \nabla_x f(x_j)\|^2, \quad
   \ell_{H^2} = \frac1N\sum_j \|\nabla_x^2 u(x_j) - \nabla_x^2 f(x_j)\|_F^2,

and the Sobolev loss is :math:`\lambda_0 \ell_{L^2} + \lambda_1 \ell_{H^1} + \lambda_2 \ell_{H^2}`
with every weight explicit (the paper's Section 2.1 uses :math:`\lambda_0=\lambda_1=1`;
its population losses carry a factor ½ on each term, i.e. weights ½).

Input derivatives come from autograd with ``create_graph=True`` so the loss can be
differentiated again with respect to the parameters; Hessians by nested autograd,
one row per input dimension (cheap for the low-dimensional inputs of this book).

Under ``SOBOLEV_PERTURB`` (:func:`sobolev.config.perturbed`) :func:`sobolev_loss` takes the
points in reverse order: the same loss mathematically, but every mean over the points, and
every sum over the points in the backward pass (the parameter gradients), is added up in
another order, so the results differ in their last bits, as they do on a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Real

import torch

from .config import check_int, perturbed

TERMS = ("l2", "h1", "h2")


def input_derivatives(
    model: torch.nn.Module,
    x: torch.Tensor,
    order: int = 1,
):
    """Values, input gradients and (``order=2``) input Hessians of a network.

    Returns ``(u, grad, hess)`` with shapes ``(N,)``, ``(N, d)`` or ``None``,
    and ``(N, d, d)`` or ``None``. Every tensor stays in the autograd graph
    (``create_graph=True``), so a loss built on them trains the parameters.
    """
    order = check_int(order, "order")
    if order > 2:
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    _check_points(x)
    if order == 0:
        u = model(x)
        _check_scalar_output(u)
        return u[:, 0], None, None
    x = x.detach().requires_grad_(True)
    u = model(x)
    _check_scalar_output(u)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    hess = None
    if order == 2:
        rows = [
            torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)[0]
            for i in range(x.shape[1])
        ]
        hess = torch.stack(rows, dim=1)  # hess[n, i, j] = ∂²u/∂x_i∂x_j(x_n)
    return u[:, 0], grad, hess


def _check_points(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x must be a tensor of shape (N, d), got {getattr(x, 'shape', type(x))}")


def _check_scalar_output(u: torch.Tensor) -> None:
    if u.ndim != 2 or u.shape[1] != 1:
        raise ValueError(
            f"the network must return shape (N, 1) for Sobolev losses, got {tuple(u.shape)}"
        )


@dataclass
class SobolevLoss:
    """The weighted sum ``total`` and each unweighted term (``l2``, ``h1``, ``h2``) of a Sobolev loss."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)

    def detached(self) -> dict[str, float]:
        """Each term and the total as Python floats (for logging)."""
        out = {name: float(value.detach()) for name, value in self.terms.items()}
        out["total"] = float(self.total.detach())
        return out


def _as_target(name: str, t, n: int, shape_tail: tuple, ref: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t)
    t = t.to(device=ref.device, dtype=ref.dtype)
    expected = (n, *shape_tail)
    if name == "value" and t.shape == (n, 1):
        t = t[:, 0]
    if tuple(t.shape) != expected:
        raise ValueError(f"{name} must have shape {expected}, got {tuple(t.shape)}")
    return t


def _check_weight(name: str, weight) -> float:
    if isinstance(weight, bool) or not isinstance(weight, Real) or not weight >= 0:
        raise ValueError(f"{name} must be a non-negative number, got {weight!r}")
    if not math.isfinite(weight):
        raise ValueError(f"{name} must be finite, got {weight!r}")
    return float(weight)


def _term_weight(name: str, weight, target, target_name: str) -> float:
    """The weight of the H1 or H2 term; a positive weight needs its target."""
    if weight is None:
        return 1.0
    weight = _check_weight(name, weight)
    if target is None and weight > 0:
        raise ValueError(
            f"{name}={weight:g} asks for the {'H1' if name == 'h1_weight' else 'H2'} term, "
            f"but no {target_name} target was given (pass {target_name}=..., or {name}=0)"
        )
    return weight


def _point_order():
    """The order in which :func:`sobolev_loss` takes the points: as given, or reversed when
    :func:`sobolev.config.perturbed` (the reduction-order hook of ``SOBOLEV_PERTURB``)."""
    if perturbed():
        return lambda t: t.flip(0)
    return lambda t: t


def sobolev_loss(
    model: torch.nn.Module,
    x: torch.Tensor,
    value: torch.Tensor,
    gradient: torch.Tensor | None = None,
    hessian: torch.Tensor | None = None,
    *,
    l2_weight: float = 1.0,
    h1_weight: float | None = None,
    h2_weight: float | None = None,
) -> SobolevLoss:
    r"""The Sobolev loss of ``model`` against a target sampled at ``x``.

    ``value`` (N,) or (N, 1) holds f(x_j); ``gradient`` (N, d) holds ∇f(x_j)
    and turns on the H1 term; ``hessian`` (N, d, d) holds ∇²f(x_j) and turns
    on the H2 term. A term whose target is ``None`` is left out.
    ``h1_weight`` and ``h2_weight`` default to 1 where their target is given;
    a positive weight without its target is an error (the term would vanish
    silently), weight 0 is allowed. Targets are cast to ``x``'s dtype and
    device (compute them once, in float64, outside the graph).
    """
    _check_points(x)
    weights = {
        "l2": _check_weight("l2_weight", l2_weight),
        "h1": _term_weight("h1_weight", h1_weight, gradient, "gradient"),
        "h2": _term_weight("h2_weight", h2_weight, hessian, "hessian"),
    }
    n, d = x.shape
    order = 2 if hessian is not None else 1 if gradient is not None else 0
    reorder = _point_order()
    u, grad, hess = input_derivatives(model, reorder(x), order)
    value = reorder(_as_target("value", value, n, (), u))
    terms = {"l2": (u - value).square().mean()}
    if gradient is not None:
        gradient = reorder(_as_target("gradient", gradient, n, (d,), u))
        terms["h1"] = (grad - gradient).square().sum(dim=1).mean()
    if hessian is not None:
        hessian = reorder(_as_target("hessian", hessian, n, (d, d), u))
        terms["h2"] = (hess - hessian).square().sum(dim=(1, 2)).mean()
    weights = {name: weights[name] for name in terms}
    total = sum(weights[name] * terms[name] for name in terms)
    return SobolevLoss(total=total, terms=terms, weights=weights)
