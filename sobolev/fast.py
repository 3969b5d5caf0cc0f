r"""Other ways to compute the Sobolev terms: a compiled H1 loss, and the methods it was measured against.

:func:`sobolev.losses.sobolev_loss` differentiates the network in its inputs by **reverse mode**
with ``torch.autograd.grad(..., create_graph=True)``, and once more per input dimension for the
Hessian. This module holds the alternatives that the appendix
(``book/12-cost-of-sobolev-training.md``) and ``python -m sobolev.bench`` time against it:

* :func:`h1_loss` — an :math:`H^1` loss with the call signature and the result of
  ``sobolev_loss(model, x, value, gradient, h1_weight=...)``, written with ``torch.func``
  (``vmap(jacrev(...))``) and compiled by ``torch.compile``. ``torch.compile`` cannot compile a
  double backward (``autograd.grad(create_graph=True)`` breaks the graph and the rest runs
  uncompiled), but a ``torch.func`` transform is traced into the forward graph like any other
  function, and the parameter gradient of the whole loss is then an ordinary first-order
  backward that AOTAutograd compiles too. If ``torch.compile`` is missing or fails, the loss
  falls back to the same ``torch.func`` code uncompiled, warns, and says so
  (:attr:`H1Loss.compiled`, :attr:`H1Loss.reason`).
* :func:`forward_derivatives` — value, input gradient and input Hessian of an
  :class:`~sobolev.networks.MLP` (tanh or sine) propagated **forward** through the layers, layer by
  layer (tangent and second-order Taylor mode written out by hand), as
  :mod:`sobolev.ensemble` does for one input.
* :func:`batched_derivatives` — the Hessian rows of reverse mode in one call,
  ``autograd.grad(..., is_grads_batched=True)``.
* :func:`func_derivatives` — ``torch.func``: the gradient by ``grad``, the Hessian by forward over
  reverse (``jvp`` of ``grad``), one tangent per input dimension under ``vmap``.
* :func:`loss_from` — a loss with the signature of ``sobolev_loss`` built on any of these.

Every one of them gives the same numbers as :func:`sobolev.losses.input_derivatives` to float
round-off (``tests/test_bench.py``); only the cost differs.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import torch
from torch import nn
from torch.func import grad_and_value, jacrev, jvp, vmap

from .losses import SobolevLoss, _as_target, _check_points, _check_weight, sobolev_loss
from .networks import MLP

#: The ways of computing the input derivatives that :func:`loss_from` accepts.
METHODS = ("reverse", "forward", "batched", "func")


# --------------------------------------------------------------------------- forward mode


def _layers(model: nn.Module) -> list[tuple[nn.Linear, str | None]]:
    if not isinstance(model, MLP) or model.activation not in ("tanh", "sine"):
        raise ValueError(
            "forward_derivatives supports sobolev.networks.MLP with tanh or sine activations, "
            f"got {type(model).__name__}"
            + (f" with {model.activation!r}" if isinstance(model, MLP) else "")
        )
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    return [(m, model.activation if i < len(linears) - 1 else None) for i, m in enumerate(linears)]


def forward_derivatives(model: nn.Module, x: torch.Tensor, order: int = 1):
    r"""``(u, grad, hess)`` of an MLP at ``x`` by forward mode, as :func:`~sobolev.losses.input_derivatives`.

    Each layer maps the values :math:`h` (N, n), their input derivatives :math:`h'` (N, d, n) and
    second derivatives :math:`h''` (N, d, d, n) to those of :math:`a(hW^\top + b)`:

    .. math::

       s' = h'W^\top,\quad s'' = h''W^\top,\qquad
       y' = a'(s)\,s',\qquad y''_{ij} = a''(s)\,s'_i s'_j + a'(s)\,s''_{ij},

    starting from :math:`x' = I`, :math:`x'' = 0`. The derivatives carry d (and d²) copies of
    every activation, so the work grows with the input dimension d, where reverse mode needs
    one backward pass whatever d is.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    _check_points(x)
    layers = _layers(model)
    n, d = x.shape
    h = x
    dh = torch.eye(d, dtype=x.dtype, device=x.device).expand(n, d, d) if order >= 1 else None
    d2h = None  # x'' = 0
    for linear, activation in layers:
        weight_t = linear.weight.T
        s = torch.nn.functional.linear(h, linear.weight, linear.bias)
        ds = dh @ weight_t if dh is not None else None
        d2s = d2h @ weight_t if d2h is not None else None
        if activation is None:
            h, dh, d2h = s, ds, d2s
            continue
        if activation == "tanh":
            y = torch.tanh(s)
            a1 = 1 - y * y
            a2 = (-2 * y * a1) if order >= 2 else None
        else:  # sine
            y = torch.sin(s)
            a1 = torch.cos(s) if order >= 1 else None
            a2 = -y if order >= 2 else None
        dy = a1[:, None, :] * ds if order >= 1 else None
        d2y = None
        if order >= 2:
            d2y = a2[:, None, None, :] * ds[:, :, None, :] * ds[:, None, :, :]
            if d2s is not None:
                d2y = d2y + a1[:, None, None, :] * d2s
        h, dh, d2h = y, dy, d2y
    if h.shape[1] != 1:
        raise ValueError(f"the network must return shape (N, 1), got {tuple(h.shape)}")
    grad = dh[..., 0] if order >= 1 else None
    if order == 2 and d2h is None:  # a network of one linear layer
        d2h = torch.zeros(n, d, d, 1, dtype=x.dtype, device=x.device)
    hess = d2h[..., 0] if order >= 2 else None
    return h[:, 0], grad, hess


