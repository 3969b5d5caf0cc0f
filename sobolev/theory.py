r"""Closed-form population losses and gradients for one neuron with Gaussian input (Theorems 1–3).

Setting of Section 2 of the paper: :math:`x \sim N(0, I_d)`, a student :math:`w` and a teacher
:math:`w^*` in :math:`\mathbb{R}^d` (:math:`d \ge 2`), :math:`a = \|w\|`, :math:`b = \|w^*\|`,
:math:`\theta = \angle(w, w^*) \in [0, \pi]`, :math:`u = w/a`, :math:`v = w^*/b`. Every term carries
the factor ½ of the paper's definitions (one sample, i.e. :math:`N = 1` in its :math:`1/2N` sums):

* ``relu_l2``: :math:`\mathcal L = \mathbb E\,\tfrac12(g(x;w) - g(x;w^*))^2` (eq. 1), :math:`g = \sigma(w^\top x)`;
* ``relu_h1``: :math:`\mathcal J = \mathbb E\,\tfrac12\|\nabla_x g(x;w) - \nabla_x g(x;w^*)\|^2`, :math:`g = \sigma(w^\top x)`;
* ``relu2_l2``: :math:`\mathcal I_1 = \mathbb E\,\tfrac12(g(x;w) - g(x;w^*))^2`, :math:`g = \sigma(w^\top x)^2`;
* ``relu2_h1``: :math:`\mathcal I_2 = \mathbb E\,\tfrac12\|\nabla_x g(x;w) - \nabla_x g(x;w^*)\|^2`, :math:`g = \sigma(w^\top x)^2`;
* ``relu2_h2``: :math:`\mathcal I_3 = \mathbb E\,\tfrac12\|\nabla^2_x g(x;w) - \nabla^2_x g(x;w^*)\|_F^2`, :math:`g = \sigma(w^\top x)^2`.

Closed forms (derived in the rotated basis :math:`e_1 = u`, :math:`e_2 \perp e_1` in
:math:`\mathrm{span}(w, w^*)`; :math:`K(\theta) = \sin\theta + (\pi-\theta)\cos\theta`):

.. math::

   \mathcal L &= \tfrac12\Big[\tfrac{a^2}{2} - \tfrac{ab}{\pi} K(\theta) + \tfrac{b^2}{2}\Big], &
   \mathcal J &= \tfrac12\Big[\tfrac{a^2}{2} - \tfrac{\pi-\theta}{\pi}\, w^\top w^* + \tfrac{b^2}{2}\Big], \\
   \mathcal I_1 &= \tfrac34(a^4 + b^4) - \tfrac{a^2b^2}{2\pi}\big[3\sin\theta\cos\theta + (\pi-\theta)(1+2\cos^2\theta)\big], &
   \mathcal I_2 &= a^4 + b^4 - \tfrac{2a^2b^2}{\pi}\cos\theta\, K(\theta), \\
   \mathcal I_3 &= a^4 + b^4 - \tfrac{2(\pi-\theta)}{\pi}(w^\top w^*)^2 .

**Two gradients.** ``moving_boundary=False`` returns :math:`\mathbb E[\nabla_w \ell(x;w)]`, the
mean of the per-sample gradient that autograd (and so SGD) computes, with the indicator
:math:`\mathbb 1\{w^\top x>0\}` of :math:`\sigma'` held fixed. ``moving_boundary=True`` returns
:math:`\nabla_w \mathbb E[\ell(x;w)]`, the gradient of the population loss, which also differentiates
the angle :math:`\theta` through which the boundary :math:`w^\top x = 0` moves
(:math:`\nabla_w\theta = -(v - \cos\theta\,u)/(a\sin\theta)`). For ``relu_l2``, ``relu2_l2`` and
``relu2_h1`` the per-sample loss is continuous in :math:`w`, so the two coincide:

.. math::

   \nabla\mathcal L &= \tfrac12 w - \tfrac1{2\pi}\big[(\pi-\theta)\,w^* + b\sin\theta\,u\big]
      \quad\text{(Tian 2017)}, \\
   \nabla\mathcal I_1 &= 3a^2 w - \tfrac{b^2}{\pi} G\, w - \tfrac{ab}{\pi} H\, w^*, \quad
      G = (\pi-\theta) + \sin\theta\cos\theta,\; H = 2\sin\theta + 2(\pi-\theta)\cos\theta, \\
   \nabla\mathcal I_2 &= 4\Big[a^2 w - \tfrac{\sin\theta\cos\theta}{2\pi} b^2 w
      - \tfrac{ab}{2\pi} G_1 w^*\Big], \quad G_1 = \sin\theta + 2(\pi-\theta)\cos\theta .

For ``relu_h1`` and ``relu2_h2`` the per-sample loss jumps where :math:`w^\top x` changes sign, and

.. math::

   \mathbb E[\nabla_w \ell_{\mathcal J}] &= \tfrac12 w - \tfrac{\pi-\theta}{2\pi} w^*, &
   \nabla\mathcal J &= \mathbb E[\nabla_w \ell_{\mathcal J}] - \tfrac{b\cos\theta}{2\pi}\,\frac{v - \cos\theta\,u}{\sin\theta}, \\
   \mathbb E[\nabla_w \ell_{\mathcal I_3}] &= 4a^2 w - \tfrac{4(\pi-\theta)}{\pi}(w^\top w^*)\,w^*, &
   \nabla\mathcal I_3 &= \mathbb E[\nabla_w \ell_{\mathcal I_3}] - \tfrac{2ab^2\cos^2\theta}{\pi}\,\frac{v - \cos\theta\,u}{\sin\theta}.

At :math:`\theta \in \{0, \pi\}` the population losses :math:`\mathcal J, \mathcal I_3` have a kink
(:math:`\theta` is not differentiable there); ``moving_boundary=True`` then returns the
minimum-norm element of the subdifferential, which drops the boundary term.

Every gradient is a combination :math:`c_w\,w + c_*\,w^* + c_e\,e` with
:math:`e = (v - \cos\theta\,u)/\sin\theta` (:func:`gradient_coefficients`), so one set of
coefficients gives both the gradient in :math:`\mathbb R^d` (:func:`population_gradient`) and,
vectorised over the :math:`(\theta, \|w\|/\|w^*\|)` plane, the descent rate
:math:`(w - w^*)^\top\nabla` (:func:`descent_rate`).

The proofs' 2×2 matrices and identities are in :mod:`sobolev.proofs`; sampling and Monte Carlo
in :mod:`sobolev.montecarlo`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: The population terms, grouped by activation.
RELU_TERMS = ("relu_l2", "relu_h1")
RELU2_TERMS = ("relu2_l2", "relu2_h1", "relu2_h2")
TERMS = RELU_TERMS + RELU2_TERMS
#: The terms whose integrand jumps across wᵀx = 0: their autograd expectation differs from the
#: population gradient, and their population loss has a kink at w ∥ w*.
MOVING_BOUNDARY_TERMS = ("relu_h1", "relu2_h2")
_ACROSS_EPS = 1e-8  # |sin θ| below which w is taken to lie on the line of w*

__all__ = [
    "TERMS",
    "RELU_TERMS",
    "RELU2_TERMS",
    "MOVING_BOUNDARY_TERMS",
    "angle",
    "population_loss",
    "gradient_coefficients",
    "population_gradient",
    "flow_rhs",
    "dV_dt",
    "descent_rate",
]


# --------------------------------------------------------------------------- input checking
class _Backend:
    """The few array operations the closed forms need, for numpy or torch."""

    def __init__(self, is_torch: bool, dtype):
        self.is_torch = is_torch
        self.dtype = dtype
        self.xp = torch if is_torch else np

    def dot(self, p, q):
        return (p * q).sum()

    def sqrt(self, t):
        return self.xp.sqrt(t)

    def sin(self, t):
        return self.xp.sin(t)

    def cos(self, t):
        return self.xp.cos(t)

    def atan2(self, y, x):
        return torch.atan2(y, x) if self.is_torch else np.arctan2(y, x)

    def where(self, cond, p, q):
        return self.xp.where(cond, p, q)

    def scalar_out(self, value):
        if self.is_torch:
            return value.to(self.dtype)
        return np.asarray(value, dtype=self.dtype)[()]

    def vector_out(self, value):
        if self.is_torch:
            return value.to(self.dtype)
        return np.asarray(value, dtype=self.dtype)


def _check_pair(w, w_star):
    """Validate ``w``, ``w_star``; return (backend, w, w_star) as float arrays of one type."""
    for name, t in (("w", w), ("w_star", w_star)):
        if not isinstance(t, (np.ndarray, torch.Tensor)):
            raise ValueError(
                f"{name} must be a 1-D numpy array or torch tensor, got {type(t).__name__}"
            )
    if isinstance(w, torch.Tensor) != isinstance(w_star, torch.Tensor):
        raise ValueError(
            f"w and w_star must both be numpy arrays or both torch tensors, got "
            f"{type(w).__name__} and {type(w_star).__name__}"
        )
    for name, t in (("w", w), ("w_star", w_star)):
        if t.ndim != 1:
            raise ValueError(f"{name} must be 1-D (shape (d,)), got shape {tuple(t.shape)}")
        if t.shape[0] < 2:
            raise ValueError(f"{name} must have length d >= 2, got length {t.shape[0]}")
    if w.shape[0] != w_star.shape[0]:
        raise ValueError(
            f"w and w_star must have the same length, got {w.shape[0]} and {w_star.shape[0]}"
        )
    is_torch = isinstance(w, torch.Tensor)
    if is_torch:
        if w.device != w_star.device:
            raise ValueError(
                f"w and w_star must be on one device, got {w.device} and {w_star.device}"
            )
        for name, t in (("w", w), ("w_star", w_star)):
            if t.is_complex():
                raise ValueError(f"{name} must be real, got dtype {t.dtype}")
        dtype = torch.promote_types(w.dtype, w_star.dtype)
        if not dtype.is_floating_point:
            dtype = torch.float64
        w, w_star = w.to(dtype), w_star.to(dtype)
        finite = bool(torch.isfinite(w).all()) and bool(torch.isfinite(w_star).all())
    else:
        for name, t in (("w", w), ("w_star", w_star)):
            if not (np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)):
                raise ValueError(f"{name} must have a real numeric dtype, got {t.dtype}")
        dtype = np.result_type(w.dtype, w_star.dtype)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.dtype(np.float64)
        w, w_star = w.astype(dtype), w_star.astype(dtype)
        finite = bool(np.isfinite(w).all()) and bool(np.isfinite(w_star).all())
    if not finite:
        raise ValueError("w and w_star must be finite (no NaN or inf)")
    ops = _Backend(is_torch, dtype)
    for name, t in (("w", w), ("w_star", w_star)):
        if float(ops.dot(t, t).detach() if ops.is_torch else ops.dot(t, t)) == 0.0:
            raise ValueError(f"{name} must be nonzero (the angle θ is undefined for a zero vector)")
    return ops, w, w_star


def _check_term(term):
    if term not in TERMS:
        raise ValueError(f"term must be one of {', '.join(TERMS)}; got {term!r}")


def _check_terms(terms) -> tuple[str, ...]:
    """The one check of a list of terms: one name or a non-empty sequence of distinct names of
    :data:`TERMS`, all of one activation (ReLU or ReLU²). Returns them as a tuple."""
    if isinstance(terms, str):
        terms = (terms,)
    try:
        terms = tuple(terms)
    except TypeError:
        raise ValueError(f"terms must be a term name or a list of them, got {terms!r}") from None
    if not terms:
        raise ValueError("terms must name at least one term")
    for term in terms:
        _check_term(term)
    if len(set(terms)) != len(terms):
        raise ValueError(f"terms must not repeat a name, got {terms!r}")
    if not (set(terms) <= set(RELU_TERMS) or set(terms) <= set(RELU2_TERMS)):
        raise ValueError(
            f"terms must all belong to one activation (ReLU {RELU_TERMS} or "
            f"ReLU² {RELU2_TERMS}), got {terms!r}"
        )
    return terms


# --------------------------------------------------------------------------- geometry
def _geometry(ops, w, w_star):
    a = ops.sqrt(ops.dot(w, w))
    b = ops.sqrt(ops.dot(w_star, w_star))
    u, v = w / a, w_star / b
    # θ = 2·atan2(‖u − v‖, ‖u + v‖): accurate near 0 and π, unlike arccos of the cosine.
    diff, summ = u - v, u + v
    theta = 2.0 * ops.atan2(ops.sqrt(ops.dot(diff, diff)), ops.sqrt(ops.dot(summ, summ)))
    return a, b, u, v, theta


def _unit_towards_teacher(ops, u, v, theta):
    """(v − cos θ u)/sin θ, the unit vector of span(w, w*) orthogonal to w, towards w* (0 if θ ∈ {0, π}).

    The direction is formed as v − (v·u)u and normalised by its own norm, and is
    taken as 0 when that norm is below ``_ACROSS_EPS``: on the line of w* (up to
    round-off) the boundary term vanishes instead of dividing round-off by round-off.
    """
    across = v - ops.dot(v, u) * u
    norm = ops.sqrt(ops.dot(across, across))
    ok = norm > _ACROSS_EPS
    safe = ops.where(ok, norm, norm * 0 + 1)
    return ops.where(ok, across / safe, u * 0)


def angle(w, w_star):
    """The angle θ = ∠(w, w*) ∈ [0, π], in the input's type."""
    ops, w, w_star = _check_pair(w, w_star)
    return ops.scalar_out(_geometry(ops, w, w_star)[4])


