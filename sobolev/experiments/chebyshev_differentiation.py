"""Chapter 07: Chebyshev spectral differentiation against finite differences, round-off, kinks.

Deterministic numerics (no randomness): the only seed is 0. The run measures the
derivative errors of the chapter (convergence in n, the round-off floor of five
constructions of the matrix, the FFT route against the matrix, the kink of Ackley's
function on a line and on the authors' 101 x 101 grid). The chapter's timings of the
matrix and FFT routes are measured live on the machine that renders the page; their
settings (grid sizes, repeats) are here too.
"""

from __future__ import annotations

import numpy as np

from ..chebyshev import (
    cheb,
    cheb_interval,
    chebfft,
    chebyshev_points,
    finite_difference_matrix,
    grid_gradients,
)
from ..targets import ACKLEY, F1, F2
from . import Experiment, register

ALL_NS = sorted([2**k for k in range(2, 11)] + [3 * 2**k for k in range(1, 9)])
COMMON = {
    "timing_repeats": 7,  # interleaved timed calls per route (medians)
    "timing_warmup": 1,
    "timing_grid_max_n": 1024,  # largest n of the 2-D grid timings
    "ackley_grid_n": 100,  # the authors' 101 x 101 grid
    "cusp_radius": 0.25,  # "near the cusp" on the 2-D grid
    "kink_far": 0.5,  # "away from the cusp" on the line y = 0
}
SETTINGS = {
    "smoke": {
        **COMMON,
        "seeds": [0],
        "ns": [8, 16, 32, 64, 128],
        "ns_floor": [16, 64, 128],
        "ns_time": [64, 256],
        "ns_kink": [16, 32, 64],
    },
    "book": {
        **COMMON,
        "seeds": [0],
        "ns": ALL_NS,
        "ns_floor": [16, 32, 64, 100, 128, 256, 512, 1024],
        "ns_time": [64, 256, 1024, 2048],
        "ns_kink": [16, 24, 32, 48, 64, 96, 128, 192, 256, 512],
    },
    "paper": {
        **COMMON,
        "seeds": [0],
        "ns": ALL_NS,
        "ns_floor": [16, 32, 64, 100, 128, 256, 512, 1024, 2048],
        "ns_time": [64, 256, 1024, 2048],
        "ns_kink": [16, 24, 32, 48, 64, 96, 128, 192, 256, 512, 1024],
    },
}


def smooth_value(x):
    return np.exp(np.sin(np.pi * x))


def smooth_derivative(x):
    return np.pi * np.cos(np.pi * x) * np.exp(np.sin(np.pi * x))


#: The three functions of the convergence study: key -> (label, interval, value, derivative).
FUNCTIONS = {
    "smooth": ("exp(sin πx) on [−1, 1]", (-1.0, 1.0), smooth_value, smooth_derivative),
    "f1": (
        "f₁ on [−1, 1]",
        F1.domain[0],
        lambda x: F1.value(x).numpy(),
        lambda x: F1.gradient(x).numpy()[:, 0],
    ),
    "f2": (
        "f₂ on [0, 2]",
        F2.domain[0],
        lambda x: F2.value(x).numpy(),
        lambda x: F2.gradient(x).numpy()[:, 0],
    ),
}
#: The derivative estimates of the convergence study.
METHODS = ("chebyshev", "fd_chebyshev_points", "fd_uniform_points")
#: The five constructions of the round-off study: key -> label.
CONSTRUCTIONS = {
    "float64_negative_sum": "float64, negative-sum",
    "float64_closed_form": "float64, closed-form diagonal",
    "float32_authors": "float32, authors' construction",
    "float32_negative_sum": "float32, negative-sum",
    "float64_cast": "float64, then cast to float32",
}


def derivative_errors(interval, value, derivative, n):
    """Max errors: Chebyshev, FD on Chebyshev points, FD on uniform points."""
    D, x = cheb_interval(n, *interval)
    u = np.linspace(interval[0], interval[1], n + 1)
    fd_x, fd_u = finite_difference_matrix(x), finite_difference_matrix(u)
    return {
        "chebyshev": np.abs(D @ value(x) - derivative(x)).max(),
        "fd_chebyshev_points": np.abs(fd_x @ value(x) - derivative(x)).max(),
        "fd_uniform_points": np.abs(fd_u @ value(u) - derivative(u)).max(),
    }


