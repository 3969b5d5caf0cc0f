"""Every experiment of the book, defined once, run by its chapter or from the command line.

An :class:`Experiment` names its chapter, its settings at each scale
(``smoke``, ``book``, ``paper``) and a function that computes the result of one
seed (or of several seeds at once, for experiments vectorised over seeds). A
chapter calls :meth:`Experiment.load_or_run`; the command line
(``python -m sobolev.experiments NAME --scale paper --seeds 0-4 --out DIR``)
calls :func:`run` with the same experiment, so the two cannot drift apart.

Results are stored one file per seed, ``DIR/<scale>/seed-<k>.npz``
(:mod:`sobolev.results`), with their provenance. A run started again with the
same command skips the seeds already stored and resumes a seed in progress from
its checkpoint (``DIR/<scale>/checkpoints/``), so an interrupted run ends with
the same files as an uninterrupted one. ``--shard K/N`` runs every N-th seed
from the K-th, so that N copies of one command (a SLURM job array) share a sweep.
"""

from __future__ import annotations

import importlib
import os
import pathlib
import pkgutil
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import SCALES, check_int, get_device, get_scale, recompute, results_root
from ..results import Checkpoint, ResultsError, load_result, provenance, save_result

# One module per chapter, found in this folder (no list to edit); each calls register() when
# imported.

_REGISTRY: dict[str, Experiment] = {}
_ALIASES: dict[str, str] = {}


@dataclass
class Context:
    """What a run function may use besides its settings and seed(s)."""

    scale: str
    device: torch.device
    directory: pathlib.Path | None = None  # where checkpoints go (None: in memory, none kept)
    checkpoint_every: int | None = None  # steps between checkpoints
    compile: bool = False  # may use torch.compile where the experiment supports it
    log: Callable[[str], None] = field(default=lambda message: None)
    issued: list[Checkpoint] = field(default_factory=list)  # deleted once results are stored

    def checkpoint(self, seed: int, tag: str = "") -> Checkpoint | None:
        """The checkpoint of ``seed`` (and of the part ``tag`` of its run), or None."""
        if self.directory is None or not self.checkpoint_every:
            return None
        name = f"seed-{seed}" + (f"-{tag}" if tag else "")
        checkpoint = Checkpoint(
            self.directory / "checkpoints" / f"{name}.pt",
            self.checkpoint_every,
            key=f"{self.scale}/{name}",
        )
        self.issued.append(checkpoint)
        return checkpoint

    def clear_checkpoints(self) -> None:
        """Delete the checkpoints handed out so far (their results are stored)."""
        for checkpoint in self.issued:
            checkpoint.clear()
        self.issued.clear()


@dataclass(frozen=True)
class Experiment:
    """One experiment: its name, chapter, settings per scale and its run function.

    ``run(settings, seed, context)`` returns the result of one seed, a nested dict
    of numbers, arrays and strings. With ``batched=True`` it is
    ``run(settings, seeds, context)`` and returns ``{seed: result}``: the seeds are
    computed together (vectorised), and stored one file each.
    ``settings[scale]["seeds"]`` are the seeds the chapter shows.
    """

    name: str
    title: str
    chapter: str
    settings: Mapping[str, Mapping]
    run_function: Callable
    figure: str | None = None
    batched: bool = False
    default_steps_between_checkpoints: int | None = None

    def __post_init__(self):
        if set(self.settings) != set(SCALES):
            raise ValueError(
                f"experiment {self.name!r} must give settings for exactly the scales "
                f"{', '.join(SCALES)}, got {', '.join(self.settings)}"
            )
        for scale, values in self.settings.items():
            if "seeds" not in values:
                raise ValueError(f"experiment {self.name!r} has no 'seeds' at scale {scale!r}")

    def settings_for(self, scale: str | None = None) -> dict:
        """The settings at ``scale`` (default: the current one, ``SOBOLEV_SCALE``)."""
        scale = _check_scale(get_scale() if scale is None else scale)
        return dict(self.settings[scale])

    def seeds(self, scale: str | None = None) -> list[int]:
        return list(self.settings_for(scale)["seeds"])

    def command(self, scale: str = "paper") -> str:
        """The command line that computes this experiment at ``scale`` into the book's results."""
        seeds = self.seeds(scale)
        return (
            f"python -m sobolev.experiments {self.name} --scale {scale} "
            f"--seeds {format_seeds(seeds)} --out results/{self.name}"
        )

    def load_or_run(
        self,
        seeds: Sequence[int] | None = None,
        *,
        scale: str | None = None,
        results: str | os.PathLike | None = None,
        log: Callable[[str], None] | None = None,
    ) -> Runs:
        """The results of ``seeds`` at ``scale``: loaded where stored, else computed here.

        Stored results are looked for in ``results`` (default: ``SOBOLEV_RESULTS``,
        else the ``results/`` folder of the book's clone), unless ``SOBOLEV_RECOMPUTE``
        is on (nbval). Results computed here are kept in memory, not written: only
        the command line writes results.
        """
        scale = _check_scale(get_scale() if scale is None else scale)
        directory = None if recompute() else experiment_directory(self.name, results)
        return run(self, scale=scale, seeds=seeds, out=directory, write=False, log=log)

    def stored(
        self, scale: str = "paper", *, results: str | os.PathLike | None = None
    ) -> Runs | None:
        """The stored results of every seed of ``scale``, or None if any is missing."""
        directory = experiment_directory(self.name, results)
        if directory is None:
            return None
        settings = self.settings_for(scale)
        runs = Runs(self, scale)
        for seed in self.seeds(scale):
            path = result_path(directory, scale, seed)
            if not path.exists():
                return None
            result, meta = load_result(
                path, experiment=self.name, scale=scale, seed=seed, settings=settings
            )
            runs.add(seed, result, meta, source=str(path))
        return runs


