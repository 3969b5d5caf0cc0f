"""The one training loop of the book.

:func:`train` runs full-batch or mini-batch Adam or SGD on any loss, records each
loss term at every step and a held-out test error every ``eval_every`` steps in
a :class:`History`, and stops with :class:`DivergenceError` the moment a loss
becomes NaN or infinite, or grows past ``max_growth`` times its value at the
first step (a diverged run is never averaged in silently).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from numbers import Real

import numpy as np
import torch

from .config import check_int, in_ci, seed_everything
from .losses import SobolevLoss
from .results import Checkpoint, ResultsError, rng_state, set_rng_state

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite, or grew past ``max_growth`` times its start."""


@dataclass
class History:
    """What :func:`train` recorded.

    * ``terms[name][k]``: loss term ``name`` (``"total"``, ``"l2"``, ``"h1"``, …) at
      step ``k`` (the loss of the batch the optimiser stepped on, before the step).
    * ``eval_steps``, ``test_error``: the held-out error after ``eval_steps[i]``
      optimiser steps (step 0 is the initial network).
    * ``train_seconds[i]``: training wall-clock time up to ``eval_steps[i]``,
      evaluation and logging excluded.
    """

    terms: dict[str, list[float]] = field(default_factory=dict)
    eval_steps: list[int] = field(default_factory=list)
    test_error: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)

    @property
    def steps(self) -> int:
        """Number of optimiser steps recorded."""
        return len(self.terms.get("total", []))

    def term(self, name: str) -> np.ndarray:
        """The recorded values of one loss term, as an array over steps."""
        if name not in self.terms:
            raise ValueError(f"no loss term {name!r} recorded; recorded: {', '.join(self.terms)}")
        return np.asarray(self.terms[name])

    def first_step_below(self, threshold: float) -> int | None:
        """The first evaluated step whose test error is below ``threshold`` (None if never)."""
        for step, error in zip(self.eval_steps, self.test_error):
            if error < threshold:
                return step
        return None

    def seconds_to_reach(self, threshold: float) -> float | None:
        """Training seconds until the test error first fell below ``threshold`` (None if never)."""
        for seconds, error in zip(self.train_seconds, self.test_error):
            if error < threshold:
                return seconds
        return None


