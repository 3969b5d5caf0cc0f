r"""The 2×2 matrices and identities of the paper's proofs (Theorems 2 and 3, Appendix A).

Each proof writes :math:`(w - w^*)^\top\nabla` as a square plus a quadratic form
:math:`q^\top M(\theta)\,q` in :math:`q = (\|w^*\|, \|w\|)` and concludes from "M positive
definite". The matrices are exported both as printed in the paper and as corrected
(``m1_printed`` / ``m1_corrected`` and so on); :func:`descent_identity` evaluates each
decomposition with either version, so the errata can show which identities hold, and
:func:`first_not_positive_definite` finds the angle where a matrix stops being positive definite.
:func:`sign_threshold` answers the question the matrices only bound: the first angle at which
:math:`(w - w^*)^\top\nabla` can be :math:`\le 0` for some :math:`\|w\|`.

The closed forms they are checked against are in :mod:`sobolev.theory`.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from .config import check_int
from .theory import _check_pair, _check_term, _check_terms, angle, descent_rate

__all__ = [
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
    "MATRICES",
    "descent_identity",
    "smallest_eigenvalue",
    "first_not_positive_definite",
    "positive_definite_on",
    "sign_threshold",
]


# --------------------------------------------------------------------------- matrices
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


#: Every matrix of the proofs by a short name (the chapters' labels), as functions of θ.
MATRICES = {
    "M1": m1_corrected,
    "M2": m2_corrected,
    "M2 moving": lambda t: m2_corrected(t, moving_boundary=True),
    "M (I1) printed": m_i1_printed,
    "M (I1) corrected": m_i1_corrected,
    "M2 (I2)": m_i2_corrected,
    "M3 (I3)": m_i3_corrected,
    "M3 (I3) moving": lambda t: m_i3_corrected(t, moving_boundary=True),
}


def smallest_eigenvalue(matrix, theta):
    """Smallest eigenvalue of ``matrix(theta)`` (a function of θ returning ``(..., 2, 2)``)."""
    return np.linalg.eigvalsh(matrix(np.asarray(theta, dtype=float)))[..., 0]


def first_not_positive_definite(
    matrix,
    *,
    lo=1e-3,
    hi=np.pi,
    n_grid=2001,
    xtol=1e-12,
):
    """The smallest θ in ``[lo, hi]`` where ``matrix(θ)`` is not positive
    definite, or None.

    ``matrix`` maps an array of angles to ``(..., 2, 2)`` symmetric matrices
    (e.g. :func:`m1_corrected`, or an entry of :data:`MATRICES`). The smallest
    eigenvalue is scanned on ``n_grid`` angles and its first sign change is
    refined by Brent's method to ``xtol``, so the result does not depend on
    the grid (a matrix that is only semidefinite at one angle, such as
    :func:`m_i2_corrected` at π/2, returns that angle). The default ``lo``
    leaves out θ = 0, where the matrices of the proofs are singular.
    """
    n_grid = check_int(n_grid, "n_grid", minimum=2)
    if not (0 <= lo < hi <= np.pi):
        raise ValueError(f"need 0 <= lo < hi <= π, got lo={lo!r}, hi={hi!r}")
    grid = np.linspace(lo, hi, n_grid)

    def f(t):
        return float(smallest_eigenvalue(matrix, np.array([t]))[0])

    return _first_nonpositive(f, grid, smallest_eigenvalue(matrix, grid), xtol)


def _first_nonpositive(f, grid, values, xtol):
    """The first point of ``grid`` where ``values`` (f on the grid) is <= 0, refined by
    Brent's method between it and the grid point before; None if there is none."""
    bad = np.nonzero(np.asarray(values) <= 0)[0]
    if bad.size == 0:
        return None
    k = int(bad[0])
    if k == 0 or f(grid[k]) == 0.0:
        return float(grid[k])
    return float(brentq(f, grid[k - 1], grid[k], xtol=xtol))


def _worst_descent(terms, theta, moving_boundary, rho):
    """min over ρ of (w − w*)·∇ / (ρ(1 + ρ)^k): the sign of the worst student at angle θ."""
    value = descent_rate(terms, theta, rho, moving_boundary=moving_boundary)
    return float(np.min(value / (rho * (1 + rho) ** 3)))


def sign_threshold(terms, *, moving_boundary=False, n_grid=721, xtol=1e-10):
    r"""The smallest angle θ at which :math:`(w - w^*)^\top\sum_t\nabla t \le 0` for some
    :math:`\|w\| > 0`, or None if the sign claim holds at every angle in :math:`(0, \pi)`.

    At each θ the rate of :func:`sobolev.theory.descent_rate` is minimised over
    :math:`\rho = \|w\|/\|w^*\| \in [10^{-7}, 10^3]` (log grid; the rate is a polynomial in
    :math:`\rho` that vanishes at 0, so it is divided by :math:`\rho(1+\rho)^3` first); the first
    angle of the θ grid where that minimum is :math:`\le 0` is refined by Brent's method.
    Inside the ball (:math:`\rho < 2\cos\theta`) the theorems need the claim only for
    :math:`\theta < \pi/2`.
    """
    terms = _check_terms(terms)
    n_grid = check_int(n_grid, "n_grid", minimum=3)
    rho = np.geomspace(1e-7, 1e3, 4001)
    grid = np.linspace(1e-3, np.pi - 1e-3, n_grid)

    def worst(t):
        return _worst_descent(terms, t, moving_boundary, rho)

    return _first_nonpositive(worst, grid, [worst(t) for t in grid], xtol)


def positive_definite_on(matrix, hi, *, lo=1e-3, tol=1e-9) -> bool:
    """Is ``matrix(θ)`` positive definite on all of ``[lo, hi]``? Decided by
    :func:`first_not_positive_definite` over ``[lo, π]``: True when the first failure lies beyond
    ``hi + tol`` (so a matrix that is only semidefinite at ``hi`` itself, where round-off may
    leave a tiny positive eigenvalue, counts as failing there)."""
    first = first_not_positive_definite(matrix, lo=lo)
    return first is None or first > hi + tol
