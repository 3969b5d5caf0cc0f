r"""Many small networks of one input, trained at once as one vectorised ensemble.

The paper's Figure 4 averages 100 networks per configuration. Training them one
after another in a Python loop spends most of the time in per-operation overhead
(a 64-wide layer on a few hundred points is a tiny matrix product). Here the M
networks' weights are **stacked**: layer ℓ holds one tensor ``W`` of shape
(M, n_in, n_out) and one bias of shape (M, 1, n_out), and a forward pass is one
batched matrix product per layer for all members together.

Input derivatives for the Sobolev terms are propagated **forward**, alongside the
values (forward-mode differentiation in x, exact, no finite differences). For a
layer h ↦ a(ω(hW + b)) with s = ω(hW + b),

.. math::

   h' \mapsto a'(s)\,\omega\,h'W, \qquad
   h'' \mapsto a''(s)\,(\omega\,h'W)^2 + a'(s)\,\omega\,h''W,

starting from x' = 1, x'' = 0. So u, ∂ₓu and ∂ₓ²u come out of one pass that costs
about two (three) forward passes, and the parameter gradient of the Sobolev loss
is one ordinary ``backward`` through it. Member k's loss depends only on member
k's weights, so the gradient of the sum over members is, block by block, each
member's own gradient; Adam acts elementwise, so one Adam on the stacked tensors
is M independent Adams (:func:`train_ensemble` allows one learning rate per
member). ``tests/test_ensemble.py`` checks that training the ensemble gives the
parameters of training each network alone with ``torch.optim.Adam`` and
:func:`sobolev.losses.sobolev_loss`.

Inputs are one-dimensional (x of shape (N,) or (N, 1)), as in Figure 4.

* :class:`Ensemble` — stacked weights built from a list of networks of
  :mod:`sobolev.networks` (:class:`~sobolev.networks.MLP` with tanh or sine,
  :class:`~sobolev.networks.FourierFeatureNetwork`, :class:`~sobolev.networks.Siren`,
  :class:`~sobolev.networks.AuthorsFourierNetwork`); :meth:`Ensemble.derivatives`.
* :func:`make_ensemble` — M freshly initialised members from a factory and a seed.
* :func:`train_ensemble` — full-batch Adam on the L2 / H1 / H2 loss of every member,
  recording the held-out test error of every member (:class:`EnsembleHistory`).
* :func:`ensemble_step` and :func:`loop_step` — one training step of the
  ensemble, and of the same networks one by one (for :func:`sobolev.benchmark.step_times`).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .config import check_int
from .losses import sobolev_loss
from .networks import MLP, AuthorsFourierNetwork, FourierFeatureNetwork, Siren
from .results import Checkpoint, ResultsError, rng_state, set_rng_state

#: Activations the stacked layers know, with their first and second derivatives.
ACTIVATIONS = ("tanh", "sine", "cos_sin", "linear")


@dataclass
class StackedLayer:
    """h ↦ a(ω (h W + b)) for M members at once: ``weight`` (M, n_in, n_out), ``bias`` (M, 1, n_out).

    ``activation`` is one of :data:`ACTIVATIONS`; ``"cos_sin"`` is the Fourier-feature
    map [cos s, sin s] (output width 2·n_out). ``trainable`` is False for the fixed
    Fourier matrix B.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None
    activation: str
    omega: float = 1.0
    trainable: bool = True

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")


