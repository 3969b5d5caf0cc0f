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

The 2×2 matrices of the proofs are exported both as printed in the paper and as corrected
(``m1_printed`` / ``m1_corrected`` and so on); :func:`descent_identity` evaluates each proof's
decomposition of :math:`(w - w^*)^\top\nabla` with either version, so the errata can show which
identities hold.
"""

from __future__ import annotations

import math

import numpy as np
import torch

TERMS = ("relu_l2", "relu_h1", "relu2_l2", "relu2_h1", "relu2_h2")
#: The terms whose autograd expectation differs from the population gradient.
MOVING_BOUNDARY_TERMS = ("relu_h1", "relu2_h2")
_ACROSS_EPS = 1e-8  # |sin θ| below which w is taken to lie on the line of w*

__all__ = [
    "TERMS",
    "MOVING_BOUNDARY_TERMS",
    "angle",
    "population_loss",
    "population_gradient",
    "flow_rhs",
    "dV_dt",
    "m1_printed",
    "m1_corrected",
    "m2_printed",
    "m2_corrected",
    "m_i1_printed",
    "m_i1_corrected",
    "m_i2_printed",
    "m_i2_corrected",
    "m_i3_printed",
    "m_i3_corrected",
    "descent_identity",
    "sample_pair",
    "monte_carlo_gradient",
    "monte_carlo_loss",
    "monte_carlo_mse",
    "loglog_slope",
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


def _check_terms(terms):
    if isinstance(terms, str):
        terms = (terms,)
    terms = tuple(terms)
    if not terms:
        raise ValueError("terms must name at least one term")
    for term in terms:
        _check_term(term)
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
def _gradient(ops, term, w, w_star, moving_boundary):
    a, b, u, v, theta = _geometry(ops, w, w_star)
    s, c = ops.sin(theta), ops.cos(theta)
    pi = math.pi
    if term == "relu_l2":
        return 0.5 * w - ((pi - theta) * w_star + b * s * u) / (2 * pi)
    if term == "relu_h1":
        grad = 0.5 * w - (pi - theta) / (2 * pi) * w_star
        if moving_boundary:
            grad = grad - b * c / (2 * pi) * _unit_towards_teacher(ops, u, v, theta)
        return grad
    if term == "relu2_l2":
        big_g = (pi - theta) + s * c
        big_h = 2 * s + 2 * (pi - theta) * c
        return 3 * a**2 * w - b**2 / pi * big_g * w - a * b / pi * big_h * w_star
    if term == "relu2_h1":
        g1 = s + 2 * (pi - theta) * c
        return 4 * (a**2 * w - s * c / (2 * pi) * b**2 * w - a * b / (2 * pi) * g1 * w_star)
    # relu2_h2
    grad = 4 * a**2 * w - 4 * (pi - theta) / pi * (a * b * c) * w_star
    if moving_boundary:
        grad = grad - 2 * a * b**2 * c**2 / pi * _unit_towards_teacher(ops, u, v, theta)
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


# --------------------------------------------------------------------------- matrices of the proofs
def _theta_array(theta):
    t = np.asarray(theta, dtype=float)
    if not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > np.pi):
        raise ValueError(f"theta must lie in [0, π], got {theta!r}")
    return t


def _mat(m11, m12, m22):
    m11, m12, m22 = np.broadcast_arrays(m11, m12, m22)
    return np.stack([np.stack([m11, m12], -1), np.stack([m12, m22], -1)], -2)


def m1_printed(theta):
    r"""Theorem 2's :math:`M_1` (the :math:`\mathcal L` part) as printed (Appendix A.1):
    :math:`\begin{pmatrix} \sin 2\theta + 2\pi - 2\theta & -(2\pi-\theta)\cos\theta - \sin\theta \\
    \cdot & 2\pi\end{pmatrix}`, shape ``theta.shape + (2, 2)``. Its prefactor is not printed."""
    t = _theta_array(theta)
    off = -(2 * np.pi - t) * np.cos(t) - np.sin(t)
    return _mat(np.sin(2 * t) + 2 * np.pi - 2 * t, off, 2 * np.pi + 0 * t)


def m1_corrected(theta):
    r""":math:`M_1` with which :math:`(w-w^*)^\top\nabla\mathcal L = \tfrac1{4\pi} q^\top M_1 q`,
    :math:`q = (\|w^*\|, \|w\|)`: the printed entries are right, the prefactor is :math:`1/4\pi`."""
    return m1_printed(theta)


def m2_printed(theta):
    r"""Theorem 2's :math:`M_2` (the :math:`\mathcal J` part) as printed:
    :math:`\begin{pmatrix} 2\pi - 2\theta & -(2\pi-\theta)\cos\theta \\ \cdot & 2\pi\end{pmatrix}`."""
    t = _theta_array(theta)
    return _mat(2 * np.pi - 2 * t, -(2 * np.pi - t) * np.cos(t), 2 * np.pi + 0 * t)


def m2_corrected(theta, moving_boundary=False):
    r""":math:`M_2` with :math:`(w-w^*)^\top\nabla\mathcal J = \tfrac1{4\pi} q^\top M_2 q`.

    For the autograd expectation (``moving_boundary=False``) this is the printed matrix; the
    gradient of the population loss adds :math:`\sin 2\theta` to the (1,1) entry."""
    m = m2_printed(theta).copy()
    if moving_boundary:
        m[..., 0, 0] += np.sin(2 * _theta_array(theta))
    return m


def _g_h(t):
    return (np.pi - t) + np.sin(t) * np.cos(t), 2 * np.sin(t) + 2 * (np.pi - t) * np.cos(t)


def m_i1_printed(theta):
    r"""Theorem 3's :math:`M` for :math:`\mathcal I_1` as printed:
    :math:`\begin{pmatrix} 2G\cos\theta + 2H & -(3\pi + G + H\cos\theta) \\ \cdot & 6\pi\end{pmatrix}`."""
    t = _theta_array(theta)
    g, h = _g_h(t)
    c = np.cos(t)
    return _mat(2 * g * c + 2 * h, -(3 * np.pi + g + h * c), 6 * np.pi + 0 * t)


def m_i1_corrected(theta):
    r""":math:`M` with :math:`(w-w^*)^\top\nabla\mathcal I_1 = \tfrac1\pi\big[3\pi(a^2 - ab)^2 +
    \tfrac{ab}2 q^\top M q\big]` (the paper's square kept): the (2,2) entry is
    :math:`6\pi(2 - \cos\theta)`, not :math:`6\pi`, and the form carries the factor :math:`ab/2`."""
    m = m_i1_printed(theta).copy()
    m[..., 1, 1] = 6 * np.pi * (2 - np.cos(_theta_array(theta)))
    return m


def m_i2_printed(theta):
    r"""Theorem 3's :math:`M_2` for :math:`\mathcal I_2` as printed:
    :math:`\begin{pmatrix} 2G_1 + 2\cos^2\theta\sin\theta & -\cos\theta(G_1 + \sin\theta + 2\pi\cos\theta)
    \\ \cdot & 4\pi\cos\theta\end{pmatrix}`, :math:`G_1 = \sin\theta + 2(\pi-\theta)\cos\theta`."""
    t = _theta_array(theta)
    s, c = np.sin(t), np.cos(t)
    g1 = s + 2 * (np.pi - t) * c
    return _mat(2 * g1 + 2 * c**2 * s, -c * (g1 + s + 2 * np.pi * c), 4 * np.pi * c)


def m_i2_corrected(theta):
    r""":math:`M_2` with :math:`(w-w^*)^\top\nabla\mathcal I_2 = \tfrac2\pi\big[2\pi(a^2 - ab\cos\theta)^2
    + \tfrac{ab}2 q^\top M_2 q\big]`: the printed matrix is right (but only semidefinite at θ = π/2)."""
    return m_i2_printed(theta)


def m_i3_printed(theta):
    r"""Theorem 3's :math:`M` for :math:`\mathcal I_3` as printed:
    :math:`\begin{pmatrix} 2(\pi-\theta) & (\theta - 2\pi)\cos\theta \\ \cdot & 2\pi\end{pmatrix}`."""
    t = _theta_array(theta)
    return _mat(2 * (np.pi - t), (t - 2 * np.pi) * np.cos(t), 2 * np.pi + 0 * t)


def m_i3_corrected(theta, moving_boundary=False):
    r""":math:`M` with :math:`(w-w^*)^\top\nabla\mathcal I_3 = \tfrac4\pi\big[\pi(a^2 - w^\top w^*)^2 +
    \tfrac12 (w^\top w^*)\, q^\top M q\big]` (the printed identity lacks the ½). For the gradient of the
    population loss (``moving_boundary=True``) the (1,1) entry gains :math:`\sin 2\theta / 2`."""
    m = m_i3_printed(theta).copy()
    if moving_boundary:
        m[..., 0, 0] += 0.5 * np.sin(2 * _theta_array(theta))
    return m


def descent_identity(term, w, w_star, *, version="corrected", moving_boundary=False):
    r"""Right-hand side of the proof's decomposition of :math:`(w - w^*)^\top \nabla_w(\text{term})`.

    ``version="printed"`` evaluates the identity as printed in the paper (Theorem 2: read with
    prefactor 1, as the OCR'd text shows none; Theorem 3: with its printed prefactors), and
    ``"corrected"`` the corrected one, which equals ``(w - w*) · population_gradient(term, ...)``
    exactly. Returns a Python float (numpy inputs are used in float64).
    """
    _check_term(term)
    if version not in ("printed", "corrected"):
        raise ValueError(f"version must be 'printed' or 'corrected', got {version!r}")
    ops, w, w_star = _check_pair(w, w_star)
    w = np.asarray(w.detach().cpu() if ops.is_torch else w, dtype=float)
    w_star = np.asarray(w_star.detach().cpu() if ops.is_torch else w_star, dtype=float)
    a, b = np.linalg.norm(w), np.linalg.norm(w_star)
    theta = float(angle(w, w_star))
    q = np.array([b, a])
    printed = version == "printed"
    if term == "relu_l2":
        return (
            float(q @ m1_printed(theta) @ q)
            if printed
            else float(q @ m1_corrected(theta) @ q / (4 * np.pi))
        )
    if term == "relu_h1":
        if printed:
            return float(q @ m2_printed(theta) @ q)
        return float(q @ m2_corrected(theta, moving_boundary) @ q / (4 * np.pi))
    if term == "relu2_l2":
        square = 3 * np.pi * (a**2 - a * b) ** 2 / np.pi
        if printed:
            return float(square + q @ m_i1_printed(theta) @ q / (2 * np.pi))
        return float(square + a * b / 2 * (q @ m_i1_corrected(theta) @ q) / np.pi)
    if term == "relu2_h1":
        square = 2 * np.pi * (a**2 - a * b * np.cos(theta)) ** 2
        return float(2 / np.pi * (square + a * b / 2 * (q @ m_i2_corrected(theta) @ q)))
    # relu2_h2
    dot = float(w @ w_star)
    square = np.pi * (a**2 - dot) ** 2
    if printed:
        return float(4 / np.pi * (square + dot * (q @ m_i3_printed(theta) @ q)))
    return float(
        4 / np.pi * (square + 0.5 * dot * (q @ m_i3_corrected(theta, moving_boundary) @ q))
    )


# --------------------------------------------------------------------------- sampling and Monte Carlo
def sample_pair(d, rng, *, inside=True, max_tries=10_000):
    r"""A teacher :math:`w^* \sim N(0, I_d)` and a student :math:`w = w^* + e`, as in Section 4.1.

    ``inside=True``: :math:`e` uniform in the ball :math:`\|e\| \le \|w^*\|` (the theorems' region);
    ``inside=False``: :math:`e` uniform in the shell :math:`\|w^*\| \le \|e\| \le 3\|w^*\|`.
    ``rng`` is a ``numpy.random.Generator``. Returns two float64 numpy arrays.
    """
    if not isinstance(d, (int, np.integer)) or d < 2:
        raise ValueError(f"d must be an integer >= 2, got {d!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for _ in range(max_tries):
        w_star = rng.normal(size=d)
        direction = rng.normal(size=d)
        direction /= np.linalg.norm(direction)
        b = np.linalg.norm(w_star)
        if inside:
            radius = b * rng.uniform() ** (1.0 / d)
        else:
            radius = b * (1.0 + (3.0**d - 1.0) * rng.uniform()) ** (1.0 / d)
        w = w_star + radius * direction
        if np.linalg.norm(w) > 0:
            return w, w_star
    raise RuntimeError("could not draw a nonzero student")  # pragma: no cover


_TERM_PARTS = {  # term -> (power of the neuron, Sobolev order of the term)
    "relu_l2": (1, 0),
    "relu_h1": (1, 1),
    "relu2_l2": (2, 0),
    "relu2_h1": (2, 1),
    "relu2_h2": (2, 2),
}


def _monte_carlo_running(term, w, w_star, sizes, seed, chunk, want_gradient):
    """Running Monte-Carlo means (loss or autograd gradient) after each number of samples in ``sizes``."""
    from .losses import input_derivatives, sobolev_loss
    from .networks import SingleNeuron

    _check_term(term)
    _check_pair(np.asarray(w, dtype=float), np.asarray(w_star, dtype=float))
    sizes = list(sizes)
    for n in sizes:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n!r}")
    if sorted(sizes) != sizes:
        raise ValueError(f"sizes must be increasing, got {sizes}")
    if not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    power, order = _TERM_PARTS[term]
    student = SingleNeuron(torch.as_tensor(np.asarray(w, dtype=float)), power=power)
    teacher = SingleNeuron(torch.as_tensor(np.asarray(w_star, dtype=float)), power=power)
    weights = {
        "l2_weight": 0.5 if order == 0 else 0.0,
        "h1_weight": 0.5 if order == 1 else 0.0,
        "h2_weight": 0.5 if order == 2 else 0.0,
    }
    generator = torch.Generator().manual_seed(int(seed))
    d = student.d
    total_loss, total_grad, done = 0.0, torch.zeros(d, dtype=torch.float64), 0
    out = []
    for target in sizes:
        while done < target:
            n = min(chunk, target - done)
            x = torch.randn(n, d, dtype=torch.float64, generator=generator)
            value, gradient, hessian = input_derivatives(teacher, x, order=order)
            loss = sobolev_loss(
                student,
                x,
                value.detach(),
                None if order < 1 else gradient.detach(),
                None if order < 2 else hessian.detach(),
                **weights,
            )
            if want_gradient:
                (grad,) = torch.autograd.grad(loss.total, student.w)
                total_grad += grad.detach() * n
            total_loss += float(loss.total.detach()) * n
            done += n
        out.append((total_grad / done).numpy().copy() if want_gradient else total_loss / done)
    return out


def monte_carlo_gradient(term, w, w_star, n_samples, *, seed=0, chunk=100_000):
    r"""Monte-Carlo estimate of :math:`\mathbb E[\nabla_w \ell(x; w)]` from ``n_samples`` Gaussian inputs.

    The per-sample gradient is what autograd computes through :class:`sobolev.SingleNeuron` and
    :func:`sobolev.sobolev_loss` (weights ½, the paper's convention), i.e. what SGD sees; its mean
    converges to ``population_gradient(term, w, w_star, moving_boundary=False)``. float64, seeded.
    """
    return _monte_carlo_running(term, w, w_star, [n_samples], seed, chunk, True)[0]


def monte_carlo_loss(term, w, w_star, n_samples, *, seed=0, chunk=100_000):
    r"""Monte-Carlo estimate of the population loss of ``term`` (same sampling as :func:`monte_carlo_gradient`)."""
    return _monte_carlo_running(term, w, w_star, [n_samples], seed, chunk, False)[0]


def monte_carlo_mse(term, d, sizes, repeats, *, seed=0, moving_boundary=False, relative=True):
    r"""Error of Monte-Carlo gradients against the closed form versus :math:`N`, as in the paper's Figure 1.

    For each of ``repeats`` pairs drawn by :func:`sample_pair` (inside the ball), one stream of
    Gaussian samples is averaged and the running estimate :math:`\hat g_N` (:func:`monte_carlo_gradient`)
    is compared after each :math:`N` in ``sizes`` with
    :math:`\nabla` = ``population_gradient(term, ..., moving_boundary=moving_boundary)``:
    the mean squared error over components, divided by that of :math:`\nabla` when ``relative``
    (so pairs of different scale count alike). Returns shape ``(repeats, len(sizes))``; for an
    unbiased estimator its expectation falls like :math:`1/N`.
    """
    sizes = sorted(int(n) for n in sizes)
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    rng = np.random.default_rng(seed)
    out = np.empty((repeats, len(sizes)))
    for r in range(repeats):
        w, w_star = sample_pair(d, rng)
        exact = population_gradient(term, w, w_star, moving_boundary=moving_boundary)
        scale = float(np.mean(exact**2)) if relative else 1.0
        estimates = _monte_carlo_running(
            term, w, w_star, sizes, int(rng.integers(2**31)), 100_000, True
        )
        out[r] = [float(np.mean((e - exact) ** 2)) / scale for e in estimates]
    return out


def loglog_slope(sizes, errors):
    """Least-squares slope of log(mean error over repeats) against log N (−1 for an unbiased estimator).

    ``errors`` is the ``(repeats, len(sizes))`` array of :func:`monte_carlo_mse`.
    """
    errors = np.atleast_2d(np.asarray(errors, dtype=float))
    sizes = np.asarray(sizes, dtype=float)
    if errors.shape[1] != sizes.size or sizes.size < 2:
        raise ValueError(
            f"errors must have shape (repeats, {sizes.size}) with at least 2 sizes, "
            f"got {errors.shape}"
        )
    return float(np.polyfit(np.log(sizes), np.log(errors.mean(axis=0)), 1)[0])
