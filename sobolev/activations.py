r"""Figure 3: MLPs with five activations fitted with the L2, H1 and H2 losses.

The target is :data:`sobolev.targets.ACTIVATION_TARGET`,
f(x, y) = sin(10(x + y)) + (x − y)² − 1.5x + 2.5y + 1 on [1, 4] × [−3, 4], the
network a 2-64-64-64-1 :class:`sobolev.networks.MLP` with one of
:data:`ACTIVATIONS`, and the loss (all weights 1, as in the paper)

.. math::

   \ell_k(\theta) = \frac1N\sum_j |u_\theta(x_j) - f(x_j)|^2
   + [k \ge 1]\,\|\nabla u_\theta(x_j) - \nabla f(x_j)\|^2
   + [k \ge 2]\,\|\nabla^2 u_\theta(x_j) - \nabla^2 f(x_j)\|_F^2

for ``order`` k = 0 (L2), 1 (H1) or 2 (H2).

Several seeds (and learning rates) of one activation and one loss are trained at
once as a :class:`StackedMLP`: E independent networks whose weights are stacked
along a first axis and applied with batched matrix products. Each network sees
only its own loss (the stacked loss is the sum of the members' losses, so the
gradient of member k is the gradient of its own loss), and :class:`sobolev.ensemble.StackedAdam`
is :class:`torch.optim.Adam` applied member by member with a learning rate of its
own. ``tests/test_activations.py`` checks that a stacked run gives the same
parameters as :func:`sobolev.training.train` on each network alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .benchmark import step_times
from .config import check_int, seed_everything
from .ensemble import StackedAdam
from .losses import sobolev_loss
from .networks import MLP, make_activation
from .results import Checkpoint, ResultsError, rng_state, set_rng_state
from .targets import ACTIVATION_TARGET, Target

#: The activations of Figure 3, in the paper's order, and their names on the page.
ACTIVATIONS = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "relu2": "ReLU²",
    "tanh": "Tanh",
    "sine": "Sine",
}

#: Loss name → order of the highest derivative it fits.
LOSSES = {"l2": 0, "h1": 1, "h2": 2}

#: The paper's network.
WIDTHS = (2, 64, 64, 64, 1)

#: Loss terms by name ("l2", "h1", "h2", "total"), one value per network.
Terms = dict[str, torch.Tensor]


@dataclass
class Dataset:
    """Training points with the target's value, gradient and Hessian, and a held-out test set.

    Every array is a float32 tensor on one device; the target's derivatives were
    computed in float64 and cast, outside any autograd graph.
    """

    x: torch.Tensor
    value: torch.Tensor
    gradient: torch.Tensor
    hessian: torch.Tensor
    x_test: torch.Tensor
    value_test: torch.Tensor

    @property
    def n_train(self) -> int:
        return self.x.shape[0]

    @property
    def n_test(self) -> int:
        return self.x_test.shape[0]


def make_dataset(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    target: Target = ACTIVATION_TARGET,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """``n_train`` training and ``n_test`` test points drawn uniformly from the target's box.

    The two sets are independent draws (NumPy generator seeded by ``seed``), so the
    test error is measured away from the training points.
    """
    n_train = check_int(n_train, "n_train", minimum=1)
    n_test = check_int(n_test, "n_test", minimum=1)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    points = target.uniform(n_train, rng)
    test_points = target.uniform(n_test, rng)
    value, gradient, hessian = target.sample(points, order=2, dtype=dtype, device=device)
    value_test, _, _ = target.sample(test_points, order=0, dtype=dtype, device=device)
    as_tensor = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return Dataset(as_tensor(points), value, gradient, hessian, as_tensor(test_points), value_test)


class StackedMLP(nn.Module):
    """E independent MLPs of the same widths and activation, weights stacked on axis 0.

    ``weights[i]`` has shape (E, n_in, n_out) and ``biases[i]`` (E, 1, n_out); the
    forward pass maps x of shape (N, d) or (E, N, d) to (E, N, 1). Member k is
    exactly the :class:`~sobolev.networks.MLP` it was built from (:meth:`member`).
    """

    def __init__(self, members: Sequence[MLP]):
        super().__init__()
        members = list(members)
        if not members:
            raise ValueError("members must hold at least one MLP")
        widths = members[0].widths
        activation = members[0].activation
        for m in members:
            if not isinstance(m, MLP) or m.widths != widths or m.activation != activation:
                raise ValueError("members must be MLPs of the same widths and activation")
        self.widths = list(widths)
        self.activation_name = activation
        self.activation = make_activation(activation)
        linears = [[layer for layer in m.net if isinstance(layer, nn.Linear)] for m in members]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([lin[i].weight.detach().T.clone() for lin in linears]))
            for i in range(len(widths) - 1)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([lin[i].bias.detach()[None, :].clone() for lin in linears]))
            for i in range(len(widths) - 1)
        )

    @classmethod
    def from_seeds(
        cls, widths: Sequence[int], activation: str, seeds: Sequence[int], device=None
    ) -> StackedMLP:
        """The networks ``MLP(widths, activation)`` built after ``seed_everything(seed)``,
        one per seed (the initial networks :func:`sobolev.training.train_runs` uses)."""
        members = []
        for seed in seeds:
            seed_everything(seed)
            members.append(MLP(list(widths), activation))
        model = cls(members)
        return model if device is None else model.to(device)

    @property
    def n_members(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            x = x.expand(self.n_members, *x.shape)
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = self.activation(h)
        return h

    def member(self, k: int) -> MLP:
        """Member ``k`` as a stand-alone :class:`~sobolev.networks.MLP` (a copy)."""
        model = MLP(self.widths, self.activation_name).to(self.weights[0].device)
        linears = [layer for layer in model.net if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, self.weights, self.biases):
                lin.weight.copy_(w[k].T)
                lin.bias.copy_(b[k, 0])
        return model


def stacked_derivatives(model: StackedMLP, x: torch.Tensor, order: int):
    """Values (E, N), input gradients (E, N, d) and Hessians (E, N, d, d) of every member.

    As :func:`sobolev.losses.input_derivatives`, member by member: the members do
    not share parameters, so the gradient of the summed output with respect to the
    (expanded) input is each member's own input gradient.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"order must be 0, 1 or 2, got {order!r}")
    if order == 0:
        return model(x)[..., 0], None, None
    xe = x.detach().expand(model.n_members, *x.shape).clone().requires_grad_(True)
    u = model(xe)
    (grad,) = torch.autograd.grad(u.sum(), xe, create_graph=True)
    hess = None
    if order == 2:
        rows = [
            torch.autograd.grad(grad[..., i].sum(), xe, create_graph=True)[0]
            for i in range(x.shape[1])
        ]
        hess = torch.stack(rows, dim=2)  # hess[e, n, i, j] = ∂²u_e/∂x_i∂x_j at x_n
    return u[..., 0], grad, hess


