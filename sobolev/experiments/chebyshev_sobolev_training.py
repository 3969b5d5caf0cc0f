"""Chapter 08 (Figure 5): Ackley's function fitted with L2 and with H1 losses whose gradient
is exact, Chebyshev-estimated or finite-difference-estimated, all on one Chebyshev grid.

One seed trains, from the same initial network, the four losses of the paper (``l2``,
``exact``, ``chebyshev``, ``fd``) and ``l2_large`` (L2 at a larger learning rate); the
seeds in ``probe_seeds`` also train L2 at the learning rates ``lr_l2_probes``, and those in
``authors_fdm_seeds`` the authors' finite-difference variant (uniform grid, H1 term on the
interior points only) and the exact H1 loss on that uniform grid. Each run stores its
test-error curve, training seconds, final loss terms, the spread of its predictions
(``std_ratio``: std of the network over the test points / std of the target) and, for the
figure's losses, the trained network on a fine plotting grid. With ``--compile`` the
exact-H1 run uses the compiled H1 loss of :mod:`sobolev.fast`; ``exact/loss`` names the loss
that was used.
"""

from __future__ import annotations

import numpy as np
import torch

from ..chebyshev import grid_gradients
from ..losses import SobolevLoss, input_derivatives, sobolev_loss
from ..networks import MLP
from ..targets import ACKLEY
from ..training import History, train_runs
from . import Experiment, register

COMMON = {
    "widths": [2, 64, 64, 1],  # the paper's text (its code had 2-64-64-64-64-1)
    "test_seed": 2024,  # the held-out uniform test points
    "plot_points": 121,  # per axis, for the figure of the fits
}
SETTINGS = {
    "smoke": {
        **COMMON,
        "n_grid": 12,  # (n+1) x (n+1) Chebyshev grid
        "lr": 3e-3,  # Adam, every loss
        "lr_l2_large": 1e-2,  # L2 only
        "lr_l2_probes": [],
        "probe_seeds": [0],
        "steps": 60,  # full-batch epochs
        "seeds": [0, 1, 2],
        "eval_every": 10,
        "n_test": 1024,
        "authors_fdm_seeds": [0],
    },
    "book": {
        **COMMON,
        "n_grid": 30,
        "lr": 3e-3,
        "lr_l2_large": 1e-2,
        "lr_l2_probes": [1e-3, 3e-2],
        "probe_seeds": [0],
        "steps": 3000,
        "seeds": [0, 1, 2, 3, 4],
        "eval_every": 50,
        "n_test": 4096,
        "authors_fdm_seeds": [0],
    },
    "paper": {  # the authors' 101 x 101 grid, learning rate and epochs
        **COMMON,
        "n_grid": 100,
        "lr": 1e-4,
        "lr_l2_large": 1e-3,
        "lr_l2_probes": [3e-4, 1e-2],  # around lr_l2_large (1e-4 is lr, run as "l2")
        "probe_seeds": [0],
        "steps": 200_000,
        "seeds": [0, 1, 2, 3, 4],
        "eval_every": 500,
        "n_test": 16_384,
        "authors_fdm_seeds": [0, 1, 2],
    },
}
# The runs of every seed, and the extra ones of some seeds.
METHODS = ("l2", "exact", "fd", "chebyshev")
UNIFORM = ("fd_authors", "exact_uniform")
RUNS = (*METHODS, "l2_large", *UNIFORM)
FITTED = ("l2", "l2_large", "exact", "fd", "chebyshev")  # stored on the plotting grid


def grid_targets(settings):
    """Ackley's values and its exact, Chebyshev and finite-difference gradients on the grid."""
    return grid_gradients(ACKLEY, settings["n_grid"])


def uniform_targets(settings):
    """The same on a uniform grid with as many points per axis (exact and FD gradients)."""
    return grid_gradients(ACKLEY, settings["n_grid"], grid="uniform")


def test_data(settings, device):
    """The held-out points and Ackley's values there (float32 on ``device``)."""
    points = ACKLEY.uniform(settings["n_test"], np.random.default_rng(settings["test_seed"]))
    values = ACKLEY.value(points).numpy()
    return _tensor(points, device), _tensor(values, device)


def plot_grid(settings):
    """The fine uniform grid the fits are drawn on: ``(axis, points)``, float64."""
    axis = np.linspace(-2, 2, settings["plot_points"])
    points = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    return axis, points


def _tensor(array, device):
    return torch.as_tensor(array, dtype=torch.float32, device=device)


def h1_loss(model, x_batch, value, gradient):
    return sobolev_loss(model, x_batch, value, gradient, h1_weight=1.0)


def l2_loss(model, x_batch, value):
    return sobolev_loss(model, x_batch, value, l2_weight=1.0)


def authors_fdm_loss(interior: torch.Tensor):
    """The authors' FD loss: L2 on every grid point, H1 on the points where ``interior``."""

    def loss(model, x_batch, value, gradient):
        u, grad, _ = input_derivatives(model, x_batch, order=1)
        h1 = (grad[interior] - gradient[interior]).square().sum(dim=1).mean()
        terms = {"l2": (u - value).square().mean(), "h1": h1}
        return SobolevLoss(
            total=terms["l2"] + terms["h1"],
            terms=terms,
            weights={"l2": 1.0, "h1": 1.0},
        )

    return loss


