"""Chapter 11 (Figure 6): a denoising autoencoder on MNIST, trained with the L2 and the H1 loss.

Per seed: one L2 and one H1 autoencoder per training noise (ε₁ Gaussian, ε₂ sine) at the
paper's learning rate, both from the same initial network and with the same batches and
noise; the other learning rates of the grid on ε₁; and every network at the paper's rate
tested on its own kind of noise, at the training level and stronger. Noises are given as
plain dicts (``kind``, ``level``, ``frequency``, and for a test input the ``seed`` of its
draw) so that they are part of the settings; :func:`noise` makes them :class:`Noise`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..autoencoder import (
    LOSSES,
    Noise,
    noisy_copy,
    per_image_mse,
    psnr,
    reconstruct,
    train_denoiser,
)
from ..mnist import load_mnist, to_unit, train_test_split
from . import Experiment, register

NOISE_NAMES = {"e1": "ε₁", "e2": "ε₂"}
CONDITION_NAMES = {
    "training": "training level",
    "amplified": "amplified",
    "stronger": "stronger",
    "frequency": "other frequency",
}


def _gaussian(level, **extra):
    return {"kind": "gaussian", "level": level, "frequency": 1.0, **extra}


def _sine(level, frequency=1.0, **extra):
    return {"kind": "sine", "level": level, "frequency": frequency, **extra}


COMMON = {
    "n_test": 1000,  # digits held out of the shipped 10,000 (shuffled with split_seed)
    "split_seed": 0,
    "lr": 5e-3,  # Adam, the paper's
    "lr_grid": {"l2": [1e-3, 2e-3, 5e-3], "h1": [2e-3, 5e-3]},  # on ε₁
    "train_noise": {"e1": _gaussian(0.5), "e2": _sine(0.3)},
    "curve_noise_seed": 7,  # the noisy test inputs of the curves
    "test_noise": {
        "e1": {
            "training": _gaussian(0.5, seed=100),
            "amplified": _gaussian(1.0, seed=101),
        },
        "e2": {
            "training": _sine(0.3, seed=100),
            "stronger": _sine(0.6, seed=101),
            "frequency": _sine(0.3, 5.0, seed=102),
        },
    },
    "warmup_steps": 3,  # untimed steps per loss first: one-time setup costs
    "picks": [0, 1],  # test digits whose reconstructions are kept
}
SETTINGS = {
    "smoke": {
        **COMMON,
        "steps": 6,
        "batch_size": 32,
        "seeds": [0, 1, 2],
        "eval_every": 3,
        "n_curve": 32,  # test digits of the curves
        "n_eval": 64,  # test digits of the tables
        "threshold": 0.1,  # test MSE that counts as converged
    },
    "book": {
        **COMMON,
        "steps": 100,
        "batch_size": 32,
        "seeds": [0, 1, 2],
        "eval_every": 10,
        "n_curve": 128,
        "n_eval": 500,
        "threshold": 0.05,
    },
    "paper": {
        **COMMON,
        "steps": 1400,  # 20 epochs of 70 batches of 128 (the paper's configuration)
        "batch_size": 128,
        "seeds": [0, 1, 2, 3, 4],
        "eval_every": 50,
        "n_curve": 1000,
        "n_eval": 1000,
        "threshold": 0.02,
    },
}


def noise(spec) -> Noise:
    """The :class:`Noise` of a settings entry (its ``seed``, if any, is not part of it)."""
    return Noise(spec["kind"], float(spec["level"]), float(spec["frequency"]))


def rate_key(rate: float) -> str:
    """The key of a learning rate in the results: ``"0.002"``."""
    return f"{rate:g}"


def digits(settings, *, verify: bool = True):
    """The training and the held-out test digits (uint8, (n, 28, 28)), the shipped file checked
    against its sha256 with ``verify``."""
    images, labels = load_mnist(verify=verify)
    train_images, _, test_images, _ = train_test_split(
        images, labels, n_test=settings["n_test"], seed=settings["split_seed"]
    )
    return train_images, test_images


def tensors(settings, device, *, verify: bool = True):
    """``(clean_train, clean_test, curve_clean)`` on ``device``, pixels in [0, 1]: every
    training digit, the first ``n_eval`` test digits (tables) and their first ``n_curve``
    (curves)."""
    train_images, test_images = digits(settings, verify=verify)
    clean_train = torch.as_tensor(to_unit(train_images), device=device)
    clean_test = torch.as_tensor(to_unit(test_images[: settings["n_eval"]]), device=device)
    return clean_train, clean_test, clean_test[: settings["n_curve"]]


def noisy_inputs(settings, clean_test) -> dict:
    """The noisy test inputs, ``{(noise, condition): images}``, the same for every model."""
    return {
        (name, condition): noisy_copy(clean_test, noise(spec), seed=spec["seed"])
        for name, conditions in settings["test_noise"].items()
        for condition, spec in conditions.items()
    }


def run_seed(settings, seed, context):
    """Train every autoencoder of one seed; curves, test errors and a few reconstructions."""
    clean_train, clean_test, curve_clean = tensors(settings, context.device)
    steps, lr = settings["steps"], settings["lr"]
    eval_steps = range(0, steps + 1, settings["eval_every"])

    def train(name, loss, rate, tag):
        spec = noise(settings["train_noise"][name])
        return train_denoiser(
            clean_train,
            spec,
            loss,
            steps=steps,
            eval_clean=curve_clean,
            eval_noisy=noisy_copy(curve_clean, spec, seed=settings["curve_noise_seed"]),
            eval_steps=eval_steps,
            batch_size=settings["batch_size"],
            lr=rate,
            seed=seed,
            checkpoint=context.checkpoint(seed, tag),
        )

    def curve(run):
        return {
            "steps": np.asarray(run.steps),
            "test_mse": np.asarray(run.test_mse),
            "seconds": np.asarray(run.seconds),
        }

    for loss in LOSSES:  # untimed, so that one-time setup costs count for neither loss
        train_denoiser(
            clean_train,
            noise(settings["train_noise"]["e1"]),
            loss,
            steps=settings["warmup_steps"],
            eval_clean=curve_clean[:8],
            eval_noisy=curve_clean[:8],
            eval_steps=[],
        )
    models, result = {}, {"train": {}, "lr": {loss: {} for loss in settings["lr_grid"]}}
    for name in settings["train_noise"]:  # L2 and H1 alternate: both see the same machine
        result["train"][name] = {}
        for loss in LOSSES:
            run = train(name, loss, lr, f"{name}-{loss}")
            models[name, loss] = run.model
            result["train"][name][loss] = curve(run)
    for loss, rates in settings["lr_grid"].items():
        for rate in rates:
            if rate != lr:  # the paper's rate is result["train"]["e1"]
                run = train("e1", loss, rate, f"lr-{loss}-{rate_key(rate)}")
                result["lr"][loss][rate_key(rate)] = curve(run)
    result["lr"] = {loss: rates for loss, rates in result["lr"].items() if rates}
    if not result["lr"]:
        del result["lr"]
    picks = settings["picks"]
    result["test"] = {}
    for (name, condition), noisy in noisy_inputs(settings, clean_test).items():
        entry = result["test"].setdefault(name, {}).setdefault(condition, {})
        for loss in LOSSES:
            errors = per_image_mse(reconstruct(models[name, loss], noisy), clean_test)
            entry[loss] = {
                "mse": errors.mean(),
                "psnr": psnr(errors).mean(),
                "picks": reconstruct(models[name, loss], noisy[picks]).cpu(),
            }
    return result


def curves(runs, name: str, loss: str, rate: float | None = None) -> dict:
    """The curves of every seed of one (noise, loss, learning rate): ``steps`` (evaluations),
    ``test_mse`` and ``seconds`` (seeds × evaluations). ``rate=None``: the paper's rate."""
    settings = runs.experiment.settings_for(runs.scale)
    if rate is None or rate == settings["lr"]:
        key = f"train/{name}/{loss}"
    else:
        if name != "e1":
            raise ValueError("the learning-rate grid is trained on e1 only")
        key = f"lr/{loss}/{rate_key(rate)}"
    return {
        "steps": runs.get(f"{key}/steps", runs.seeds[0]),
        "test_mse": runs.stack(f"{key}/test_mse"),
        "seconds": runs.stack(f"{key}/seconds"),
    }


EXPERIMENT = register(
    Experiment(
        name="denoising-autoencoder",
        title="A denoising autoencoder on MNIST trained with the L2 and the H1 loss",
        chapter="11-denoising-autoencoder",
        settings=SETTINGS,
        run_function=run_seed,
        figure="Figure 6",
        default_steps_between_checkpoints=200,
    ),
    aliases=("figure-6",),
)
