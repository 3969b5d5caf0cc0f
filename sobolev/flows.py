"""Population gradient flows of one neuron: integration, curvature at the optimum, gradient descent.

Notation of the paper (Section 2): teacher :math:`w^*`, student :math:`w`, error
:math:`V = \\|w - w^*\\|^2`, population losses with the paper's ½ (the terms of
:mod:`sobolev.theory`: ``relu_l2`` = :math:`\\mathcal L`, ``relu_h1`` = :math:`\\mathcal J`,
``relu2_l2``/``relu2_h1``/``relu2_h2`` = :math:`\\mathcal I_1, \\mathcal I_2, \\mathcal I_3`).

The flow of a list of terms is (eq-flow in ``book/04-gradient-flows.md``)

.. math:: \\dot w = -\\sum_{k} \\nabla_w \\mathcal T_k(w),\\qquad w(0) = w^0 .

All closed forms come from :mod:`sobolev.theory`; this module only integrates them,
differentiates them numerically and iterates them.

Two terms (``relu_h1`` and ``relu2_h2``) have an integrand that jumps across the
hyperplane :math:`w^\\top x = 0`; their population losses have a *kink* at
:math:`w \\parallel w^*` (they grow like :math:`\\theta`, not :math:`\\theta^2`). Under the
flow of the exact gradient (``moving_boundary=True``) the angle then reaches 0 in finite
time and the field is discontinuous there. :func:`integrate_flow` handles this with a
terminal event where :math:`w` crosses the line of :math:`w^*`: it puts :math:`w` on that line
(the Filippov sliding solution) and continues along it. The same kink sits at
:math:`\\theta = \\pi`, where it can trap the flow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from . import theory
from .config import check_int
from .theory import MOVING_BOUNDARY_TERMS, RELU_TERMS, _check_terms

#: Default solver settings (stated in the chapter).
METHOD = "DOP853"
RTOL = 1e-10
ATOL = 1e-14


def _check_vector(name: str, value, dim: int | None = None) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 1 or array.size < 2:
        raise ValueError(f"{name} must be a 1-D vector of length >= 2, got shape {array.shape}")
    if dim is not None and array.size != dim:
        raise ValueError(f"{name} must have length {dim} (the length of w_star), got {array.size}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array}")
    if np.linalg.norm(array) == 0:
        raise ValueError(f"{name} must be non-zero (the angle to w_star is undefined at 0)")
    return array


def _field(terms, w, w_star, moving_boundary):
    r""":math:`\sum_k\nabla_w\mathcal T_k(w)`, i.e. ``-theory.flow_rhs`` (float64 numpy)."""
    return -np.asarray(
        theory.flow_rhs(terms, w, w_star, moving_boundary=moving_boundary), dtype=float
    )


@dataclass(frozen=True)
class Flow:
    """A solved flow: times ``t``, states ``w`` (shape (len(t), d)) and :math:`V(t)`."""

    terms: tuple[str, ...]
    moving_boundary: bool
    t: np.ndarray
    w: np.ndarray
    V: np.ndarray
    t_aligned: float | None  # when the angle reached 0 (kinked terms only), else None
    t_opposed: float | None  # when the angle reached pi (kinked terms only), else None
    t_dead: float | None  # when w reached 0 (the flow stops there), else None

    def time_to_reach(self, level: float) -> float | None:
        """First time with :math:`V \\le` ``level`` (log-linear interpolation), or None."""
        return time_to_reach(self.t, self.V, level)


def time_to_reach(t, V, level: float) -> float | None:
    """First time at which ``V`` falls to ``level``, interpolating :math:`\\log V` linearly."""
    if not level > 0:
        raise ValueError(f"level must be positive, got {level!r}")
    t, V = np.asarray(t, float), np.asarray(V, float)
    below = np.nonzero(V <= level)[0]
    if below.size == 0:
        return None
    k = int(below[0])
    if k == 0:
        return float(t[0])
    a, b = np.log(V[k - 1]), np.log(max(V[k], 1e-300))
    return float(t[k - 1] + (t[k] - t[k - 1]) * (a - np.log(level)) / (a - b))


def integrate_flow(
    terms,
    w0,
    w_star,
    t_end: float,
    *,
    moving_boundary: bool = True,
    n_eval: int = 400,
    method: str = METHOD,
    rtol: float = RTOL,
    atol: float = ATOL,
    angle_tol: float = 1e-7,
) -> Flow:
    """Integrate :math:`\\dot w = -\\sum_k\\nabla_w\\mathcal T_k(w)` from ``w0`` over ``[0, t_end]``.

    Uses :func:`scipy.integrate.solve_ivp` (``method``, ``rtol``, ``atol``) and returns the
    solution on ``n_eval`` times log-spaced in ``[t_end·1e-4, t_end]`` (plus 0), with
    :math:`V(t) = \\|w(t) - w^*\\|^2`. When the signed coordinate of :math:`w` across
    :math:`w^*` (in the plane of :math:`w^0, w^*`, where the flow stays) falls to
    ``angle_tol``·:math:`\\|w\\|` (which
    happens in finite time only for the kinked terms with ``moving_boundary=True``) the
    state is put on the line of :math:`w^*` and integrated further along that line; the same
    when the angle rises to :math:`\\pi` (the kink on the far side). If :math:`w` reaches 0 the
    neuron is dead and the solution stops there (``Flow.t_dead``).
    For smooth losses no event is used: the angle only decays exponentially.
    """
    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    w0 = _check_vector("w0", w0, w_star.size)
    if not (np.isfinite(t_end) and t_end > 0):
        raise ValueError(f"t_end must be a positive finite time, got {t_end!r}")
    n_eval = check_int(n_eval, "n_eval", minimum=2)
    unit = w_star / np.linalg.norm(w_star)
    t_eval = np.concatenate([[0.0], np.geomspace(t_end * 1e-4, t_end, n_eval - 1)])

    def rhs(_t, w):
        return -_field(terms, w, w_star, moving_boundary)

    def rhs_on_line(_t, w):
        # sliding on the line of w*: the boundary terms are orthogonal to w there (their
        # minimum-norm subgradient is 0), so the field is the per-sample one, along w* only;
        # theory drops the boundary term below sin(theta) = 1e-8 anyway
        field = _field(terms, w, w_star, False)
        return -(field @ unit) * unit

    # the flow stays in span{w0, w*}; y = w . e_across is the signed coordinate across w*, and
    # y = 0 is the line of w* (theta = 0 for w . w* > 0, theta = pi for w . w* < 0)
    across = w0 - (w0 @ unit) * unit
    e_across = across / max(np.linalg.norm(across), np.finfo(float).tiny)

    def crossing(
        _t, w
    ):  # within angle_tol of the line (above theory's 1e-8, where it drops the kink)
        return w @ e_across - angle_tol * np.linalg.norm(w)

    def dead(_t, w):  # w -> 0: the neuron dies and the angle is undefined
        return np.linalg.norm(w) - 1e-9 * np.linalg.norm(w_star)

    for event in (crossing, dead):
        event.terminal, event.direction = True, -1
    kinked = moving_boundary and any(t in MOVING_BOUNDARY_TERMS for t in terms)
    times, states = [np.empty(0)], [np.empty((0, w0.size))]
    t_now, state, on_line = 0.0, w0, False
    t_aligned = t_opposed = t_dead = None
    if kinked and np.linalg.norm(across) <= angle_tol * np.linalg.norm(w0):
        on_line, state = True, (w0 @ unit) * unit
        t_aligned, t_opposed = (0.0, None) if w0 @ unit > 0 else (None, 0.0)
    while True:
        events = [dead] if on_line or not kinked else [dead, crossing]
        keep = t_eval[t_eval >= t_now] if t_now == 0.0 else t_eval[t_eval > t_now]
        sol = solve_ivp(
            rhs_on_line if on_line else rhs,
            (t_now, t_end),
            state,
            method=method,
            rtol=rtol,
            atol=atol,
            t_eval=keep,
            events=events,
        )
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed for terms={terms}: {sol.message}")
        times.append(sol.t)
        states.append(sol.y.T)
        if sol.status != 1:
            break
        fired = next(k for k, hits in enumerate(sol.t_events) if hits.size)
        t_now, hit = float(sol.t_events[fired][0]), sol.y_events[fired][0]
        if events[fired] is dead:
            t_dead = t_now
            break
        if hit @ unit > 0:
            t_aligned = t_now
        else:
            t_opposed = t_now
        on_line, state = True, (hit @ unit) * unit
    first_t, first_w = np.concatenate(times), np.concatenate(states)
    V = np.sum((first_w - w_star) ** 2, axis=1)
    return Flow(terms, moving_boundary, first_t, first_w, V, t_aligned, t_opposed, t_dead)


def hessian_at_optimum(
    terms, w_star, *, moving_boundary: bool = True, step: float = 1e-6
) -> np.ndarray:
    """Central finite differences of the field at :math:`w^*`: :math:`H q_k \\approx
    [\\nabla(w^* + h q_k) - \\nabla(w^* - h q_k)]/2h` in an orthonormal basis :math:`q_1 = w^*/\\|w^*\\|,
    q_2, \\dots, q_d`, symmetrised and returned in the original coordinates.

    With ``moving_boundary=True`` this is the Hessian of the population loss; otherwise
    the Jacobian of the expected per-sample gradient. For a kinked term the entries
    across :math:`w^*` grow like ``1/step`` (there is no Hessian): compare two steps.
    """
    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number, got {step!r}")
    d = w_star.size
    # an orthonormal basis whose first vector is w*/||w*||: the differences are taken along
    # w* and across it, so that a kink shows up on the diagonal and nowhere else
    basis, _ = np.linalg.qr(np.column_stack([w_star, np.eye(d)]))
    basis = basis[:, :d] * np.sign(basis[:, 0] @ w_star)
    columns = []
    for k in range(d):
        e = step * basis[:, k]
        plus = _field(terms, w_star + e, w_star, moving_boundary)
        minus = _field(terms, w_star - e, w_star, moving_boundary)
        columns.append(basis.T @ (plus - minus) / (2 * step))
    jac = basis @ np.array(columns).T @ basis.T
    return 0.5 * (jac + jac.T)


#: Curvature of each term at w*, derived in the chapter (eq-hessian-at-optimum):
#: (across, along) = eigenvalues of the smooth part of the Hessian for directions
#: orthogonal to w* and along w*, in units of ||w*||^(2p-2) for ReLU^p; and the kink
#: strength c (the loss grows like c·||w*||^(2p-1)·|s| for a step s across w*).
CURVATURE = {
    "relu_l2": (0.5, 0.5, 0.0),
    "relu_h1": (0.5, 0.5, 1.0 / (2.0 * np.pi)),
    "relu2_l2": (2.0, 6.0, 0.0),
    "relu2_h1": (4.0, 8.0, 0.0),
    "relu2_h2": (4.0, 8.0, 2.0 / np.pi),
}


def curvature_at_optimum(terms, w_star) -> dict[str, float]:
    """Closed-form curvature of :math:`\\sum_k\\mathcal T_k` at :math:`w^*` (eq-hessian-at-optimum).

    Returns ``across`` and ``along`` (eigenvalues of the smooth part of the Hessian across and
    along :math:`w^*`) and ``kink`` (the slope :math:`c` of the :math:`c\\,|s|` term of the loss
    for a step :math:`s` across :math:`w^*`; 0 for a smooth loss).
    """
    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    a = float(np.linalg.norm(w_star))
    power = 1 if terms[0] in RELU_TERMS else 2
    across = sum(CURVATURE[t][0] for t in terms) * a ** (2 * power - 2)
    along = sum(CURVATURE[t][1] for t in terms) * a ** (2 * power - 2)
    kink = sum(CURVATURE[t][2] for t in terms) * a ** (2 * power - 1)
    return {"across": across, "along": along, "kink": kink}


def gradient_descent(
    terms,
    w0,
    w_star,
    lr: float,
    n_steps: int,
    *,
    moving_boundary: bool = True,
    stop_below: float = 0.0,
) -> np.ndarray:
    """Gradient descent :math:`w_{k+1} = w_k - \\eta\\sum_j\\nabla\\mathcal T_j(w_k)` on the population
    loss; returns :math:`V_k = \\|w_k - w^*\\|^2` for :math:`k = 0..n_{steps}` (``inf`` once it
    diverges or the neuron dies at :math:`w = 0`). With ``stop_below > 0`` the iteration stops
    as soon as :math:`V_k \\le` ``stop_below`` and the returned array ends there."""
    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    w = _check_vector("w0", w0, w_star.size).copy()
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    if not (np.isfinite(stop_below) and stop_below >= 0):
        raise ValueError(f"stop_below must be a non-negative number, got {stop_below!r}")
    V = np.full(n_steps + 1, np.inf)
    V[0] = float(np.sum((w - w_star) ** 2))
    for k in range(1, n_steps + 1):
        if np.linalg.norm(w) == 0:
            break  # a dead neuron: the angle and the gradient are undefined
        w = w - lr * _field(terms, w, w_star, moving_boundary)
        V[k] = float(np.sum((w - w_star) ** 2))
        if not np.isfinite(V[k]) or V[k] > 1e6 * max(V[0], 1.0):
            V[k:] = np.inf
            break
        if V[k] == 0.0:
            V[k:] = 0.0
            break
        if V[k] <= stop_below:
            return V[: k + 1]
    return V


def hessian(terms, w, w_star, *, moving_boundary: bool = True, step: float = 1e-6) -> np.ndarray:
    """Central finite differences of the field :math:`\\sum_k\\nabla\\mathcal T_k` at any ``w``,
    symmetrised: the Hessian of the population loss there (``moving_boundary=True``) where it
    is twice differentiable (:math:`0 < \\theta < \\pi`, :math:`w \\ne 0`)."""
    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    w = _check_vector("w", w, w_star.size)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive number, got {step!r}")
    columns = []
    for e in step * np.eye(w.size):
        plus = _field(terms, w + e, w_star, moving_boundary)
        minus = _field(terms, w - e, w_star, moving_boundary)
        columns.append((plus - minus) / (2 * step))
    jac = np.array(columns).T
    return 0.5 * (jac + jac.T)


def stationary_point(terms, w0, w_star, *, moving_boundary: bool = True, tol: float = 1e-13):
    """A zero of :math:`\\sum_k\\nabla\\mathcal T_k` near ``w0`` in the plane of ``w0`` and
    :math:`w^*` (where the flow stays), by :func:`scipy.optimize.root` on the two in-plane
    coordinates. Raises if the solver does not converge; returns the point in
    :math:`\\mathbb R^d`."""
    from scipy.optimize import root

    terms = _check_terms(terms)
    w_star = _check_vector("w_star", w_star)
    w0 = _check_vector("w0", w0, w_star.size)
    unit = w_star / np.linalg.norm(w_star)
    across = w0 - (w0 @ unit) * unit
    if np.linalg.norm(across) == 0:
        raise ValueError("w0 lies on the line of w_star: the plane is undefined")
    e2 = across / np.linalg.norm(across)

    def embed(p):
        return p[0] * unit + p[1] * e2

    def residual(p):
        g = _field(terms, embed(p), w_star, moving_boundary)
        return np.array([g @ unit, g @ e2])

    sol = root(residual, np.array([w0 @ unit, w0 @ e2]), tol=tol)
    if not sol.success:
        raise RuntimeError(f"no stationary point found near w0: {sol.message}")
    return embed(sol.x)


def largest_curvature(terms, w_star) -> float:
    """:math:`\\lambda_{\\max}` of the smooth part of the Hessian at :math:`w^*`
    (:func:`curvature_at_optimum`): the curvature that bounds a stable step, :math:`2/\\lambda_{\\max}`."""
    c = curvature_at_optimum(terms, w_star)
    return max(c["across"], c["along"])


def condition_number(terms, w_star, *, moving_boundary: bool = True) -> float:
    """:math:`\\kappa = \\lambda_{\\max}/\\lambda_{\\min}` of the Hessian at :math:`w^*`; ``inf``
    for a kinked loss under the exact gradient (no Hessian), the smooth part's otherwise."""
    c = curvature_at_optimum(terms, w_star)
    if moving_boundary and c["kink"] > 0:
        return float("inf")
    return max(c["across"], c["along"]) / min(c["across"], c["along"])


