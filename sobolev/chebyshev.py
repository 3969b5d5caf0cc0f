r"""Chebyshev spectral differentiation, and finite differences to compare it with.

Section 3 of the paper replaces the unknown target gradient :math:`\nabla_x f` in the
:math:`H^1` loss by spectral derivatives of the sampled values,

.. math::

   \frac1N\Big(\sum_j |u_\theta(x_j) - f(x_j)|^2
   + \big\|\mathrm{vec}(\nabla_x u_\theta(x_j)) - D_{\mathrm{Cheb}}\,\mathrm{vec}(f(x_j))\big\|_2^2\Big),
   \qquad \text{(eq-chebyshev-h1-loss)}

on a tensor grid of Chebyshev–Gauss–Lobatto points. This module builds everything that
loss needs, in float64:

* :func:`cheb` — the points :math:`x_j = \cos(j\pi/n)`, :math:`j = 0,\dots,n`, and the
  :math:`(n+1)\times(n+1)` differentiation matrix :math:`D` of Trefethen (2000), ch. 6
  (eq-cheb-matrix below), with off-diagonal differences from a trigonometric identity and
  the diagonal from the negative-sum trick;
* :func:`chebfft` — the same derivative by the FFT in :math:`O(n\log n)` (Trefethen, ch. 8);
* :func:`cheb_interval` — :math:`D` and the points mapped to :math:`[a, b]`;
* :func:`gradient_2d` — the gradient of values on a tensor grid, one axis at a time
  (:math:`D_x F` and :math:`F D_y^\top`, never a dense Kronecker product);
* :func:`finite_difference_matrix` — second-order three-point finite differences on any
  (non-uniform) set of points, with second-order one-sided ends;
* :func:`grid_gradients` — a 2-D target sampled on a tensor grid with its exact, Chebyshev
  and finite-difference gradients, and the error of each estimate (:class:`GridGradients`).

The differentiation matrix (eq-cheb-matrix). With :math:`c_0 = c_n = 2`, :math:`c_j = 1`
otherwise,

.. math::

   D_{ij} = \frac{c_i}{c_j}\,\frac{(-1)^{i+j}}{x_i - x_j}\ (i\ne j), \qquad
   D_{ii} = -\sum_{j\ne i} D_{ij},

i.e. :math:`(Dv)_i = p'(x_i)` where :math:`p` is the polynomial of degree :math:`\le n`
interpolating :math:`v` at the points. The classical closed forms of the diagonal,
:math:`D_{00} = -D_{nn} = (2n^2+1)/6` and :math:`D_{jj} = -x_j/(2(1-x_j^2))`, are exact in
exact arithmetic but make :math:`D` annihilate constants only up to round-off amplified by
entries of size :math:`O(n^2)`; the negative-sum diagonal makes every row sum zero by
construction, which is what keeps the float64 error near :math:`10^{-10}` at :math:`n=1024`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

DIAGONALS = ("negative_sum", "explicit")
DIFFERENCES = ("trigonometric", "direct")


def _check_n(n, name: str = "n", minimum: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def chebyshev_points(n: int, dtype=np.float64) -> np.ndarray:
    r"""The Chebyshev–Gauss–Lobatto points :math:`x_j = \cos(j\pi/n)`, :math:`j=0..n` (descending)."""
    n = _check_n(n)
    j = np.arange(n + 1)
    # sin((n - 2j)π/2n) equals cos(jπ/n) and is exactly antisymmetric (x_{n-j} = -x_j, x_{n/2} = 0).
    return np.sin(np.pi * (n - 2 * j) / (2 * n)).astype(dtype)


def cheb(
    n: int,
    *,
    dtype=np.float64,
    diagonal: str = "negative_sum",
    differences: str = "trigonometric",
) -> tuple[np.ndarray, np.ndarray]:
    r"""The Chebyshev differentiation matrix and points ``(D, x)``.

    ``D`` has shape ``(n+1, n+1)`` (eq-cheb-matrix); ``x`` holds
    :math:`\cos(j\pi/n)`, :math:`j=0..n`, in descending order (Trefethen
    2000, ch. 6, program ``cheb``). ``D @ v`` is the derivative at the
    points of the degree-:math:`\le n` interpolant of ``v``.

    * ``differences="trigonometric"`` (default) computes :math:`x_i - x_j`
      as :math:`2\sin((i+j)\pi/2n)\sin((j-i)\pi/2n)`, free of
      cancellation; ``"direct"`` subtracts the rounded points.
    * ``diagonal="negative_sum"`` (default) sets
      :math:`D_{ii} = -\sum_{j\ne i} D_{ij}`; ``"explicit"`` uses the
      closed forms :math:`(2n^2+1)/6` and :math:`-x_j/(2(1-x_j^2))`.
    * ``dtype`` is the precision of the whole construction
      (``diagonal="explicit", differences="direct", dtype=np.float32`` is
      the authors' construction).
    """
    n = _check_n(n)
    if diagonal not in DIAGONALS:
        options = ", ".join(DIAGONALS)
        raise ValueError(f"diagonal must be one of {options}, got {diagonal!r}")
    if differences not in DIFFERENCES:
        options = ", ".join(DIFFERENCES)
        raise ValueError(f"differences must be in {options}: {differences!r}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    j = np.arange(n + 1)
    x = chebyshev_points(n, dtype)
    c = np.ones(n + 1, dtype=dtype)
    c[0] = c[-1] = 2
    c = c * np.where(j % 2 == 0, 1, -1).astype(dtype)
    if differences == "trigonometric":
        i_plus_j = (j[:, None] + j[None, :]).astype(dtype)
        j_minus_i = (j[None, :] - j[:, None]).astype(dtype)
        half = dtype.type(np.pi / (2 * n))
        dx = 2 * np.sin(i_plus_j * half) * np.sin(j_minus_i * half)
    else:
        dx = x[:, None] - x[None, :]
    dx = dx.astype(dtype)
    np.fill_diagonal(dx, 1)
    D = (c[:, None] / c[None, :]) / dx
    np.fill_diagonal(D, 0)
    if diagonal == "negative_sum":
        np.fill_diagonal(D, -D.sum(axis=1))
    else:
        inner = x[1:-1]
        d = np.empty(n + 1, dtype=dtype)
        d[0] = dtype.type((2 * n * n + 1) / 6)
        d[-1] = -d[0]
        d[1:-1] = -inner / (2 * (1 - inner**2))
        np.fill_diagonal(D, d)
    return D.astype(dtype), x


def chebfft(values, axis: int = -1) -> np.ndarray:
    r"""The Chebyshev spectral derivative of ``values`` along ``axis``, by the FFT.

    ``values`` are samples at :math:`x_j = \cos(j\pi/n)` (the order of :func:`cheb`) along
    ``axis``; any other axes are carried along. Same result as ``D @ values`` up to
    round-off, at :math:`O(n\log n)` cost (Trefethen 2000, ch. 8, program ``chebfft``):
    extend :math:`v(\theta) = v(\cos\theta)` evenly to :math:`[0, 2\pi)`, differentiate in
    Fourier space, and use :math:`dv/dx = -(dv/d\theta)/\sin\theta` inside; at the two ends,
    where :math:`\sin\theta = 0`, the limits are the closed sums

    .. math::

       w_0 = \sum_{k=0}^{n} k^2 a_k,\qquad w_n = \sum_{k=0}^{n} (-1)^{k+1} k^2 a_k

    over the Chebyshev coefficients :math:`a_k`.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0:
        raise ValueError("values must have at least one axis of length n+1 >= 2")
    v = np.moveaxis(v, axis, -1)
    n = v.shape[-1] - 1
    if n < 1:
        raise ValueError(f"values must have at least 2 samples along axis {axis}, got {n + 1}")
    # Even extension V = [v_0..v_n, v_{n-1}..v_1] of length 2n; its FFT is real.
    V = np.concatenate([v, v[..., -2:0:-1]], axis=-1)
    U = np.fft.rfft(V, axis=-1).real  # wavenumbers k = 0..n
    k = np.arange(n + 1)
    ik = 1j * k.astype(np.float64)
    ik[-1] = 0  # the Nyquist mode has no odd derivative
    W = np.fft.irfft(ik * U, n=2 * n, axis=-1)  # dv/dθ at θ_j = jπ/n
    w = np.empty_like(v)
    sin_theta = np.sin(np.pi * np.arange(1, n) / n)  # = √(1 − x_j²), exact near the ends
    w[..., 1:-1] = -W[..., 1:n] / sin_theta
    # U_k = n a_k for 0 < k < n (and 2n a_k at k = 0, n): endpoint formulas of chebfft.
    kk = k[:-1].astype(np.float64) ** 2
    w[..., 0] = (U[..., :-1] * kk).sum(axis=-1) / n + 0.5 * n * U[..., -1]
    sign = np.where(k[:-1] % 2 == 0, -1.0, 1.0)
    w[..., -1] = (U[..., :-1] * kk * sign).sum(axis=-1) / n + 0.5 * (-1) ** (n + 1) * n * U[..., -1]
    return np.moveaxis(w, -1, axis)


def interval_points(x, a: float, b: float) -> np.ndarray:
    """Points ``x`` of [−1, 1] mapped affinely to [a, b] (``x = 1`` goes to ``b``)."""
    a, b = _check_interval(a, b)
    return a + (b - a) * (np.asarray(x, dtype=np.float64) + 1) / 2


def _check_interval(a, b) -> tuple[float, float]:
    if not (np.isfinite(a) and np.isfinite(b) and b > a):
        raise ValueError(f"the interval [a, b] must be finite with b > a, got a={a!r}, b={b!r}")
    return float(a), float(b)


def cheb_interval(n: int, a: float, b: float, **options) -> tuple[np.ndarray, np.ndarray]:
    r"""``(D, x)`` for the interval :math:`[a, b]`: points :math:`a + (b-a)(x_j+1)/2` (descending).

    By the chain rule the derivative scales by :math:`2/(b-a)`. ``options`` go to :func:`cheb`.
    """
    a, b = _check_interval(a, b)
    D, x = cheb(n, **options)
    return D * D.dtype.type(2 / (b - a)), interval_points(x, a, b).astype(D.dtype)


def gradient_2d(values, Dx, Dy=None) -> tuple[np.ndarray, np.ndarray]:
    r"""The gradient of values on a tensor grid, one axis at a time.

    ``values[i, j] = f(x_i, y_j)`` with ``Dx`` differentiating along the ``x_i`` and ``Dy``
    (default ``Dx``) along the ``y_j``. Returns :math:`(\partial_x f, \partial_y f) =
    (D_x F,\; F D_y^\top)`, each of the shape of ``values``: :math:`O(n^3)` work instead of
    the :math:`O(n^4)` of the Kronecker matrices :math:`D_x\otimes I` and :math:`I\otimes D_y`.
    Works with any 1-D differentiation matrices (spectral or finite-difference).
    """
    F = np.asarray(values)
    Dx = np.asarray(Dx)
    Dy = Dx if Dy is None else np.asarray(Dy)
    if F.ndim != 2:
        raise ValueError(f"values must be a 2-D array on the tensor grid, got shape {F.shape}")
    if Dx.shape != (F.shape[0], F.shape[0]):
        raise ValueError(f"Dx must have shape {(F.shape[0],) * 2} to match values, got {Dx.shape}")
    if Dy.shape != (F.shape[1], F.shape[1]):
        raise ValueError(f"Dy must have shape {(F.shape[1],) * 2} to match values, got {Dy.shape}")
    return Dx @ F, F @ Dy.T


def tensor_grid(x, y=None) -> np.ndarray:
    """The points ``(x_i, y_j)`` of a tensor grid as rows, in the order of ``values.ravel()``."""
    x = np.asarray(x, dtype=np.float64)
    y = x if y is None else np.asarray(y, dtype=np.float64)
    X, Y = np.meshgrid(x, y, indexing="ij")
    return np.stack([X.ravel(), Y.ravel()], axis=1)


def _derivative_weights(t: float, nodes: np.ndarray) -> np.ndarray:
    r"""Weights :math:`w_k = \ell_k'(t)` of the Lagrange basis on ``nodes`` (three of them here)."""
    weights = np.zeros(len(nodes))
    for k, zk in enumerate(nodes):
        others = np.delete(nodes, k)
        denominator = np.prod(zk - others)
        total = 0.0
        for m in range(len(others)):
            total += np.prod(np.delete(t - others, m))
        weights[k] = total / denominator
    return weights


def finite_difference_matrix(x) -> np.ndarray:
    r"""Second-order finite differences on the points ``x`` (any spacing), as a matrix.

    Inside, the three-point formula at :math:`x_i` with :math:`h_- = x_i - x_{i-1}` and
    :math:`h_+ = x_{i+1} - x_i` (signed, so descending points work too),

    .. math::

       f'(x_i) \approx -\frac{h_+}{h_-(h_-+h_+)} f_{i-1} + \frac{h_+ - h_-}{h_- h_+} f_i
       + \frac{h_-}{h_+(h_-+h_+)} f_{i+1}, \qquad \text{(eq-fd-nonuniform)}

    the derivative of the quadratic through the three points; its error is
    :math:`-\tfrac{h_-h_+}{6} f'''(x_i) + \dots`, second order whatever the spacing. On a
    uniform grid it is the central difference :math:`(f_{i+1}-f_{i-1})/2h`. At each end the
    derivative of the quadratic through the first (last) three points, also second order.
    The matrix is tridiagonal apart from the first and last rows; it is returned dense
    (the grids here have at most a few thousand points).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.shape[0] < 3:
        raise ValueError(f"x must be a 1-D array of at least 3 points, got shape {x.shape}")
    h = np.diff(x)
    if not (np.all(h > 0) or np.all(h < 0)):
        raise ValueError("x must be strictly monotone (increasing or decreasing)")
    m = x.shape[0]
    D = np.zeros((m, m))
    hm, hp = h[:-1], h[1:]  # h_- and h_+ at the interior points
    rows = np.arange(1, m - 1)
    D[rows, rows - 1] = -hp / (hm * (hm + hp))
    D[rows, rows] = (hp - hm) / (hm * hp)
    D[rows, rows + 1] = hm / (hp * (hm + hp))
    D[0, :3] = _derivative_weights(x[0], x[:3])
    D[-1, -3:] = _derivative_weights(x[-1], x[-3:])
    return D


GRIDS = ("chebyshev", "uniform")


@dataclass(frozen=True)
class GridGradients:
    r"""A 2-D target on a tensor grid with its gradient, exact and estimated.

    * ``x``: the points of one axis (descending for the Chebyshev grid), shape ``(n+1,)``;
    * ``points``: the grid points as rows, in the order of ``values.ravel()``, shape ``(N, 2)``;
    * ``values``: :math:`F_{ij} = f(x_i, x_j)`, shape ``(n+1, n+1)``;
    * ``gradients[method]``: shape ``(N, 2)``, for ``"exact"`` (closed form), ``"fd"``
      (:func:`finite_difference_matrix` per axis) and, on the Chebyshev grid only,
      ``"chebyshev"`` (:math:`DF` and :math:`FD^\top`).

    Everything is float64 and computed once, outside any autograd graph.
    """

    x: np.ndarray
    points: np.ndarray
    values: np.ndarray
    gradients: dict[str, np.ndarray] = field(default_factory=dict)

    def _estimate(self, method: str) -> np.ndarray:
        if method not in self.gradients:
            raise ValueError(f"method must be one of {', '.join(self.gradients)}, got {method!r}")
        return self.gradients[method]

    def error(self, method: str) -> np.ndarray:
        """The length :math:`|g_{method} - \nabla f|` of the gradient error at each point, (N,)."""
        difference = self._estimate(method) - self.gradients["exact"]
        return np.sqrt(np.sum(difference**2, axis=1))

    def mse(self, method: str) -> float:
        """The mean over the grid of :math:`|g_{method} - \nabla f|^2` (the floor it puts
        under an :math:`H^1` loss trained on these targets)."""
        return float(np.mean(self.error(method) ** 2))


def grid_gradients(target, n: int, grid: str = "chebyshev") -> GridGradients:
    r"""Sample a 2-D ``target`` on an :math:`(n+1)\times(n+1)` grid and estimate its gradient.

    ``target`` has ``domain`` (two intervals, the same for both axes), ``value(points)`` and
    ``gradient(points)`` (e.g. :data:`sobolev.targets.ACKLEY`; tensors or arrays). ``grid``
    is ``"chebyshev"`` (Chebyshev–Gauss–Lobatto points mapped to the domain, with Chebyshev
    and finite-difference estimates) or ``"uniform"`` (equispaced points, finite
    differences only). The Ackley gradient error on the authors' 101×101 Chebyshev grid
    is ``grid_gradients(ACKLEY, 100).mse("chebyshev")``.
    """
    n = _check_n(n, minimum=2)
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {grid!r}")
    domain = tuple(tuple(map(float, interval)) for interval in target.domain)
    if len(domain) != 2 or domain[0] != domain[1]:
        raise ValueError(f"target must be 2-D with the same interval on both axes, got {domain}")
    a, b = domain[0]
    if grid == "chebyshev":
        D, x = cheb_interval(n, a, b)
    else:
        D, x = None, np.linspace(a, b, n + 1)
    points = tensor_grid(x)
    values = np.asarray(target.value(points), dtype=np.float64).reshape(n + 1, n + 1)

    def rows(partials):
        return np.stack([p.ravel() for p in partials], axis=1)

    gradients = {"exact": np.asarray(target.gradient(points), dtype=np.float64)}
    if D is not None:
        gradients["chebyshev"] = rows(gradient_2d(values, D))
    gradients["fd"] = rows(gradient_2d(values, finite_difference_matrix(x)))
    return GridGradients(x=x, points=points, values=values, gradients=gradients)
