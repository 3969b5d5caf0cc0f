r"""The paper's target functions, with exact first and second derivatives.

Each :class:`Target` evaluates in float64 and returns values ``(N,)``, gradients
``(N, d)`` and Hessians ``(N, d, d)`` from closed forms written out by hand
(checked against autograd in ``tests/test_targets.py``). Compute them once,
outside the autograd graph, and cast: :meth:`Target.sample` does exactly that.

* :data:`ACKLEY` — Ackley's function on [−2, 2]² (Figure 5; Czarnecki et al., 2017).
* :data:`ACTIVATION_TARGET` — f(x, y) = sin(10(x + y)) + (x − y)² − 1.5x + 2.5y + 1
  on [1, 4] × [−3, 4] (Figure 3).
* :data:`F1` — f₁(x) = sin 2πx + sin 20πx on [−1, 1] (Figure 4).
* :data:`F2` — f₂(x) = x + sin 2πx⁴ on [0, 2] (Figure 4).
* :data:`WAVE` — sin 3x + ½ cos 7x on [−1, 1], the worked example of the losses chapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Array = torch.Tensor


def _as_float64(x, d: int, name: str) -> Array:
    x = torch.as_tensor(x)
    if x.ndim == 1 and d == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name}: x must have shape (N, {d}), got {tuple(x.shape)}")
    return x.detach().to(torch.float64)


@dataclass(frozen=True)
class Target:
    """A target function f: ℝᵈ → ℝ on a box, with its exact derivatives."""

    name: str
    d: int
    domain: tuple[tuple[float, float], ...]
    _value: Callable[[Array], Array]
    _gradient: Callable[[Array], Array]
    _hessian: Callable[[Array], Array] | None = None
    formula: str = ""

    def value(self, x) -> Array:
        """f(x) in float64, shape (N,)."""
        return self._value(_as_float64(x, self.d, self.name))

    def gradient(self, x) -> Array:
        """∇f(x) in float64, shape (N, d)."""
        return self._gradient(_as_float64(x, self.d, self.name))

    def hessian(self, x) -> Array:
        """∇²f(x) in float64, shape (N, d, d)."""
        if self._hessian is None:
            raise ValueError(f"{self.name} has no Hessian in closed form here")
        return self._hessian(_as_float64(x, self.d, self.name))

    def sample(self, x, order: int = 1, dtype=torch.float32, device=None):
        """``(value, gradient, hessian)`` up to ``order``, computed in float64 then cast.

        Entries above ``order`` are ``None``. The results carry no autograd graph.
        """
        if order not in (0, 1, 2):
            raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
        device = torch.as_tensor(x).device if device is None else device
        cast = lambda t: t.to(dtype=dtype, device=device)  # noqa: E731
        with torch.no_grad():
            value = cast(self.value(x))
            gradient = cast(self.gradient(x)) if order >= 1 else None
            hessian = cast(self.hessian(x)) if order >= 2 else None
        return value, gradient, hessian

    def grid(self, n: int) -> np.ndarray:
        """An ``n``-point uniform grid per axis over the domain, shape (nᵈ, d), float64."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2, got {n!r}")
        axes = [np.linspace(a, b, n) for a, b in self.domain]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)

    def uniform(self, n: int, generator: np.random.Generator) -> np.ndarray:
        """``n`` points drawn uniformly from the domain, shape (n, d), float64."""
        lo = np.array([a for a, _ in self.domain])
        hi = np.array([b for _, b in self.domain])
        return lo + (hi - lo) * generator.random((n, self.d))


# --- Ackley -----------------------------------------------------------------


def _ackley(x: Array) -> Array:
    s = torch.sqrt(0.5 * (x**2).sum(dim=1))
    c = 0.5 * torch.cos(2 * math.pi * x).sum(dim=1)
    return -20 * torch.exp(-0.2 * s) - torch.exp(c) + math.e + 20


def _ackley_gradient(x: Array) -> Array:
    # ∂/∂x_i: 2 x_i e^{-0.2 s}/s + π sin(2π x_i) e^{c};  s = √(½‖x‖²).
    # At the origin the first part has a cone-shaped cusp; we return its
    # symmetric limit 0 there (the gradient is discontinuous at 0).
    s = torch.sqrt(0.5 * (x**2).sum(dim=1, keepdim=True))
    c = 0.5 * torch.cos(2 * math.pi * x).sum(dim=1, keepdim=True)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    radial = torch.where(s > 0, 2 * x * torch.exp(-0.2 * s) / safe, torch.zeros_like(x))
    return radial + math.pi * torch.sin(2 * math.pi * x) * torch.exp(c)


