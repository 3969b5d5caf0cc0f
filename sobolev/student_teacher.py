r"""Student–teacher SGD on one ReLU node: the paper's Figure 2 (Section 4.2).

A teacher :math:`g(x; w^*) = \sigma(w^{*\top}x)` with :math:`w^* \sim N(0, I_d)`, a student
:math:`g(x; w) = \sigma(w^\top x)` started at :math:`w^0 = w^* + e` with :math:`\|e\| \le \|w^*\|`,
and :math:`N` inputs :math:`x_j \sim N(0, I_d)`. The two empirical losses are

.. math::

   \hat{\mathcal L}(w) = \frac{\lambda_0}{N}\sum_{j=1}^N \big(g(x_j; w) - g(x_j; w^*)\big)^2,
   \qquad
   \hat{\mathcal H}(w) = \hat{\mathcal L}(w) + \frac{\lambda_1}{N}\sum_{j=1}^N
   \big\|\nabla_x g(x_j; w) - \nabla_x g(x_j; w^*)\big\|^2,
   \qquad (\text{eq-st-losses})

with :math:`\lambda_0 = \lambda_1 = \tfrac12` by default (the theory's ½ on both terms) and
:math:`\nabla_x g(x; w) = \mathbb 1\{w^\top x > 0\}\, w` taken by autograd.

One student per row: :class:`ReLUStudents` holds a parameter of shape ``(R, d)``, each row
a :class:`~sobolev.networks.SingleNeuron`, so that one :func:`~sobolev.training.train` call
runs many seeds and learning rates at once (per-step Python overhead dominates for one
neuron). Rows are laid out learning-rate-major: row ``r = l·S + s`` is learning rate ``l``
and seed ``s``. Per-row learning rates are exact for plain SGD: the loss that ``train``
differentiates is :math:`\sum_r \eta_r \hat{\mathcal J}_r`, stepped with unit learning rate.

:func:`run_sgd` records ‖w − w*‖ at every step, or on a log grid (:func:`record_grid`) for
long runs, and with a :class:`~sobolev.results.Checkpoint` a sweep stopped at any moment
resumes to the same numbers, to the bit. :class:`SGDRun` and :class:`ReachSweep` convert to
per-seed results (:mod:`sobolev.experiments.student_teacher_sgd`) and back.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .losses import SobolevLoss
from .results import Checkpoint, ResultsError
from .training import DivergenceError, train

LOSSES = ("l2", "h1")


# --------------------------------------------------------------------------------------------
# The problem: teachers, initial students, data
# --------------------------------------------------------------------------------------------


@dataclass
class StudentTeacherProblem:
    """S independent student–teacher problems of dimension d with N samples each.

    ``w_star`` and ``w0``: (S, d); ``x``: (N, S, d) (sample-major so that ``train`` slices
    mini-batches along the first axis); ``value`` (N, S) = g(x; w*), ``slope`` (N, S) =
    σ'(w*ᵀx) = 1{w*ᵀx > 0} and ``gradient`` (N, S, d) = ∇ₓg(x; w*) = slope·w*, computed in
    float64 and cast.
    """

    w_star: torch.Tensor
    w0: torch.Tensor
    x: torch.Tensor
    value: torch.Tensor
    slope: torch.Tensor
    gradient: torch.Tensor
    seeds: tuple[int, ...]

    @property
    def n_seeds(self) -> int:
        return self.w_star.shape[0]

    @property
    def d(self) -> int:
        return self.w_star.shape[1]

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def make_problem(
    d: int, n_samples: int, seeds: Sequence[int], *, dtype=torch.float32, device="cpu"
) -> StudentTeacherProblem:
    """Draw one problem per seed (each from its own generator, so seeds are independent).

    w* ~ N(0, I_d); e uniform in the ball of radius ‖w*‖ (uniform direction, radius
    ‖w*‖·U^{1/d}), so ‖w⁰ − w*‖ < ‖w*‖ almost surely — the basin of Theorems 1–2;
    x_j ~ N(0, I_d), j = 1..N.
    """
    d = _check_positive_int(d, "d")
    n_samples = _check_positive_int(n_samples, "n_samples")
    seeds = tuple(int(s) for s in seeds)
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(
            f"seeds must be a non-empty sequence of non-negative integers, got {seeds!r}"
        )
    w_star, w0, xs = [], [], []
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        teacher = torch.randn(d, generator=generator, dtype=torch.float64)
        direction = torch.randn(d, generator=generator, dtype=torch.float64)
        direction /= direction.norm()
        radius = teacher.norm() * torch.rand((), generator=generator, dtype=torch.float64) ** (
            1.0 / d
        )
        w_star.append(teacher)
        w0.append(teacher + radius * direction)
        xs.append(torch.randn(n_samples, d, generator=generator, dtype=torch.float64))
    w_star = torch.stack(w_star)
    x = torch.stack(xs, dim=1)  # (N, S, d)
    z = torch.einsum("nsd,sd->ns", x, w_star)
    value = torch.relu(z)
    slope = (z > 0).to(torch.float64)
    gradient = slope[..., None] * w_star[None]
    cast = dict(dtype=dtype, device=device)
    # stored seed-major (contiguous (S, N, d)) and handed out as an (N, S, d) view: full-batch
    # steps then multiply contiguous per-seed blocks
    x = x.transpose(0, 1).contiguous().to(**cast).transpose(0, 1)
    return StudentTeacherProblem(
        w_star.to(**cast),
        torch.stack(w0).to(**cast),
        x,
        value.to(**cast),
        slope.to(**cast),
        gradient.to(**cast),
        seeds,
    )


# --------------------------------------------------------------------------------------------
# The vectorised student and its losses
# --------------------------------------------------------------------------------------------


class ReLUStudents(nn.Module):
    """R independent single-ReLU students g(x; w_r) = σ(w_rᵀx), parameter ``w`` of shape (R, d).

    ``forward(x)`` takes the inputs of S seeds, x of shape (S, N, d), with R a multiple L·S
    of S; row r = l·S + s sees x[s]. It returns the pre-activations z = w_rᵀx (R, N) and the
    values σ(z) (R, N); row r equals ``SingleNeuron(w[r])(x[r % S])[:, 0]``. One batched
    matrix product per step (x is read once for all L rows of a seed).
    """

    def __init__(self, w):
        super().__init__()
        w = torch.as_tensor(w)
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] < 1:
            raise ValueError(f"w must have shape (R, d) with R, d >= 1, got {tuple(w.shape)}")
        if not torch.is_floating_point(w):
            w = w.to(torch.get_default_dtype())
        self.w = nn.Parameter(w.detach().clone())

    @property
    def n_students(self) -> int:
        return self.w.shape[0]

    @property
    def d(self) -> int:
        return self.w.shape[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if (
            not isinstance(x, torch.Tensor)
            or x.ndim != 3
            or x.shape[2] != self.d
            or self.n_students % x.shape[0] != 0
        ):
            raise ValueError(
                f"x must have shape (S, N, {self.d}) with S dividing the {self.n_students} "
                f"students, got {tuple(getattr(x, 'shape', ()))}"
            )
        s, n, d = x.shape
        n_lrs = self.n_students // s
        w = self.w.view(n_lrs, s, d).permute(1, 2, 0)  # (S, d, L)
        z = torch.matmul(x, w).permute(2, 0, 1).reshape(self.n_students, n)  # (R, N)
        return z, torch.relu(z)


def student_slopes(model: ReLUStudents, x: torch.Tensor):
    """Values g (R, N) and activation slopes a = σ'(wᵀx) = ∂g/∂z (R, N), the latter by autograd.

    ∇ₓg(x; w) = a·w by the chain rule through the linear map z = wᵀx (:func:`input_gradients`).
    The slope is returned as a constant: autograd's derivative of σ' is zero (almost everywhere),
    which is also what autograd uses when it differentiates ∇ₓg in w, so no second-order graph
    is needed.
    """
    z, g = model(x)
    (slope,) = torch.autograd.grad(g.sum(), z, retain_graph=True)
    return g, slope


def input_gradients(model: ReLUStudents, x: torch.Tensor) -> torch.Tensor:
    """∇ₓg(x_n; w_r) = σ'(w_rᵀx_n) w_r for every row and sample, shape (R, N, d)."""
    _, slope = student_slopes(model, x)
    return slope[..., None] * model.w[:, None, :]