def _batches(n: int, batch_size: int | None, generator: torch.Generator, device):
    """Index tensors of successive mini-batches, reshuffled every epoch (None: full batch)."""
    if batch_size is None or batch_size >= n:
        while True:
            yield None
    while True:
        order = torch.randperm(n, generator=generator).to(device)
        for start in range(0, n - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def train(
    model: torch.nn.Module,
    loss_fn: Callable[..., SobolevLoss | torch.Tensor],
    data: Sequence[torch.Tensor | None],
    *,
    steps: int,
    lr: float,
    optimizer: str | Callable[[torch.nn.Module], torch.optim.Optimizer] = "adam",
    batch_size: int | None = None,
    evaluate: Callable[[torch.nn.Module], float] | None = None,
    eval_every: int = 1,
    seed: int = 0,
    progress: bool | None = None,
    description: str = "",
    max_growth: float | None = 1e4,
    checkpoint: Checkpoint | None = None,
) -> History:
    """Train ``model`` for ``steps`` optimiser steps and return its :class:`History`.

    ``loss_fn(model, *batch)`` returns a :class:`~sobolev.losses.SobolevLoss` (each of
    its terms is recorded) or a scalar tensor. ``data`` is a sequence of tensors
    with a common first dimension (``None`` entries pass through), sliced into
    mini-batches of ``batch_size`` rows (``None``: full batch), reshuffled each
    epoch with a generator seeded by ``seed``. ``optimizer`` is ``"adam"``,
    ``"sgd"`` (with learning rate ``lr``) or a callable ``model -> Optimizer``
    (e.g. for parameter groups with their own learning rates). ``evaluate(model)`` returns the
    held-out test error; it runs under ``torch.no_grad`` at step 0, every
    ``eval_every`` steps and after the last step. The progress bar is off under
    CI and nbval (``progress=None``) or when ``progress=False``.

    :class:`DivergenceError` stops the run when a recorded loss term is NaN or
    infinite, or when the total loss exceeds ``max_growth`` (default 10⁴) times
    the total at the first step (``max_growth=None`` turns that check off). Both
    are checked at every evaluation, so a run stops at most ``eval_every`` steps
    after the fact; the message names the step.

    With a :class:`~sobolev.results.Checkpoint`, the state of the run (model,
    optimiser, random generators, history, step) is saved at the first
    evaluation at least ``checkpoint.every`` steps after the last save; a call
    that finds a checkpoint of the same run continues from it and returns the
    same history, to the bit on a CPU, as an uninterrupted run (the mini-batch
    order is replayed from ``seed``). The last checkpoint holds the finished run (so a
    call after the end returns at once with the same model and history); whoever owns the
    checkpoint deletes it when the results are stored (:func:`sobolev.experiments.run` does).
    """
    steps = check_int(steps, "steps", minimum=0)
    if isinstance(lr, bool) or not isinstance(lr, Real) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if max_growth is not None and (
        isinstance(max_growth, bool)
        or not isinstance(max_growth, Real)
        or not (max_growth > 1 and math.isfinite(max_growth))
    ):
        raise ValueError(f"max_growth must be a finite number > 1 or None, got {max_growth!r}")
    if not callable(loss_fn):
        raise ValueError(f"loss_fn must be a callable (model, *batch) -> loss, got {loss_fn!r}")
    if not callable(optimizer) and optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer={optimizer!r} is unknown; expected one of {', '.join(OPTIMIZERS)} "
            "or a callable model -> torch.optim.Optimizer"
        )
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    if isinstance(data, torch.Tensor) or not isinstance(data, (tuple, list)):
        what = (
            f"a tensor of shape {tuple(data.shape)}"
            if isinstance(data, torch.Tensor)
            else repr(data)
        )
        raise ValueError(
            "data must be a tuple or list of tensors (the arguments of loss_fn after the "
            f"model, e.g. (x, y)), got {what}"
        )
    for k, t in enumerate(data):
        if t is not None and not isinstance(t, torch.Tensor):
            raise ValueError(f"data[{k}] must be a tensor or None, got {type(t).__name__}")
    present = [t for t in data if t is not None]
    if not present:
        raise ValueError("data must hold at least one tensor")
    n = present[0].shape[0]
    for t in present:
        if t.shape[0] != n:
            raise ValueError(f"every tensor in data must have {n} rows, got one with {t.shape[0]}")
    device = present[0].device
    opt = (
        optimizer(model)
        if callable(optimizer)
        else OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    )
    generator = torch.Generator().manual_seed(seed)
    batches = _batches(n, batch_size, generator, device)
    history = History()
    pending: list[dict[str, torch.Tensor]] = []
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def flush() -> None:
        """Move the pending loss terms to the host; raise at the first diverged step."""
        if not pending:
            return
        names = list(pending[0])
        values = torch.stack([torch.stack([p[k] for k in names]) for p in pending]).cpu().numpy()
        first = history.steps
        pending.clear()
        where = f"(lr={lr}, optimizer={optimizer}, batch_size={batch_size})"
        label = description or "training"
        bad_rows = np.flatnonzero(~np.isfinite(values).all(axis=1))
        grown_rows: np.ndarray = np.array([], dtype=int)
        start = history.terms["total"][0] if first else float(values[0, 0])
        if max_growth is not None and np.isfinite(start) and start > 0:
            with np.errstate(invalid="ignore"):
                grown_rows = np.flatnonzero(values[:, 0] > max_growth * start)
        if len(grown_rows) and (not len(bad_rows) or grown_rows[0] < bad_rows[0]):
            row = int(grown_rows[0])
            raise DivergenceError(
                f"{label} diverged: the total loss grew from {start:.3g} to "
                f"{values[row, 0]:.3g}, more than max_growth={max_growth:g} times its start, "
                f"at step {first + row} {where} (pass max_growth=None to allow it)"
            )
        if len(bad_rows):
            row = int(bad_rows[0])
            col = int(np.flatnonzero(~np.isfinite(values[row]))[0])
            raise DivergenceError(
                f"{label} diverged: loss term {names[col]!r} is {values[row, col]} "
                f"at step {first + row} {where}"
            )
        for j, name in enumerate(names):
            history.terms.setdefault(name, []).extend(values[:, j].tolist())

    def run_evaluation(step: int, seconds: float) -> None:
        flush()
        if evaluate is None:
            return
        was_training = model.training
        model.eval()
        with torch.no_grad():
            error = float(evaluate(model))
        model.train(was_training)
        history.eval_steps.append(step)
        history.test_error.append(error)
        history.train_seconds.append(seconds)

    show = (not in_ci()) if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=description or None, leave=False)
    seconds = 0.0
    first_step = 1
    run_key = {"lr": float(lr), "steps": steps, "batch_size": batch_size, "seed": seed}
    run_key.update(eval_every=eval_every, optimizer=str(optimizer))
    saved_at = 0
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        if state["run"] != run_key:
            raise ResultsError(
                f"{checkpoint.path} is the checkpoint of another run ({state['run']}, not "
                f"{run_key}); delete it"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        saved = state["history"]
        history = History(
            terms={k: list(v) for k, v in saved["terms"].items()},
            eval_steps=list(saved["eval_steps"]),
            test_error=list(saved["test_error"]),
            train_seconds=list(saved["train_seconds"]),
        )
        seconds = float(state["seconds"])
        saved_at = int(state["step"])
        first_step = saved_at + 1
        for _ in range(saved_at):  # the same mini-batch order as an uninterrupted run
            next(batches)
        set_rng_state(state["rng"], device)
    else:
        run_evaluation(0, seconds)

    def save_checkpoint(step: int) -> None:
        checkpoint.save(
            {
                "run": run_key,
                "step": step,
                "seconds": seconds,
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "history": {
                    "terms": history.terms,
                    "eval_steps": history.eval_steps,
                    "test_error": history.test_error,
                    "train_seconds": history.train_seconds,
                },
                "rng": rng_state(device),
            }
        )

    synchronize()
    started = time.perf_counter()
    for step in range(first_step, steps + 1):
        index = next(batches)
        batch = [t if (t is None or index is None) else t[index] for t in data]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, *batch)
        if isinstance(loss, SobolevLoss):
            total, terms = loss.total, loss.terms
        else:
            total, terms = loss, {}
        if not isinstance(total, torch.Tensor) or total.numel() != 1:
            got = (
                f"a tensor of shape {tuple(total.shape)}"
                if isinstance(total, torch.Tensor)
                else f"a {type(loss).__name__}"
            )
            raise ValueError(
                "loss_fn must return a SobolevLoss or a one-element tensor that autograd can "
                f"differentiate, got {got}"
            )
        if not total.requires_grad:
            raise ValueError(
                "loss_fn returned a loss that does not depend on the model's parameters "
                "(requires_grad is False: was it computed under torch.no_grad or via .item()?)"
            )
        total.backward()
        opt.step()
        record = {"total": total.detach()}
        record.update({k: v.detach() for k, v in terms.items()})
        pending.append(record)
        if step % eval_every == 0 or step == steps:
            synchronize()
            seconds += time.perf_counter() - started
            run_evaluation(step, seconds)
            if checkpoint is not None and step < steps and step - saved_at >= checkpoint.every:
                save_checkpoint(step)
                saved_at = step
            if bar is not None:
                bar.update(step - bar.n)
                bar.set_postfix(loss=f"{history.terms['total'][-1]:.3e}")
            synchronize()
            started = time.perf_counter()
    flush()
    if bar is not None:
        bar.close()
    if checkpoint is not None and saved_at < steps:
        # the finished run, kept until its experiment has stored the results of the seed, so
        # that a job killed in a later run of the same seed does not train this one again
        save_checkpoint(steps)
    return history