def predicted_rate(terms, w_star, *, moving_boundary: bool = True) -> float:
    """Asymptotic rate of :math:`\\log V` along the flow, :math:`V \\sim e^{-rt}`: :math:`2\\lambda_{\\min}`
    for a smooth field, :math:`2\\lambda_{\\text{along}}` for a kinked one under the exact gradient
    (the across directions die in finite time)."""
    c = curvature_at_optimum(terms, w_star)
    if moving_boundary and c["kink"] > 0:
        return 2 * c["along"]
    return 2 * min(c["across"], c["along"])


def fitted_rate(flow: Flow, *, low: float = 1e-14, high: float = 1e-6) -> float | None:
    """Least-squares rate :math:`r` of :math:`\\log V(t) \\approx c - rt` over the samples with
    ``low`` < V < ``high`` (the asymptotic regime); None when fewer than 4 samples lie there."""
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got {low!r}, {high!r}")
    tail = (flow.V < high) & (flow.V > low)
    if tail.sum() < 4:
        return None
    return float(-np.polyfit(flow.t[tail], np.log(flow.V[tail]), 1)[0])


@dataclass(frozen=True)
class BestSteps:
    """Gradient descent at its best step, per start (:func:`best_steps`).

    ``steps`` and ``lr``: fewest steps to the level and the learning rate that achieved them
    (``None`` where no rate of the grid reached it); ``lowest``: the lowest final :math:`V` over
    all runs."""

    steps: tuple
    lr: tuple
    lowest: float

    @property
    def median_steps(self) -> float | None:
        """Median over starts of the fewest steps; None unless every start reached the level."""
        if any(s is None for s in self.steps):
            return None
        return float(np.median(self.steps))

    @property
    def median_lr(self) -> float | None:
        reached = [lr for lr in self.lr if lr is not None]
        return float(np.median(reached)) if reached else None

    def as_result(self) -> dict[str, np.ndarray | float]:
        """Plain arrays for a results file (NaN where a start reached no level)."""
        return {
            "steps": np.array([np.nan if s is None else s for s in self.steps], float),
            "lr": np.array([np.nan if lr is None else lr for lr in self.lr], float),
            "lowest": self.lowest,
        }

    @classmethod
    def from_result(cls, stored) -> BestSteps:
        """The inverse of :meth:`as_result`."""
        steps = np.atleast_1d(np.asarray(stored["steps"], float))
        lr = np.atleast_1d(np.asarray(stored["lr"], float))
        return cls(
            tuple(None if np.isnan(s) else int(s) for s in steps),
            tuple(None if np.isnan(x) else float(x) for x in lr),
            float(stored["lowest"]),
        )


