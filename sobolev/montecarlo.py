r"""Sampling and Monte Carlo for one neuron with Gaussian input (the paper's Section 4.1, Figure 1).

* :func:`sample_pair` draws a teacher and a student inside or outside the ball
  :math:`\|w - w^*\| < \|w^*\|`;
* :func:`monte_carlo_gradient` / :func:`monte_carlo_loss` average what training computes (a
  :class:`sobolev.SingleNeuron`, :func:`sobolev.sobolev_loss`, autograd) over Gaussian inputs;
* :func:`monte_carlo_mse` and :func:`loglog_slope` measure how that error falls with :math:`N`
  (the paper's Figure 1), and :func:`error_panel` draws it;
* :func:`sign_check` evaluates the theorems' sign claims with the closed forms of
  :mod:`sobolev.theory` on random pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import check_int
from .losses import input_derivatives, sobolev_loss
from .networks import SingleNeuron
from .plotting import band
from .theory import _check_pair, _check_term, _check_terms, angle, population_gradient

__all__ = [
    "sample_pair",
    "monte_carlo_gradient",
    "monte_carlo_loss",
    "monte_carlo_mse",
    "loglog_slope",
    "error_panel",
    "SignCheck",
    "sign_check",
]


def sample_pair(d, rng, *, inside=True, max_tries=10_000):
    r"""A teacher :math:`w^* \sim N(0, I_d)` and a student :math:`w = w^* + e`, as in Section 4.1.

    ``inside=True``: :math:`e` uniform in the ball :math:`\|e\| \le \|w^*\|` (the theorems' region);
    ``inside=False``: :math:`e` uniform in the shell :math:`\|w^*\| \le \|e\| \le 3\|w^*\|`.
    ``rng`` is a ``numpy.random.Generator``. Returns two float64 numpy arrays.
    """
    d = check_int(d, "d", minimum=2)
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
    _check_term(term)
    _check_pair(np.asarray(w, dtype=float), np.asarray(w_star, dtype=float))
    sizes = list(sizes)
    sizes = [check_int(n, "n_samples", minimum=1) for n in sizes]
    if sorted(sizes) != sizes:
        raise ValueError(f"sizes must be increasing, got {sizes}")
    chunk = check_int(chunk, "chunk", minimum=1)
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
    sizes = sorted(check_int(n, "sizes", minimum=1) for n in sizes)
    repeats = check_int(repeats, "repeats", minimum=1)
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


def error_panel(
    ax, sizes, errors_by_dim, *, title, loss="h1", colors=("C0", "C1", "C2"), slopes=True
):
    """One panel of the paper's Figure 1: for each dimension, the median relative squared error
    over pairs against :math:`N` with a 10–90 % band, its fitted slope in the legend (unless
    ``slopes=False``), and :math:`1/N` in grey. ``errors_by_dim`` maps d to a
    :func:`monte_carlo_mse` array."""
    sizes = np.asarray(sizes, dtype=float)
    for (d, errors), color in zip(errors_by_dim.items(), colors):
        label = f"d = {d}"
        if slopes:
            label += f", slope {loglog_slope(sizes, errors):+.2f}"
        band(ax, sizes, errors, label=label, loss=loss, color=color)
    ax.plot(sizes, 1.0 / sizes, color="0.5", lw=1, label="1/N")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("samples N")
    ax.set_title(title)
    return ax


@dataclass(frozen=True)
class SignCheck:
    r"""The sign claims on random pairs (:func:`sign_check`).

    ``theta``, ``rho`` (:math:`\|w\|/\|w^*\|`) per pair, and ``descent[term, moving_boundary]``,
    :math:`(w - w^*)^\top\nabla` per pair (positive: :math:`V` decreases).
    """

    theta: np.ndarray
    rho: np.ndarray
    descent: dict

    @property
    def n_pairs(self) -> int:
        return int(self.theta.size)

    def violations(self, terms, moving_boundary=False) -> float:
        r"""Fraction of pairs at which :math:`(w - w^*)^\top\sum_t\nabla t \le 0`."""
        return float(np.mean(self.rate(terms, moving_boundary) <= 0))

    def rate(self, terms, moving_boundary=False) -> np.ndarray:
        r""":math:`(w - w^*)^\top\sum_t\nabla t` per pair."""
        terms = _check_terms(terms)
        return sum(self.descent[t, bool(moving_boundary)] for t in terms)

    def speedup(self, terms, base, moving_boundary=False) -> np.ndarray:
        r""":math:`\dot V_{\text{terms}} / \dot V_{\text{base}}` per pair (the speed-up at one point)."""
        return self.rate(terms, moving_boundary) / self.rate(base, moving_boundary)


def sign_check(terms, n_pairs, *, dims=(2, 5, 20), inside=True, seed=0):
    r"""Draw ``n_pairs`` pairs with :func:`sample_pair` (dimensions cycling through ``dims``) and
    evaluate :math:`(w - w^*)^\top\nabla t` for every term, with both gradient conventions, from
    :func:`sobolev.theory.population_gradient` in :math:`\mathbb R^d` (independent of the plane
    formula :func:`sobolev.theory.descent_rate`). Returns a :class:`SignCheck`."""
    terms = _check_terms(terms)
    n_pairs = check_int(n_pairs, "n_pairs", minimum=1)
    dims = [check_int(d, "dims", minimum=2) for d in dims]
    rng = np.random.default_rng(seed)
    theta, rho = np.empty(n_pairs), np.empty(n_pairs)
    descent = {(t, mb): np.empty(n_pairs) for t in terms for mb in (False, True)}
    for k in range(n_pairs):
        w, w_star = sample_pair(dims[k % len(dims)], rng, inside=inside)
        theta[k] = float(angle(w, w_star))
        rho[k] = np.linalg.norm(w) / np.linalg.norm(w_star)
        for t, mb in descent:
            descent[t, mb][k] = (w - w_star) @ population_gradient(t, w, w_star, moving_boundary=mb)
    return SignCheck(theta, rho, descent)
