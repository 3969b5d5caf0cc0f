"""Chapter 09 (Figure 3): five activations fitted with the L2, H1 and H2 losses.

The run trains, for every activation of :data:`sobolev.activations.ACTIVATIONS`, the
L2 loss at every learning rate of ``l2_lrs`` and the Sobolev losses of
:func:`sobolev_losses` at the common ``lr``, all seeds of one (activation, loss)
stacked into one :func:`sobolev.activations.train_stacked` run, on the data set of
:func:`dataset`; then it times one Adam step of a single network per loss
(:func:`sobolev.activations.step_costs`), on the device of the run, so that stored
results carry the step costs of the machine that trained them.

Each seed's result holds its test-error curves (``<activation>/l2_grid/test_error``
of shape (learning rates, evaluations), ``<activation>/<loss>/test_error``), the
final training losses, the seconds of each stacked run and the step costs;
:func:`curves` turns the results of several seeds back into the
:class:`sobolev.activations.RunResult` of each (activation, loss), members in the
order :func:`~sobolev.activations.train_stacked` gives them.

With checkpoints (the command line), a stacked run in progress resumes from its
checkpoint, and a finished one keeps its checkpoint until the results of every
seed are stored, so a killed run does not train again what it had finished.
"""

from __future__ import annotations

import numpy as np
import torch

from ..activations import (
    ACTIVATIONS,
    Dataset,
    RunResult,
    make_dataset,
    select_lr,
    step_costs,
    train_stacked,
)
from . import Experiment, Runs, format_seeds, register

COMMON = {"lr": 3e-3, "l2_lrs": [1e-3, 3e-3, 1e-2], "repeats": 20}
SETTINGS = {
    "smoke": {
        **COMMON,
        "n_train": 64,
        "n_test": 256,
        "steps": 20,
        "eval_every": 5,
        "seeds": [0, 1, 2],
        "repeats": 3,
    },
    "book": {
        **COMMON,
        "n_train": 500,
        "n_test": 4000,
        "steps": 1000,
        "eval_every": 25,
        "seeds": [0, 1, 2],
    },
    # the paper's Adam learning rate 1e-4 and 50,000 epochs; the points are the book's choice
    "paper": {
        **COMMON,
        "n_train": 4000,
        "n_test": 10_000,
        "steps": 50_000,
        "eval_every": 500,
        "seeds": [0, 1, 2, 3, 4],
        "lr": 1e-4,
        "l2_lrs": [1e-4, 3e-4, 1e-3],
    },
}

#: The seed of the training and test points (the same data set for every seed of the networks).
DATA_SEED = 2024

#: Piecewise-linear networks: their H2 term trains nothing, so H2 is not run for them.
PIECEWISE = ("relu", "leaky_relu")


def sobolev_losses(activation: str) -> list[str]:
    """The Sobolev losses trained for ``activation``: H1, and H2 unless it is piecewise linear."""
    return ["h1"] if activation in PIECEWISE else ["h1", "h2"]


def dataset(settings, device=None) -> Dataset:
    """The training and test points of ``settings`` (one draw, seeded :data:`DATA_SEED`)."""
    device = torch.device("cpu") if device is None else device
    return make_dataset(settings["n_train"], settings["n_test"], seed=DATA_SEED, device=device)


def _lr_grid(settings) -> list[float]:
    grid = sorted({float(v) for v in settings["l2_lrs"]})
    if not any(np.isclose(settings["lr"], v) for v in grid):
        raise ValueError(f"l2_lrs {grid} must contain the common lr {settings['lr']}")
    return grid


