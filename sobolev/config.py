"""Run-wide settings: the scale of every experiment, the device, and seeding.

Everything that depends on the environment is read here and nowhere else.

* ``SOBOLEV_SCALE`` chooses how big each experiment is: ``smoke`` (seconds, for
  quick checks), ``book`` (the default: minutes on a laptop CPU, what the
  committed notebooks ran with) or ``paper`` (the paper's own budget, a GPU's job).
* ``SOBOLEV_DEVICE`` overrides the device; by default ``cuda`` when available,
  else ``cpu``.
* ``SOBOLEV_THREADS`` sets torch's CPU threads (default 1: small steps on a
  shared 2-core machine run fastest on one thread; nbval runs may perturb it).
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


def set_threads(n: int | None = None) -> int:
    """Set torch's CPU threads to ``n`` (default: ``SOBOLEV_THREADS``, else 1); return it."""
    if n is None:
        raw = os.environ.get("SOBOLEV_THREADS", "1").strip() or "1"
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"SOBOLEV_THREADS={raw!r} is not a whole number") from None
    n = check_int(n, "threads", minimum=1)
    torch.set_num_threads(n)
    return n


def start_chapter() -> str:
    """What every chapter does first: threads, the book's figure style; returns :func:`describe`."""
    from .plotting import use_book_style  # matplotlib only where a chapter draws

    set_threads()
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
    return (
        f"Running at scale {get_scale()!r} on {get_device()} with {torch.get_num_threads()} thread(s), "
        f"torch {torch.__version__.split('+')[0]}, numpy {np.__version__}."
    )
