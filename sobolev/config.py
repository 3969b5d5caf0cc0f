"""Run-wide settings: the scale of every experiment, the device, and seeding.

Everything that depends on the environment is read here and nowhere else.

* ``SOBOLEV_SCALE`` chooses how big each experiment is: ``smoke`` (seconds, for
  quick checks), ``book`` (the default: minutes on a laptop CPU, what the
  committed notebooks ran with) or ``paper`` (the paper's own budget, a GPU's job).
* ``SOBOLEV_DEVICE`` overrides the device; by default ``cuda`` when available,
  else ``cpu``.
* ``SOBOLEV_THREADS`` sets torch's CPU threads (default 1: small steps on a
  shared 2-core machine run fastest on one thread; 2 under ``SOBOLEV_PERTURB``).
* ``SOBOLEV_PERTURB=1`` perturbs the arithmetic without changing the mathematics,
  to show that the checked Claims tables do not hang on the last bits of a float
  (``make nbval-perturbed``; a GPU changes those bits too): :func:`start_chapter`
  runs on 2 threads and lets torch choose non-deterministic kernels, and
  :func:`sobolev.losses.sobolev_loss` sums its means over the points in reverse order
  (:func:`perturbed`). ``0``, ``false``, ``no``, ``off`` or empty leave it off.
* ``SOBOLEV_QUIET`` (or ``CI``) silences progress bars (:func:`in_ci`).
* ``SOBOLEV_RESULTS`` names the folder of stored results (:func:`results_root`;
  default: ``results/`` of the book's clone); ``SOBOLEV_RECOMPUTE=1`` makes the
  chapters compute their own scale's results even where they are stored
  (:func:`recompute`; ``make nbval`` sets it, so that nbval always tests the code).
* ``SOBOLEV_KILL_AFTER_CHECKPOINTS`` is a test hook only: the process dies right
  after that many checkpoints (:func:`kill_after_checkpoints`).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

SCALES = ("smoke", "book", "paper")
DEFAULT_SCALE = "book"


def get_scale() -> str:
    """The scale named by ``SOBOLEV_SCALE`` (default ``"book"``)."""
    scale = os.environ.get("SOBOLEV_SCALE", DEFAULT_SCALE).strip().lower() or DEFAULT_SCALE
    if scale not in SCALES:
        raise ValueError(
            f"SOBOLEV_SCALE={scale!r} is not a valid scale; expected one of {', '.join(SCALES)}"
        )
    return scale


def by_scale(*, smoke, book, paper, scale: str | None = None):
    """Return the value given for the current scale (or for ``scale``).

    Chapters write their settings once, e.g. ``steps = by_scale(smoke=50,
    book=2_000, paper=50_000)``, so a reader sees every scale's numbers together.
    """
    scale = get_scale() if scale is None else scale
    if scale not in SCALES:
        raise ValueError(
            f"scale={scale!r} is not a valid scale; expected one of {', '.join(SCALES)}"
        )
    return {"smoke": smoke, "book": book, "paper": paper}[scale]


def get_device() -> torch.device:
    """``SOBOLEV_DEVICE`` if set, else ``cuda`` when available, else ``cpu``."""
    name = os.environ.get("SOBOLEV_DEVICE", "").strip()
    if not name:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"SOBOLEV_DEVICE={name!r} is not a torch device name ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"SOBOLEV_DEVICE={name!r} asks for CUDA, but torch sees no CUDA device")
    return device


def check_int(value, name: str, minimum: int | None = 0) -> int:
    """``value`` as an ``int`` if it is an integer (Python or NumPy, not bool) ``>= minimum``.

    The one integer-argument check of the package: anything else raises a
    ``ValueError`` that names the argument.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def perturbed() -> bool:
    """True when ``SOBOLEV_PERTURB`` asks for perturbed arithmetic (``1``, ``true``, ``yes``, ``on``)."""
    return _switch("SOBOLEV_PERTURB")