# --------------------------------------------------------------------------- reverse mode variants


def batched_derivatives(model: nn.Module, x: torch.Tensor, order: int = 1):
    """``(u, grad, hess)`` by reverse mode, all Hessian rows in one ``is_grads_batched`` call."""
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    _check_points(x)
    if order == 0:
        return model(x)[:, 0], None, None
    x = x.detach().requires_grad_(True)
    u = model(x)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    hess = None
    if order == 2:
        n, d = x.shape
        basis = torch.eye(d, dtype=x.dtype, device=x.device)[:, None, :].expand(d, n, d)
        (rows,) = torch.autograd.grad(grad, x, basis, create_graph=True, is_grads_batched=True)
        hess = rows.permute(1, 0, 2)  # hess[n, i, j] = ∂²u/∂x_i∂x_j
    return u[:, 0], grad, hess


def _value_and_gradient(model: nn.Module, x: torch.Tensor):
    def total(z):
        u = model(z)
        return u.sum(), u

    grad, (_, u) = grad_and_value(total, has_aux=True)(x)
    return u, grad


def func_derivatives(model: nn.Module, x: torch.Tensor, order: int = 1):
    """``(u, grad, hess)`` by ``torch.func``: ``grad`` for the gradient, ``jvp`` of it (forward
    over reverse) for each Hessian row, the d rows under ``vmap``."""
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    _check_points(x)
    if order == 0:
        return model(x)[:, 0], None, None
    u, grad = _value_and_gradient(model, x)
    hess = None
    if order == 2:
        n, d = x.shape
        basis = torch.eye(d, dtype=x.dtype, device=x.device)[:, None, :].expand(d, n, d)

        def row(tangent):
            return jvp(lambda z: _value_and_gradient(model, z)[1], (x,), (tangent,))[1]

        hess = vmap(row)(basis).permute(1, 0, 2)
    return u[:, 0], grad, hess


def _reverse(model, x, order):
    from .losses import input_derivatives

    return input_derivatives(model, x, order)


_DERIVATIVES = {
    "reverse": _reverse,
    "forward": forward_derivatives,
    "batched": batched_derivatives,
    "func": func_derivatives,
}


