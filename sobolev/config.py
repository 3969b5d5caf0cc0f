"""Run-wide settings: the scale of every experiment, the device, and seeding.

Everything that depends on the environment is read here and nowhere else.

* ``SOBOLEV_SCALE`` chooses how big each experiment is: ``smoke`` (seconds, for
  quick checks), ``book`` (the default: minutes on a laptop CPU, what the
  committed notebooks ran with) or ``paper`` (the paper's own budget, a GPU's job).
* ``SOBOLEV_DEVICE`` overrides the device; by default ``cuda`` when available,
  else ``cpu``.
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
        raise ValueError(f"scale={scale!r} is not a valid scale; expected one of {', '.join(SCALES)}")
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


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all CUDA devices included)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))  # also seeds every CUDA device


def in_ci() -> bool:
    """True under CI or an nbval run, where progress bars must stay silent."""
    return bool(os.environ.get("CI")) or bool(os.environ.get("SOBOLEV_QUIET"))


def describe() -> str:
    """One line naming the scale, device and library versions of this run."""
    return (
        f"scale={get_scale()}  device={get_device()}  torch={torch.__version__.split('+')[0]}  "
        f"numpy={np.__version__}"
    )