def set_threads(n: int | None = None) -> int:
    """Set torch's CPU threads to ``n`` (default: ``SOBOLEV_THREADS``, else 1, or 2 when
    :func:`perturbed`); return it."""
    if n is None:
        default = "2" if perturbed() else "1"
        raw = os.environ.get("SOBOLEV_THREADS", default).strip() or default
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"SOBOLEV_THREADS={raw!r} is not a whole number") from None
    n = check_int(n, "threads", minimum=1)
    torch.set_num_threads(n)
    return n


def set_arithmetic() -> None:
    """Full float32 precision on GPUs; under :func:`perturbed`, non-deterministic kernels allowed.

    TF32 is off for matrix products and cuDNN convolutions alike. On Ampere and later GPUs
    (an H200, say) cuDNN runs float32 convolutions in TF32 by default: a 10-bit mantissa, so
    each product is rounded by up to about 5e-4 relative and chapter 11's convolutional
    autoencoder would change its losses by around 1e-3, enough to move a rounded number of a
    Claims table; ``make nbval`` on a GPU would then compare another arithmetic with the
    committed CPU outputs. Without TF32 a GPU differs from the CPU only in last bits (other
    orders of summation, other tanh or exp), which the checked Claims tables are rounded to
    survive (``make nbval-perturbed`` imitates that here). The flags do nothing on a CPU.

    Perturbed: ``torch.use_deterministic_algorithms(False)`` (torch's default, stated so that a
    caller's deterministic setting is undone) and ``cudnn.benchmark`` (cuDNN times and picks its
    convolution algorithms, which sum in different orders).
    """
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if perturbed():
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


def start_chapter() -> str:
    """What every chapter does first: threads, arithmetic (:func:`set_arithmetic`), the book's
    figure style; returns :func:`describe`."""
    from .plotting import use_book_style  # matplotlib only where a chapter draws

    set_threads()
    set_arithmetic()
    use_book_style()
    return describe()


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all CUDA devices included)."""
    seed = check_int(seed, "seed", minimum=0)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))  # also seeds every CUDA device


def in_ci() -> bool:
    """True under CI or an nbval run, where progress bars must stay silent."""
    return bool(os.environ.get("CI")) or bool(os.environ.get("SOBOLEV_QUIET"))


def describe() -> str:
    """One line naming the scale, device and library versions of this run."""
    perturbation = ", perturbed arithmetic (SOBOLEV_PERTURB)" if perturbed() else ""
    return (
        f"Running at scale {get_scale()!r} on {get_device()} with {torch.get_num_threads()} thread(s)"
        f"{perturbation}, torch {torch.__version__.split('+')[0]}, numpy {np.__version__}."
    )


def kill_after_checkpoints() -> int | None:
    """``SOBOLEV_KILL_AFTER_CHECKPOINTS``: a test hook that kills the process after that many saves.

    The test of resumption sets it so that a run dies, as a killed job would, right after
    its n-th checkpoint; unset (always, outside that test) it is None.
    """
    raw = os.environ.get("SOBOLEV_KILL_AFTER_CHECKPOINTS", "").strip()
    if not raw:
        return None
    try:
        return check_int(int(raw), "SOBOLEV_KILL_AFTER_CHECKPOINTS", minimum=1)
    except ValueError:
        raise ValueError(
            f"SOBOLEV_KILL_AFTER_CHECKPOINTS={raw!r} is not a whole number >= 1"
        ) from None


def _switch(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name}={raw!r} is neither on (1, true, yes, on) nor off (0, false, no, off)")


def recompute() -> bool:
    """True when ``SOBOLEV_RECOMPUTE`` asks chapters to ignore stored results of their scale."""
    return _switch("SOBOLEV_RECOMPUTE")


def results_root():
    """``SOBOLEV_RESULTS`` if set, else the ``results/`` folder of the book's clone (None if
    the package is installed outside a clone)."""
    import pathlib

    raw = os.environ.get("SOBOLEV_RESULTS", "").strip()
    if raw:
        return pathlib.Path(raw)
    root = pathlib.Path(__file__).resolve().parents[1]
    return root / "results" if (root / "_toc.yml").exists() else None