def _apply(layer: StackedLayer, h, dh, d2h, order: int):
    """One stacked layer on values h and their x-derivatives dh, d2h (each (M, N, n_in))."""
    w = layer.weight
    s = torch.matmul(h, w)
    if layer.bias is not None:
        s = s + layer.bias
    ds = torch.matmul(dh, w) if order >= 1 else None
    d2s = torch.matmul(d2h, w) if order >= 2 and d2h is not None else None
    if layer.omega != 1.0:
        s = layer.omega * s
        ds = layer.omega * ds if ds is not None else None
        d2s = layer.omega * d2s if d2s is not None else None
    act = layer.activation
    if act == "linear":
        return s, ds, d2s
    if act == "tanh":
        y = torch.tanh(s)
        d1 = 1 - y * y
        d2 = -2 * y * d1
        y1 = d1 * ds if order >= 1 else None
        y2 = None
        if order >= 2:
            y2 = d2 * ds * ds + (d1 * d2s if d2s is not None else 0)
        return y, y1, y2
    if act == "sine":
        y, c = torch.sin(s), torch.cos(s) if order >= 1 else None
        y1 = c * ds if order >= 1 else None
        y2 = None
        if order >= 2:
            y2 = -y * ds * ds + (c * d2s if d2s is not None else 0)
        return y, y1, y2
    # cos_sin: [cos s, sin s]
    c, sn = torch.cos(s), torch.sin(s)
    y = torch.cat([c, sn], dim=-1)
    y1 = torch.cat([-sn * ds, c * ds], dim=-1) if order >= 1 else None
    y2 = None
    if order >= 2:
        second = torch.cat([-c * ds * ds, -sn * ds * ds], dim=-1)
        if d2s is not None:
            second = second + torch.cat([-sn * d2s, c * d2s], dim=-1)
        y2 = second
    return y, y1, y2


def _describe_module(
    module: nn.Module,
) -> list[tuple[torch.Tensor, torch.Tensor | None, str, float, bool]]:
    """The layers of one network of :mod:`sobolev.networks` as (Wᵀ, b, activation, ω, trainable)."""

    def linears(seq: nn.Sequential, activation: str):
        mods = list(seq)
        out = []
        for i, m in enumerate(mods):
            if isinstance(m, nn.Linear):
                last = i == len(mods) - 1
                out.append((m.weight.T, m.bias, "linear" if last else activation, 1.0, True))
        return out

    if isinstance(module, MLP):
        if module.activation not in ("tanh", "sine"):
            raise ValueError(
                f"Ensemble supports MLPs with tanh or sine activations, got {module.activation!r}"
            )
        return linears(module.net, module.activation)
    if isinstance(module, FourierFeatureNetwork):
        features = module.features
        layers = [(2 * math.pi * features.B.T, None, "cos_sin", 1.0, False)]
        return layers + _describe_module(module.mlp)
    if isinstance(module, AuthorsFourierNetwork):
        f = module.features
        return [(f.weight.T, f.bias, "sine", 1.0, True)] + _describe_module(module.mlp)
    if isinstance(module, Siren):
        layers = []
        for m in module.net:
            if isinstance(m, nn.Linear):  # the last layer
                layers.append((m.weight.T, m.bias, "linear", 1.0, True))
            else:
                layers.append((m.linear.weight.T, m.linear.bias, "sine", m.omega_0, True))
        return layers
    raise ValueError(
        "Ensemble supports MLP (tanh/sine), FourierFeatureNetwork, AuthorsFourierNetwork and "
        f"Siren networks, got {type(module).__name__}"
    )


