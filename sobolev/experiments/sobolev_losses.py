"""Chapter 01: fitting sin 3x + ½ cos 7x from eight samples with the L2 and the H1 loss."""

from __future__ import annotations

import torch

from ..config import get_device
from ..losses import input_derivatives, sobolev_loss
from ..networks import MLP
from ..targets import WAVE
from ..training import train_runs
from . import Experiment, register

COMMON = {"n_train": 8, "widths": [1, 64, 64, 1], "lr": 3e-3, "n_test": 1000}
SETTINGS = {
    "smoke": {**COMMON, "steps": 200, "seeds": [0, 1, 2], "eval_every": 20, "repeats": 3},
    "book": {**COMMON, "steps": 1500, "seeds": [0, 1, 2, 3, 4], "eval_every": 25, "repeats": 20},
    "paper": {**COMMON, "steps": 5000, "seeds": list(range(10)), "eval_every": 50, "repeats": 50},
}
LOSSES = ("l2", "h1")


def data(settings, device=None):
    """Training samples and held-out points: ``(x, y, dy)`` each, on ``device``."""
    device = get_device() if device is None else device
    x_train = torch.linspace(-1, 1, settings["n_train"], device=device)[:, None]
    y_train, dy_train, _ = WAVE.sample(x_train, order=1)
    x_test = torch.linspace(-1, 1, settings["n_test"], device=device)[:, None]
    y_test, dy_test, _ = WAVE.sample(x_test, order=1)
    return (x_train, y_train, dy_train), (x_test, y_test, dy_test)


def l2_loss(model, x, value):
    return sobolev_loss(model, x, value)


def run_seed(settings, seed, context):
    """Train one L2 and one H1 network from the same start; curves and held-out fits."""
    (x_train, y_train, dy_train), (x_test, y_test, dy_test) = data(settings, context.device)

    def test_mse(model):
        return (model(x_test)[:, 0] - y_test).square().mean().item()

    histories, models = train_runs(
        lambda: MLP(settings["widths"], "tanh").to(context.device),
        {
            "l2": (l2_loss, (x_train, y_train)),
            "h1": (sobolev_loss, (x_train, y_train, dy_train)),
        },
        [seed],
        checkpoint=lambda name, s: context.checkpoint(s, name),
        steps=settings["steps"],
        lr=settings["lr"],
        evaluate=test_mse,
        eval_every=settings["eval_every"],
    )
    result = {}
    for name in LOSSES:
        history, model = histories[name][0], models[name][0]
        u, du, _ = input_derivatives(model, x_test, order=1)
        result[name] = {
            "eval_steps": history.eval_steps,
            "test_error": history.test_error,
            "value_mse": history.test_error[-1],
            "slope_mse": (du - dy_test).square().mean().item(),
            "u": u.detach(),
            "du": du[:, 0].detach(),
        }
    return result


EXPERIMENT = register(
    Experiment(
        name="sobolev-losses",
        title="L2 against H1 training from eight samples of sin 3x + cos(7x)/2",
        chapter="01-sobolev-losses",
        settings=SETTINGS,
        run_function=run_seed,
        default_steps_between_checkpoints=500,
    )
)