def loss_from(method: str) -> Callable[..., SobolevLoss]:
    """A loss with the signature and result of :func:`~sobolev.losses.sobolev_loss`, its input
    derivatives computed by ``method`` (one of :data:`METHODS`; ``"reverse"`` is sobolev_loss's)."""
    if method not in _DERIVATIVES:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    derivatives = _DERIVATIVES[method]

    def loss(
        model,
        x,
        value,
        gradient=None,
        hessian=None,
        *,
        l2_weight: float = 1.0,
        h1_weight: float | None = None,
        h2_weight: float | None = None,
    ) -> SobolevLoss:
        _check_points(x)
        n, d = x.shape
        order = 2 if hessian is not None else 1 if gradient is not None else 0
        u, grad, hess = derivatives(model, x, order)
        weights = {"l2": _check_weight("l2_weight", l2_weight)}
        terms = {"l2": (u - _as_target("value", value, n, (), u)).square().mean()}
        if gradient is not None:
            weights["h1"] = 1.0 if h1_weight is None else _check_weight("h1_weight", h1_weight)
            g = _as_target("gradient", gradient, n, (d,), u)
            terms["h1"] = (grad - g).square().sum(dim=1).mean()
        if hessian is not None:
            weights["h2"] = 1.0 if h2_weight is None else _check_weight("h2_weight", h2_weight)
            hh = _as_target("hessian", hessian, n, (d, d), u)
            terms["h2"] = (hess - hh).square().sum(dim=(1, 2)).mean()
        total = sum(weights[name] * terms[name] for name in terms)
        return SobolevLoss(total=total, terms=terms, weights=weights)

    loss.__name__ = f"sobolev_loss_{method}"
    return loss


# --------------------------------------------------------------------------- compiled H1 loss


def _cpu_seconds() -> float:
    """CPU seconds of this process and of its finished children (the C++ compiler)."""
    try:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.process_time() + children.ru_utime + children.ru_stime
    except (ImportError, OSError):
        return time.process_time()


def _h1_terms(model: nn.Module, x: torch.Tensor, value: torch.Tensor, gradient: torch.Tensor):
    """The unweighted L2 and H1 terms, the input gradient by ``vmap(jacrev(...))`` (one reverse
    pass per point, batched): plain ``torch.func``, which ``torch.compile`` can trace whole."""

    def point(xi):
        u = model(xi[None])[0, 0]
        return u, u

    grad, u = vmap(jacrev(point, has_aux=True))(x)
    return (u - value).square().mean(), (grad - gradient).square().sum(dim=1).mean()