def run(settings, seeds, context) -> dict[int, dict]:
    """Every stacked run of the chapter for ``seeds`` together, then the step costs."""
    seeds = list(seeds)
    data = dataset(settings, context.device)
    grid = _lr_grid(settings)
    common = dict(data=data, seeds=seeds, steps=settings["steps"])
    common["eval_every"] = settings["eval_every"]
    trained: dict[str, dict[str, RunResult]] = {}
    for activation in ACTIVATIONS:
        trained[activation] = {}
        jobs = [("l2_grid", "l2", grid)] + [
            (k, k, settings["lr"]) for k in sobolev_losses(activation)
        ]
        for key, loss, lrs in jobs:
            tag = f"{activation}-{key}"
            checkpoint = context.checkpoint(seeds[0], f"s{format_seeds(seeds)}-{tag}")
            trained[activation][key] = train_stacked(
                activation, loss, lrs=lrs, checkpoint=checkpoint, **common
            )
    costs = step_costs(data, list(ACTIVATIONS), repeats=settings["repeats"])
    results = {}
    for seed in seeds:
        result = {
            "eval_steps": trained["relu"]["l2_grid"].eval_steps,
            "l2_lrs": np.asarray(grid),
            "lr": float(settings["lr"]),
            "step_seconds": costs,
        }
        for activation, runs in trained.items():
            entry = {}
            for key, r in runs.items():
                rows = [k for k, s in enumerate(r.seeds) if s == seed]  # one per learning rate
                if key == "l2_grid":
                    entry[key] = {
                        "test_error": r.test_error[rows],
                        "final_loss": r.final_loss[rows],
                        "seconds": r.seconds,
                    }
                else:
                    (row,) = rows
                    entry[key] = {
                        "test_error": r.test_error[row],
                        "final_loss": float(r.final_loss[row]),
                        "seconds": r.seconds,
                    }
            result[activation] = entry
        results[seed] = result
    return results


def curves(runs: Runs) -> tuple[dict[tuple[str, str], RunResult], dict[str, RunResult]]:
    """``(by_loss, l2_grid)`` from the results of several seeds.

    ``by_loss[(activation, loss)]`` is the :class:`~sobolev.activations.RunResult` of
    every seed at the common learning rate (``"l2"`` and the losses of
    :func:`sobolev_losses`), ``l2_grid[activation]`` that of L2 at every rate of the
    grid (members lr-major, as :func:`~sobolev.activations.train_stacked` orders them).
    """
    seeds = runs.seeds
    first = seeds[0]
    eval_steps = np.asarray(runs.get("eval_steps", first))
    grid = [float(v) for v in np.asarray(runs.get("l2_lrs", first))]
    lr = float(runs.get("lr", first))
    by_loss, l2_grid = {}, {}
    for activation in ACTIVATIONS:
        errors = runs.stack(f"{activation}/l2_grid/test_error")  # (seeds, lrs, evaluations)
        finals = runs.stack(f"{activation}/l2_grid/final_loss")
        l2_grid[activation] = RunResult(
            activation,
            "l2",
            [s for _ in grid for s in seeds],
            [v for v in grid for _ in seeds],
            eval_steps,
            errors.transpose(1, 0, 2).reshape(len(grid) * len(seeds), -1),
            finals.T.reshape(-1),
            float(runs.get(f"{activation}/l2_grid/seconds", first)),
        )
        by_loss[(activation, "l2")] = select_lr(l2_grid[activation], lr)
        for loss in sobolev_losses(activation):
            by_loss[(activation, loss)] = RunResult(
                activation,
                loss,
                list(seeds),
                [lr] * len(seeds),
                eval_steps,
                runs.stack(f"{activation}/{loss}/test_error"),
                runs.stack(f"{activation}/{loss}/final_loss"),
                float(runs.get(f"{activation}/{loss}/seconds", first)),
            )
    return by_loss, l2_grid


def step_seconds(runs: Runs) -> dict[str, dict[str, float]]:
    """Seconds of one Adam step of one network, ``[activation][loss]`` (median over seeds)."""
    return {
        activation: {
            loss: float(np.median(runs.stack(f"step_seconds/{activation}/{loss}")))
            for loss in ("l2", "h1", "h2")
        }
        for activation in ACTIVATIONS
    }


EXPERIMENT = register(
    Experiment(
        name="activations",
        title="MLPs with five activations fitted with the L2, H1 and H2 losses",
        chapter="09-activations",
        settings=SETTINGS,
        run_function=run,
        figure="Figure 3",
        batched=True,
        default_steps_between_checkpoints=1000,
    ),
    aliases=("figure-3",),
)