def _exact_h1_loss(context):
    """The loss of the exact-H1 run, and a function naming it for the result.

    With ``context.compile`` (``--compile`` on the command line) it is the compiled H1 loss
    of :func:`sobolev.fast.h1_loss` (one per run: it compiles for one model), equal to
    :func:`h1_loss` to float round-off and faster in long runs; otherwise :func:`h1_loss`.
    """
    if not context.compile:
        return h1_loss, lambda: "sobolev.losses.sobolev_loss"
    from .. import fast

    compiled = fast.h1_loss()

    def loss(model, x_batch, value, gradient):
        return compiled(model, x_batch, value, gradient, h1_weight=1.0)

    return loss, lambda: f"sobolev.fast.{compiled!r}"


def run_seed(settings, seed, context):
    """Every run of one seed (see the module's docstring), each from the seed's initial network."""
    device = context.device
    targets = grid_targets(settings)
    grid_x = _tensor(targets.points, device)
    grid_values = _tensor(targets.values.ravel(), device)
    test_x, test_values = test_data(settings, device)
    target_std = float(test_values.std())

    def test_mse(model):
        return float(((model(test_x)[:, 0] - test_values) ** 2).mean())

    def make_model():
        return MLP(settings["widths"], "tanh").to(device)

    def h1_data(gradients, name, points=grid_x, values=grid_values):
        return [points, values, _tensor(gradients[name], device)]

    exact_loss, exact_loss_name = _exact_h1_loss(context)
    methods = {
        "l2": (l2_loss, [grid_x, grid_values]),
        "exact": (exact_loss, h1_data(targets.gradients, "exact")),
        "fd": (h1_loss, h1_data(targets.gradients, "fd")),
        "chebyshev": (h1_loss, h1_data(targets.gradients, "chebyshev")),
    }
    common = dict(
        steps=settings["steps"],
        evaluate=test_mse,
        eval_every=settings["eval_every"],
        checkpoint=lambda name, s: context.checkpoint(s, name),
    )
    histories, models = train_runs(make_model, methods, [seed], lr=settings["lr"], **common)
    large = {"l2_large": methods["l2"]}
    more, more_models = train_runs(make_model, large, [seed], lr=settings["lr_l2_large"], **common)
    histories.update(more)
    models.update(more_models)

    probe_errors = []
    if seed in settings["probe_seeds"]:
        for probe_lr in settings["lr_l2_probes"]:  # is lr_l2_large the best step for L2?
            probe = {f"l2_lr{probe_lr:g}": methods["l2"]}
            probe_histories, _ = train_runs(make_model, probe, [seed], lr=probe_lr, **common)
            probe_errors.append(probe_histories[f"l2_lr{probe_lr:g}"][0].test_error[-1])

    if seed in settings["authors_fdm_seeds"]:
        uniform = uniform_targets(settings)
        interior = np.zeros_like(uniform.values, dtype=bool)
        interior[1:-1, 1:-1] = True
        points = _tensor(uniform.points, device)
        values = _tensor(uniform.values.ravel(), device)
        uniform_runs = {
            "fd_authors": (
                authors_fdm_loss(torch.as_tensor(interior.ravel(), device=device)),
                h1_data(uniform.gradients, "fd", points, values),
            ),
            "exact_uniform": (h1_loss, h1_data(uniform.gradients, "exact", points, values)),
        }
        more, more_models = train_runs(
            make_model, uniform_runs, [seed], lr=settings["lr"], **common
        )
        histories.update(more)
        models.update(more_models)

    _, plot_points = plot_grid(settings)
    plot_x = _tensor(plot_points, device)
    result = {}
    for name, runs in histories.items():
        history, model = runs[0], models[name][0]
        with torch.no_grad():
            entry = {
                "eval_steps": np.asarray(history.eval_steps),
                "test_error": np.asarray(history.test_error),
                "train_seconds": np.asarray(history.train_seconds),
                "final_terms": {k: v[-1] for k, v in history.terms.items()},
                "std_ratio": float(model(test_x).std()) / target_std,
            }
            if name in FITTED:
                entry["fit"] = model(plot_x)[:, 0].cpu().numpy().astype(np.float32)
        result[name] = entry
    result["exact"]["loss"] = exact_loss_name()
    if seed in settings["probe_seeds"] and settings["lr_l2_probes"]:
        result["probes"] = {
            "lr": np.asarray(settings["lr_l2_probes"], dtype=float),
            "test_error": np.asarray(probe_errors),
        }
    return result


def history(runs, name: str, seed: int) -> History:
    """The stored run ``name`` of ``seed`` as a :class:`~sobolev.training.History`.

    Only the test-error curve and its training seconds are stored (the loss terms at
    the last step are in ``name/final_terms``), so its ``terms`` are empty.
    """
    return History(
        eval_steps=[int(s) for s in runs.get(f"{name}/eval_steps", seed)],
        test_error=[float(e) for e in runs.get(f"{name}/test_error", seed)],
        train_seconds=[float(t) for t in runs.get(f"{name}/train_seconds", seed)],
    )


def seeds_of(runs, name: str) -> list[int]:
    """The seeds for which the run ``name`` was made (every seed, or a few for the extras)."""
    return [seed for seed in runs.seeds if name in runs[seed]]


EXPERIMENT = register(
    Experiment(
        name="chebyshev-sobolev-training",
        title="Ackley fitted with L2 and with exact, Chebyshev and finite-difference H1 losses",
        chapter="08-chebyshev-sobolev-training",
        settings=SETTINGS,
        run_function=run_seed,
        figure="Figure 5",
        default_steps_between_checkpoints=5000,
    ),
    aliases=("figure-5",),
)