def stacked_loss(model: StackedMLP, data: Dataset, order: int) -> Terms:
    """Each term of ℓ_order for every member, shape (E,), and their sum "total".

    The terms of :func:`sobolev.losses.sobolev_loss`, all weights 1.
    """
    u, grad, hess = stacked_derivatives(model, data.x, order)
    terms = {"l2": (u - data.value).square().mean(dim=1)}
    if order >= 1:  # ‖∇u − ∇f‖², summed over x and y
        terms["h1"] = (grad - data.gradient).square().sum(dim=2).mean(dim=1)
    if order >= 2:  # ‖∇²u − ∇²f‖_F²
        terms["h2"] = (hess - data.hessian).square().sum(dim=(2, 3)).mean(1)
    terms["total"] = sum(terms[k] for k in ("l2", "h1", "h2") if k in terms)
    return terms


@dataclass
class RunResult:
    """Test MSE of every member after ``eval_steps[i]`` Adam steps: ``test_error[k, i]``.

    ``test_error`` is ``nan`` from the first evaluation after member k diverged.
    ``final_loss[k]`` is member k's training loss at its last step; ``seconds`` is
    the wall-clock time of the whole stacked run (evaluations excluded).
    """

    activation: str
    loss: str
    seeds: list[int]
    lrs: list[float]
    eval_steps: np.ndarray
    test_error: np.ndarray
    final_loss: np.ndarray
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def test_mse(model: StackedMLP, data: Dataset) -> torch.Tensor:
    """Mean squared error of every member's values on the held-out test points, shape (E,)."""
    with torch.no_grad():
        return (model(data.x_test)[..., 0] - data.value_test).square().mean(dim=1)