# --------------------------------------------------------------------------- losses
def population_loss(term, w, w_star):
    r"""The population loss :math:`\mathbb E_x\,\ell(x; w)` of ``term`` in closed form (module docstring)."""
    _check_term(term)
    ops, w, w_star = _check_pair(w, w_star)
    a, b, _, _, theta = _geometry(ops, w, w_star)
    s, c = ops.sin(theta), ops.cos(theta)
    pi = math.pi
    if term == "relu_l2":
        value = 0.5 * (a**2 / 2 - a * b / pi * (s + (pi - theta) * c) + b**2 / 2)
    elif term == "relu_h1":
        value = 0.5 * (a**2 / 2 - (pi - theta) / pi * a * b * c + b**2 / 2)
    elif term == "relu2_l2":
        j2 = 3 * s * c + (pi - theta) * (1 + 2 * c**2)
        value = 0.75 * (a**4 + b**4) - a**2 * b**2 * j2 / (2 * pi)
    elif term == "relu2_h1":
        value = a**4 + b**4 - 2 * a**2 * b**2 / pi * c * (s + (pi - theta) * c)
    else:  # relu2_h2
        value = a**4 + b**4 - 2 * (pi - theta) / pi * (a * b * c) ** 2
    return ops.scalar_out(value)


# --------------------------------------------------------------------------- gradients
def gradient_coefficients(term, a, b, theta, *, moving_boundary=False):
    r"""Coefficients :math:`(c_w, c_*, c_e)` with :math:`\nabla = c_w w + c_* w^* + c_e e`.

    :math:`a = \|w\|`, :math:`b = \|w^*\|`, :math:`\theta = \angle(w, w^*)` and
    :math:`e = (v - \cos\theta\,u)/\sin\theta`, the unit vector of :math:`\mathrm{span}(w, w^*)`
    orthogonal to :math:`w`, towards :math:`w^*`. Works elementwise on numpy arrays, torch
    tensors or floats; :math:`c_e \ne 0` only for the boundary term of ``relu_h1`` and
    ``relu2_h2`` with ``moving_boundary=True``. No input checking (see :func:`population_gradient`).
    """
    xp = torch if isinstance(theta, torch.Tensor) else np
    s, c = xp.sin(theta), xp.cos(theta)
    pi = math.pi
    zero = 0.0 * theta
    if term == "relu_l2":
        return 0.5 - b * s / (2 * pi * a) + zero, -(pi - theta) / (2 * pi), zero
    if term == "relu_h1":
        ce = -b * c / (2 * pi) if moving_boundary else zero
        return 0.5 + zero, -(pi - theta) / (2 * pi), ce
    if term == "relu2_l2":
        big_g = (pi - theta) + s * c
        big_h = 2 * s + 2 * (pi - theta) * c
        return 3 * a**2 - b**2 / pi * big_g, -a * b / pi * big_h, zero
    if term == "relu2_h1":
        g1 = s + 2 * (pi - theta) * c
        return 4 * (a**2 - s * c / (2 * pi) * b**2), -4 * a * b / (2 * pi) * g1, zero
    if term == "relu2_h2":
        ce = -2 * a * b**2 * c**2 / pi if moving_boundary else zero
        return 4 * a**2 + zero, -4 * (pi - theta) / pi * (a * b * c), ce
    raise ValueError(f"term must be one of {', '.join(TERMS)}; got {term!r}")