class Ensemble:
    """M networks of the same architecture with stacked weights (see the module docstring).

    ``Ensemble.from_modules(nets)`` copies the weights of ``nets`` (a list of networks
    of :mod:`sobolev.networks` with identical shapes and one input); the networks
    themselves are left untouched. ``parameters()`` lists the trainable stacked
    tensors; :meth:`member` gives member k's weights in the order of
    ``nets[k].parameters()``.
    """

    def __init__(self, layers: Sequence[StackedLayer]):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("an Ensemble needs at least one layer")
        self.n_members = self.layers[0].weight.shape[0]
        if self.layers[0].weight.shape[1] != 1:
            raise ValueError(
                f"Ensemble networks take one input, got {self.layers[0].weight.shape[1]}"
            )
        if self.layers[-1].weight.shape[-1] != 1 or self.layers[-1].activation != "linear":
            raise ValueError("the last layer must be linear with one output")

    @classmethod
    def from_modules(
        cls, modules: Sequence[nn.Module], *, device=None, dtype: torch.dtype | None = None
    ) -> Ensemble:
        """Stack copies of the weights of ``modules`` (on ``device``, in ``dtype``; default: theirs)."""
        modules = list(modules)
        if not modules:
            raise ValueError("modules must hold at least one network")
        described = [_describe_module(m) for m in modules]
        shapes = [[(tuple(w.shape), b is None, a, o, t) for w, b, a, o, t in d] for d in described]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("every network of an Ensemble must have the same architecture")
        layers = []
        for i, (_, _, act, omega, trainable) in enumerate(described[0]):

            def stack(tensors):
                out = torch.stack([t.detach() for t in tensors]).clone()
                return out.to(device=device, dtype=dtype)

            weight = stack([d[i][0] for d in described])
            bias = None
            if described[0][i][1] is not None:
                bias = stack([d[i][1] for d in described])[:, None, :]
            weight.requires_grad_(trainable)
            if bias is not None:
                bias.requires_grad_(trainable)
            layers.append(StackedLayer(weight, bias, act, omega, trainable))
        return cls(layers)

    def parameters(self) -> list[torch.Tensor]:
        """The trainable stacked tensors (weights and biases, layer by layer)."""
        out = []
        for layer in self.layers:
            if layer.trainable:
                out.append(layer.weight)
                if layer.bias is not None:
                    out.append(layer.bias)
        return out

    def member(self, k: int) -> list[torch.Tensor]:
        """Member ``k``'s trainable weights, as in ``module.parameters()`` (weight (out, in), bias)."""
        k = check_int(k, "k", minimum=0)
        if k >= self.n_members:
            raise ValueError(f"k must be < {self.n_members}, got {k}")
        out = []
        for layer in self.layers:
            if layer.trainable:
                out.append(layer.weight[k].detach().T)
                if layer.bias is not None:
                    out.append(layer.bias[k, 0].detach())
        return out

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].weight.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].weight.device

    def _as_input(self, x) -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise ValueError(f"x must have shape (N,) or (N, 1), got {tuple(x.shape)}")
        if x.dtype != self.dtype or x.device != self.device:
            raise ValueError(
                f"x must be {self.dtype} on {self.device} like the ensemble's weights, "
                f"got {x.dtype} on {x.device}"
            )
        return x

    def derivatives(self, x, order: int = 1):
        """u, ∂ₓu, ∂ₓ²u of every member at the points ``x``, each (M, N).

        Entries above ``order`` (0, 1 or 2) are None. They stay in the
        autograd graph of the stacked weights.
        """
        if order not in (0, 1, 2):
            raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
        x = self._as_input(x)
        m, n = self.n_members, x.shape[0]
        h = x[None, :, None].expand(m, n, 1)
        dh = torch.ones_like(h) if order >= 1 else None
        d2h = None  # x'' = 0: no second-derivative term in the first layer
        for layer in self.layers:
            h, dh, d2h = _apply(layer, h, dh, d2h, order)
            if order >= 2 and d2h is None:
                d2h = torch.zeros_like(h)
        return (
            h[..., 0],
            dh[..., 0] if dh is not None else None,
            d2h[..., 0] if d2h is not None else None,
        )

    def __call__(self, x) -> torch.Tensor:
        """Values of every member, shape (M, N)."""
        with torch.no_grad():
            return self.derivatives(x, order=0)[0]


