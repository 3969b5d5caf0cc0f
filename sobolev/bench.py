r"""What Sobolev training costs: ``python -m sobolev.bench``, every cost as a ratio measured in one run.

Each measurement function returns a plain dict of numbers (JSON-ready) and times the variants it
compares **interleaved** (:func:`sobolev.benchmark.step_samples`: round r runs every variant once,
in turn), so a ratio compares steps timed side by side; medians over the rounds, and the
quartiles of the per-round ratios to show the noise.

* :func:`loss_costs` — one Adam step of the L2, H1 and H2 losses of an MLP 2-64-64-64-1 on
  10,000 points, by the package's reverse mode and by the alternatives of :mod:`sobolev.fast`
  (forward mode, ``is_grads_batched``, ``torch.func``), tanh and sine, on 1 and 2 threads;
* :func:`sine_fix` — the same steps with the multiplication by ω₀ = 1 that :class:`~sobolev.networks.Sine`
  no longer does;
* :func:`adam_variants` — ``torch.optim.Adam`` for-loop, ``foreach`` and ``fused``;
* :func:`ensemble_vs_loop` — 100 networks as one vectorised ensemble against a Python loop,
  with the number of operations each step dispatches;
* :func:`chebyshev_costs` — Chebyshev derivatives on a 2-D grid by the matrix, by the FFT and
  by a sparse Kronecker product, n = 64 … 512, with their errors;
* :func:`book_loss_costs` — the step of every other loss the book trains with (chapters 08, 10, 11)
  against its own L2 step;
* :func:`authors_comparison` — the package's H1 step against a reimplementation of the authors'
  (Figure 5, their grid and network);
* :func:`compiled_h1` — :func:`sobolev.fast.h1_loss` compiled, and its break-even number of steps;
* :func:`notebook_times` — the execution time of each chapter at book scale (book/timings.json,
  written by tools/execute.py; nothing is re-run).

:func:`run` does the ones asked for and returns one dict with the provenance (torch version,
device, threads, date, package version, machine load); :func:`main` is the command line::

    python -m sobolev.bench --out results/bench/cpu-2core.json          # full run, minutes
    python -m sobolev.bench --quick --threads 1 --out /tmp/bench.json   # seconds
    python -m sobolev.bench --compile --only compile,losses

Sizes come from :data:`SETTINGS` (``smoke`` for ``--quick``, ``book`` for the appendix at book
scale, ``paper`` for the full command-line run).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import math
import os
import pathlib
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from .benchmark import count_operations, round_ratios, step_samples, threads, training_step
from .losses import sobolev_loss
from .networks import MLP, Siren

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: The loss methods of :func:`loss_costs`: name -> (derivative method of :mod:`sobolev.fast`, order).
LOSS_METHODS = {
    "l2": ("reverse", 0),
    "h1": ("reverse", 1),
    "h2": ("reverse", 2),
    "h1_forward": ("forward", 1),
    "h2_forward": ("forward", 2),
    "h2_batched": ("batched", 2),
    "h2_func": ("func", 2),
}

#: What each loss method is, in words (for tables).
METHOD_LABELS = {
    "l2": "L2",
    "h1": "H1, reverse mode (sobolev_loss)",
    "h2": "H2, nested reverse mode (sobolev_loss)",
    "h1_forward": "H1, forward mode (hand-written)",
    "h2_forward": "H2, forward Taylor mode (hand-written)",
    "h2_batched": "H2, reverse, is_grads_batched",
    "h2_func": "H2, torch.func jvp over grad",
}

#: Every measurement :func:`run` knows, in the order it runs them.
MEASUREMENTS = (
    "notebooks",
    "losses",
    "sine",
    "adam",
    "ensemble",
    "chebyshev",
    "book_losses",
    "authors",
    "compile",
)

_LOSSES = {
    "n_points": 10_000,
    "widths": [2, 64, 64, 64, 1],
    "activations": ["tanh", "sine"],
    "methods": list(LOSS_METHODS),
}

#: Sizes and repeats per scale: ``smoke`` is ``--quick`` (seconds), ``book`` the appendix
#: (about a minute on a 2-core CPU, one thread), ``paper`` the full command-line run.
SETTINGS = {
    "smoke": {
        "threads": [1],
        "losses": {**_LOSSES, "n_points": 400, "repeats": 3, "warmup": 1},
        "sine": {"n_points": 400, "repeats": 3, "warmup": 1},
        "adam": {"n_points": 400, "n_grid": 8, "repeats": 3, "warmup": 1},
        "ensemble": {"n_networks": 4, "n_points": 32, "repeats": 2, "warmup": 1},
        "chebyshev": {"ns": [32, 64, 128], "repeats": 3, "max_kron_nnz": 5e7, "steepness": 20.0},
        "book_losses": {
            "n_grid": 8,
            "n_networks": 3,
            "n_points": 32,
            "batch_sizes": [4],
            "repeats": 3,
            "warmup": 1,
        },
        "authors": {"n_grid": 12, "widths": [2, 16, 16, 1], "repeats": 3, "warmup": 1},
        "compile": {
            "n_points": 200,
            "widths": [2, 16, 16, 1],
            "repeats": 3,
            "warmup": 1,
            "backend": "aot_eager",
        },
    },
    "book": {
        "threads": [1],
        "losses": {**_LOSSES, "repeats": 6, "warmup": 1},
        "sine": {"n_points": 10_000, "repeats": 9, "warmup": 1},
        "adam": {"n_points": 10_000, "n_grid": 30, "repeats": 6, "warmup": 1},
        "ensemble": {"n_networks": 100, "n_points": 200, "repeats": 3, "warmup": 1},
        "chebyshev": {
            "ns": [64, 128, 256, 512],
            "repeats": 3,
            "max_kron_nnz": 5e7,
            "steepness": 20.0,
        },
        "book_losses": {
            "n_grid": 30,
            "n_networks": 20,
            "n_points": 200,
            "batch_sizes": [32, 128],
            "repeats": 4,
            "warmup": 1,
        },
        "authors": {"n_grid": 100, "widths": [2, 64, 64, 64, 64, 1], "repeats": 5, "warmup": 1},
        "compile": {"n_points": 10_000, "widths": [2, 64, 64, 64, 1], "repeats": 9, "warmup": 1},
    },
    "paper": {
        "threads": [1, 2],
        "losses": {**_LOSSES, "repeats": 21, "warmup": 3},
        "sine": {"n_points": 10_000, "repeats": 21, "warmup": 3},
        "adam": {"n_points": 10_000, "n_grid": 30, "repeats": 30, "warmup": 3},
        "ensemble": {"n_networks": 100, "n_points": 200, "repeats": 11, "warmup": 2},
        "chebyshev": {
            "ns": [64, 128, 256, 512],
            "repeats": 11,
            "max_kron_nnz": 5e7,
            "steepness": 20.0,
        },
        "book_losses": {
            "n_grid": 30,
            "n_networks": 20,
            "n_points": 200,
            "batch_sizes": [32, 128],
            "repeats": 21,
            "warmup": 3,
        },
        "authors": {
            "n_grid": 100,
            "widths": [2, 64, 64, 64, 64, 1],
            "repeats": 21,
            "warmup": 3,
        },
        "compile": {"n_points": 10_000, "widths": [2, 64, 64, 64, 1], "repeats": 21, "warmup": 3},
    },
}


def _clock(clock: str, n_threads: int, device: torch.device) -> str:
    """``auto``: the process's CPU time on one CPU thread (the wall-clock time of an idle machine,
    without the time spent waiting for a core on a shared one), the wall clock otherwise."""
    if clock == "auto":
        return "process" if n_threads == 1 and device.type == "cpu" else "wall"
    return clock


def _summary(samples, reference: str) -> dict:
    ratios = round_ratios(samples, reference)
    return {
        "ms": {name: 1e3 * float(np.median(v)) for name, v in samples.items()},
        "ratio": {name: r["median"] for name, r in ratios.items()},
        "ratio_low": {name: r["low"] for name, r in ratios.items()},
        "ratio_high": {name: r["high"] for name, r in ratios.items()},
    }


def _ackley_batch(n_points: int, device, seed: int = 1):
    """Points in [−2, 2]² with Ackley's values and gradients (any target costs the same); the
    Hessian target is zero, as in chapter 01."""
    from .targets import ACKLEY

    x = torch.as_tensor(
        ACKLEY.uniform(n_points, np.random.default_rng(seed)), dtype=torch.float32, device=device
    )
    value, gradient, _ = ACKLEY.sample(x, order=1)
    hessian = torch.zeros(n_points, 2, 2, device=device)
    return x, value, gradient, hessian


def _loss_function(method: str):
    from .fast import loss_from

    return sobolev_loss if method == "reverse" else loss_from(method)


def _mlp_steps(
    methods: Iterable[str],
    widths,
    activation: str,
    batch,
    device,
    *,
    lr: float = 1e-4,
    optimizer: Callable | None = None,
    network: Callable | None = None,
) -> dict[str, Callable[[], None]]:
    """One training step per loss method, each on its own copy of the same initial MLP."""
    x, value, gradient, hessian = batch
    torch.manual_seed(0)
    start = (network or (lambda: MLP(list(widths), activation)))().to(device)
    steps = {}
    for name in methods:
        method, order = LOSS_METHODS[name]
        model = copy.deepcopy(start)
        targets = (x, value, gradient, hessian)[: 2 + order]
        opt = (optimizer or (lambda p: torch.optim.Adam(p, lr=lr)))(model.parameters())
        steps[name] = training_step(model, _loss_function(method), targets, opt)
    return steps


def loss_costs(
    *,
    n_points: int = 10_000,
    widths: Sequence[int] = (2, 64, 64, 64, 1),
    activations: Sequence[str] = ("tanh", "sine"),
    methods: Sequence[str] = tuple(LOSS_METHODS),
    threads_list: Sequence[int] = (1,),
    repeats: int = 15,
    warmup: int = 2,
    clock: str = "auto",
    device=None,
) -> dict:
    """One Adam step of each loss method in :data:`LOSS_METHODS`, as a multiple of an L2 step.

    ``out["runs"][activation][threads]`` holds ``ms`` (median milliseconds per step), ``ratio``
    (median over rounds of the step's time over the L2 step's in the same round) and the
    quartiles ``ratio_low``, ``ratio_high``, and the ``clock`` used.
    """
    device = torch.device("cpu" if device is None else device)
    methods = list(methods)
    if "l2" not in methods:
        methods = ["l2", *methods]
    unknown = [m for m in methods if m not in LOSS_METHODS]
    if unknown:
        raise ValueError(f"unknown loss methods {unknown}; expected some of {list(LOSS_METHODS)}")
    batch = _ackley_batch(n_points, device)
    runs: dict = {}
    for activation in activations:
        runs[activation] = {}
        for n_threads in threads_list:
            with threads(n_threads):
                steps = _mlp_steps(methods, widths, activation, batch, device)
                used = _clock(clock, n_threads, device)
                samples = step_samples(
                    steps, repeats=repeats, warmup=warmup, device=device, clock=used
                )
            runs[activation][str(n_threads)] = {"clock": used, **_summary(samples, "l2")}
    return {
        "settings": {
            "n_points": n_points,
            "widths": list(widths),
            "methods": methods,
            "repeats": repeats,
            "optimizer": "Adam, lr 1e-4",
        },
        "labels": {m: METHOD_LABELS[m] for m in methods},
        "runs": runs,
    }


class _SineTimesOne(torch.nn.Module):
    """The sine activation as it was: sin(ω₀ z) with the multiplication done even for ω₀ = 1."""

    def __init__(self, omega_0: float = 1.0):
        super().__init__()
        self.omega_0 = float(omega_0)

    def forward(self, z):
        return torch.sin(self.omega_0 * z)


def _old_sine_mlp(widths) -> MLP:
    model = MLP(list(widths), "sine")
    for i, module in enumerate(model.net):
        if type(module).__name__ == "Sine":
            model.net[i] = _SineTimesOne(module.omega_0)
    return model


def sine_fix(
    *,
    n_points: int = 10_000,
    widths: Sequence[int] = (2, 64, 64, 64, 1),
    repeats: int = 15,
    warmup: int = 2,
    clock: str = "auto",
    device=None,
) -> dict:
    """The L2, H1 and H2 steps of a sine MLP with :class:`~sobolev.networks.Sine` (no
    multiplication by ω₀ = 1) and with the multiplication; ``saving[loss]`` is the fraction of
    the old step's time saved (median over rounds; quartiles in ``saving_low`` and
    ``saving_high``). ``identical`` says whether both give the same loss bit for bit."""
    device = torch.device("cpu" if device is None else device)
    batch = _ackley_batch(n_points, device)
    networks = {"new": lambda: MLP(list(widths), "sine"), "old": lambda: _old_sine_mlp(widths)}
    steps = {}
    for tag, network in networks.items():
        made = _mlp_steps(("l2", "h1", "h2"), widths, "sine", batch, device, network=network)
        steps.update({f"{name}_{tag}": step for name, step in made.items()})
    used = _clock(clock, torch.get_num_threads(), device)
    samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=used)
    ms = {name: 1e3 * float(np.median(v)) for name, v in samples.items()}
    saving, saving_low, saving_high = {}, {}, {}
    for loss in ("l2", "h1", "h2"):
        per_round = 1 - samples[f"{loss}_new"] / samples[f"{loss}_old"]
        low, median, high = np.quantile(per_round, [0.25, 0.5, 0.75])
        saving[loss], saving_low[loss], saving_high[loss] = map(float, (median, low, high))
    torch.manual_seed(0)
    new = MLP(list(widths), "sine").to(device)
    old = _old_sine_mlp(widths).to(device)
    old.load_state_dict(new.state_dict())
    x, value, gradient, hessian = batch
    a = sobolev_loss(new, x, value, gradient, hessian)
    b = sobolev_loss(old, x, value, gradient, hessian)
    ga = torch.autograd.grad(a.total, list(new.parameters()))
    gb = torch.autograd.grad(b.total, list(old.parameters()))
    identical = bool(torch.equal(a.total, b.total)) and all(
        torch.equal(p, q) for p, q in zip(ga, gb)
    )
    return {
        "settings": {"n_points": n_points, "widths": list(widths), "repeats": repeats},
        "clock": used,
        "ms": ms,
        "saving": saving,
        "saving_low": saving_low,
        "saving_high": saving_high,
        "identical": identical,
    }


def _adam(kind: str):
    if kind == "for-loop":
        return lambda p: torch.optim.Adam(p, lr=1e-4, foreach=False)
    if kind == "foreach":
        return lambda p: torch.optim.Adam(p, lr=1e-4, foreach=True)
    return lambda p: torch.optim.Adam(p, lr=1e-4, fused=True)


def adam_variants(
    *,
    n_points: int = 10_000,
    n_grid: int = 30,
    repeats: int = 20,
    warmup: int = 2,
    clock: str = "auto",
    device=None,
) -> dict:
    """``torch.optim.Adam`` as a for-loop over the parameters (the CPU default), ``foreach`` and
    ``fused``, on two steps: the 10,000-point MLP of :func:`loss_costs` (L2 and H1) and the
    book-scale step of chapter 08 (H1 on the (n_grid+1)² Chebyshev grid, 2-64-64-1 tanh).

    ``gain[case][kind]`` is the fraction of the for-loop step's time that ``kind`` saves
    (median over rounds); a variant this torch cannot run on the device is left out.
    """
    from .chebyshev import grid_gradients
    from .targets import ACKLEY

    device = torch.device("cpu" if device is None else device)
    big = _ackley_batch(n_points, device)
    grid = grid_gradients(ACKLEY, n_grid)

    def cast(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    small = (cast(grid.points), cast(grid.values.ravel()), cast(grid.gradients["exact"]), None)
    cases = {
        f"L2, {n_points:,} points, 2-64-64-64-1": ("l2", [2, 64, 64, 64, 1], big),
        f"H1, {n_points:,} points, 2-64-64-64-1": ("h1", [2, 64, 64, 64, 1], big),
        f"H1, ch 08 book scale ({(n_grid + 1) ** 2} points, 2-64-64-1)": (
            "h1",
            [2, 64, 64, 1],
            small,
        ),
    }
    used = _clock(clock, torch.get_num_threads(), device)
    out = {"ms": {}, "gain": {}, "unavailable": {}}
    for case, (loss, widths, batch) in cases.items():
        steps = {}
        for kind in ("for-loop", "foreach", "fused"):
            try:
                step = _mlp_steps([loss], widths, "tanh", batch, device, optimizer=_adam(kind))[
                    loss
                ]
                step()
            except (RuntimeError, TypeError, ValueError) as error:
                out["unavailable"][kind] = f"{type(error).__name__}: {error}"
                continue
            steps[kind] = step
        samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=used)
        out["ms"][case] = {k: 1e3 * float(np.median(v)) for k, v in samples.items()}
        out["gain"][case] = {
            k: float(np.median(1 - v / samples["for-loop"])) for k, v in samples.items()
        }
    out["settings"] = {"repeats": repeats, "clock": used}
    return out


def ensemble_vs_loop(
    *,
    n_networks: int = 100,
    n_points: int = 200,
    repeats: int = 7,
    warmup: int = 1,
    clock: str = "auto",
    device=None,
) -> dict:
    """One Adam step of ``n_networks`` SIRENs 1-64-64-64-1 (ω₀ = 30, chapter 10) on f₁, as one
    vectorised ensemble (:func:`sobolev.ensemble.ensemble_step`, forward-mode input derivative)
    and as a loop of single networks (:func:`sobolev.ensemble.loop_step`, reverse mode).

    Per loss (L2, H1): ``ms``, ``speedup`` (loop time over ensemble time, median over rounds) and
    ``operations`` (ATen operations dispatched by one step, :func:`sobolev.benchmark.count_operations`),
    with ``us_per_operation`` of the loop.
    """
    from .ensemble import Ensemble, ensemble_step, loop_step, regression_problem
    from .targets import F1

    device = torch.device("cpu" if device is None else device)
    p = regression_problem(F1, n_points, 16, seed=1, device=device)
    nets = []
    for k in range(n_networks):
        torch.manual_seed(k)
        nets.append(Siren([1, 64, 64, 64, 1], omega_0=30.0).to(device))
    used = _clock(clock, torch.get_num_threads(), device)
    out = {
        "settings": {
            "n_networks": n_networks,
            "n_points": n_points,
            "network": "SIREN 1-64-64-64-1, ω₀ = 30",
            "repeats": repeats,
            "clock": used,
        }
    }
    for loss in ("l2", "h1"):
        grad = p.gradient if loss == "h1" else None
        steps = {
            "ensemble": ensemble_step(Ensemble.from_modules(nets), p.x, p.value, grad),
            "loop": loop_step(nets, p.x, p.value, grad),
        }
        samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=used)
        operations = {name: count_operations(step) for name, step in steps.items()}
        ms = {name: 1e3 * float(np.median(v)) for name, v in samples.items()}
        out[loss] = {
            "ms": ms,
            "speedup": float(np.median(samples["loop"] / samples["ensemble"])),
            "operations": operations,
            "us_per_operation": {name: 1e3 * ms[name] / operations[name] for name in operations},
        }
    return out


def _smooth(x, y, steepness: float):
    """f(x, y) = tanh(k(x − 0.3))·cos 2y, smooth (analytic) with a steep front, and its gradient."""
    t = np.tanh(steepness * (x - 0.3))
    f = t * np.cos(2 * y)
    fx = steepness * (1 - t**2) * np.cos(2 * y)
    fy = -2 * t * np.sin(2 * y)
    return f, fx, fy


def chebyshev_costs(
    *,
    ns: Sequence[int] = (64, 128, 256, 512),
    repeats: int = 7,
    warmup: int = 1,
    max_kron_nnz: float = 5e7,
    steepness: float = 20.0,
    clock: str = "process",
) -> dict:
    r"""Both partial derivatives of values on an (n+1)×(n+1) Chebyshev grid, three ways.

    * ``matrix``: :math:`D F` and :math:`F D^\top` (dense, :math:`O(n^3)` flops, :math:`O(n^2)` memory;
      float64 ``torch`` tensors, so that the product runs on torch's threads, not NumPy's BLAS
      threads, which no torch setting controls);
    * ``fft``: :func:`sobolev.chebyshev.chebfft` along each axis (:math:`O(n^2\log n)`);
    * ``kron``: the sparse matrices :math:`D\otimes I` and :math:`I\otimes D` (``scipy.sparse.kron``)
      applied to :math:`\operatorname{vec} F`: :math:`2(n+1)^3` stored entries, left out when
      that exceeds ``max_kron_nnz`` (its size is still reported).

    The function is :func:`_smooth`, whose Chebyshev error falls from about 4e-2 at n = 64 to
    round-off at n = 512 (``steepness`` 20). Per n: ``ms`` per method (interleaved; by default
    the process's CPU time, all BLAS threads included, so a ratio compares the work done),
    ``error`` (largest error of either partial against the exact one), ``vs_matrix`` (largest
    difference from the matrix route), ``kron_nnz``, ``kron_mb`` and ``kron_build_ms``.
    """
    import scipy.sparse as sp

    from .chebyshev import cheb, chebfft

    out = {
        "settings": {"ns": list(ns), "repeats": repeats, "steepness": steepness, "clock": clock},
        "n": {},
    }
    for n in ns:
        D, x = cheb(int(n))
        X, Y = np.meshgrid(x, x, indexing="ij")
        F, fx, fy = _smooth(X, Y, steepness)
        vec = F.ravel()
        Dt, Ft = torch.from_numpy(D), torch.from_numpy(F)  # torch's BLAS, on torch's threads
        routes = {
            "matrix": lambda Dt=Dt, Ft=Ft: (Dt @ Ft, Ft @ Dt.T),
            "fft": lambda F=F: (chebfft(F, axis=0), chebfft(F, axis=1)),
        }
        m = n + 1
        nnz = 2 * m**3
        row = {"kron_nnz": int(nnz), "kron_mb": nnz * 12 / 2**20}  # float64 value + int32 index
        if nnz <= max_kron_nnz:
            started = time.perf_counter()
            sparse_d, eye = sp.csr_matrix(D), sp.identity(m, format="csr")
            kx = sp.kron(sparse_d, eye, format="csr")
            ky = sp.kron(eye, sparse_d, format="csr")
            row["kron_build_ms"] = 1e3 * (time.perf_counter() - started)
            routes["kron"] = lambda kx=kx, ky=ky, vec=vec, m=m: (
                (kx @ vec).reshape(m, m),
                (ky @ vec).reshape(m, m),
            )
        samples = step_samples(routes, repeats=repeats, warmup=warmup, clock=clock)
        results = {name: tuple(np.asarray(a) for a in route()) for name, route in routes.items()}
        reference = results["matrix"]
        row["ms"] = {name: 1e3 * float(np.median(v)) for name, v in samples.items()}
        row["error"] = {
            name: float(max(np.abs(r[0] - fx).max(), np.abs(r[1] - fy).max()))
            for name, r in results.items()
        }
        row["vs_matrix"] = {
            name: float(max(np.abs(r[0] - reference[0]).max(), np.abs(r[1] - reference[1]).max()))
            for name, r in results.items()
        }
        out["n"][str(n)] = row
        del routes, results
    return out


def _step(model, loss_fn, batch, optimizer):
    return training_step(model, loss_fn, batch, optimizer)


def book_loss_costs(
    *,
    n_grid: int = 30,
    n_networks: int = 20,
    n_points: int = 200,
    batch_sizes: Sequence[int] = (32, 128),
    repeats: int = 10,
    warmup: int = 2,
    clock: str = "auto",
    device=None,
) -> dict:
    """The step of each loss the later chapters train with, against its own L2 step.

    * ``ch08``: 2-64-64-1 tanh on the (n_grid+1)² Chebyshev grid of Ackley (book scale 31×31):
      L2, H1 with the exact, the Chebyshev and the finite-difference gradient (one cost: the
      targets are computed once, outside the graph);
    * ``ch10``: ensembles of ``n_networks`` tanh MLPs and SIRENs on ``n_points`` points, H1 by
      forward-mode derivatives (:mod:`sobolev.ensemble`);
    * ``ch11``: the denoising autoencoder on a batch of 28×28 images, the spectral H1 image loss
      (:func:`sobolev.autoencoder.h1_image_loss`) against the pixel MSE.

    ``out[chapter][case]`` holds ``ms`` and ``ratio`` (median per-round ratio to the L2 step).
    """
    from .autoencoder import DenoisingAutoencoder, h1_image_loss, l2_image_loss
    from .chebyshev import grid_gradients
    from .ensemble import ensemble_step, make_ensemble, regression_problem
    from .targets import ACKLEY, F1

    device = torch.device("cpu" if device is None else device)
    used = _clock(clock, torch.get_num_threads(), device)
    kwargs = {"repeats": repeats, "warmup": warmup, "device": device, "clock": used}
    out = {
        "settings": {
            "n_grid": n_grid,
            "n_networks": n_networks,
            "n_points": n_points,
            "batch_sizes": list(batch_sizes),
            "repeats": repeats,
            "clock": used,
        }
    }

    # Chapter 08.
    grid = grid_gradients(ACKLEY, n_grid)

    def cast(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    points, values = cast(grid.points), cast(grid.values.ravel())
    torch.manual_seed(0)
    start = MLP([2, 64, 64, 1], "tanh").to(device)
    steps = {}
    for name, target in (
        ("l2", None),
        ("h1_exact", "exact"),
        ("h1_chebyshev", "chebyshev"),
        ("h1_fd", "fd"),
    ):
        model = copy.deepcopy(start)
        batch = (
            (points, values) if target is None else (points, values, cast(grid.gradients[target]))
        )
        steps[name] = _step(model, sobolev_loss, batch, torch.optim.Adam(model.parameters(), 3e-3))
    out["ch08"] = {
        f"{(n_grid + 1) ** 2} grid points, 2-64-64-1 tanh": _summary(
            step_samples(steps, **kwargs), "l2"
        )
    }

    # Chapter 10.
    p = regression_problem(F1, n_points, 16, seed=1, device=device)
    factories = {
        "MLP 1-64-64-64-1 tanh": lambda: MLP([1, 64, 64, 64, 1], "tanh"),
        "SIREN 1-64-64-64-1": lambda: Siren([1, 64, 64, 64, 1], omega_0=30.0),
    }
    out["ch10"] = {}
    for arch, factory in factories.items():
        steps = {
            "l2": ensemble_step(make_ensemble(factory, n_networks, 0, device=device), p.x, p.value),
            "h1": ensemble_step(
                make_ensemble(factory, n_networks, 0, device=device), p.x, p.value, p.gradient
            ),
        }
        out["ch10"][f"ensemble of {n_networks} {arch}"] = _summary(
            step_samples(steps, **kwargs), "l2"
        )

    # Chapter 11.
    out["ch11"] = {}
    generator = torch.Generator().manual_seed(0)
    for batch_size in batch_sizes:
        clean = torch.rand(batch_size, 1, 28, 28, generator=generator).to(device)
        noisy = clean + 0.5 * torch.randn(clean.shape, generator=generator).to(device)
        torch.manual_seed(0)
        start = DenoisingAutoencoder().to(device)
        steps = {}
        for name, objective in (("l2", l2_image_loss), ("h1", h1_image_loss)):
            model = copy.deepcopy(start)

            def loss_fn(model, noisy, clean, objective=objective):
                return objective(model(noisy), clean)

            optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
            steps[name] = _step(model, loss_fn, (noisy, clean), optimizer)
        out["ch11"][f"autoencoder, batch {batch_size}"] = _summary(
            step_samples(steps, **kwargs), "l2"
        )
    return out


def _authors_grid(n: int, device):
    """The authors' Figure 5 training grid: Chebyshev points on [−2, 2], two meshgrids X, Y that
    require grad (their Differentiation/domain.py, as described in the module docstring)."""
    nodes = torch.cos(torch.pi * torch.arange(0, n + 1) / n).to(device)
    X, Y = torch.meshgrid(2.0 * nodes, 2.0 * nodes, indexing="ij")
    X, Y = X.T.clone(), Y.T.clone()
    return X.requires_grad_(True), Y.requires_grad_(True)


def _authors_ackley(X, Y):
    part_1 = -20 * torch.exp(-0.2 * torch.sqrt(0.5 * (X**2 + Y**2)))
    part_2 = -torch.exp(0.5 * (torch.cos(2 * np.pi * X) + torch.cos(2 * np.pi * Y)))
    return part_1 + part_2 + math.e + 20


def _authors_targets(n: int, device):
    """X, Y, the target and its two Chebyshev derivatives as the authors build them (in the graph)."""
    from .chebyshev import cheb

    X, Y = _authors_grid(n, device)
    target = _authors_ackley(X, Y)
    D = torch.as_tensor(cheb(n, dtype=np.float32, diagonal="explicit", differences="direct")[0])
    D = D.to(device)
    scale = 2.0 / 4.0  # 2 / (b − a) on [−2, 2]
    x_target = (D @ target.T * scale).T
    y_target = D @ target * scale
    return X, Y, target, x_target, y_target


def authors_batch(n: int = 100, device=None):
    """The authors' grid and targets as a batch for :func:`sobolev.losses.sobolev_loss`:
    ``(points (N, 2), value (N,), gradient (N, 2))``, detached, in the row order of
    :func:`authors_step`'s network input (so both steps see the same numbers)."""
    device = torch.device("cpu" if device is None else device)
    X, Y, target, x_target, y_target = _authors_targets(n, device)
    points = torch.cat((X.reshape(-1, 1), Y.reshape(-1, 1)), dim=1).detach()
    gradient = torch.stack((x_target.reshape(-1), y_target.reshape(-1)), dim=1).detach()
    return points, target.reshape(-1).detach(), gradient


def authors_step(
    model: torch.nn.Module,
    n: int = 100,
    *,
    detach_targets: bool = False,
    lr: float = 1e-4,
    device=None,
):
    """A callable doing one Chebyshev-H1 step the way the authors' Figure 5 code does it.

    A minimal reimplementation written for this comparison from the description of their
    ``Differentiation/train.py`` (JongKwonOh/Sobolev-acceleration-for-Neural-Networks, 2024),
    **not their code**: the grid is two (n+1)×(n+1) tensors X, Y that require grad; the target
    ``f(X, Y)`` and its Chebyshev derivatives (their float32 matrix, :func:`sobolev.chebyshev.cheb`
    with ``diagonal="explicit", differences="direct"``) are computed from X and Y once, **in the
    autograd graph**, and kept there; each step calls ``autograd.grad`` **once per input axis**
    (∂u/∂X, then ∂u/∂Y, each a backward pass through the network) and
    ``loss.backward(retain_graph=True)``, which also runs back through the targets' graph into X
    and Y. The per-epoch error ``.item()`` that their loop records is left out.
    ``detach_targets=True`` keeps everything but the targets' graph, to separate the two costs.
    The loss is the package's H1 loss with weights 1 (``tests/test_bench.py`` checks that a step
    moves the parameters as a ``sobolev_loss`` step on :func:`authors_batch` does).
    """
    device = torch.device("cpu" if device is None else device)
    X, Y, target, x_target, y_target = _authors_targets(n, device)
    if detach_targets:
        target, x_target, y_target = (t.detach() for t in (target, x_target, y_target))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    ones = torch.ones(target.shape, device=device)

    def step() -> None:
        optimizer.zero_grad()
        u = model(torch.cat((X.reshape(-1, 1), Y.reshape(-1, 1)), dim=1)).view(target.shape)
        u_x = torch.autograd.grad(u, X, grad_outputs=ones, create_graph=True)[0]
        u_y = torch.autograd.grad(u, Y, grad_outputs=ones, create_graph=True)[0]
        h1 = torch.mean((u_x - x_target) ** 2) + torch.mean((u_y - y_target) ** 2)
        loss = h1 + torch.mean((u - target) ** 2)
        loss.backward(retain_graph=True)
        optimizer.step()

    return step


def authors_comparison(
    *,
    n_grid: int = 100,
    widths: Sequence[int] = (2, 64, 64, 64, 64, 1),
    repeats: int = 10,
    warmup: int = 2,
    clock: str = "auto",
    device=None,
) -> dict:
    """The Chebyshev-H1 step of Figure 5 on the authors' grid and network, three ways:
    ``authors`` (:func:`authors_step`), ``authors_detached`` (the same with the targets outside
    the graph) and ``package`` (:func:`sobolev.losses.sobolev_loss` with targets from
    :func:`sobolev.chebyshev.grid_gradients`, computed once in float64 and cast).

    ``ratio[name]``: the step's time over the package's (median over rounds).
    """
    from .chebyshev import grid_gradients
    from .targets import ACKLEY

    device = torch.device("cpu" if device is None else device)
    torch.manual_seed(0)
    start = MLP(list(widths), "tanh").to(device)
    grid = grid_gradients(ACKLEY, n_grid)

    def cast(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    batch = (cast(grid.points), cast(grid.values.ravel()), cast(grid.gradients["chebyshev"]))
    package = copy.deepcopy(start)
    steps = {
        "package": training_step(
            package, sobolev_loss, batch, torch.optim.Adam(package.parameters(), lr=1e-4)
        ),
        "authors": authors_step(copy.deepcopy(start), n_grid, device=device),
        "authors_detached": authors_step(
            copy.deepcopy(start), n_grid, detach_targets=True, device=device
        ),
    }
    used = _clock(clock, torch.get_num_threads(), device)
    samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=used)
    summary = _summary(samples, "package")
    return {
        "settings": {
            "grid": f"{n_grid + 1} × {n_grid + 1} Chebyshev points on [−2, 2]²",
            "network": "-".join(map(str, widths)) + " tanh",
            "repeats": repeats,
            "clock": used,
        },
        **summary,
    }


def compiled_h1(
    *,
    n_points: int = 10_000,
    widths: Sequence[int] = (2, 64, 64, 64, 1),
    repeats: int = 10,
    warmup: int = 2,
    clock: str = "auto",
    backend: str = "inductor",
    device=None,
) -> dict:
    """The compiled H1 loss of :func:`sobolev.fast.h1_loss` against ``sobolev_loss``.

    Steps (interleaved): ``l2``, ``h1`` (sobolev_loss), ``h1_func`` (the same ``torch.func`` code
    uncompiled) and ``h1_compiled``. ``compile_seconds`` is the wall-clock time of the first call
    of the compiled loss (where torch.compile compiles forward and backward), and
    ``compile_cpu_seconds`` its CPU time; ``compile_cost_seconds`` is the one in the clock of
    the steps (CPU time with ``clock="process"``); ``saved_ms`` the H1 step time it saves;
    ``break_even_steps`` = compile cost / seconds saved per step (inf when it saves nothing).
    ``compiled`` is False, with the ``reason``, when torch.compile was unavailable or failed
    (the loss then ran uncompiled). ``max_difference``: the largest relative difference
    of the loss and of its parameter gradient from sobolev_loss at the initial network.
    The compilation runs with an empty inductor cache (a fresh temporary directory), so that
    ``compile_seconds`` is a first compilation (``cold_cache`` says whether that was possible);
    a later run in the same cache would reuse the compiled kernels and take less.
    ``double_backward_error``: what torch.compile says to the sobolev_loss way of taking the
    H1 loss through a compiled network (:func:`sobolev.fast.double_backward_error`).
    """
    from .fast import double_backward_error, h1_loss

    device = torch.device("cpu" if device is None else device)
    x, value, gradient, _ = _ackley_batch(n_points, device)
    torch.manual_seed(0)
    start = MLP(list(widths), "tanh").to(device)
    fast = h1_loss(compile=True, backend=backend)
    plain = h1_loss(compile=False)

    model = copy.deepcopy(start)
    with _cold_compile_cache() as cold, warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # inductor's own deprecation notices
        ours = fast(model, x, value, gradient)  # compiles
    compile_seconds = fast.compile_seconds
    compile_cpu_seconds = fast.compile_cpu_seconds
    reference = sobolev_loss(model, x, value, gradient)
    params = list(model.parameters())
    g_ours = torch.autograd.grad(ours.total, params)
    g_ref = torch.autograd.grad(reference.total, params)
    loss_difference = abs(ours.total.item() - reference.total.item()) / abs(reference.total.item())
    grad_difference = max(
        float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in zip(g_ours, g_ref)
    )

    steps = {}
    for name, loss_fn in (
        ("l2", sobolev_loss),
        ("h1", sobolev_loss),
        ("h1_func", plain),
        ("h1_compiled", fast),
    ):
        copy_ = model if name == "h1_compiled" else copy.deepcopy(start)
        batch = (x, value) if name == "l2" else (x, value, gradient)
        steps[name] = training_step(
            copy_, loss_fn, batch, torch.optim.Adam(copy_.parameters(), lr=1e-4)
        )
    used = _clock(clock, torch.get_num_threads(), device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        samples = step_samples(steps, repeats=repeats, warmup=warmup, device=device, clock=used)
    summary = _summary(samples, "l2")
    saved = float(np.median(samples["h1"] - samples["h1_compiled"]))
    # the compilation in the steps' clock: CPU time for a process clock, else wall-clock time
    cost = compile_cpu_seconds if used == "process" else compile_seconds
    return {
        "settings": {
            "n_points": n_points,
            "widths": list(widths),
            "repeats": repeats,
            "clock": used,
            "backend": backend,
        },
        "compiled": fast.compiled,
        "reason": fast.reason,
        "cold_cache": cold,
        "compile_seconds": compile_seconds,
        "compile_cpu_seconds": compile_cpu_seconds,
        "compile_cost_seconds": cost,
        "saved_ms": 1e3 * saved,
        "break_even_steps": cost / saved if saved > 0 else math.inf,
        "max_difference": {"loss": loss_difference, "gradient": grad_difference},
        "double_backward_error": double_backward_error(),
        **summary,
    }


@contextlib.contextmanager
def _cold_compile_cache():
    """An empty inductor cache for the block (torch's own ``temporary_cache_dir``); yields whether
    it could make one."""
    try:
        from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir
    except ImportError:  # another torch: compile with whatever cache there is
        yield False
        return
    torch._dynamo.reset()  # nothing compiled earlier in this process is reused either
    with tempfile.TemporaryDirectory(prefix="sobolev-inductor-") as directory:
        with temporary_cache_dir(directory), _compile_in_process():
            yield True
    torch._dynamo.reset()


@contextlib.contextmanager
def _compile_in_process():
    """Inductor's C++ compilations in this process, not in a pool of workers, so that their CPU
    time is counted (:attr:`sobolev.fast.H1Loss.compile_cpu_seconds`)."""
    try:
        from torch._inductor import config
    except ImportError:
        yield
        return
    with config.patch(compile_threads=1):
        yield


def notebook_times(path: str | os.PathLike | None = None) -> dict:
    """The seconds each chapter took to execute at book scale, as tools/execute.py recorded them
    in book/timings.json (read only; nothing is executed). ``total`` sums the chapters."""
    path = pathlib.Path(path) if path is not None else ROOT / "book" / "timings.json"
    if not path.exists():
        return {"path": str(path), "seconds": {}, "total": 0.0, "missing": True}
    seconds = {k: float(v) for k, v in json.loads(path.read_text()).items()}
    try:
        shown = str(path.resolve().relative_to(ROOT))
    except ValueError:
        shown = str(path)
    return {"path": shown, "seconds": seconds, "total": float(sum(seconds.values()))}


def _cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device=None) -> str:
    """The GPU's name, or the CPU's model and its number of logical CPUs."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_name()}, {os.cpu_count()} logical CPUs"


def provenance(device: torch.device, threads_list: Sequence[int], scale: str) -> dict:
    """Where and when a benchmark ran: versions, device, threads, date, machine load."""
    import scipy

    from . import __version__

    return {
        "package": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": list(threads_list),
        "default_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "scale": scale,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def run(
    names: Iterable[str] | None = None,
    *,
    scale: str = "paper",
    threads_list: Sequence[int] | None = None,
    compile: bool = False,
    device=None,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run the measurements ``names`` (default: all of :data:`MEASUREMENTS`, ``compile`` only
    with ``compile=True``) at the sizes of ``SETTINGS[scale]`` and return one JSON-ready dict:
    ``meta`` (:func:`provenance`, with the seconds each measurement took) and one entry per
    measurement. ``threads_list`` are the thread counts of :func:`loss_costs` (default: the
    scale's); the others run on ``SOBOLEV_THREADS`` threads (default 1)."""
    if scale not in SETTINGS:
        raise ValueError(f"scale must be one of {', '.join(SETTINGS)}, got {scale!r}")
    settings = SETTINGS[scale]
    if names is None:
        names = [n for n in MEASUREMENTS if n != "compile" or compile]
    names = list(names)
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown:
        raise ValueError(f"unknown measurements {unknown}; expected some of {list(MEASUREMENTS)}")
    threads_list = list(settings["threads"] if threads_list is None else threads_list)
    device = torch.device("cpu" if device is None else device)
    log = log or (lambda message: None)
    with threads(_default_threads()):
        return _run(names, settings, threads_list, device, log, scale)


def _default_threads() -> int:
    """``SOBOLEV_THREADS`` (default 1), as :func:`sobolev.config.set_threads` reads it."""
    from .config import perturbed

    default = "2" if perturbed() else "1"
    raw = os.environ.get("SOBOLEV_THREADS", default).strip() or default
    try:
        return max(1, int(raw))
    except ValueError:
        raise ValueError(f"SOBOLEV_THREADS={raw!r} is not a whole number") from None


def _run(names, settings, threads_list, device, log, scale) -> dict:
    result = {"meta": provenance(device, threads_list, scale)}
    seconds = {}
    functions = {
        "notebooks": lambda: notebook_times(),
        "losses": lambda: loss_costs(
            **settings["losses"], threads_list=threads_list, device=device
        ),
        "sine": lambda: sine_fix(**settings["sine"], device=device),
        "adam": lambda: adam_variants(**settings["adam"], device=device),
        "ensemble": lambda: ensemble_vs_loop(**settings["ensemble"], device=device),
        "chebyshev": lambda: chebyshev_costs(**settings["chebyshev"]),
        "book_losses": lambda: book_loss_costs(**settings["book_losses"], device=device),
        "authors": lambda: authors_comparison(**settings["authors"], device=device),
        "compile": lambda: compiled_h1(**settings["compile"], device=device),
    }
    for name in MEASUREMENTS:
        if name not in names:
            continue
        log(f"measuring {name} ...")
        started = time.perf_counter()
        result[name] = functions[name]()
        seconds[name] = round(time.perf_counter() - started, 1)
        log(f"  {name}: {seconds[name]:.0f} s")
    result["meta"]["seconds"] = seconds
    result["meta"]["load_average_after"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    return result


def headline(result: dict) -> list[tuple[str, float | None]]:
    """The ratios the appendix leads with, as (what, value) pairs (None when not measured)."""
    rows: list[tuple[str, float | None]] = []
    losses = result.get("losses", {}).get("runs", {})
    for activation, by_threads in losses.items():
        for n_threads, run_ in by_threads.items():
            for name in ("h1", "h2"):
                rows.append(
                    (
                        f"{name.upper()} / L2 step, {activation}, {n_threads} thread(s)",
                        run_["ratio"].get(name),
                    )
                )
    if "sine" in result:
        for loss, saving in result["sine"]["saving"].items():
            rows.append((f"sine fix: share of a sine {loss.upper()} step saved", saving))
    if "adam" in result:
        for case, gains in result["adam"]["gain"].items():
            rows.append((f"fused Adam: share of the step saved, {case}", gains.get("fused")))
    if "ensemble" in result:
        for loss in ("l2", "h1"):
            n = result["ensemble"]["settings"]["n_networks"]
            rows.append(
                (
                    f"loop / ensemble, {n} networks, {loss.upper()}",
                    result["ensemble"][loss]["speedup"],
                )
            )
    if "authors" in result:
        rows.append(("authors' H1 step / the package's", result["authors"]["ratio"]["authors"]))
    if "compile" in result:
        c = result["compile"]
        rows.append(("compiled H1 step / L2 step", c["ratio"]["h1_compiled"]))
        rows.append(("compile seconds (in the steps' clock)", c["compile_cost_seconds"]))
        rows.append(("break-even steps of torch.compile", c["break_even_steps"]))
    if "chebyshev" in result:
        ns = result["chebyshev"]["n"]
        top = max(ns, key=int)
        rows.append(
            (
                f"Chebyshev matrix / FFT time, n = {top}",
                ns[top]["ms"]["matrix"] / ns[top]["ms"]["fft"],
            )
        )
    return rows


def _threads_argument(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--threads wants numbers like 1,2, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--threads wants positive numbers, got {text!r}")
    return values


def main(argv: Sequence[str] | None = None) -> dict:
    """The command line: ``python -m sobolev.bench [--out FILE] [--quick] [--threads 1,2]
    [--compile] [--only NAME,...] [--scale smoke|book|paper]``."""
    parser = argparse.ArgumentParser(
        prog="python -m sobolev.bench",
        description="What Sobolev training costs: step-time ratios measured in one run.",
    )
    parser.add_argument("--out", help="write the results to this JSON file")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, seconds (the same as --scale smoke)"
    )
    parser.add_argument(
        "--scale", choices=list(SETTINGS), default=None, help="sizes (default: paper, the full run)"
    )
    parser.add_argument(
        "--threads", type=_threads_argument, default=None, help="thread counts, e.g. 1,2"
    )
    parser.add_argument(
        "--compile", action="store_true", help="include the torch.compile measurement (~20 s)"
    )
    parser.add_argument(
        "--only", default=None, help=f"comma-separated subset of: {', '.join(MEASUREMENTS)}"
    )
    args = parser.parse_args(argv)
    if args.quick and args.scale not in (None, "smoke"):
        parser.error("--quick is --scale smoke; do not give another --scale")
    scale = "smoke" if args.quick else (args.scale or "paper")
    names = None
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in MEASUREMENTS]
        if unknown:
            parser.error(f"--only: unknown {unknown}; choose from {', '.join(MEASUREMENTS)}")
        if args.compile and "compile" not in names:
            names.append("compile")
    result = run(
        names,
        scale=scale,
        threads_list=args.threads,
        compile=args.compile,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    for what, value in headline(result):
        text = "–" if value is None else f"{value:.3g}"
        print(f"{what}: {text}")
    if args.out:
        out = pathlib.Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(finite(result), indent=1, allow_nan=False) + "\n")
        print(f"written to {out}")
    return result


def finite(value):
    """``value`` with every NumPy number made a Python one and every non-finite float made None
    (strict JSON has no inf or nan: a break-even of "never" is stored as null)."""
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def load(path: str | os.PathLike) -> dict:
    """A bench JSON written by :func:`main` (``results/bench/cpu-2core.json``, say)."""
    return json.loads(pathlib.Path(path).read_text())


if __name__ == "__main__":
    main()