ACKLEY = Target(
    name="ackley",
    d=2,
    domain=((-2.0, 2.0), (-2.0, 2.0)),
    _value=_ackley,
    _gradient=_ackley_gradient,
    formula=r"-20\exp(-0.2\sqrt{0.5(x^2+y^2)}) - \exp(0.5(\cos 2\pi x + \cos 2\pi y)) + e + 20",
)


# --- the activation experiment's f(x, y) ------------------------------------


def _act(x: Array) -> Array:
    a, b = x[:, 0], x[:, 1]
    return torch.sin(10 * (a + b)) + (a - b) ** 2 - 1.5 * a + 2.5 * b + 1


def _act_gradient(x: Array) -> Array:
    a, b = x[:, 0], x[:, 1]
    c = 10 * torch.cos(10 * (a + b))
    return torch.stack([c + 2 * (a - b) - 1.5, c - 2 * (a - b) + 2.5], dim=1)


def _act_hessian(x: Array) -> Array:
    a, b = x[:, 0], x[:, 1]
    s = -100 * torch.sin(10 * (a + b))
    return torch.stack([torch.stack([s + 2, s - 2], 1), torch.stack([s - 2, s + 2], 1)], 1)


ACTIVATION_TARGET = Target(
    name="activation_target",
    d=2,
    domain=((1.0, 4.0), (-3.0, 4.0)),
    _value=_act,
    _gradient=_act_gradient,
    _hessian=_act_hessian,
    formula=r"\sin(10(x+y)) + (x-y)^2 - 1.5x + 2.5y + 1",
)


# --- f1 and f2 (Figure 4) ---------------------------------------------------


def _f1(x: Array) -> Array:
    t = x[:, 0]
    return torch.sin(2 * math.pi * t) + torch.sin(20 * math.pi * t)


def _f1_gradient(x: Array) -> Array:
    t = x[:, 0]
    return (2 * math.pi * torch.cos(2 * math.pi * t) + 20 * math.pi * torch.cos(20 * math.pi * t))[
        :, None
    ]


def _f1_hessian(x: Array) -> Array:
    t = x[:, 0]
    out = -4 * math.pi**2 * torch.sin(2 * math.pi * t) - 400 * math.pi**2 * torch.sin(
        20 * math.pi * t
    )
    return out[:, None, None]


F1 = Target(
    name="f1",
    d=1,
    domain=((-1.0, 1.0),),
    _value=_f1,
    _gradient=_f1_gradient,
    _hessian=_f1_hessian,
    formula=r"\sin(2\pi x) + \sin(20\pi x)",
)


def _f2(x: Array) -> Array:
    t = x[:, 0]
    return t + torch.sin(2 * math.pi * t**4)


def _f2_gradient(x: Array) -> Array:
    t = x[:, 0]
    return (1 + 8 * math.pi * t**3 * torch.cos(2 * math.pi * t**4))[:, None]


def _f2_hessian(x: Array) -> Array:
    t = x[:, 0]
    phase = 2 * math.pi * t**4
    out = 24 * math.pi * t**2 * torch.cos(phase) - 64 * math.pi**2 * t**6 * torch.sin(phase)
    return out[:, None, None]


F2 = Target(
    name="f2",
    d=1,
    domain=((0.0, 2.0),),
    _value=_f2,
    _gradient=_f2_gradient,
    _hessian=_f2_hessian,
    formula=r"x + \sin(2\pi x^4)",
)

TARGETS = {t.name: t for t in (ACKLEY, ACTIVATION_TARGET, F1, F2)}


# --- a smooth 1-D target for worked examples --------------------------------


def _wave(x: Array) -> Array:
    t = x[:, 0]
    return torch.sin(3 * t) + 0.5 * torch.cos(7 * t)


def _wave_gradient(x: Array) -> Array:
    t = x[:, 0]
    return (3 * torch.cos(3 * t) - 3.5 * torch.sin(7 * t))[:, None]


def _wave_hessian(x: Array) -> Array:
    t = x[:, 0]
    return (-9 * torch.sin(3 * t) - 24.5 * torch.cos(7 * t))[:, None, None]


WAVE = Target(
    name="wave",
    d=1,
    domain=((-1.0, 1.0),),
    _value=_wave,
    _gradient=_wave_gradient,
    _hessian=_wave_hessian,
    formula=r"\sin(3x) + \tfrac12\cos(7x)",
)

TARGETS[WAVE.name] = WAVE