def per_row_losses(
    model: ReLUStudents,
    x: torch.Tensor,
    value: torch.Tensor,
    teacher_slope: torch.Tensor | None = None,
    w_star: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    r"""The unweighted terms of (eq-st-losses) for every row, as tensors of shape (R,).

    ``x`` (N, S, d) and ``value`` (N, S) = g(x; w*) are the data of S seeds; row r uses seed
    r mod S. ``"l2"`` is (1/N)Σ(g − g*)². With ``teacher_slope`` (N, S) = 1{w*ᵀx > 0} and
    ``w_star`` (S, d) also given, ``"h1"`` is (1/N)Σ‖∇ₓg − ∇ₓg*‖² = (1/N)Σ‖a w − a* w*‖², evaluated
    without forming the (R, N, d) gradients, through the exact identity

    .. math:: \overline{\|a w - a^* w^*\|^2} = \overline{a a^*}\,\|w - w^*\|^2
              + \overline{a^2 - a a^*}\,\|w\|^2 + \overline{a^{*2} - a a^*}\,\|w^*\|^2

    (bars are means over samples), which keeps full precision near w = w* where the
    difference is tiny. Why not autograd in x: with one neuron the (R, N, d) gradient tensors
    cost d times more than everything else; the tests check this loss and its w-gradient
    against :func:`~sobolev.losses.sobolev_loss` on :class:`~sobolev.networks.SingleNeuron`.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        raise ValueError(f"x must have shape (N, S, d), got {tuple(getattr(x, 'shape', ()))}")
    n, s, d = x.shape
    if model.n_students % s != 0 or model.d != d:
        raise ValueError(
            f"x has {s} seeds of dimension {d}; the model's {model.n_students} rows of "
            f"dimension {model.d} must be a multiple of the seeds"
        )
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != (n, s):
        raise ValueError(
            f"value must have shape {(n, s)}, got {tuple(getattr(value, 'shape', ()))}"
        )
    if (teacher_slope is None) != (w_star is None):
        raise ValueError("teacher_slope and w_star must be given together (both or neither)")
    n_lrs = model.n_students // s
    xs = x.transpose(0, 1)
    target = value.transpose(0, 1)  # (S, N), broadcast over L
    if teacher_slope is None:
        _, g = model(xs)
        return {"l2": (g.view(n_lrs, s, n) - target).square().mean(dim=2).reshape(-1)}
    if tuple(teacher_slope.shape) != (n, s):
        raise ValueError(
            f"teacher_slope must have shape {(n, s)}, got {tuple(teacher_slope.shape)}"
        )
    if tuple(w_star.shape) != (s, d):
        raise ValueError(f"w_star must have shape {(s, d)}, got {tuple(w_star.shape)}")
    g, a = student_slopes(model, xs)
    a = a.view(n_lrs, s, n)
    a_star = teacher_slope.transpose(0, 1)
    w = model.w.view(n_lrs, s, d)
    both = (a * a_star).mean(dim=2)
    h1 = (
        both * (w - w_star).square().sum(dim=2)
        + ((a * a).mean(dim=2) - both) * w.square().sum(dim=2)
        + ((a_star * a_star).mean(dim=1) - both) * w_star.square().sum(dim=1)
    )
    l2 = (g.view(n_lrs, s, n) - target).square().mean(dim=2)
    return {"l2": l2.reshape(-1), "h1": h1.reshape(-1)}


def ensemble_loss(
    model: ReLUStudents,
    x: torch.Tensor,
    value: torch.Tensor,
    teacher_slope: torch.Tensor | None = None,
    w_star: torch.Tensor | None = None,
    *,
    row_scale: torch.Tensor | None = None,
    l2_weight: float = 0.5,
    h1_weight: float = 0.5,
) -> SobolevLoss:
    r"""Σ_r η_r (λ₀ ℓ_{L²,r} + λ₁ ℓ_{H¹,r}): the per-row losses (eq-st-losses) scaled by ``row_scale``.

    With plain SGD at unit learning rate, row r then takes exactly the step of SGD with
    learning rate η_r on its own loss. ``terms`` hold the row means (for logging).
    """
    for name, weight in (("l2_weight", l2_weight), ("h1_weight", h1_weight)):
        if isinstance(weight, bool) or not (isinstance(weight, (int, float)) and weight >= 0):
            raise ValueError(f"{name} must be a non-negative number, got {weight!r}")
    terms = per_row_losses(model, x, value, teacher_slope, w_star)
    per_row = l2_weight * terms["l2"]
    if "h1" in terms:
        per_row = per_row + h1_weight * terms["h1"]
    if row_scale is not None:
        if tuple(row_scale.shape) != (model.n_students,):
            raise ValueError(
                f"row_scale must have shape ({model.n_students},), got {tuple(row_scale.shape)}"
            )
        per_row = per_row * row_scale
    weights = {"l2": float(l2_weight)}
    if "h1" in terms:
        weights["h1"] = float(h1_weight)
    return SobolevLoss(
        total=per_row.sum(), terms={k: v.mean() for k, v in terms.items()}, weights=weights
    )


# --------------------------------------------------------------------------------------------
# SGD sweeps
# --------------------------------------------------------------------------------------------


@dataclass
class SGDRun:
    """What :func:`run_sgd` recorded for one loss, one batch size and L learning rates × S seeds.

    ``error[l, s, i]`` = ‖w − w*‖ after ``error_steps[i]`` steps (NaN when diverged);
    ``error_steps`` is every step 0..steps unless :func:`run_sgd` was given a coarser grid
    (``None`` here means every step). ``loss_steps`` (log-spaced) with ``l2_loss[l, s, i]`` =
    (1/2N)Σ(g − g*)² and ``h1_loss[l, s, i]`` = (1/2N)Σ‖∇ₓg − ∇ₓg*‖² on all N samples at step
    ``loss_steps[i]``; ``diverged[l]`` is True when ``train`` raised :class:`DivergenceError`
    for that learning rate.
    """

    loss: str
    lrs: tuple[float, ...]
    batch_size: int | None
    steps: int
    error: np.ndarray
    loss_steps: np.ndarray
    l2_loss: np.ndarray
    h1_loss: np.ndarray
    diverged: np.ndarray
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)
    error_steps: np.ndarray | None = None

    @property
    def recorded_steps(self) -> np.ndarray:
        """The steps at which ``error`` is recorded (its last axis)."""
        if self.error_steps is None:
            return np.arange(self.error.shape[-1])
        return np.asarray(self.error_steps)

    def steps_to_reach(self, threshold: float) -> np.ndarray:
        """First recorded step with ‖w − w*‖ < ``threshold`` per (lr, seed); ``inf`` if never.

        Exact when every step is recorded; on a coarser grid it is the first grid step below.
        """
        below = self.error < threshold
        first = np.where(
            below.any(axis=2), self.recorded_steps[below.argmax(axis=2)], np.inf
        ).astype(float)
        first[self.diverged] = np.inf
        return first

    def median_steps_to_reach(self, threshold: float) -> np.ndarray:
        """Median over seeds of :meth:`steps_to_reach` per learning rate (inf if half never reach)."""
        return np.median(self.steps_to_reach(threshold), axis=1)

    def seed_result(self, s: int) -> dict:
        """Seed ``s`` (an index into the seed axis) as a dict of numbers, arrays and strings."""
        return {
            "loss": self.loss,
            "lrs": np.asarray(self.lrs, dtype=float),
            "batch_size": 0 if self.batch_size is None else int(self.batch_size),
            "steps": int(self.steps),
            "error_steps": self.recorded_steps,
            "error": self.error[:, s],
            "loss_steps": np.asarray(self.loss_steps),
            "l2_loss": self.l2_loss[:, s],
            "h1_loss": self.h1_loss[:, s],
            "diverged": np.asarray(self.diverged, dtype=bool),
        }

    @classmethod
    def from_seed_results(cls, results: Sequence[dict]) -> SGDRun:
        """The inverse of :meth:`seed_result`: the seeds' dicts stacked along the seed axis."""
        if not results:
            raise ValueError("from_seed_results needs the result of at least one seed")
        first = results[0]
        for key in ("loss", "batch_size", "steps"):
            if any(r[key] != first[key] for r in results):
                raise ValueError(f"the seeds' results differ in {key!r}: not one sweep")
        for key in ("lrs", "error_steps", "loss_steps", "diverged"):
            if any(not np.array_equal(r[key], first[key]) for r in results):
                raise ValueError(f"the seeds' results differ in {key!r}: not one sweep")
        return cls(
            loss=str(first["loss"]),
            lrs=tuple(float(lr) for lr in np.atleast_1d(first["lrs"])),
            batch_size=int(first["batch_size"]) or None,
            steps=int(first["steps"]),
            error=np.stack([np.atleast_2d(r["error"]) for r in results], axis=1),
            loss_steps=np.asarray(first["loss_steps"]),
            l2_loss=np.stack([np.atleast_2d(r["l2_loss"]) for r in results], axis=1),
            h1_loss=np.stack([np.atleast_2d(r["h1_loss"]) for r in results], axis=1),
            diverged=np.atleast_1d(np.asarray(first["diverged"], dtype=bool)),
            error_steps=np.asarray(first["error_steps"]),
        )

    def state(self) -> dict:
        """Everything but the messages and timing, as tensors (for a :class:`Checkpoint`)."""
        return {
            "loss": self.loss,
            "lrs": tuple(self.lrs),
            "batch_size": self.batch_size,
            "steps": self.steps,
            "error": torch.from_numpy(np.asarray(self.error)),
            "error_steps": torch.from_numpy(self.recorded_steps.copy()),
            "loss_steps": torch.from_numpy(np.asarray(self.loss_steps).copy()),
            "l2_loss": torch.from_numpy(np.asarray(self.l2_loss)),
            "h1_loss": torch.from_numpy(np.asarray(self.h1_loss)),
            "diverged": torch.from_numpy(np.asarray(self.diverged, dtype=bool).copy()),
            "seconds": float(self.seconds),
        }

    @classmethod
    def from_state(cls, state: dict) -> SGDRun:
        arrays = {k: state[k].numpy() for k in ("error", "loss_steps", "l2_loss", "h1_loss")}
        return cls(
            loss=state["loss"],
            lrs=tuple(state["lrs"]),
            batch_size=state["batch_size"],
            steps=state["steps"],
            diverged=state["diverged"].numpy(),
            error_steps=state["error_steps"].numpy(),
            seconds=state["seconds"],
            **arrays,
        )


@dataclass
class ReachSweep:
    """The summary of a learning-rate sweep that the fair comparison needs: steps to a threshold.

    ``reach[l, s]`` is :meth:`SGDRun.steps_to_reach` at ``threshold`` (``inf``: never, or
    diverged), ``diverged[l]`` as in :class:`SGDRun`. It answers the same questions as the
    sweep it summarises (:func:`stable_lrs`, :func:`best_lr`), at that threshold only.
    """

    loss: str
    lrs: tuple[float, ...]
    threshold: float
    reach: np.ndarray
    diverged: np.ndarray

    @classmethod
    def from_run(cls, run: SGDRun, threshold: float) -> ReachSweep:
        return cls(
            run.loss, tuple(run.lrs), float(threshold), run.steps_to_reach(threshold), run.diverged
        )

    def steps_to_reach(self, threshold: float) -> np.ndarray:
        if float(threshold) != self.threshold:
            raise ValueError(
                f"this sweep was summarised at threshold {self.threshold:g}, not {threshold:g}"
            )
        first = np.array(self.reach, dtype=float)
        first[np.asarray(self.diverged, dtype=bool)] = np.inf
        return first

    def median_steps_to_reach(self, threshold: float) -> np.ndarray:
        return np.median(self.steps_to_reach(threshold), axis=1)

    def seed_result(self, s: int) -> dict:
        return {
            "loss": self.loss,
            "lrs": np.asarray(self.lrs, dtype=float),
            "threshold": self.threshold,
            "reach": self.reach[:, s],
            "diverged": np.asarray(self.diverged, dtype=bool),
        }

    @classmethod
    def from_seed_results(cls, results: Sequence[dict]) -> ReachSweep:
        if not results:
            raise ValueError("from_seed_results needs the result of at least one seed")
        first = results[0]
        for key in ("lrs", "diverged", "threshold"):
            if any(not np.array_equal(r[key], first[key]) for r in results):
                raise ValueError(f"the seeds' results differ in {key!r}: not one sweep")
        return cls(
            loss=str(first["loss"]),
            lrs=tuple(float(lr) for lr in np.atleast_1d(first["lrs"])),
            threshold=float(first["threshold"]),
            reach=np.stack([np.atleast_1d(r["reach"]) for r in results], axis=1).astype(float),
            diverged=np.atleast_1d(np.asarray(first["diverged"], dtype=bool)),
        )

    def state(self) -> dict:
        return {
            "loss": self.loss,
            "lrs": tuple(self.lrs),
            "threshold": self.threshold,
            "reach": torch.from_numpy(np.asarray(self.reach, dtype=float).copy()),
            "diverged": torch.from_numpy(np.asarray(self.diverged, dtype=bool).copy()),
        }

    @classmethod
    def from_state(cls, state: dict) -> ReachSweep:
        return cls(
            state["loss"],
            tuple(state["lrs"]),
            state["threshold"],
            state["reach"].numpy(),
            state["diverged"].numpy(),
        )


def log_steps(steps: int, per_decade: int = 12) -> np.ndarray:
    """0 and about ``per_decade`` log-spaced integer steps per decade up to ``steps`` (included)."""
    steps = int(steps)
    if steps < 1:
        return np.array([0])
    grid = np.unique(
        np.round(np.logspace(0, math.log10(steps), max(2, int(per_decade * math.log10(steps)) + 2)))
    )
    return np.unique(np.concatenate([[0], grid.astype(int), [steps]]))


def record_grid(steps: int, per_decade: int | None = None, also: Sequence[int] = ()) -> np.ndarray:
    """The steps at which a run records ‖w − w*‖: every step (``per_decade=None``), else
    :func:`log_steps` with ``per_decade`` points a decade and the steps ``also``."""
    steps = _check_positive_int(steps, "steps")
    if per_decade is None:
        return np.arange(steps + 1)
    per_decade = _check_positive_int(per_decade, "per_decade")
    extra = np.asarray([int(k) for k in also if 0 <= int(k) <= steps], dtype=int)
    return np.unique(np.concatenate([log_steps(steps, per_decade), extra]))


class _Recording:
    """What a group run records while it trains; saved with (and restored from) its checkpoint."""

    def __init__(self):
        self.calls = 0  # loss evaluations so far = optimiser steps taken before this one
        self.errors: list[torch.Tensor] = []
        self.l2: list[torch.Tensor] = []
        self.h1: list[torch.Tensor] = []

    def state(self) -> dict:
        def stack(values):
            return torch.stack(values) if values else torch.empty(0)

        return {
            "calls": self.calls,
            "errors": stack(self.errors),
            "l2": stack(self.l2),
            "h1": stack(self.h1),
        }

    def restore(self, state: dict) -> None:
        self.calls = int(state["calls"])
        self.errors = list(state["errors"].unbind(0)) if state["errors"].numel() else []
        self.l2 = list(state["l2"].unbind(0)) if state["l2"].numel() else []
        self.h1 = list(state["h1"].unbind(0)) if state["h1"].numel() else []


class _RecordingCheckpoint:
    """A :class:`~sobolev.results.Checkpoint` of ``train`` that also keeps a :class:`_Recording`.

    ``train`` saves and restores the model, optimiser, generators and its history; what the
    loss function recorded along the way (errors and losses at the recorded steps) travels
    in the same file, so a resumed group ends with the same recordings as an uninterrupted one.
    """

    def __init__(self, checkpoint: Checkpoint, recording: _Recording):
        self.checkpoint = checkpoint
        self.recording = recording
        self.every = checkpoint.every
        self.path = checkpoint.path

    def exists(self) -> bool:
        return self.checkpoint.exists()

    def save(self, state) -> None:
        self.checkpoint.save({**state, "recording": self.recording.state()})

    def load(self):
        state = self.checkpoint.load()
        if state is not None:
            if "recording" not in state:
                raise ResultsError(f"{self.path} holds no recording of a student-teacher run")
            self.recording.restore(state.pop("recording"))
        return state

    def clear(self) -> None:
        self.checkpoint.clear()


#: Optimiser steps between ``train``'s evaluations (divergence checks, checkpoints). The errors
#: are recorded by the loss function at every recorded step, so this changes no number.
EVAL_EVERY = 50


def _train_group(
    problem: StudentTeacherProblem,
    loss: str,
    lrs: Sequence[float],
    *,
    steps: int,
    batch_size: int | None,
    seed: int,
    l2_weight: float,
    h1_weight: float,
    per_decade: int,
    record: np.ndarray,
    checkpoint: Checkpoint | None = None,
):
    """One ``train`` call for all seeds × ``lrs``; returns (error, l2, h1, loss_steps, seconds).

    ‖w − w*‖ is recorded at the steps ``record`` and the full-sample losses at
    :func:`log_steps` ``(steps, per_decade)``, both by the loss function just before the
    step that follows (and after the last step by the final evaluation), so ``train`` only
    needs to evaluate every :data:`EVAL_EVERY` steps, for its divergence check and checkpoints.
    """
    s = problem.n_seeds
    n_lrs = len(lrs)
    device, dtype = problem.x.device, problem.x.dtype
    model = ReLUStudents(problem.w0.repeat(n_lrs, 1)).to(device)
    teacher = problem.w_star.repeat(n_lrs, 1)
    scale = torch.tensor([lr for lr in lrs for _ in range(s)], dtype=dtype, device=device)
    marks = log_steps(steps, per_decade)
    mark_set = set(int(k) for k in marks)
    record_set = set(int(k) for k in record)
    recording = _Recording()

    def observe(m) -> None:
        """Record the students after ``recording.calls`` steps (where that step is recorded)."""
        k = recording.calls
        if k in record_set:
            with torch.no_grad():
                recording.errors.append((m.w - teacher).norm(dim=1))
        if k in mark_set:
            with torch.enable_grad():
                terms = per_row_losses(m, problem.x, problem.value, problem.slope, problem.w_star)
            recording.l2.append(0.5 * terms["l2"].detach())
            recording.h1.append(0.5 * terms["h1"].detach())

    def loss_fn(m, x, value, slope):
        observe(m)
        recording.calls += 1
        if loss == "l2":
            return ensemble_loss(
                m, x, value, row_scale=scale, l2_weight=l2_weight, h1_weight=h1_weight
            )
        return ensemble_loss(
            m,
            x,
            value,
            slope,
            problem.w_star,
            row_scale=scale,
            l2_weight=l2_weight,
            h1_weight=h1_weight,
        )

    def evaluate(m):
        if recording.calls == steps:  # the final evaluation: the students after the last step
            observe(m)
        return 0.0

    history = train(
        model,
        loss_fn,
        (problem.x, problem.value, problem.slope),
        steps=steps,
        lr=1.0,  # the learning rates are in the loss (row_scale): SGD at unit rate
        optimizer="sgd",
        batch_size=batch_size,
        evaluate=evaluate,
        eval_every=min(EVAL_EVERY, steps),
        seed=seed,
        progress=False,
        description=f"{loss} SGD, lr={list(lrs)}, batch={batch_size}",
        checkpoint=None if checkpoint is None else _RecordingCheckpoint(checkpoint, recording),
    )
    if len(recording.errors) != len(record) or len(recording.l2) != len(marks):
        raise RuntimeError(
            f"recorded {len(recording.errors)} errors and {len(recording.l2)} losses, expected "
            f"{len(record)} and {len(marks)}: the recording and the steps are out of step"
        )
    shape = (n_lrs, s, -1)
    error = torch.stack(recording.errors, dim=1).reshape(shape).cpu().numpy()
    l2 = torch.stack(recording.l2, dim=1).reshape(shape).cpu().numpy()
    h1 = torch.stack(recording.h1, dim=1).reshape(shape).cpu().numpy()
    seconds = history.train_seconds[-1] if history.train_seconds else 0.0
    return error, l2, h1, marks, seconds


def run_sgd(
    problem: StudentTeacherProblem,
    loss: str,
    lrs: Sequence[float],
    *,
    steps: int,
    batch_size: int | None = None,
    seed: int = 0,
    l2_weight: float = 0.5,
    h1_weight: float = 0.5,
    per_decade: int = 12,
    record_steps: Sequence[int] | None = None,
    checkpoint: Checkpoint | None = None,
) -> SGDRun:
    """SGD on (eq-st-losses) for every seed of ``problem`` and every learning rate in ``lrs``.

    ``loss`` is ``"l2"`` (values only) or ``"h1"`` (values and input gradients). All learning
    rates run in one vectorised :func:`~sobolev.training.train` call; if it raises
    :class:`~sobolev.training.DivergenceError`, the learning rates are split into a lower and
    an upper half and rerun (recursively); a learning rate that diverges on its own is marked
    ``diverged`` (its errors stay NaN and are never averaged in). A learning rate therefore
    counts as stable only if it is stable for every seed.
    ``batch_size=None`` is full-batch gradient descent; mini-batches are shared by all rows.
    ``record_steps`` (increasing, from 0 to ``steps``; default every step) are the steps at
    which ‖w − w*‖ is recorded (:func:`record_grid`).

    With a :class:`~sobolev.results.Checkpoint` the sweep keeps the groups it has finished
    in that file and the state of the group in training in another one beside it (every
    ``checkpoint.every`` steps), so a sweep stopped at any moment and called again with the
    same arguments ends with the same numbers, to the bit, as an uninterrupted one. When the
    sweep ends its file holds the whole sweep (a call with the same arguments returns at
    once); whoever stores the results deletes it, with :func:`clear_checkpoint`.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is unknown; expected one of {', '.join(LOSSES)}")
    lrs = tuple(float(lr) for lr in lrs)
    if not lrs or not all(lr > 0 and math.isfinite(lr) for lr in lrs):
        raise ValueError(
            f"lrs must be a non-empty sequence of positive learning rates, got {lrs!r}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    record = np.arange(steps + 1) if record_steps is None else np.asarray(record_steps)
    if (
        record.ndim != 1
        or record.size < 2
        or record.dtype.kind not in "iu"
        or record[0] != 0
        or record[-1] != steps
        or np.any(np.diff(record) <= 0)
    ):
        raise ValueError(
            f"record_steps must be increasing integers from 0 to steps={steps}, got {record!r}"
        )
    kwargs = dict(
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        l2_weight=l2_weight,
        h1_weight=h1_weight,
        per_decade=per_decade,
        record=record,
    )
    s = problem.n_seeds
    marks = log_steps(steps, per_decade)
    error = np.full((len(lrs), s, len(record)), np.nan)
    l2 = np.full((len(lrs), s, len(marks)), np.nan)
    h1 = np.full((len(lrs), s, len(marks)), np.nan)
    diverged = np.zeros(len(lrs), dtype=bool)
    messages: list[str] = []
    seconds = 0.0

    run_key = {
        "loss": loss,
        "lrs": lrs,
        "steps": steps,
        "batch_size": batch_size,
        "seed": seed,
        "weights": (float(l2_weight), float(h1_weight)),
        "per_decade": per_decade,
        "record": torch.from_numpy(record.astype(np.int64)),
        "seeds": problem.seeds,
        "dtype": str(problem.x.dtype),
    }
    done: dict[str, dict] = {}
    if checkpoint is not None:
        state = checkpoint.load()
        if state is not None:
            saved = state["run"]
            same = set(saved) == set(run_key) and all(
                torch.equal(saved[k], v) if isinstance(v, torch.Tensor) else saved[k] == v
                for k, v in run_key.items()
            )
            if not same:
                raise ResultsError(
                    f"{checkpoint.path} is the checkpoint of another sweep; delete it"
                )
            done = state["groups"]

    def group_checkpoint(indices: list[int], key: str) -> Checkpoint | None:
        """The checkpoint of ``train`` for one group (a slice of the sorted lrs: its ends name it)."""
        if checkpoint is None:
            return None
        path = _group_path(checkpoint, f"{indices[0]}-{indices[-1]}")
        return Checkpoint(path, checkpoint.every, key=f"{checkpoint.key}/group {key}")

    def train_or_load(indices: list[int]) -> dict:
        key = ",".join(str(i) for i in indices)
        if key in done:
            return done[key]
        group = group_checkpoint(indices, key)
        try:
            e, a, b, _, sec = _train_group(
                problem, loss, [lrs[i] for i in indices], checkpoint=group, **kwargs
            )
            entry = {
                "error": torch.from_numpy(e),
                "l2": torch.from_numpy(a),
                "h1": torch.from_numpy(b),
                "seconds": float(sec),
            }
        except DivergenceError as failure:
            entry = {"diverged": str(failure)}
        done[key] = entry
        if checkpoint is not None:
            checkpoint.save({"run": run_key, "groups": done})
            group.clear()  # the sweep's checkpoint holds the group now
        return entry

    def run_group(indices: list[int]) -> None:
        """Train ``indices`` together; on divergence split the group in halves (one lr: diverged)."""
        nonlocal seconds
        entry = train_or_load(indices)
        if "diverged" in entry:
            if len(indices) == 1:
                diverged[indices[0]] = True
                messages.append(entry["diverged"])
                return
            half = len(indices) // 2
            run_group(indices[:half])
            run_group(indices[half:])
            return
        error[indices] = entry["error"].numpy()
        l2[indices] = entry["l2"].numpy()
        h1[indices] = entry["h1"].numpy()
        seconds += entry["seconds"]

    run_group([int(i) for i in np.argsort(lrs)])
    if checkpoint is not None:
        clear_checkpoint(checkpoint, keep_sweep=True)  # groups killed just before their clear()
    return SGDRun(
        loss=loss,
        lrs=lrs,
        batch_size=batch_size,
        steps=steps,
        error=error,
        loss_steps=marks,
        l2_loss=l2,
        h1_loss=h1,
        diverged=diverged,
        seconds=seconds,
        messages=messages,
        error_steps=None if record_steps is None else record,
    )


def _group_path(checkpoint: Checkpoint, name: str) -> pathlib.Path:
    return checkpoint.path.with_name(f"{checkpoint.path.stem}-lrs-{name}.pt")


def clear_checkpoint(checkpoint: Checkpoint, *, keep_sweep: bool = False) -> None:
    """Delete the checkpoint of a :func:`run_sgd` sweep and those of its groups."""
    for path in checkpoint.path.parent.glob(_group_path(checkpoint, "*").name):
        path.unlink(missing_ok=True)
    if not keep_sweep:
        checkpoint.clear()


# --------------------------------------------------------------------------------------------
# Summaries and the population flow
# --------------------------------------------------------------------------------------------

#: The population terms of :mod:`sobolev.theory` that each empirical loss estimates.
FLOW_TERMS = {"l2": ("relu_l2",), "h1": ("relu_l2", "relu_h1")}


def stable_lrs(run: SGDRun, threshold: float) -> dict[str, tuple[float, float] | None]:
    """The two "best" learning rates of a sweep, each with its median steps to ‖w − w*‖ < ``threshold``.

    ``"largest"``: the largest learning rate that neither diverged nor failed to converge,
    i.e. whose median run reached ``threshold`` within the run's steps (just below the
    stability limit a run oscillates for a long time without blowing up, which is of no use);
    ``"fastest"``: the converging learning rate with the fewest median steps (ties: the
    smaller). ``None`` when no learning rate converges. ``run`` may also be a
    :class:`ReachSweep`.
    """
    steps = run.median_steps_to_reach(threshold)
    lrs = np.asarray(run.lrs)
    ok = ~np.asarray(run.diverged, dtype=bool) & np.isfinite(steps)
    out: dict[str, tuple[float, float] | None] = {"largest": None, "fastest": None}
    if ok.any():
        i = int(np.argmax(np.where(ok, lrs, -np.inf)))
        out["largest"] = (float(lrs[i]), float(steps[i]))
        order = np.lexsort((lrs, np.where(ok, steps, np.inf)))
        j = int(order[0])
        out["fastest"] = (float(lrs[j]), float(steps[j]))
    return out


def steps_to_common_error(
    l2_run: SGDRun, h1_run: SGDRun, threshold: float, row: int = 0
) -> tuple[float, float, float]:
    """Iterations each loss needs to reach a common error, from the median curves over seeds.

    The common error is ``threshold`` when the median L2 curve of row ``row`` gets there, otherwise
    the error at which the median L2 curve ends. Returns ``(level, k_l2, k_h1)``; ``k_h1`` is
    ``inf`` when the median H1 curve never reaches the level. The speed-up is ``k_l2 / k_h1``.
    The iterations are the first *recorded* steps at or below the level (every step unless
    the runs recorded a coarser grid, :attr:`SGDRun.error_steps`).
    """
    l2 = np.median(l2_run.error[row], axis=0)
    h1 = np.median(h1_run.error[row], axis=0)
    if not (np.isfinite(l2).all() and np.isfinite(h1).all()):
        return float("nan"), float("inf"), float("inf")
    level = max(threshold, float(l2[-1]))
    k_l2 = float(l2_run.recorded_steps[np.argmax(l2 <= level)])
    k_h1 = (
        float(h1_run.recorded_steps[np.argmax(h1 <= level)])
        if (h1 <= level).any()
        else float("inf")
    )
    return level, k_l2, k_h1


def best_lr(run: SGDRun, threshold: float, rule: str = "fastest"):
    """The learning rate that ``rule`` picks (see :func:`stable_lrs`) and its per-seed steps.

    Returns ``(lr, steps)``: ``steps`` (S,) is the first step with ‖w − w*‖ < ``threshold`` for
    each seed at that learning rate (``inf`` for a seed that never gets there). ``(None, None)``
    when no learning rate converges. ``run`` may also be a :class:`ReachSweep`.
    """
    if rule not in ("fastest", "largest"):
        raise ValueError(f"rule must be 'fastest' or 'largest', got {rule!r}")
    chosen = stable_lrs(run, threshold)[rule]
    if chosen is None:
        return None, None
    i = run.lrs.index(chosen[0])
    return chosen[0], run.steps_to_reach(threshold)[i]


def condition_numbers(problem: StudentTeacherProblem, h1_weight: float = 0.5):
    """Condition numbers of the linearised L2 and H1 steps at w*, one per seed.

    Near the teacher, the L2 loss (½ on the value term) has Hessian Σ̂ = (1/N)Σ 1{w*ᵀx>0} x xᵀ
    and the H1 loss adds 2·``h1_weight``·p̂·I with p̂ = (1/N)Σ 1{w*ᵀx>0} (eq-st-linear).
    Returns two arrays (S,): λmax/λmin of Σ̂ and of Σ̂ + 2·h1_weight·p̂·I, computed in float64.
    """
    x = problem.x.double()
    active = problem.slope.double()
    kappa_l2, kappa_h1 = [], []
    for s in range(problem.n_seeds):
        xs, a = x[:, s], active[:, s]
        sigma = (xs * a[:, None]).T @ xs / len(xs)
        eig = torch.linalg.eigvalsh(sigma)
        shift = 2 * h1_weight * a.mean()
        kappa_l2.append(float(eig[-1] / eig[0]))
        kappa_h1.append(float((eig[-1] + shift) / (eig[0] + shift)))
    return np.array(kappa_l2), np.array(kappa_h1)


def flow_error(loss: str, w0, w_star, times, *, moving_boundary: bool = False) -> np.ndarray:
    """‖w(t) − w*‖ along the population gradient flow of ``loss`` at ``times`` (all > 0 or 0).

    The flow is ẇ = −∇(𝓛 [+ 𝓙]) with the closed-form gradients of :mod:`sobolev.theory`
    (terms :data:`FLOW_TERMS`, the paper's ½ on each), integrated by
    :func:`sobolev.flows.integrate_flow`; ``moving_boundary=False`` is the mean of the
    per-sample autograd gradient (what SGD estimates), ``True`` the gradient of the population
    loss. Values between the solver's output times are interpolated linearly in log V.
    (The solver keeps the tolerances of :mod:`sobolev.flows`: looser ones stall the
    moving-boundary flow of 𝓙, whose field is discontinuous at θ = 0.)
    """
    from .flows import integrate_flow

    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is unknown; expected one of {', '.join(LOSSES)}")
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or np.any(times < 0) or not np.all(np.isfinite(times)):
        raise ValueError("times must be a non-empty 1-D array of non-negative finite times")
    w0 = np.asarray(w0, dtype=float)
    w_star = np.asarray(w_star, dtype=float)
    t_end = float(times.max()) if times.max() > 0 else 1.0
    flow = integrate_flow(
        FLOW_TERMS[loss], w0, w_star, t_end, moving_boundary=moving_boundary, n_eval=400
    )
    log_v = np.log(np.maximum(flow.V, 1e-300))
    return np.sqrt(np.exp(np.interp(times, flow.t, log_v)))