def best_steps(
    terms, starts, w_star, lrs, max_steps: int, *, level: float = 1e-6, moving_boundary=True
) -> BestSteps:
    """For each start, the fewest steps of :func:`gradient_descent` to :math:`V \\le` ``level``
    over the learning rates ``lrs``, and the rate that achieved it."""
    terms = _check_terms(terms)
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    if not level > 0:
        raise ValueError(f"level must be positive, got {level!r}")
    lrs = [float(lr) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    steps, rates, lowest = [], [], np.inf
    for w0 in starts:
        best, best_lr = None, None
        for lr in lrs:
            V = gradient_descent(
                terms, w0, w_star, lr, max_steps, moving_boundary=moving_boundary, stop_below=level
            )
            lowest = min(lowest, float(V[-1]))
            if V[-1] <= level and (best is None or V.size - 1 < best):
                best, best_lr = V.size - 1, lr
        steps.append(best)
        rates.append(best_lr)
    return BestSteps(tuple(steps), tuple(rates), float(lowest))


#: The outcomes :func:`fate` distinguishes.
FATES = ("converged", "stationary point", "shrinking to w = 0", "died", "still moving")


def fate(flow: Flow, w_star, *, level: float = 1e-6, grad_tol: float = 1e-8) -> str:
    """How a solved flow ends, one of :data:`FATES`.

    * ``"converged"``: :math:`V(t_{end}) \\le` ``level``·:math:`\\|w^*\\|^2`;
    * ``"died"``: :math:`w` reached 0 (``Flow.t_dead``);
    * ``"stationary point"``: the field at the end is below ``grad_tol`` times the field at the
      start — the flow has stopped at a point other than :math:`w^*`;
    * ``"shrinking to w = 0"``: :math:`\\|w\\|` fell by more than half between :math:`t_{end}/10`
      and :math:`t_{end}` (the slow drift towards the dead neuron);
    * ``"still moving"``: none of these (extend the horizon).
    """
    w_star = _check_vector("w_star", w_star)
    if flow.V[-1] <= level * float(w_star @ w_star):
        return "converged"
    if flow.t_dead is not None:
        return "died"
    start = np.linalg.norm(_field(flow.terms, flow.w[0], w_star, flow.moving_boundary))
    end = np.linalg.norm(_field(flow.terms, flow.w[-1], w_star, flow.moving_boundary))
    if end <= grad_tol * start:
        return "stationary point"
    k = int(np.searchsorted(flow.t, flow.t[-1] / 10))
    if np.linalg.norm(flow.w[-1]) < 0.5 * np.linalg.norm(flow.w[k]):
        return "shrinking to w = 0"
    return "still moving"