def _gradient(ops, term, w, w_star, moving_boundary):
    a, b, u, v, theta = _geometry(ops, w, w_star)
    cw, cs, ce = gradient_coefficients(term, a, b, theta, moving_boundary=moving_boundary)
    grad = cw * w + cs * w_star
    if moving_boundary and term in MOVING_BOUNDARY_TERMS:
        grad = grad + ce * _unit_towards_teacher(ops, u, v, theta)
    return grad


def population_gradient(term, w, w_star, *, moving_boundary=False):
    r"""Closed-form gradient of ``term`` with respect to ``w`` (module docstring for the formulas).

    ``moving_boundary=False``: :math:`\mathbb E[\nabla_w\ell(x;w)]`, what autograd/SGD estimate;
    ``moving_boundary=True``: :math:`\nabla_w\mathbb E[\ell(x;w)]`, the gradient of the population
    loss. They differ only for ``relu_h1`` and ``relu2_h2``.
    """
    _check_term(term)
    if not isinstance(moving_boundary, (bool, np.bool_)):
        raise ValueError(f"moving_boundary must be True or False, got {moving_boundary!r}")
    ops, w, w_star = _check_pair(w, w_star)
    return ops.vector_out(_gradient(ops, term, w, w_star, bool(moving_boundary)))