class H1Loss:
    """A callable ``loss(model, x, value, gradient, *, l2_weight=1.0, h1_weight=None)`` equal to
    :func:`sobolev.losses.sobolev_loss` (an :class:`~sobolev.losses.SobolevLoss` with the terms
    ``l2`` and ``h1``), computed by :func:`_h1_terms`, compiled unless ``compile=False``.

    Attributes: ``compiled`` (True while the compiled function is in use), ``reason`` (why it is
    not, or None), ``compile_seconds`` (wall-clock seconds of the first call, forward and
    backward, where the compilation happens; None before it) and ``compile_cpu_seconds`` (the
    CPU time of that call, this process and the compiler processes it waited for). One loss object per model: a new model makes
    ``torch.compile`` compile again. Differentiate each result once, as a training step does
    (``backward()`` without ``retain_graph``): a second backward through the same compiled graph
    gave wrong parameter gradients with inductor on 10,000 points (torch 2.13).
    """

    def __init__(self, compile: bool = True, backend: str = "inductor", **options):
        self.compiled = False
        self.reason: str | None = "compile=False" if not compile else None
        self.compile_seconds: float | None = None
        self.compile_cpu_seconds: float | None = None
        self.backend = backend
        self._function = _h1_terms
        self._first = True
        if compile:
            if not hasattr(torch, "compile"):
                self._fall_back(f"torch {torch.__version__} has no torch.compile")
            else:
                try:
                    self._function = torch.compile(
                        _h1_terms, backend=backend, dynamic=False, **options
                    )
                    self.compiled = True
                except Exception as error:  # noqa: BLE001 - any failure means: run uncompiled
                    self._fall_back(f"{type(error).__name__}: {error}")

    def _fall_back(self, reason: str) -> None:
        if self.compiled or self.reason is None:
            warnings.warn(
                f"torch.compile is unavailable or failed ({reason}); the H1 loss runs "
                "uncompiled (the same torch.func code)",
                RuntimeWarning,
                stacklevel=3,
            )
        self.compiled = False
        self.reason = reason
        self._function = _h1_terms

    def _terms(self, model, x, value, gradient):
        if not self._first:
            return self._function(model, x, value, gradient)
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        try:
            l2, h1 = self._function(model, x, value, gradient)
            if self.compiled:  # compile the backward now too, where a failure can be caught
                params = [p for p in model.parameters() if p.requires_grad]
                torch.autograd.grad(l2 + h1, params, allow_unused=True)
                # A fresh graph for the caller: a second backward through one compiled graph
                # (retain_graph=True) can give wrong gradients with inductor (seen with torch
                # 2.13 on 10,000 points), so every graph is differentiated once only.
                l2, h1 = self._function(model, x, value, gradient)
        except Exception as error:  # noqa: BLE001
            if not self.compiled:
                raise
            self._fall_back(f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
            l2, h1 = self._function(model, x, value, gradient)
        self.compile_seconds = time.perf_counter() - started
        self.compile_cpu_seconds = _cpu_seconds() - cpu_started
        self._first = False
        return l2, h1

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        value,
        gradient=None,
        hessian=None,
        *,
        l2_weight: float = 1.0,
        h1_weight: float | None = None,
    ) -> SobolevLoss:
        if hessian is not None:
            raise ValueError("H1Loss computes the L2 and H1 terms only; use sobolev_loss for H2")
        if gradient is None:  # nothing to compile: the plain L2 loss, as sobolev_loss gives it
            return sobolev_loss(model, x, value, l2_weight=l2_weight, h1_weight=h1_weight)
        _check_points(x)
        n, d = x.shape
        weights = {
            "l2": _check_weight("l2_weight", l2_weight),
            "h1": 1.0 if h1_weight is None else _check_weight("h1_weight", h1_weight),
        }
        probe = torch.empty(0, dtype=x.dtype, device=x.device)
        value = _as_target("value", value, n, (), probe)
        gradient = _as_target("gradient", gradient, n, (d,), probe)
        l2, h1 = self._terms(model, x.detach(), value, gradient)
        terms = {"l2": l2, "h1": h1}
        total = weights["l2"] * l2 + weights["h1"] * h1
        return SobolevLoss(total=total, terms=terms, weights=weights)

    def __repr__(self) -> str:
        state = "compiled" if self.compiled else f"uncompiled ({self.reason})"
        return f"H1Loss({state}, backend={self.backend!r})"


def h1_loss(compile: bool = True, backend: str = "inductor", **options) -> H1Loss:
    """A compiled :math:`H^1` loss for an MLP, called like ``sobolev_loss(model, x, value,
    gradient, h1_weight=...)`` and equal to it to float round-off (:class:`H1Loss`).

    ``options`` go to ``torch.compile`` (e.g. ``mode="max-autotune"``). Compiling takes tens of
    seconds on a CPU (``H1Loss.compile_seconds``, measured at the first call); each later step
    saves a fraction of an H1 step, so it pays off only for long runs
    (``python -m sobolev.bench --compile`` prints the break-even number of steps).
    """
    return H1Loss(compile=compile, backend=backend, **options)


def double_backward_error(backend: str = "aot_eager") -> str | None:
    """What ``torch.compile`` says when the H1 loss is taken the ``sobolev_loss`` way through a
    compiled network: the input gradient by ``autograd.grad(create_graph=True)``, then the
    parameter gradient of a loss on it (a double backward). Returns the error message, or None
    if this torch can do it. A tiny network and the ``aot_eager`` backend keep it to seconds.
    """
    torch.manual_seed(0)
    model = torch.compile(MLP([2, 4, 1], "tanh"), backend=backend)
    x = torch.randn(5, 2, requires_grad=True)
    try:
        (grad,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
        grad.square().sum().backward()
    except Exception as error:  # noqa: BLE001 - the message is the result
        return " ".join(str(error).split())[:300]
    return None
