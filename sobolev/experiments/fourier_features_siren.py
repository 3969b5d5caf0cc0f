"""Chapter 10 (Figure 4): a tanh MLP, Fourier features and SIREN, L2 against H1, on f₁ and f₂.

The seeds are the networks: the networks of one configuration (architecture, loss,
learning rates) are trained together as one :class:`sobolev.ensemble.Ensemble`, the
network of seed ``s`` drawn after ``torch.manual_seed(s)`` (:func:`sobolev.ensemble.fit`),
so ``seeds = [0, …, n − 1]`` are the chapter's n networks per configuration and a
sweep can be split by seeds (``--shard``) without changing any network.

Each seed's result holds, for every target, architecture and loss, the history of
that network at every learning rate of the loss's grid (``test_mse``, ``test_h1``,
``train_loss``, each (learning rates, evaluations)) and, for the configurations of
:data:`SHOW`, the learned function and its derivative on the plotting window of
:data:`WINDOWS` at the main learning rate. :func:`fits` turns the results of
several seeds back into the :class:`sobolev.ensemble.Fit` of each configuration.
The step-time benchmarks of the chapter are measurements of the machine that shows
the page, not results, and stay in the chapter (their sizes are settings here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..ensemble import EnsembleHistory, Fit, RegressionProblem, fit, regression_problem
from ..networks import MLP, AuthorsFourierNetwork, FourierFeatureNetwork, Siren
from ..targets import F1, F2
from . import Experiment, Runs, format_seeds, register

COMMON = {"sigma": 10.0, "omega_0": 30.0}
SETTINGS = {
    "smoke": {
        **COMMON,
        "seeds": [0, 1],  # one network per seed in every configuration
        "n_train": 64,  # uniform training grid
        "n_test": 64,  # random held-out points
        "steps": 20,  # full-batch Adam steps
        "eval_every": 5,
        "lr_main": 1e-3,
        "lrs_l2": [1e-3, 3e-3],
        "lrs_h1": [1e-3],
        "bench_networks": 10,  # the ensemble-against-loop benchmark (live in the chapter)
        "bench_repeats": 2,
        "cost_networks": 4,  # the H1/L2 step cost (live in the chapter)
        "cost_repeats": 3,
    },
    "book": {
        **COMMON,
        "seeds": [0, 1, 2, 3, 4],
        "n_train": 200,
        "n_test": 400,
        "steps": 500,
        "eval_every": 20,
        "lr_main": 1e-3,
        "lrs_l2": [3e-4, 1e-3, 3e-3],
        "lrs_h1": [3e-4, 1e-3],
        "bench_networks": 100,
        "bench_repeats": 7,
        "cost_networks": 20,
        "cost_repeats": 15,
    },
    # the paper's 100 networks; the authors' code's 1,000 points, Adam lr 1e-4, 10,000 steps
    "paper": {
        **COMMON,
        "seeds": list(range(100)),
        "n_train": 1000,
        "n_test": 2000,
        "steps": 10_000,
        "eval_every": 100,
        "lr_main": 1e-4,
        "lrs_l2": [3e-5, 1e-4, 3e-4],
        "lrs_h1": [3e-5, 1e-4],
        "bench_networks": 100,
        "bench_repeats": 10,
        "cost_networks": 100,
        "cost_repeats": 30,
    },
}

#: The targets, by their names on the page and their keys in a result.
TARGETS = {"f₁": F1, "f₂": F2}
TARGET_KEYS = {"f₁": "f1", "f₂": "f2"}

#: The architectures as their inventors define them, and the authors' variants.
ARCHITECTURES = ("MLP", "Fourier features", "SIREN")
AUTHORS = ("authors' Fourier", "authors' SIREN")
ARCHITECTURE_KEYS = {
    "MLP": "mlp",
    "Fourier features": "fourier_features",
    "SIREN": "siren",
    "authors' Fourier": "authors_fourier",
    "authors' SIREN": "authors_siren",
}

#: The losses, by their names on the page and their keys in a result.
LOSS_KEYS = {"l2": "l2", "h1": "h1", "h1 balanced": "h1_balanced"}

#: The configurations whose learned functions the chapter draws, and where.
SHOW = (("MLP", "l2"), ("Fourier features", "l2"), ("Fourier features", "h1"), ("SIREN", "h1"))
WINDOWS = {"f₁": (0.5, 1.0), "f₂": (1.6, 2.0)}
WINDOW_POINTS = 600


def factories(settings) -> dict[str, Callable[[], torch.nn.Module]]:
    """A factory of a fresh network for every architecture, by its name on the page."""
    sigma, omega_0 = settings["sigma"], settings["omega_0"]
    return {
        "MLP": lambda: MLP([1, 64, 64, 64, 1], "tanh"),
        "Fourier features": lambda: FourierFeatureNetwork(
            1, 64, [64, 64, 1], sigma=sigma, activation="tanh"
        ),
        "SIREN": lambda: Siren([1, 64, 64, 64, 1], omega_0=omega_0),
        "authors' Fourier": lambda: AuthorsFourierNetwork(1, 64, [64, 64, 1]),
        "authors' SIREN": lambda: MLP([1, 64, 64, 64, 1], "sine"),
    }


def problems(settings, device=None) -> dict[str, RegressionProblem]:
    """The training grid and held-out points of each target (held-out draw seeded 1)."""
    return {
        name: regression_problem(t, settings["n_train"], settings["n_test"], seed=1, device=device)
        for name, t in TARGETS.items()
    }


def balance(problem: RegressionProblem) -> float:
    """λ₁ = mean f² / mean f′² on the training grid: both terms of the H1 loss start equal."""
    return float(problem.value.square().mean() / problem.gradient.square().mean())


def window(tname: str) -> np.ndarray:
    """The points at which the learned functions of :data:`SHOW` are kept."""
    return np.linspace(*WINDOWS[tname], WINDOW_POINTS)


def configurations(settings) -> list[tuple[str, str, list[float], float]]:
    """Every (architecture, loss, learning rates, H1 weight factor) of one target, in order.

    The weight factor is 1 except for "h1 balanced", which uses :func:`balance` (marked None).
    """
    out = []
    for arch in ARCHITECTURES:
        out.append((arch, "l2", list(settings["lrs_l2"]), 1.0))
        out.append((arch, "h1", list(settings["lrs_h1"]), 1.0))
        out.append((arch, "h1 balanced", [settings["lr_main"]], None))
    for arch in AUTHORS:
        for loss in ("l2", "h1"):
            out.append((arch, loss, [settings["lr_main"]], 1.0))
    return out


def run(settings, seeds, context) -> dict[int, dict]:
    """Every configuration of the chapter for the networks ``seeds``, one ensemble each."""
    seeds = list(seeds)
    make = factories(settings)
    results: dict[int, dict] = {seed: {} for seed in seeds}
    for tname, problem in problems(settings, context.device).items():
        for arch, loss, lrs, weight in configurations(settings):
            tag = f"{TARGET_KEYS[tname]}-{ARCHITECTURE_KEYS[arch]}-{LOSS_KEYS[loss]}"
            fitted = fit(
                make[arch],
                problem,
                loss="h1" if loss.startswith("h1") else loss,
                lrs=lrs,
                seeds=seeds,
                steps=settings["steps"],
                eval_every=settings["eval_every"],
                h1_weight=balance(problem) if weight is None else weight,
                checkpoint=context.checkpoint(seeds[0], f"s{format_seeds(seeds)}-{tag}"),
            )
            if (arch, loss) in SHOW:
                u, du = fitted.predict(settings["lr_main"], window(tname))
            for k, seed in enumerate(seeds):
                entry = {"lrs": np.asarray(lrs, dtype=float), "seconds": fitted[lrs[0]].seconds}
                for what in ("test_mse", "test_h1", "train_loss"):  # (lrs, evaluations)
                    entry[what] = np.stack([getattr(fitted[lr], what)[k] for lr in lrs])
                if (arch, loss) in SHOW:
                    entry["u"], entry["du"] = u[k], du[k]
                node = results[seed].setdefault(TARGET_KEYS[tname], {})
                node.setdefault(ARCHITECTURE_KEYS[arch], {})[LOSS_KEYS[loss]] = entry
                results[seed]["eval_steps"] = fitted[lrs[0]].eval_steps
    return results


def _key(tname: str, arch: str, loss: str) -> str:
    return f"{TARGET_KEYS[tname]}/{ARCHITECTURE_KEYS[arch]}/{LOSS_KEYS[loss]}"


def fits(runs: Runs) -> dict[tuple[str, str, str], Fit]:
    """The :class:`~sobolev.ensemble.Fit` of every (target, architecture, loss), networks in
    seed order, rebuilt from stored histories (without the networks themselves)."""
    seeds = runs.seeds
    first = seeds[0]
    eval_steps = np.asarray(runs.get("eval_steps", first))
    out = {}
    for tname in TARGETS:
        for arch, loss, _, _ in configurations(runs.experiment.settings_for(runs.scale)):
            key = _key(tname, arch, loss)
            lrs = [float(v) for v in np.asarray(runs.get(f"{key}/lrs", first))]
            seconds = np.asarray(runs.get(f"{key}/seconds", first))
            stacks = {w: runs.stack(f"{key}/{w}") for w in ("test_mse", "test_h1", "train_loss")}
            histories = {
                lr: EnsembleHistory(
                    eval_steps,
                    stacks["test_mse"][:, i],
                    stacks["test_h1"][:, i],
                    stacks["train_loss"][:, i],
                    seconds,
                    np.full(len(seeds), lr),
                )
                for i, lr in enumerate(lrs)
            }
            out[tname, arch, loss] = Fit(histories, None, len(seeds))
    return out


def functions(runs: Runs, tname: str, arch: str, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """u and u′ of every network of a configuration of :data:`SHOW` on :func:`window`,
    each (networks, points), at the main learning rate."""
    key = _key(tname, arch, loss)
    return runs.stack(f"{key}/u"), runs.stack(f"{key}/du")


EXPERIMENT = register(
    Experiment(
        name="fourier-features-siren",
        title="MLP, Fourier features and SIREN fitted to f1 and f2 with the L2 and H1 losses",
        chapter="10-fourier-features-siren",
        settings=SETTINGS,
        run_function=run,
        figure="Figure 4",
        batched=True,
        default_steps_between_checkpoints=1000,
    ),
    aliases=("figure-4",),
)