def train_stacked(
    activation: str,
    loss: str,
    data: Dataset,
    *,
    seeds: Sequence[int],
    lrs: float | Sequence[float],
    steps: int,
    eval_every: int,
    widths: Sequence[int] = WIDTHS,
    checkpoint: Checkpoint | None = None,
) -> RunResult:
    """Full-batch Adam on ℓ_loss for every (seed, lr) pair at once.

    ``lrs`` is one learning rate for every seed, or a list: then every seed runs
    with every learning rate (members ordered lr-major: lr₀ for all seeds, lr₁, …).
    Member (lr, seed) starts from ``MLP(widths, activation)`` built after
    ``seed_everything(seed)``: the same initial network for every loss.

    With a :class:`~sobolev.results.Checkpoint`, the state of the run (weights,
    Adam's moments, the test errors so far, the step) is saved at the first
    evaluation at least ``checkpoint.every`` steps after the last save, as in
    :func:`sobolev.training.train`; a call that finds a checkpoint of the same run
    continues from it and returns the same result, to the bit, as an
    uninterrupted run (full batch: no data order to replay). The last checkpoint
    holds the finished run (a call after the end returns at once with the same
    result); whoever owns it deletes it once the results are stored
    (:func:`sobolev.experiments.run` does).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r} is unknown; expected one of {list(ACTIVATIONS)}"
        )
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is unknown; expected one of {list(LOSSES)}")
    steps = check_int(steps, "steps", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    seeds = [check_int(s, "seed", minimum=0) for s in seeds]
    lr_list = [float(lrs)] if np.isscalar(lrs) else [float(lr) for lr in lrs]
    member_seeds = [s for _ in lr_list for s in seeds]
    member_lrs = [lr for lr in lr_list for _ in seeds]
    device = data.x.device
    model = StackedMLP.from_seeds(widths, activation, member_seeds, device=device)
    optimizer = StackedAdam(model.parameters(), member_lrs)
    order = LOSSES[loss]
    eval_steps, errors = [0], [test_mse(model, data)]
    final = torch.full((len(member_seeds),), float("nan"), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    seconds = 0.0
    run_key = {
        "activation": activation,
        "loss": loss,
        "seeds": member_seeds,
        "lrs": member_lrs,
        "steps": steps,
        "eval_every": eval_every,
        "widths": [int(w) for w in widths],
        "points": [data.n_train, data.n_test],
    }
    first_step, saved_at = 1, 0
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        if state["run"] != run_key:
            raise ResultsError(
                f"{checkpoint.path} is the checkpoint of another stacked run "
                f"({state['run']}, not {run_key}); delete it"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        eval_steps = list(state["eval_steps"])
        errors = [e.to(device) for e in state["errors"]]
        final = state["final"].to(device)
        seconds = float(state["seconds"])
        saved_at = int(state["step"])
        first_step = saved_at + 1
        set_rng_state(state["rng"], device)

    def save_checkpoint(step: int) -> None:
        checkpoint.save(
            {
                "run": run_key,
                "step": step,
                "seconds": seconds,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "eval_steps": eval_steps,
                "errors": errors,
                "final": final,
                "rng": rng_state(device),
            }
        )

    started = time.perf_counter()
    for step in range(first_step, steps + 1):
        optimizer.zero_grad()
        terms = stacked_loss(model, data, order)
        terms["total"].sum().backward()
        optimizer.step()
        if step % eval_every == 0 or step == steps:
            sync()
            seconds += time.perf_counter() - started
            final = terms["total"].detach()
            eval_steps.append(step)
            errors.append(test_mse(model, data))
            if checkpoint is not None and step < steps and step - saved_at >= checkpoint.every:
                save_checkpoint(step)
                saved_at = step
            started = time.perf_counter()
    if checkpoint is not None and saved_at < steps:
        # the finished run, kept until the experiment has stored its results (it deletes it)
        save_checkpoint(steps)
    error = torch.stack(errors, dim=1).cpu().numpy().astype(float)
    error[~np.isfinite(error)] = np.nan
    # once diverged, always diverged
    bad = np.isnan(error)
    error[np.maximum.accumulate(bad, axis=1)] = np.nan
    return RunResult(
        activation,
        loss,
        member_seeds,
        member_lrs,
        np.asarray(eval_steps),
        error,
        final.cpu().numpy().astype(float),
        seconds,
    )


def h2_parameter_gradient_norm(activation: str, data: Dataset, seed: int = 0) -> float:
    """‖∇_θ ℓ_H2-term‖ for one ``MLP(WIDTHS, activation)`` at its initialisation.

    Zero for ReLU and LeakyReLU: the network is piecewise linear in x, autograd's
    second input derivative is exactly 0, and the H2 term is the constant
    mean ‖∇²f‖², so an H2 loss trains exactly what the H1 loss trains.
    """
    seed_everything(seed)
    model = MLP(list(WIDTHS), activation).to(data.x.device)
    zeros = torch.zeros_like(data.gradient)
    loss = sobolev_loss(
        model, data.x, data.value, zeros, data.hessian, l2_weight=0.0, h1_weight=0.0
    )
    grads = torch.autograd.grad(loss.terms["h2"], list(model.parameters()), allow_unused=True)
    total = sum(float(g.square().sum()) for g in grads if g is not None)
    return math.sqrt(total)


def error_at_steps(result: RunResult, budgets: Sequence[float]) -> np.ndarray:
    """Test error of each member at the last evaluation at or before each budget (in steps).

    Shape (E, len(budgets)); ``nan`` where a member had diverged, or where the
    budget is below the first evaluation after step 0 (the initial error then).
    """
    out = np.empty((result.test_error.shape[0], len(budgets)))
    for j, budget in enumerate(budgets):
        i = int(np.searchsorted(result.eval_steps, budget, side="right")) - 1
        out[:, j] = result.test_error[:, max(i, 0)]
    return out


def best_lr(result: RunResult, budget_index: int = -1) -> tuple[float, np.ndarray]:
    """The learning rate whose median final test error (diverged = worst) is lowest,
    and the final errors of its seeds (for a result with several learning rates)."""
    lrs = np.asarray(result.lrs)
    errors = result.test_error[:, budget_index]
    choices = sorted(set(result.lrs))
    medians = [
        np.median(np.where(np.isnan(errors[lrs == lr]), np.inf, errors[lrs == lr]))
        for lr in choices
    ]
    chosen = choices[int(np.argmin(medians))]
    return chosen, errors[lrs == chosen]


def select_lr(result: RunResult, lr: float) -> RunResult:
    """The members of ``result`` that ran with learning rate ``lr``, as a result of their own."""
    keep = np.isclose(np.asarray(result.lrs), lr)
    if not keep.any():
        raise ValueError(f"no member ran with lr={lr!r}; lrs: {sorted(set(result.lrs))}")
    return RunResult(
        result.activation,
        result.loss,
        [s for s, k in zip(result.seeds, keep) if k],
        [lr] * int(keep.sum()),
        result.eval_steps,
        result.test_error[keep],
        result.final_loss[keep],
        result.seconds,
    )


def step_costs(
    data: Dataset,
    activations: Sequence[str],
    *,
    repeats: int = 20,
    widths: Sequence[int] = WIDTHS,
    lr: float = 1e-3,
) -> dict[str, dict[str, float]]:
    """Median seconds of one Adam step of a single ``MLP(widths, activation)`` per loss.

    ``out[activation][loss]``, measured by :func:`sobolev.benchmark.step_times` (``clock="process"``) with all losses of
    one activation interleaved, on the full training set, with
    :func:`sobolev.losses.sobolev_loss` (the cost of training one network alone).
    """
    from .benchmark import training_step

    batch = [data.x, data.value, data.gradient, data.hessian]
    out = {}
    for activation in activations:
        steps = {}
        for loss, order in LOSSES.items():
            seed_everything(0)
            model = MLP(list(widths), activation).to(data.x.device)
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)

            def loss_fn(model, x, value, gradient, hessian, order=order):
                return sobolev_loss(
                    model,
                    x,
                    value,
                    gradient if order >= 1 else None,
                    hessian if order >= 2 else None,
                )

            steps[loss] = training_step(model, loss_fn, batch, optimizer)
        out[activation] = step_times(steps, repeats=repeats, device=data.x.device, clock="process")
    return out


def h2_equals_h1_after(activation: str, data: Dataset, steps: int = 10, lr: float = 3e-3) -> float:
    """Largest parameter difference between H2 and H1 training of one network after ``steps``.

    Exactly 0 for ReLU and LeakyReLU (the H2 term has zero parameter gradient).
    """
    models = []
    for order in (1, 2):
        model = StackedMLP.from_seeds(WIDTHS, activation, [0], device=data.x.device)
        optimizer = StackedAdam(model.parameters(), [lr])
        for _ in range(check_int(steps, "steps", minimum=1)):
            optimizer.zero_grad()
            stacked_loss(model, data, order)["total"].sum().backward()
            optimizer.step()
        models.append(model)
    return max(
        float((p - q).detach().abs().max())
        for p, q in zip(models[0].parameters(), models[1].parameters())
    )


def errors_at_seconds(run: RunResult, seconds_per_step: float, seconds: float) -> np.ndarray:
    """Test error of each member after the epochs that fit in ``seconds`` of training,
    at ``seconds_per_step`` per epoch (a measured step time); shape (E,)."""
    if not seconds_per_step > 0:
        raise ValueError(f"seconds_per_step must be positive, got {seconds_per_step!r}")
    return error_at_steps(run, [math.floor(seconds / seconds_per_step + 1e-9)])[:, 0]