def flow_rhs(terms, w, w_star, moving_boundary=True):
    r"""Right-hand side :math:`\dot w = -\sum_{t \in \text{terms}} \nabla_w t` of the gradient flow.

    ``terms`` is one name of :data:`TERMS` or a sequence of them, e.g. ``("relu_l2", "relu_h1")``
    for the flow of :math:`\mathcal H = \mathcal L + \mathcal J` of Theorem 2.
    """
    terms = _check_terms(terms)
    total = population_gradient(terms[0], w, w_star, moving_boundary=moving_boundary)
    for term in terms[1:]:
        total = total + population_gradient(term, w, w_star, moving_boundary=moving_boundary)
    return -total


def dV_dt(terms, w, w_star, moving_boundary=True):
    r"""Rate of change of :math:`V = \|w - w^*\|^2` along the flow of ``terms``.

    :math:`\dot V = 2(w - w^*)^\top \dot w = -2(w - w^*)^\top \sum \nabla_w t`. (The paper writes
    :math:`\dot V = -(w - w^*)^\top\nabla`, without the 2; the sign, which is what the theorems
    are about, is the same.)
    """
    rhs = flow_rhs(terms, w, w_star, moving_boundary=moving_boundary)
    ops, w, w_star = _check_pair(w, w_star)
    return ops.scalar_out(2 * ops.dot(w - w_star, rhs))


