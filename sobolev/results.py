"""Stored results and checkpoints: plain files that are never half written.

A *result* is one experiment's output for one seed at one scale: a nested dict
of numbers, arrays and strings, stored as an ``.npz`` file (no pickles) with a
JSON record of where it came from (:func:`provenance`: the experiment, scale,
seed, settings, device, torch/numpy/package versions, date, run time).

Every file is written to a temporary name in the same folder and renamed over
the target (:func:`atomic_write`), so a run killed at any moment leaves either
the old file or the new one, never a truncated one. Loading checks the format
tag, the experiment, the scale, the seed and the settings: a corrupt file or
one written by another experiment or with other settings raises
:class:`ResultsError` that names the file, never silently reused.

A :class:`Checkpoint` holds the state of a run in progress (model, optimiser,
random-number generators, what was recorded so far) so that a killed run
started again with the same command continues where it stopped and ends with
the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import datetime as _datetime
import hashlib
import io
import json
import os
import pathlib
import platform
import signal
import tempfile
import zipfile
from collections.abc import Callable, Mapping

import numpy as np
import torch

from .config import kill_after_checkpoints

FORMAT = "sobolev-results/1"
CHECKPOINT_FORMAT = "sobolev-checkpoint/1"
_META = "__provenance__"
_SAVES = 0  # checkpoints saved by this process
_KILL_AFTER = kill_after_checkpoints()


class ResultsError(ValueError):
    """A results or checkpoint file that is corrupt, foreign, or does not match the request."""


def atomic_write(path, write: Callable[[io.BufferedWriter], None]) -> pathlib.Path:
    """Write ``path`` through ``write(file)`` to a temporary file, then rename it over ``path``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make results unreadable to others
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def settings_hash(settings: Mapping) -> str:
    """A short, stable fingerprint of a settings dict (its canonical JSON)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _package_version() -> str:
    from . import __version__

    return __version__


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.machine() or 'unknown'}, {torch.get_num_threads()} thread(s))"


def provenance(
    experiment: str, scale: str, seed: int, settings: Mapping, device, seconds: float
) -> dict:
    """The record stored with every result."""
    device = torch.device(device)
    return {
        "format": FORMAT,
        "experiment": experiment,
        "scale": scale,
        "seed": int(seed),
        "settings": json.loads(json.dumps(settings, default=str)),
        "settings_hash": settings_hash(settings),
        "device": _device_name(device),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "package": _package_version(),
        "python": platform.python_version(),
        "date": _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(float(seconds), 3),
    }


def flatten(result: Mapping, prefix: str = "") -> dict[str, np.ndarray]:
    """``{"a": {"b": x}}`` as ``{"a/b": array(x)}``; only numbers, arrays, strings and lists."""
    flat: dict[str, np.ndarray] = {}
    for key, value in result.items():
        if not isinstance(key, str) or not key or "/" in key or key == _META:
            raise ResultsError(f"result keys must be non-empty strings without '/', got {key!r}")
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                raise ResultsError(f"result entry {name!r} is an empty dict")
            flat.update(flatten(value, prefix=f"{name}/"))
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        if array.dtype == object:
            raise ResultsError(
                f"result entry {name!r} is not numbers, an array or a string "
                f"({type(value).__name__}); store arrays of numbers"
            )
        flat[name] = array
    return flat


def _scalar(array: np.ndarray):
    if array.ndim:
        return array
    return array.item() if array.dtype.kind != "U" else str(array)


def unflatten(flat: Mapping[str, np.ndarray]) -> dict:
    """The inverse of :func:`flatten` (0-d arrays come back as Python numbers or strings)."""
    result: dict = {}
    for name, array in flat.items():
        *parents, leaf = name.split("/")
        node = result
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _scalar(array)
    return result


def save_result(path, result: Mapping, meta: Mapping) -> pathlib.Path:
    """Store ``result`` (nested dict) and its provenance ``meta`` atomically at ``path``."""
    flat = flatten(result)
    flat[_META] = np.asarray(json.dumps(dict(meta), sort_keys=True))

    def write(file):
        np.savez(file, **flat)

    return atomic_write(path, write)


def read_result(path) -> tuple[dict, dict]:
    """``(result, provenance)`` from a results file; :class:`ResultsError` if it is not one."""
    path = pathlib.Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ResultsError(
            f"{path} is not a readable results file ({type(error).__name__}: {error}); "
            "delete it to recompute it"
        ) from None
    if _META not in flat:
        raise ResultsError(
            f"{path} is not a results file of this book (it has no provenance record); "
            "delete it or write results elsewhere"
        )
    try:
        meta = json.loads(str(flat.pop(_META)))
    except json.JSONDecodeError:
        raise ResultsError(f"{path} has a corrupt provenance record; delete it") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise ResultsError(f"{path} has format {got!r}, expected {FORMAT!r}")
    return unflatten(flat), meta


def load_result(path, *, experiment: str, scale: str, seed: int, settings: Mapping):
    """:func:`read_result`, refusing a file of another experiment, scale, seed or settings."""
    result, meta = read_result(path)
    expected = {"experiment": experiment, "scale": scale, "seed": int(seed)}
    for key, value in expected.items():
        if meta.get(key) != value:
            raise ResultsError(
                f"{path} holds {key} {meta.get(key)!r}, not {value!r}: a foreign results file; "
                "delete it or write results elsewhere"
            )
    if meta.get("settings_hash") != settings_hash(settings):
        stored = meta.get("settings", {})
        changed = sorted(
            k
            for k in set(stored) | set(settings)
            if json.dumps(stored.get(k), default=str)
            != json.dumps(json.loads(json.dumps(settings.get(k), default=str)), default=str)
        )
        raise ResultsError(
            f"{path} was computed with other settings of {experiment!r} at scale {scale!r} "
            f"(they differ in: {', '.join(changed) or 'their encoding'}); delete it to recompute"
        )
    return result, meta


class Checkpoint:
    """The saved state of one run in progress, at ``path``, written every ``every`` steps.

    ``key`` identifies the run (e.g. its settings and seed); a checkpoint written
    under another key is refused. :meth:`save` and :meth:`load` move dicts of
    tensors, numbers, strings and lists (``torch.save`` with ``weights_only``
    loading, so nothing executable is read back).
    """

    def __init__(self, path, every: int, key: str = ""):
        from .config import check_int

        self.path = pathlib.Path(path)
        self.every = check_int(every, "checkpoint every", minimum=1)
        self.key = str(key)
        self.saves = 0

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, every={self.every})"

    def exists(self) -> bool:
        return self.path.exists()

    def save(self, state: Mapping) -> None:
        payload = {"format": CHECKPOINT_FORMAT, "key": self.key, "state": dict(state)}
        atomic_write(self.path, lambda file: torch.save(payload, file))
        self.saves += 1
        global _SAVES
        _SAVES += 1
        if _KILL_AFTER is not None and _SAVES >= _KILL_AFTER:
            # the test of resumption: die here as a killed job would, without any cleanup
            os.kill(os.getpid(), signal.SIGKILL)

    def load(self) -> dict | None:
        """The saved state, or None when there is no checkpoint yet."""
        if not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises several types for a damaged file
            raise ResultsError(
                f"{self.path} is not a readable checkpoint ({type(error).__name__}); delete it"
            ) from None
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ResultsError(f"{self.path} is not a checkpoint of this book; delete it")
        if payload.get("key") != self.key:
            raise ResultsError(
                f"{self.path} is the checkpoint of another run ({payload.get('key')!r}, "
                f"not {self.key!r}); delete it"
            )
        return payload["state"]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def rng_state(device) -> dict:
    """torch's global random state (CPU and, on a GPU, the device's)."""
    state = {"cpu": torch.get_rng_state()}
    if torch.device(device).type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(torch.device(device))
    return state


def set_rng_state(state: Mapping, device) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], torch.device(device))