def make_ensemble(
    factory: Callable[[], nn.Module],
    n_members: int,
    seed: int,
    *,
    device=None,
    dtype: torch.dtype = torch.float32,
) -> Ensemble:
    """An :class:`Ensemble` of ``n_members`` networks ``factory()``, member k drawn after
    ``torch.manual_seed(seed + k)`` (so member k is the same network at any ensemble size)."""
    n_members = check_int(n_members, "n_members", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    modules = []
    for k in range(n_members):
        torch.manual_seed(seed + k)
        modules.append(factory())
    return Ensemble.from_modules(modules, device=device, dtype=dtype)


def member_losses(
    ensemble: Ensemble,
    x,
    value,
    gradient=None,
    hessian=None,
    *,
    h1_weight: float = 1.0,
    h2_weight: float = 1.0,
) -> torch.Tensor:
    """The Sobolev loss of every member, shape (M,): mean of (u − f)² + λ₁(u′ − f′)² + λ₂(u″ − f″)².

    ``value``, ``gradient``, ``hessian`` hold f, f′, f″ at ``x`` (shape (N,), (N,) or (N, 1));
    a ``None`` target leaves its term out, exactly as :func:`sobolev.losses.sobolev_loss`.
    """
    order = 2 if hessian is not None else 1 if gradient is not None else 0
    u, du, d2u = ensemble.derivatives(x, order)

    def target(t):
        t = torch.as_tensor(t).to(device=u.device, dtype=u.dtype).reshape(-1)
        if t.shape[0] != u.shape[1]:
            raise ValueError(f"targets must have {u.shape[1]} entries, got {t.shape[0]}")
        return t

    loss = (u - target(value)).square().mean(dim=1)
    if gradient is not None:
        loss = loss + h1_weight * (du - target(gradient)).square().mean(dim=1)
    if hessian is not None:
        loss = loss + h2_weight * (d2u - target(hessian)).square().mean(dim=1)
    return loss


class StackedAdam:
    """Adam on stacked tensors with one learning rate per member (torch.optim.Adam's update).

    ``lr`` is a number or a sequence of M numbers; betas and eps as in PyTorch.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        m = self.params[0].shape[0]
        lr = torch.as_tensor(lr, dtype=torch.float64).reshape(-1)
        if lr.numel() == 1:
            lr = lr.expand(m)
        if lr.numel() != m or not bool((lr > 0).all()):
            raise ValueError(
                f"lr must be a positive number or {m} positive numbers, got {lr.tolist()}"
            )
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.t = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._lr = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        """The optimiser's state (step count and moments, copied), for a checkpoint."""
        return {
            "t": self.t,
            "lr": self.lr.clone(),
            "exp_avg": [m.detach().clone() for m in self.exp_avg],
            "exp_avg_sq": [v.detach().clone() for v in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict` (of an optimiser of the same shapes and rates)."""
        if not torch.equal(torch.as_tensor(state["lr"], dtype=torch.float64), self.lr):
            raise ValueError("the saved learning rates are not this optimiser's")
        pairs = list(zip(self.exp_avg, state["exp_avg"])) + list(
            zip(self.exp_avg_sq, state["exp_avg_sq"])
        )
        if len(state["exp_avg"]) != len(self.exp_avg) or any(a.shape != b.shape for a, b in pairs):
            raise ValueError("the saved moments do not have this optimiser's shapes")
        with torch.no_grad():
            for a, b in pairs:
                a.copy_(b)
        self.t = int(state["t"])

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1 = 1 - b1**self.t
        bc2_sqrt = math.sqrt(1 - b2**self.t)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            key = (p.dtype, p.device, p.ndim)
            if key not in self._lr:
                shape = (-1,) + (1,) * (p.ndim - 1)
                self._lr[key] = self.lr.to(device=p.device, dtype=p.dtype).reshape(shape)
            denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
            p.addcdiv_(m * (self._lr[key] / bc1), denom, value=-1.0)


@dataclass
class EnsembleHistory:
    """What :func:`train_ensemble` recorded, for every member.

    * ``eval_steps`` (E,): steps after which the test error was measured (0 = initial);
    * ``test_mse`` (M, E): mean squared error of u on the test points;
    * ``test_h1`` (M, E): mean squared error of ∂ₓu on the test points;
    * ``train_loss`` (M, E): the training loss of the step that led to each evaluation
      (computed before that step's update; at step 0, of the initial networks);
    * ``seconds`` (E,): training wall-clock time up to each evaluation (evaluation excluded).
    """

    eval_steps: np.ndarray
    test_mse: np.ndarray
    test_h1: np.ndarray
    train_loss: np.ndarray
    seconds: np.ndarray
    lr: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def final(self, what: str = "test_mse") -> np.ndarray:
        """The last recorded value of ``what`` for every member, shape (M,)."""
        return getattr(self, what)[:, -1]

    def at_step(self, step: int, what: str = "test_mse") -> np.ndarray:
        """``what`` of every member at the last evaluation not after ``step``."""
        k = int(np.searchsorted(self.eval_steps, step, side="right")) - 1
        return getattr(self, what)[:, max(k, 0)]

    def at_seconds(self, seconds: float, what: str = "test_mse") -> np.ndarray:
        """``what`` of every member at the last evaluation within ``seconds`` of training."""
        k = int(np.searchsorted(self.seconds, seconds, side="right")) - 1
        return getattr(self, what)[:, max(k, 0)]

    def late(self, what: str = "test_mse", *, end: int | None = None, fraction: float = 0.2):
        """Per member, the geometric mean of ``what`` over the evaluations in the last
        ``fraction`` of the steps up to ``end`` (default: the last step), shape (M,).

        Test errors oscillate from one evaluation to the next (the paper averages
        100 networks for this reason); a short late window steadies a comparison
        without choosing the best step by looking at the test set.
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        end = int(self.eval_steps[-1]) if end is None else int(end)
        steps = self.eval_steps
        inside = (steps <= end) & (steps >= (1 - fraction) * end)
        if not inside.any():
            inside = steps == steps[steps <= end].max()
        values = np.asarray(getattr(self, what)[:, inside], dtype=float)
        with np.errstate(divide="ignore"):
            return np.exp(np.log(values).mean(axis=1))

    def select(self, members) -> EnsembleHistory:
        """The history of some members only (an index array or boolean mask)."""
        return EnsembleHistory(
            self.eval_steps,
            self.test_mse[members],
            self.test_h1[members],
            self.train_loss[members],
            self.seconds,
            self.lr[members] if self.lr.size else self.lr,
        )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_ensemble(
    ensemble: Ensemble,
    x,
    value,
    gradient=None,
    hessian=None,
    *,
    lr=1e-3,
    steps: int,
    test_x=None,
    test_value=None,
    test_gradient=None,
    eval_every: int = 50,
    h1_weight: float = 1.0,
    h2_weight: float = 1.0,
    checkpoint: Checkpoint | None = None,
) -> EnsembleHistory:
    """Full-batch Adam on every member's Sobolev loss (:func:`member_losses`), all at once.

    Trains ``ensemble`` in place for ``steps`` steps and every ``eval_every`` steps
    records each member's test errors on (``test_x``, ``test_value``, ``test_gradient``)
    (default: the training points). ``lr`` may give one learning rate per member.
    A member whose loss becomes NaN or infinite keeps training harmlessly (its
    errors read as inf), so one diverged member never stops the others.

    With a :class:`~sobolev.results.Checkpoint`, the state of the run (weights,
    Adam's moments, what was recorded, the step) is saved at the first evaluation
    at least ``checkpoint.every`` steps after the last save, as in
    :func:`sobolev.training.train`; a call that finds a checkpoint of the same run
    continues from it and ends with the same weights and history, to the bit, as
    an uninterrupted run (the training is full batch: no data order to replay).
    The last checkpoint holds the finished run (a call after the end returns at
    once with the same weights and history); whoever owns it deletes it once the
    results are stored (:func:`sobolev.experiments.run` does).
    """
    steps = check_int(steps, "steps", minimum=0)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    dev, dt = ensemble.device, ensemble.dtype

    def prepare(t):
        return None if t is None else torch.as_tensor(t).to(device=dev, dtype=dt).reshape(-1)

    x, value, gradient, hessian = map(prepare, (x, value, gradient, hessian))
    if test_x is None:
        test_x, test_value, test_gradient = x, value, gradient
    test_x, test_value, test_gradient = map(prepare, (test_x, test_value, test_gradient))
    optimizer = StackedAdam(ensemble.parameters(), lr)
    evals, mse, h1, train, seconds = [], [], [], [], []
    elapsed = 0.0

    @torch.no_grad()
    def evaluate(step: int, loss_now: torch.Tensor) -> None:
        u, du, _ = ensemble.derivatives(test_x, order=1 if test_gradient is not None else 0)
        e0 = (u - test_value).square().mean(dim=1)
        e1 = (du - test_gradient).square().mean(dim=1) if test_gradient is not None else e0 * np.nan
        evals.append(step)
        for store, t in ((mse, e0), (h1, e1), (train, loss_now)):
            a = t.detach().cpu().double().numpy()
            store.append(np.where(np.isfinite(a), a, np.inf))
        seconds.append(elapsed)

    def losses_now() -> torch.Tensor:
        return member_losses(
            ensemble, x, value, gradient, hessian, h1_weight=h1_weight, h2_weight=h2_weight
        )

    run_key = {
        "steps": steps,
        "eval_every": eval_every,
        "lr": optimizer.lr.tolist(),
        "h1_weight": float(h1_weight),
        "h2_weight": float(h2_weight),
        "terms": [t is not None for t in (gradient, hessian)],
        "points": [int(x.shape[0]), int(test_x.shape[0])],
        "shapes": [list(p.shape) for p in ensemble.parameters()],
    }
    first_step, saved_at = 1, 0
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        if state["run"] != run_key:
            raise ResultsError(
                f"{checkpoint.path} is the checkpoint of another ensemble run "
                f"({state['run']}, not {run_key}); delete it"
            )
        with torch.no_grad():
            for p, saved in zip(ensemble.parameters(), state["parameters"]):
                p.copy_(saved)
        optimizer.load_state_dict(state["optimizer"])
        evals = list(state["evals"])
        mse, h1, train = ([row.numpy() for row in state[k]] for k in ("mse", "h1", "train"))
        seconds = list(state["seconds"])
        elapsed = float(state["elapsed"])
        saved_at = int(state["step"])
        first_step = saved_at + 1
        set_rng_state(state["rng"], dev)
    else:
        evaluate(0, losses_now())

    def save_checkpoint(step: int) -> None:
        checkpoint.save(
            {
                "run": run_key,
                "step": step,
                "elapsed": elapsed,
                "parameters": [p.detach().clone() for p in ensemble.parameters()],
                "optimizer": optimizer.state_dict(),
                "evals": evals,
                "mse": [torch.from_numpy(row) for row in mse],
                "h1": [torch.from_numpy(row) for row in h1],
                "train": [torch.from_numpy(row) for row in train],
                "seconds": seconds,
                "rng": rng_state(dev),
            }
        )

    for step in range(first_step, steps + 1):
        _synchronize(dev)
        started = time.perf_counter()
        optimizer.zero_grad()
        losses = losses_now()
        losses.sum().backward()
        optimizer.step()
        _synchronize(dev)
        elapsed += time.perf_counter() - started
        if step % eval_every == 0 or step == steps:
            evaluate(step, losses)  # the training loss just before this step's update
            if checkpoint is not None and step < steps and step - saved_at >= checkpoint.every:
                save_checkpoint(step)
                saved_at = step
    if checkpoint is not None and saved_at < steps:
        # the finished run, kept until the experiment has stored its results (it deletes it)
        save_checkpoint(steps)
    return EnsembleHistory(
        np.asarray(evals),
        np.stack(mse, axis=1),
        np.stack(h1, axis=1),
        np.stack(train, axis=1),
        np.asarray(seconds),
        optimizer.lr.numpy().copy(),
    )


def ensemble_step(ensemble: Ensemble, x, value, gradient=None, *, lr=1e-3) -> Callable[[], None]:
    """A callable doing one Adam step of the whole ensemble (for :func:`sobolev.benchmark.step_times`)."""
    dev, dt = ensemble.device, ensemble.dtype
    x, value = (torch.as_tensor(t).to(device=dev, dtype=dt).reshape(-1) for t in (x, value))
    if gradient is not None:
        gradient = torch.as_tensor(gradient).to(device=dev, dtype=dt).reshape(-1)
    optimizer = StackedAdam(ensemble.parameters(), lr)

    def step() -> None:
        optimizer.zero_grad()
        member_losses(ensemble, x, value, gradient).sum().backward()
        optimizer.step()

    return step


def loop_step(
    modules: Sequence[nn.Module], x, value, gradient=None, *, lr=1e-3
) -> Callable[[], None]:
    """A callable doing one Adam step of each of ``modules`` in turn, the ordinary way.

    Each network is an ``nn.Module`` with its own ``torch.optim.Adam`` and the loss
    :func:`sobolev.losses.sobolev_loss` (input derivatives by autograd). The modules
    are deep-copied first, so the caller's networks are left untouched.
    """
    modules = [copy.deepcopy(m) for m in modules]
    ref = next(modules[0].parameters())
    x = torch.as_tensor(x).to(device=ref.device, dtype=ref.dtype).reshape(-1, 1)
    value = torch.as_tensor(value).to(device=ref.device, dtype=ref.dtype).reshape(-1)
    if gradient is not None:
        gradient = torch.as_tensor(gradient).to(device=ref.device, dtype=ref.dtype).reshape(-1, 1)
    optimizers = [torch.optim.Adam(m.parameters(), lr=lr) for m in modules]

    def step() -> None:
        for module, optimizer in zip(modules, optimizers):
            optimizer.zero_grad(set_to_none=True)
            sobolev_loss(module, x, value, gradient).total.backward()
            optimizer.step()

    return step


@dataclass
class RegressionProblem:
    """A 1-D regression problem: training grid and held-out test points with f and f′.

    ``x`` is the uniform training grid of ``n_train`` points over the target's domain;
    ``test_x`` are ``n_test`` points drawn uniformly at random (a fixed seed), so they
    fall between the training points. Values and derivatives are computed once in
    float64 and cast to ``dtype`` on ``device``.
    """

    target: object
    x: torch.Tensor
    value: torch.Tensor
    gradient: torch.Tensor
    test_x: torch.Tensor
    test_value: torch.Tensor
    test_gradient: torch.Tensor


def regression_problem(
    target, n_train: int, n_test: int, *, seed: int = 0, device=None, dtype=torch.float32
) -> RegressionProblem:
    """The :class:`RegressionProblem` of a 1-D :class:`sobolev.targets.Target`."""
    n_train = check_int(n_train, "n_train", minimum=2)
    n_test = check_int(n_test, "n_test", minimum=1)
    if target.d != 1:
        raise ValueError(f"target must be one-dimensional, got d = {target.d}")
    grid = torch.as_tensor(target.grid(n_train))
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    test = torch.as_tensor(np.sort(target.uniform(n_test, rng), axis=0))
    v, g, _ = target.sample(grid, order=1, dtype=dtype, device=device)
    tv, tg, _ = target.sample(test, order=1, dtype=dtype, device=device)
    cast = lambda t: t.to(device=device, dtype=dtype)[:, 0]  # noqa: E731
    return RegressionProblem(target, cast(grid), v, g[:, 0], cast(test), tv, tg[:, 0])


def fit(
    factory: Callable[[], nn.Module],
    problem: RegressionProblem,
    *,
    loss: str,
    lrs: Sequence[float],
    n_members: int | None = None,
    steps: int,
    eval_every: int,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    h1_weight: float = 1.0,
    checkpoint: Checkpoint | None = None,
) -> Fit:
    """Train ``n_members`` networks per learning rate in ``lrs`` as ONE ensemble.

    ``loss`` is ``"l2"`` or ``"h1"`` (weights 1, as in the paper, unless ``h1_weight``
    says otherwise). Member k of every
    learning rate starts from the same network (``torch.manual_seed(seed + k)``, or
    ``torch.manual_seed(seeds[k])`` when ``seeds`` are given instead of ``n_members``),
    so learning rates and losses are compared on the same initialisations. Returns a
    :class:`Fit`: the history of each learning rate's members and the trained ensemble.
    ``checkpoint`` goes to :func:`train_ensemble`.
    """
    if loss not in ("l2", "h1"):
        raise ValueError(f"loss must be 'l2' or 'h1', got {loss!r}")
    lrs = [float(lr) for lr in lrs]
    if not lrs:
        raise ValueError("lrs must hold at least one learning rate")
    if seeds is None:
        if n_members is None:
            raise ValueError("give n_members (members seeded seed, seed + 1, ...) or seeds")
        n_members = check_int(n_members, "n_members", minimum=1)
        seed = check_int(seed, "seed", minimum=0)
        seeds = [seed + k for k in range(n_members)]
    else:
        seeds = [check_int(s, "seed", minimum=0) for s in seeds]
        if not seeds or (n_members is not None and n_members != len(seeds)):
            raise ValueError(f"seeds must hold n_members={n_members} seeds, got {seeds}")
        n_members = len(seeds)
    modules = []
    for member_seed in seeds:
        torch.manual_seed(member_seed)
        modules.append(factory())
    p = problem
    ensemble = Ensemble.from_modules(modules * len(lrs), device=p.x.device, dtype=p.x.dtype)
    history = train_ensemble(
        ensemble,
        p.x,
        p.value,
        p.gradient if loss == "h1" else None,
        lr=np.repeat(lrs, n_members),
        steps=steps,
        test_x=p.test_x,
        test_value=p.test_value,
        test_gradient=p.test_gradient,
        eval_every=eval_every,
        h1_weight=h1_weight,
        checkpoint=checkpoint,
    )
    histories = {
        lr: history.select(np.arange(i * n_members, (i + 1) * n_members))
        for i, lr in enumerate(lrs)
    }
    return Fit(histories, ensemble, n_members)


@dataclass
class Fit:
    """What :func:`fit` returns: ``histories[lr]`` and the trained ``ensemble``.

    A :class:`Fit` rebuilt from stored histories has no ensemble (``None``): it
    answers everything but :meth:`predict`.
    """

    histories: dict[float, EnsembleHistory]
    ensemble: Ensemble | None
    n_members: int

    def __getitem__(self, lr: float) -> EnsembleHistory:
        return self.histories[lr]

    def best_lr(self, step: int | None = None) -> float:
        """The learning rate with the lowest median late test MSE (:meth:`EnsembleHistory.late`)
        up to ``step`` (default: the last)."""

        def score(lr):
            h = self.histories[lr]
            return np.median(h.late(end=step))

        return min(self.histories, key=score)

    def predict(self, lr: float, x) -> tuple[np.ndarray, np.ndarray]:
        """u and ∂ₓu of the members trained with ``lr`` at ``x``, each (n_members, N), NumPy."""
        if self.ensemble is None:
            raise ValueError("this Fit was rebuilt from stored histories: it has no networks")
        i = list(self.histories).index(lr)
        e = self.ensemble
        x = torch.as_tensor(x).to(device=e.device, dtype=e.dtype).reshape(-1)
        with torch.no_grad():
            u, du, _ = e.derivatives(x, order=1)
        rows = slice(i * self.n_members, (i + 1) * self.n_members)
        return u[rows].cpu().double().numpy(), du[rows].cpu().double().numpy()
