"""Helpers for the executable book *Sobolev acceleration for neural networks*.

One concern per module:

* :mod:`sobolev.config` — scale, device, threads, seeding, the one integer check;
* :mod:`sobolev.networks` — MLP, Fourier features, SIREN, the single-neuron student;
* :mod:`sobolev.losses` — the L2, H1 and H2 terms of a Sobolev loss;
* :mod:`sobolev.targets` — the paper's target functions with exact derivatives;
* :mod:`sobolev.training` — the one training loop and its history;
* :mod:`sobolev.plotting` — the book's figure style;
* :mod:`sobolev.report` — Claims tables with computed verdicts that cannot flip on round-off;
* :mod:`sobolev.benchmark` — step timings as ratios measured in one run;
* :mod:`sobolev.theory` — closed-form population losses and gradients of one neuron (Theorems 1–3);
* :mod:`sobolev.proofs` — the matrices and identities of the paper's proofs, printed and corrected;
* :mod:`sobolev.montecarlo` — sampling, Monte-Carlo gradients and sign checks (Figure 1);
* :mod:`sobolev.flows` — their gradient flows, integrated, with curvature and conditioning at w*;
* :mod:`sobolev.student_teacher` — vectorised SGD on single-neuron students (Figure 2);
* :mod:`sobolev.chebyshev` — Chebyshev spectral and finite-difference differentiation (Figure 5);
* :mod:`sobolev.activations` — stacked 2-D MLPs over activations × losses × seeds (Figure 3);
* :mod:`sobolev.ensemble` — many 1-D networks trained as one vectorised ensemble, with input
  derivatives carried forward (Figure 4);
* :mod:`sobolev.mnist` — the shipped MNIST digits, loaded and checked (Figure 6);
* :mod:`sobolev.autoencoder` — the denoising autoencoder, its noise and the H1 image loss (Figure 6);
* :mod:`sobolev.results` — results files with provenance, written atomically, and checkpoints;
* :mod:`sobolev.experiments` — every experiment defined once, for its chapter and for
  ``python -m sobolev.experiments``;
* :mod:`sobolev.bench` — ``python -m sobolev.bench``, the measurements of the cost appendix;
* :mod:`sobolev.fast` — a ``torch.func`` H1 loss that ``torch.compile`` can compile.
"""

from .chebyshev import cheb, chebfft, gradient_2d
from .config import (
    by_scale,
    check_int,
    describe,
    get_device,
    get_scale,
    seed_everything,
    set_threads,
    start_chapter,
)
from .flows import integrate_flow
from .losses import SobolevLoss, input_derivatives, sobolev_loss
from .networks import MLP, AuthorsFourierNetwork, FourierFeatureNetwork, SingleNeuron, Siren
from .report import (
    CLOSE,
    NOT_REPRODUCED,
    NOT_TESTED,
    REPRODUCED,
    Claim,
    claims_table,
    compare,
    compare_seeds,
    median_gain,
    ratio_text,
    round_sig,
    table,
    verdict,
)
from .targets import ACKLEY, ACTIVATION_TARGET, F1, F2, TARGETS, Target
from .theory import population_gradient, population_loss
from .training import DivergenceError, History, train, train_runs

__version__ = "0.1.0"

__all__ = [
    "by_scale",
    "describe",
    "get_device",
    "get_scale",
    "seed_everything",
    "check_int",
    "set_threads",
    "start_chapter",
    "SobolevLoss",
    "input_derivatives",
    "sobolev_loss",
    "MLP",
    "FourierFeatureNetwork",
    "AuthorsFourierNetwork",
    "Siren",
    "SingleNeuron",
    "ACKLEY",
    "ACTIVATION_TARGET",
    "F1",
    "F2",
    "TARGETS",
    "Target",
    "DivergenceError",
    "History",
    "train",
    "train_runs",
    "Claim",
    "claims_table",
    "compare",
    "round_sig",
    "compare_seeds",
    "ratio_text",
    "median_gain",
    "table",
    "verdict",
    "REPRODUCED",
    "NOT_REPRODUCED",
    "CLOSE",
    "NOT_TESTED",
    "cheb",
    "chebfft",
    "gradient_2d",
    "integrate_flow",
    "population_gradient",
    "population_loss",
]