def floor_errors(n):
    """Max derivative error of exp(sin πx) for the five constructions of D."""
    x = chebyshev_points(n)
    f, df = smooth_value(x), smooth_derivative(x)
    f32 = f.astype(np.float32)

    def error(derivative):
        return np.abs(np.asarray(derivative, np.float64) - df).max()

    D64, _ = cheb(n)
    D64_closed, _ = cheb(n, diagonal="explicit", differences="direct")
    D32_authors, _ = cheb(n, dtype=np.float32, diagonal="explicit", differences="direct")
    D32_ours, _ = cheb(n, dtype=np.float32)
    return {
        "float64_negative_sum": error(D64 @ f),
        "float64_closed_form": error(D64_closed @ f),
        "float32_authors": error(D32_authors @ f32),
        "float32_negative_sum": error(D32_ours @ f32),
        "float64_cast": error((D64 @ f).astype(np.float32)),
    }


def ackley_slice(x):
    """Ackley's function on the line y = 0."""
    return ACKLEY.value(np.stack([x, np.zeros_like(x)], axis=1)).numpy()


def ackley_slice_derivative(x):
    """The x-derivative of Ackley's function on the line y = 0 (0 at the cusp, by symmetry)."""
    on_line = np.stack([x, np.zeros_like(x)], axis=1)
    return ACKLEY.gradient(on_line).numpy()[:, 0]


def slice_errors(n):
    """Chebyshev and FD derivative errors of Ackley on y = 0, n+1 points."""
    D, x = cheb_interval(n, -2.0, 2.0)
    exact = ackley_slice_derivative(x)
    spectral = np.abs(D @ ackley_slice(x) - exact)
    fd = np.abs(finite_difference_matrix(x) @ ackley_slice(x) - exact)
    return x, spectral, fd


def fft_agreement(n):
    """Largest difference of the FFT and the matrix derivative of exp(sin πx), n+1 points."""
    D, x = cheb(n)
    v = smooth_value(x)
    return np.abs(chebfft(v) - D @ v).max()


def run_seed(settings, seed, context):
    """Every derivative error of the chapter (deterministic: ``seed`` is not used)."""
    result = {"ns": np.array(settings["ns"])}
    result["convergence"] = {}
    for key, (_, interval, value, derivative) in FUNCTIONS.items():
        rows = [derivative_errors(interval, value, derivative, n) for n in settings["ns"]]
        result["convergence"][key] = {m: np.array([r[m] for r in rows]) for m in METHODS}
    floor = [floor_errors(n) for n in settings["ns_floor"]]
    result["floor"] = {key: np.array([r[key] for r in floor]) for key in CONSTRUCTIONS}
    result["fft_agreement"] = np.array([fft_agreement(n) for n in settings["ns_time"]])
    kink = {"max": [], "far": [], "far_fd": [], "rms": []}
    for n in settings["ns_kink"]:
        x, spectral, fd = slice_errors(n)
        far = np.abs(x) > settings["kink_far"]
        kink["max"].append(spectral.max())
        kink["far"].append(spectral[far].max())
        kink["far_fd"].append(fd[far].max())
        kink["rms"].append(np.sqrt(np.mean(spectral**2)))
    result["kink"] = {key: np.array(values) for key, values in kink.items()}
    grid = grid_gradients(ACKLEY, settings["ackley_grid_n"])
    near_cusp = np.linalg.norm(grid.points, axis=1) < settings["cusp_radius"]
    result["ackley_grid"] = {}
    for method in ("chebyshev", "fd"):
        error = grid.error(method)
        result["ackley_grid"][method] = {
            "max": error.max(),
            "max_far": error[~near_cusp].max(),
            "mse": grid.mse(method),
        }
    return result


EXPERIMENT = register(
    Experiment(
        name="chebyshev-differentiation",
        title="Chebyshev differentiation: convergence, round-off floor, FFT route, Ackley's kink",
        chapter="07-chebyshev-differentiation",
        settings=SETTINGS,
        run_function=run_seed,
    )
)