class Runs:
    """The results of one experiment at one scale, seed by seed, with where each came from."""

    def __init__(self, experiment: Experiment, scale: str):
        self.experiment = experiment
        self.scale = scale
        self.results: dict[int, dict] = {}
        self.meta: dict[int, dict] = {}
        self.sources: dict[int, str] = {}

    def add(self, seed: int, result: dict, meta: dict, source: str) -> None:
        self.results[seed] = result
        self.meta[seed] = meta
        self.sources[seed] = source

    @property
    def seeds(self) -> list[int]:
        return sorted(self.results)

    def __getitem__(self, seed: int) -> dict:
        return self.results[seed]

    def __len__(self) -> int:
        return len(self.results)

    def get(self, key: str, seed: int):
        """The entry ``key`` (``"a/b"`` for nested dicts) of one seed's result."""
        node = self.results[seed]
        for part in key.split("/"):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(
                    f"{self.experiment.name}: no entry {key!r} in the result of seed {seed}"
                )
            node = node[part]
        return node

    def stack(self, key: str) -> np.ndarray:
        """The entry ``key`` of every seed, stacked along a first axis in seed order."""
        return np.stack([np.asarray(self.get(key, seed)) for seed in self.seeds])

    def provenance(self) -> str:
        """A sentence saying which scale, device, software and date these results come from."""
        if not self.results:
            return f"No results of {self.experiment.name!r} at scale {self.scale!r}."
        groups: dict[tuple, list[int]] = {}
        for seed in self.seeds:
            meta, source = self.meta[seed], self.sources[seed]
            where = "computed in this run" if source == "computed" else "loaded from stored files"
            key = (where, meta["device"], meta["torch"].split("+")[0], meta["date"][:10])
            groups.setdefault(key, []).append(seed)
        parts = []
        for (where, device, version, date), seeds in groups.items():
            count = f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''} ({format_seeds(seeds)})"
            parts.append(f"{count} {where}, on {device}, torch {version}, {date}")
        return f"Results at scale {self.scale!r}: " + "; ".join(parts) + "."


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    return scale


def register(experiment: Experiment, aliases: Iterable[str] = ()) -> Experiment:
    """Add ``experiment`` to the registry (under its name and any ``aliases``)."""
    for name in (experiment.name, *aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"an experiment named {name!r} is already registered")
    _REGISTRY[experiment.name] = experiment
    for alias in aliases:
        _ALIASES[alias] = experiment.name
    return experiment


def _load_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def names() -> list[str]:
    """The registered experiments, in chapter order."""
    _load_all()
    return sorted(_REGISTRY, key=lambda name: (_REGISTRY[name].chapter, name))


def get(name: str) -> Experiment:
    """The experiment called ``name`` (or one of its aliases, e.g. ``figure-2``)."""
    _load_all()
    name = _ALIASES.get(name, name)
    if name not in _REGISTRY:
        raise ValueError(f"no experiment named {name!r}; the experiments are: {', '.join(names())}")
    return _REGISTRY[name]


def aliases(name: str) -> list[str]:
    _load_all()
    return sorted(alias for alias, target in _ALIASES.items() if target == name)


def default_results() -> pathlib.Path | None:
    """The folder of stored results (:func:`sobolev.config.results_root`)."""
    return results_root()


def experiment_directory(name: str, results=None) -> pathlib.Path | None:
    root = pathlib.Path(results) if results is not None else default_results()
    return None if root is None else root / name


