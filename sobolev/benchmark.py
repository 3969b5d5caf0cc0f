"""Timing of training steps, reported as ratios measured in one run.

Absolute times depend on the machine and on what else runs on it; ratios of
medians taken in one interleaved run are far steadier, so the book only ever
states costs as ratios to an L2 step measured alongside.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping

import numpy as np
import torch

from .config import check_int

#: The cost of one training step of each loss in L2 steps, used for the *checked* equal-cost
#: verdicts ("H1 gets there sooner for the same compute"): an H1 step costs about 2 L2 steps and
#: an H2 step about 7 on this book's networks (chapter 01 measures them). Measured wall-clock
#: times change with the device and its load, so they are shown in unchecked tables beside the
#: verdict; a verdict made from these fixed costs reads the same on every machine.
NOMINAL_STEP_COST = {"l2": 1.0, "h1": 2.0, "h2": 7.0}


def nominal_cost(loss: str, steps):
    """``steps`` of ``loss`` (``"l2"``, ``"h1"``, ``"h2"`` or a name starting with one) in L2 steps."""
    key = str(loss).lower()[:2]
    if key not in NOMINAL_STEP_COST:
        raise ValueError(f"loss must start with one of {sorted(NOMINAL_STEP_COST)}, got {loss!r}")
    return np.asarray(steps, dtype=float) * NOMINAL_STEP_COST[key]


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_samples(
    steps: Mapping[str, Callable[[], None]],
    *,
    repeats: int = 20,
    warmup: int = 3,
    device: torch.device | str = "cpu",
    clock: str = "wall",
) -> dict[str, np.ndarray]:
    """Seconds of each callable in ``steps`` in each of ``repeats`` interleaved rounds.

    Returns one array of ``repeats`` times per step; entry ``r`` of every array comes
    from round ``r``, so ``samples["h1"] / samples["l2"]`` are ratios of steps timed
    side by side (see :func:`step_times` for the clocks).
    """
    repeats = check_int(repeats, "repeats", minimum=1)
    warmup = check_int(warmup, "warmup", minimum=0)
    if clock not in ("wall", "process"):
        raise ValueError(f"clock must be 'wall' or 'process', got {clock!r}")
    if not steps:
        raise ValueError("steps must name at least one callable")
    device = torch.device(device)
    now = time.process_time if clock == "process" and device.type != "cuda" else time.perf_counter
    for _ in range(warmup):
        for step in steps.values():
            step()
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            _synchronize(device)
            started = now()
            step()
            _synchronize(device)
            samples[name].append(now() - started)
    return {name: np.asarray(values) for name, values in samples.items()}


def step_times(
    steps: Mapping[str, Callable[[], None]],
    *,
    repeats: int = 20,
    warmup: int = 3,
    device: torch.device | str = "cpu",
    clock: str = "wall",
) -> dict[str, float]:
    """Median seconds of each callable in ``steps``, timed in interleaved rounds.

    Each round runs every step once, in turn, so that slow drifts of the machine
    (another process, frequency scaling) hit every variant alike. ``clock="process"``
    times a CPU run by the **CPU time of this process** (:func:`time.process_time`,
    every torch thread included) instead of the wall clock: on a machine shared with
    other jobs the wall clock also counts the time spent waiting for a core. On CUDA
    the clock is always the wall clock, with the device synchronised around each step.
    """
    samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=clock)
    return {name: float(np.median(values)) for name, values in samples.items()}


def round_ratios(samples: Mapping[str, np.ndarray], reference: str) -> dict[str, dict[str, float]]:
    """Each step's time over ``reference``'s, round by round (:func:`step_samples`).

    ``out[name]`` holds the ``median`` of the per-round ratios, their ``low`` and ``high``
    quartiles, and ``of_medians`` (median time over median reference time).
    """
    if reference not in samples:
        raise ValueError(f"reference {reference!r} is not one of {sorted(samples)}")
    base = np.asarray(samples[reference], dtype=float)
    out = {}
    for name, values in samples.items():
        ratios = np.asarray(values, dtype=float) / base
        low, median, high = np.quantile(ratios, [0.25, 0.5, 0.75])
        out[name] = {
            "median": float(median),
            "low": float(low),
            "high": float(high),
            "of_medians": float(np.median(values) / np.median(base)),
        }
    return out


@contextlib.contextmanager
def threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous count."""
    n = check_int(n, "threads", minimum=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def count_operations(step: Callable[[], None]) -> int:
    """How many ATen operations one call of ``step`` dispatches, forward, backward and optimiser.

    A machine-free measure of per-operation overhead: on a GPU every operation is at least
    one kernel launch, whatever its size.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.n += 1
            return func(*args, **(kwargs or {}))

    with _Count() as counter:
        step()
    return counter.n


def training_step(
    model: torch.nn.Module, loss_fn: Callable, batch, optimizer: torch.optim.Optimizer
):
    """A callable doing one optimiser step of ``loss_fn(model, *batch)`` (for :func:`step_times`)."""

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model, *batch)
        total = getattr(loss, "total", loss)
        total.backward()
        optimizer.step()

    return step