def train_runs(
    make_model: Callable[[], torch.nn.Module],
    methods: dict[str, tuple[Callable, Sequence]],
    seeds: Sequence[int],
    checkpoint: Callable[[str, int], Checkpoint | None] | None = None,
    **train_kwargs,
) -> tuple[dict[str, list[History]], dict[str, list[torch.nn.Module]]]:
    """Train one fresh model per (method, seed): the seed × method loop of the chapters.

    ``methods`` maps a name to ``(loss_fn, data)``. For each seed, every method
    starts from the same initial network (:func:`sobolev.config.seed_everything`
    before ``make_model()``) and the same mini-batch order (``seed=seed``);
    ``train_kwargs`` go to :func:`train`, and ``checkpoint(name, seed)`` (if given)
    the :class:`~sobolev.results.Checkpoint` of each run. Returns ``histories[name]`` and
    ``models[name]``, lists in the order of ``seeds``.
    """

    if not methods:
        raise ValueError("methods must name at least one (loss_fn, data) pair")
    seeds = [check_int(s, "seed", minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    histories: dict[str, list[History]] = {name: [] for name in methods}
    models: dict[str, list[torch.nn.Module]] = {name: [] for name in methods}
    for seed in seeds:
        for name, (loss_fn, data) in methods.items():
            seed_everything(seed)
            model = make_model()
            histories[name].append(
                train(
                    model,
                    loss_fn,
                    data,
                    seed=seed,
                    description=f"{name}, seed {seed}",
                    checkpoint=None if checkpoint is None else checkpoint(name, seed),
                    **train_kwargs,
                )
            )
            models[name].append(model)
    return histories, models