def result_path(directory: pathlib.Path, scale: str, seed: int) -> pathlib.Path:
    return pathlib.Path(directory) / scale / f"seed-{seed}.npz"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"``, ``"0,2,7"`` or ``"0-2,5"`` as a sorted list of distinct seeds."""
    seeds: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(
                f"seed range {text!r} is not valid: write seeds as 0-4, 0,2,7 or 0-2,5"
            )
        first, last = int(match[1]), int(match[2] if match[2] else match[1])
        if last < first:
            raise ValueError(f"seed range {part!r} is empty (it ends before it starts)")
        seeds.update(range(first, last + 1))
    return sorted(seeds)


def format_seeds(seeds: Sequence[int]) -> str:
    """The inverse of :func:`parse_seeds`: ``[0, 1, 2, 5]`` as ``"0-2,5"``."""
    seeds = sorted(set(int(s) for s in seeds))
    parts, start = [], None
    for k, seed in enumerate(seeds):
        if start is None:
            start = seed
        if k + 1 == len(seeds) or seeds[k + 1] != seed + 1:
            parts.append(str(start) if start == seed else f"{start}-{seed}")
            start = None
    return ",".join(parts)


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (0 <= K < N) as ``(K, N)``."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or int(match[2]) < 1 or int(match[1]) >= int(match[2]):
        raise ValueError(f"shard {text!r} is not valid: write K/N with 0 <= K < N, e.g. 0/4")
    return int(match[1]), int(match[2])


def shard_seeds(seeds: Sequence[int], shard: tuple[int, int] | None) -> list[int]:
    """Every N-th seed from the K-th: the shards of N copies cover ``seeds`` exactly once."""
    seeds = sorted(seeds)
    if shard is None:
        return seeds
    k, n = shard
    return seeds[k::n]


def run(
    experiment: Experiment,
    *,
    scale: str,
    seeds: Sequence[int] | None = None,
    out: str | os.PathLike | None = None,
    write: bool = True,
    shard: tuple[int, int] | None = None,
    checkpoint_every: int | None = None,
    compile: bool = False,
    log: Callable[[str], None] | None = None,
) -> Runs:
    """Compute ``experiment`` at ``scale`` for ``seeds``, skipping those stored in ``out``.

    With ``write=True`` each seed's result is stored in ``out`` as soon as it is
    computed, and runs in progress keep checkpoints there (every
    ``checkpoint_every`` steps, default the experiment's own); with ``write=False``
    (a chapter) stored results are only read.
    """
    scale = _check_scale(scale)
    log = log or (lambda message: None)
    settings = experiment.settings_for(scale)
    seeds = experiment.seeds(scale) if seeds is None else [check_int(s, "seed") for s in seeds]
    if not seeds:
        raise ValueError("no seeds to run")
    seeds = shard_seeds(seeds, shard)
    directory = pathlib.Path(out) / scale if out is not None else None
    if write and directory is None:
        raise ValueError("writing results needs an output folder")
    if checkpoint_every is None:
        checkpoint_every = experiment.default_steps_between_checkpoints
    context = Context(
        scale=scale,
        device=get_device(),
        directory=directory if write else None,
        checkpoint_every=checkpoint_every if write else None,
        compile=compile,
        log=log,
    )
    runs = Runs(experiment, scale)
    missing = []
    for seed in seeds:
        path = result_path(out, scale, seed) if out is not None else None
        if path is not None and path.exists():
            result, meta = load_result(
                path, experiment=experiment.name, scale=scale, seed=seed, settings=settings
            )
            runs.add(seed, result, meta, source=str(path))
            log(f"{experiment.name} seed {seed}: stored in {path}, not recomputed")
        else:
            missing.append(seed)

    def keep(seed: int, result: dict, seconds: float) -> None:
        meta = provenance(experiment.name, scale, seed, settings, context.device, seconds)
        if write:
            path = save_result(result_path(out, scale, seed), result, meta)
            log(f"{experiment.name} seed {seed}: {seconds:.1f} s, written to {path}")
        runs.add(seed, result, meta, source="computed")

    if missing and experiment.batched:
        started = time.perf_counter()
        computed = experiment.run_function(settings, list(missing), context)
        seconds = (time.perf_counter() - started) / len(missing)
        if set(computed) != set(missing):
            raise ResultsError(
                f"{experiment.name}: the run returned seeds {sorted(computed)}, not {missing}"
            )
        for seed in missing:
            keep(seed, computed[seed], seconds)
        context.clear_checkpoints()
    else:
        for seed in missing:
            started = time.perf_counter()
            result = experiment.run_function(settings, seed, context)
            keep(seed, result, time.perf_counter() - started)
            context.clear_checkpoints()
    return runs