def descent_rate(terms, theta, rho, *, moving_boundary=False):
    r""":math:`(w - w^*)^\top\sum_t\nabla_w t` at :math:`\|w^*\| = 1`, :math:`\|w\| = \rho`,
    :math:`\angle(w, w^*) = \theta`, vectorised (``theta`` and ``rho`` broadcast).

    Positive means :math:`V` decreases along the flow (:math:`\dot V = -2\times` this). The
    value depends on nothing else (not on :math:`d`), and for another :math:`\|w^*\| = b` it
    scales by :math:`b^2` (ReLU) or :math:`b^4` (ReLU²) at :math:`\rho = \|w\|/b`. With
    :math:`w = \rho u`, :math:`w^* = \cos\theta\,u + \sin\theta\,e`: :math:`(w-w^*)^\top w =
    \rho^2 - \rho\cos\theta`, :math:`(w-w^*)^\top w^* = \rho\cos\theta - 1`,
    :math:`(w-w^*)^\top e = -\sin\theta`.
    """
    terms = _check_terms(terms)
    if not isinstance(moving_boundary, (bool, np.bool_)):
        raise ValueError(f"moving_boundary must be True or False, got {moving_boundary!r}")
    theta, rho = np.broadcast_arrays(np.asarray(theta, float), np.asarray(rho, float))
    if not np.all(np.isfinite(theta)) or np.any(theta < 0) or np.any(theta > np.pi):
        raise ValueError("theta must lie in [0, π]")
    if not np.all(np.isfinite(rho)) or np.any(rho <= 0):
        raise ValueError("rho = ‖w‖/‖w*‖ must be positive and finite")
    c, s = np.cos(theta), np.sin(theta)
    total = np.zeros(theta.shape)
    for term in terms:
        cw, cs, ce = gradient_coefficients(term, rho, 1.0, theta, moving_boundary=moving_boundary)
        total = total + cw * (rho**2 - rho * c) + cs * (rho * c - 1) - ce * s
    return total
