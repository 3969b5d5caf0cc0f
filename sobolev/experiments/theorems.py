"""Chapters 02 and 03 (the paper's Figure 1 and Theorems 1-3): one ReLU and one ReLU² neuron.

Each experiment computes, for one seed,

* the paper's Figure 1: for every term and input dimension, the relative squared error of the
  Monte-Carlo mean of per-sample autograd gradients against the closed form, after each
  number of samples (:func:`sobolev.montecarlo.monte_carlo_mse`, one array of shape
  ``(repeats, len(sizes))`` each), and the same for one term against the gradient of the
  population loss (``<term>_moving``);
* the sign claims on ``n_pairs`` random pairs inside and outside the ball
  (:func:`sobolev.montecarlo.sign_check`), stored as summaries: the share of pairs with
  ``(w - w*)·∇ <= 0`` per term, and the smallest, median and largest speed-up per sum of terms,
  for both gradient conventions (the per-pair arrays of the paper scale would take megabytes).

Seed ``k`` offsets every generator seed of the chapter by ``1000 k``, so seed 0 is the
chapter's computation and other seeds are independent repetitions. A run keeps a checkpoint
after every block (one Monte-Carlo array or one region of pairs), so a long run stopped and
started again recomputes only the block it was in.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..montecarlo import monte_carlo_mse, sign_check
from . import Experiment, register

SEED_STRIDE = 1000  # seed k adds 1000 k to each generator seed; dims and seeds stay below
REGIONS = ("inside", "outside")
CONVENTIONS = {"autograd": False, "moving": True}  # the key of each moving_boundary


def sample_sizes(first: float, last: float, count: int) -> list[int]:
    """The numbers of samples N: ``count`` points from 10^first to 10^last, as distinct integers."""
    return [int(n) for n in np.unique(np.logspace(first, last, count).astype(int))]


def _settings(common, repeats):
    sizes = {
        "smoke": sample_sizes(2, 4, 5),
        "book": sample_sizes(2, 5, 7),
        "paper": sample_sizes(2, 6, 9),
    }
    n_pairs = {"smoke": 600, "book": 4_000, "paper": 120_000}
    return {
        scale: {
            **common,
            "sizes": sizes[scale],  # Monte-Carlo samples N, nested in one stream per pair
            "repeats": repeats[scale],  # pairs per dimension (Monte Carlo)
            "n_pairs": n_pairs[scale],  # random pairs per region (sign claims)
            "seeds": [0],
        }
        for scale in ("smoke", "book", "paper")
    }


RELU_TERMS = ["relu_l2", "relu_h1"]
RELU2_TERMS = ["relu2_l2", "relu2_h1", "relu2_h2"]
# The paper gives neither its dimensions, nor its numbers of samples and repetitions.
SETTINGS_RELU = _settings(
    {
        "terms": RELU_TERMS,
        "dims": [2, 10, 50],  # Monte Carlo
        "moving_term": "relu_h1",  # also compared with the gradient of the population loss
        "moving_dim": 10,
        "sign_dims": [2, 5, 20],  # the pairs of the sign claims cycle through these
        "sign_seed": 2024,
        # speed-ups V̇(sum of terms) / V̇(base) summarised per region and convention
        "speedups": {"h1": [RELU_TERMS, RELU_TERMS[:1]]},
    },
    {"smoke": 4, "book": 8, "paper": 50},
)
SETTINGS_RELU2 = _settings(
    {
        "terms": RELU2_TERMS,
        "dims": [2, 4, 8],  # the Hessian term costs d extra backward passes
        "moving_term": "relu2_h2",
        "moving_dim": 2,
        "sign_dims": [2, 5, 20],
        "sign_seed": 2025,
        "speedups": {
            "i1_i2": [RELU2_TERMS[:2], RELU2_TERMS[:1]],
            "i1_i2_i3": [RELU2_TERMS, RELU2_TERMS[:1]],
        },
    },
    {"smoke": 4, "book": 6, "paper": 50},
)


def _mse_key(term: str, d: int, moving: bool = False) -> str:
    return f"mse/{term}{'_moving' if moving else ''}/d{d}"


def _blocks(settings):
    """The blocks of one seed's run, in the chapter's order: (key, what to compute)."""
    blocks = [(_mse_key(t, d), (t, d, False)) for t in settings["terms"] for d in settings["dims"]]
    term, d = settings["moving_term"], settings["moving_dim"]
    blocks.append((_mse_key(term, d, True), (term, d, True)))
    blocks += [(f"signs/{region}", region) for region in REGIONS]
    return blocks


def sign_summary(check, terms, speedups) -> dict:
    """What the chapters read from a :class:`sobolev.montecarlo.SignCheck`, per convention."""
    summary = {"n_pairs": check.n_pairs}
    for name, moving in CONVENTIONS.items():
        ratios = {}
        for key, (numerator, base) in speedups.items():
            ratio = check.speedup(numerator, base, moving)
            ratios[key] = {
                "min": float(ratio.min()),
                "median": float(np.median(ratio)),
                "max": float(ratio.max()),
            }
        summary[name] = {
            "violations": {t: check.violations([t], moving) for t in terms},
            "speedup": ratios,
        }
    return summary


def _compute_block(name, what, settings, seed):
    offset = SEED_STRIDE * seed
    if name.startswith("mse/"):
        term, d, moving = what
        errors = monte_carlo_mse(
            term,
            d,
            settings["sizes"],
            settings["repeats"],
            seed=d + offset,
            moving_boundary=moving,
        )
        return torch.from_numpy(errors)
    check = sign_check(
        settings["terms"],
        settings["n_pairs"],
        dims=settings["sign_dims"],
        inside=what == "inside",
        seed=settings["sign_seed"] + offset,
    )
    return sign_summary(check, settings["terms"], settings["speedups"])


def _nest(flat: dict) -> dict:
    result: dict = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.numpy() if isinstance(value, torch.Tensor) else value
    return result


def run_seed(settings, seed, context):
    """Figure 1's Monte-Carlo errors and the sign claims' summaries for one seed."""
    if SEED_STRIDE * seed + max(settings["dims"]) >= 2**31:
        raise ValueError(f"seed {seed} is too large")
    checkpoint = context.checkpoint(seed, "blocks")
    done = (checkpoint.load() if checkpoint is not None else None) or {}
    computed = 0
    for block, what in _blocks(settings):
        if block in done:
            continue
        started = time.perf_counter()
        done[block] = _compute_block(block, what, settings, seed)
        computed += 1
        seconds = time.perf_counter() - started
        context.log(f"{context.scale} seed {seed}: {block} in {seconds:.1f} s")
        if checkpoint is not None and computed % checkpoint.every == 0:
            checkpoint.save(done)
    result = _nest(done)
    result["sizes"] = np.asarray(settings["sizes"])
    if checkpoint is not None:
        checkpoint.clear()
    return result


def mse_arrays(runs, seed: int) -> dict:
    """The Monte-Carlo errors of one seed keyed as in the chapters: ``(term, d)`` and
    ``("<term> moving", d)``, each ``(repeats, len(sizes))``."""
    settings = runs.experiment.settings_for(runs.scale)
    out = {
        (t, d): runs.get(_mse_key(t, d), seed) for t in settings["terms"] for d in settings["dims"]
    }
    term, d = settings["moving_term"], settings["moving_dim"]
    out[f"{term} moving", d] = runs.get(_mse_key(term, d, True), seed)
    return out


RELU = register(
    Experiment(
        name="theorem-relu-h1",
        title="Theorems 1-2, one ReLU neuron: Monte Carlo of ∇L and ∇J (Figure 1), sign claims",
        chapter="02-theorem-relu-h1",
        settings=SETTINGS_RELU,
        run_function=run_seed,
        figure="Figure 1",
        default_steps_between_checkpoints=1,  # blocks (one Monte-Carlo array or region)
    ),
    aliases=("figure-1-relu",),
)
RELU2 = register(
    Experiment(
        name="theorem-relu2-h2",
        title="Theorem 3, one ReLU² neuron: Monte Carlo of ∇I₁, ∇I₂, ∇I₃ (Figure 1), sign claims",
        chapter="03-theorem-relu2-h2",
        settings=SETTINGS_RELU2,
        run_function=run_seed,
        figure="Figure 1",
        default_steps_between_checkpoints=1,
    ),
    aliases=("figure-1-relu2",),
)
