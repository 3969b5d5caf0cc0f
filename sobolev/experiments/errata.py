"""Chapter 05 (errata): the Monte-Carlo references against which the paper's formulas are read.

For one teacher-student pair inside the ball (:func:`pair`, ``d = 3``) a run computes, in
float64, the mean of the per-sample autograd gradient of every term
(:func:`sobolev.montecarlo.monte_carlo_gradient`), the population gradients of the two terms
with a moving boundary as central differences of the Monte-Carlo loss with common random
numbers, and the un-halved Monte-Carlo H¹ term. The printed and corrected formulas are
evaluated in the chapter; they cost nothing.

Seed ``k`` adds ``1000 k`` to the generator seeds, so seed 0 is the chapter's computation.
"""

from __future__ import annotations

import numpy as np

from ..montecarlo import monte_carlo_gradient, monte_carlo_loss
from . import Experiment, register

SEED_STRIDE = 1000
TERMS = ("relu_l2", "relu_h1", "relu2_l2", "relu2_h1", "relu2_h2")
MOVING = ("relu_h1", "relu2_h2")  # the terms whose per-sample loss jumps with the indicator
COMMON = {
    "step": 0.03,  # finite-difference step h
    "gradient_seed": 5,  # the samples of the autograd means and the H¹ loss
    "difference_seed": 11,  # the common samples of both sides of every difference
}
SETTINGS = {
    "smoke": {**COMMON, "n_samples": 200_000, "n_fd": 100_000, "seeds": [0]},
    "book": {**COMMON, "n_samples": 1_000_000, "n_fd": 400_000, "seeds": [0]},
    "paper": {**COMMON, "n_samples": 10_000_000, "n_fd": 4_000_000, "seeds": [0]},
}


def pair() -> tuple[np.ndarray, np.ndarray]:
    """The student ``w`` and teacher ``w*`` of the evidence: d = 3, θ = 0.9, ‖w‖ = 1.6."""
    w_star = np.array([1.5, 0.6, -1.0])
    u_star = w_star / np.linalg.norm(w_star)
    e_perp = np.cross(w_star, [0.0, 0.0, 1.0])
    e_perp /= np.linalg.norm(e_perp)
    w = 1.6 * (np.cos(0.9) * u_star + np.sin(0.9) * e_perp)
    return w, w_star


def population_gradient_mc(term, w, w_star, n, step, seed) -> np.ndarray:
    """Central differences of the Monte-Carlo loss, the same samples on both sides."""
    return np.array(
        [
            (
                monte_carlo_loss(term, w + step * e, w_star, n, seed=seed)
                - monte_carlo_loss(term, w - step * e, w_star, n, seed=seed)
            )
            / (2 * step)
            for e in np.eye(w.size)
        ]
    )


def run_seed(settings, seed, context):
    """The Monte-Carlo references of one seed."""
    w, w_star = pair()
    offset = SEED_STRIDE * seed
    gradient_seed = settings["gradient_seed"] + offset
    n = settings["n_samples"]
    mc_grad = {}
    for t in TERMS:
        mc_grad[t] = monte_carlo_gradient(t, w, w_star, n, seed=gradient_seed)
        context.log(f"{context.scale} seed {seed}: autograd mean of {t}")
    mc_pop_grad = {}
    for t in MOVING:
        mc_pop_grad[t] = population_gradient_mc(
            t, w, w_star, settings["n_fd"], settings["step"], settings["difference_seed"] + offset
        )
        context.log(f"{context.scale} seed {seed}: differences of the loss of {t}")
    unhalved = 2 * monte_carlo_loss("relu_h1", w, w_star, n, seed=gradient_seed)
    return {"mc_grad": mc_grad, "mc_pop_grad": mc_pop_grad, "mc_unhalved": unhalved}


EXPERIMENT = register(
    Experiment(
        name="errata",
        title="Errata: Monte-Carlo references for the paper's printed and corrected formulas",
        chapter="05-errata",
        settings=SETTINGS,
        run_function=run_seed,
    )
)
