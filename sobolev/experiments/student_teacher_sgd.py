"""Chapter 06: the paper's Figure 2, SGD on one ReLU neuron with the L2 and the H1 loss.

One batched run computes every sweep of the chapter for all its seeds at once (the students
of all seeds and learning rates are rows of one vectorised model, :mod:`sobolev.student_teacher`):

* the paper's learning rates, full batch, for L2, H1 (λ = ½) and H1 with λ = 1;
* the paper's batch sizes at learning rate ``batch_lr``, for the same three losses;
* float64 reruns of the settings at ``f64_lr`` that converged in float32;
* the fair comparison: a fine learning-rate grid at each dimension of ``dims``;
* the condition numbers of the linearised steps, and the population flows from each seed's
  start (for the overlay with SGD over the first ``flow_steps`` iterations).

Which learning rate diverges and which setting counts as converged are decided over all
the seeds of the run (a learning rate is stable only if it is stable for every seed), so
the seeds of one scale are computed together. Each seed's result holds its own curves and
summaries; :func:`sgd_run` and :func:`reach_sweep` stack them back into the objects the chapter
analyses. A run with an output folder keeps a checkpoint of the sweeps it has finished and
of the training in progress (:func:`sobolev.student_teacher.run_sgd`), so that a killed run
started again with the same command ends with the same numbers; the checkpoints are deleted
once the results are stored (:meth:`sobolev.experiments.Context.clear_checkpoints`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..results import Checkpoint, ResultsError, settings_hash
from ..student_teacher import (
    ReachSweep,
    SGDRun,
    clear_checkpoint,
    condition_numbers,
    flow_error,
    make_problem,
    record_grid,
    run_sgd,
)
from . import Experiment, Runs, format_seeds, register

#: The fair comparison's learning rates: 0.1 to 6.4 in factors of 2^(1/4).
FINE_LRS = [0.1 * 2 ** (k / 4) for k in range(25)]

COMMON = {
    "d": 10,  # main input dimension (the paper does not give d)
    "dims": [2, 10, 50],  # the fair comparison runs at each
    "paper_lrs": [1e-1, 1e-2, 1e-3, 1e-4],
    "batch_sizes": [64, 256, 1024, 4096],
    "batch_lr": 1e-1,  # learning rate of the batch-size sweep
    "f64_lr": 1e-1,  # the converged settings at this learning rate are rerun in float64
    "fine_lrs": FINE_LRS,
    "threshold": 1e-3,  # "converged": ‖w − w*‖ < 1e-3
    "overlay_lrs": [1e-4, 1e-2],  # the paper's smallest; one where the flow goes far
}
SETTINGS = {
    "smoke": {
        **COMMON,
        "n_samples": 500,
        "seeds": [0, 1, 2],
        "steps": 60,
        "batch_steps": 60,
        "f64_steps": 100,
        "fine_steps": 40,
        "flow_steps": 60,
        "curve_per_decade": None,  # ‖w − w*‖ recorded at every step
    },
    "book": {
        **COMMON,
        "n_samples": 10_000,
        "seeds": list(range(10)),
        "steps": 600,
        "batch_steps": 300,
        "f64_steps": 800,
        "fine_steps": 200,
        "flow_steps": 600,
        "curve_per_decade": None,
    },
    # The paper's N, learning rates and batch sizes. It gives no iteration count: 100,000
    # full-batch iterations let its smallest learning rate travel t = kη = 10. Three seeds, so
    # that the run fits in about 20 minutes of one CPU core (it took 22); the paper does not say
    # how many runs its curves are, and an odd number keeps the median a run. The curves are
    # recorded on a log grid of 200 points a decade (the result files stay small). The fine
    # grid of the fair comparison (not in the paper) gets 1,000 iterations: every converging
    # learning rate reaches 1e-3 well within them.
    "paper": {
        **COMMON,
        "n_samples": 10_000,
        "seeds": [0, 1, 2],
        "steps": 100_000,
        "batch_steps": 20_000,
        "f64_steps": 5_000,
        "fine_steps": 1_000,
        "flow_steps": 600,
        "curve_per_decade": 200,
    },
}
LOSSES = ("l2", "h1")
#: The sweeps of Figure 2 run for L2 and H1 (λ = ½) and for H1 with λ = 1 ("h1_w1").
VARIANTS = {"l2": ("l2", 0.5), "h1": ("h1", 0.5), "h1_w1": ("h1", 1.0)}
#: The population flows of the overlay: (loss, moving boundary) by name.
FLOW_KINDS = {"l2": ("l2", False), "h1": ("h1", False), "h1_true": ("h1", True)}


def setting_name(batch: int | None, lr: float) -> str:
    """``"lr 0.1"`` for full batch, ``"batch 64"`` for a mini-batch setting."""
    return f"lr {lr:g}" if batch is None else f"batch {batch}"


def cases(settings) -> list[tuple[str, int | None, float, int]]:
    """The settings of Figure 2: ``(name, batch size or None, lr, row of the lr sweep)``."""
    rows = [(setting_name(None, lr), None, lr, i) for i, lr in enumerate(settings["paper_lrs"])]
    rows += [
        (setting_name(b, settings["batch_lr"]), b, settings["batch_lr"], 0)
        for b in settings["batch_sizes"]
    ]
    return rows


def curve_steps(settings, steps: int) -> np.ndarray | None:
    """The steps at which a Figure 2 run records its error (None: every step)."""
    per_decade = settings["curve_per_decade"]
    if per_decade is None:
        return None
    return record_grid(steps, per_decade, also=[settings["flow_steps"]])


def _final_medians(run: SGDRun, row: int) -> float:
    return float(np.median(run.error[row, :, -1]))


class _Sweeps:
    """The sweeps done so far, kept in a checkpoint (when the run writes one).

    Each sweep in progress has its own checkpoint (:func:`run_sgd`), deleted once the sweep
    is in this one; this one is handed to the context, which deletes it (and any sweep's
    checkpoint left by a kill between the two writes) once the seeds' results are stored.
    """

    def __init__(self, settings, seeds, context):
        self.seeds = list(seeds)
        self.log = context.log
        self.base: Checkpoint | None = None
        self.done: dict[str, dict] = {}
        if context.directory is not None and context.checkpoint_every:
            folder = context.directory / "checkpoints"
            stem = f"seeds-{format_seeds(self.seeds)}"
            key = f"{context.scale}/{stem}/{settings_hash(settings)}"
            self.base = Checkpoint(folder / f"{stem}.pt", context.checkpoint_every, key=key)
            context.issued.extend([self.base, _Leftovers(folder, f"{stem}-*.pt")])
            state = self.base.load()
            if state is not None:
                self.done = state["done"]
                self.log(f"student-teacher-sgd: resuming after {len(self.done)} sweeps")

    def checkpoint(self, name: str) -> Checkpoint | None:
        if self.base is None:
            return None
        slug = "".join(c if c.isalnum() else "-" for c in name)
        path = self.base.path.with_name(f"{self.base.path.stem}-{slug}.pt")
        return Checkpoint(path, self.base.every, key=f"{self.base.key}/{name}")

    def get(self, name: str, compute, kind=SGDRun):
        if name not in self.done:
            started = time.perf_counter()
            checkpoint = self.checkpoint(name)
            summary = compute(checkpoint)
            self.done[name] = summary.state()
            if self.base is not None:
                self.base.save({"done": self.done})
                clear_checkpoint(checkpoint)  # the sweep is in the run's checkpoint now
            self.log(f"student-teacher-sgd: {name} in {time.perf_counter() - started:.1f} s")
        return kind.from_state(self.done[name])


class _Leftovers:
    """The files ``pattern`` in ``folder``: a sweep's checkpoint left by a kill at a bad moment."""

    def __init__(self, folder, pattern: str):
        self.folder, self.pattern = folder, pattern

    def clear(self) -> None:
        for path in self.folder.glob(self.pattern):
            path.unlink(missing_ok=True)


def run(settings, seeds, context) -> dict[int, dict]:
    """Every sweep of the chapter for ``seeds`` together; one result dict per seed."""
    seeds = list(seeds)
    n, d = settings["n_samples"], settings["d"]
    sweeps = _Sweeps(settings, seeds, context)
    problems: dict[tuple, object] = {}

    def problem(dim=d, dtype=torch.float32):
        if (dim, dtype) not in problems:
            problems[(dim, dtype)] = make_problem(dim, n, seeds, dtype=dtype)
        return problems[(dim, dtype)]

    lr_runs, batch_runs = {}, {}
    for name, (loss, weight) in VARIANTS.items():
        lr_runs[name] = sweeps.get(
            f"lr sweep {name}",
            lambda ck, loss=loss, weight=weight: run_sgd(
                problem(),
                loss,
                settings["paper_lrs"],
                steps=settings["steps"],
                h1_weight=weight,
                record_steps=curve_steps(settings, settings["steps"]),
                checkpoint=ck,
            ),
        )
        for b in settings["batch_sizes"]:
            batch_runs[(name, b)] = sweeps.get(
                f"batch sweep {name} {b}",
                lambda ck, loss=loss, weight=weight, b=b: run_sgd(
                    problem(),
                    loss,
                    [settings["batch_lr"]],
                    steps=settings["batch_steps"],
                    batch_size=b,
                    h1_weight=weight,
                    record_steps=curve_steps(settings, settings["batch_steps"]),
                    checkpoint=ck,
                ),
            )

    def figure2_runs(name, batch, row):
        if batch is None:
            return {k: (lr_runs[k], row) for k in LOSSES}
        return {k: (batch_runs[(k, batch)], 0) for k in LOSSES}

    # float64 reruns of the settings at f64_lr where both losses converged in float32
    float64 = {}
    for name, batch, lr, row in cases(settings):
        finals = [_final_medians(r, i) for r, i in figure2_runs(name, batch, row).values()]
        if lr != settings["f64_lr"] or max(finals) >= 1e-5:
            continue
        float64[name] = {
            loss: sweeps.get(
                f"float64 {name} {loss}",
                lambda ck, loss=loss, batch=batch, lr=lr: run_sgd(
                    problem(dtype=torch.float64),
                    loss,
                    [lr],
                    steps=settings["f64_steps"],
                    batch_size=batch,
                    checkpoint=ck,
                ),
            )
            for loss in LOSSES
        }

    # the fair comparison: each loss on the fine grid, at every dimension (and λ = 1 at d)
    threshold = settings["threshold"]
    fair = {}
    for dim in settings["dims"]:
        variants = ("l2", "h1", "h1_w1") if dim == d else ("l2", "h1")
        fair[dim] = {}
        for name in variants:
            loss, weight = VARIANTS[name]
            fair[dim][name] = sweeps.get(
                f"fair d{dim} {name}",
                lambda ck, dim=dim, loss=loss, weight=weight: ReachSweep.from_run(
                    run_sgd(
                        problem(dim),
                        loss,
                        settings["fine_lrs"],
                        steps=settings["fine_steps"],
                        per_decade=4,
                        h1_weight=weight,
                        checkpoint=ck,
                    ),
                    threshold,
                ),
                kind=ReachSweep,
            )

    # cheap per-seed analysis that needs the problems: condition numbers and the flows
    kappa = {}
    for dim in settings["dims"]:
        p64 = problem(dim, torch.float64)
        kappa[dim] = dict(zip(("l2", "h1"), condition_numbers(p64)))
        kappa[dim]["h1_w1"] = condition_numbers(p64, h1_weight=1.0)[1]
    main = problem()
    w0, w_star = main.w0.double().numpy(), main.w_star.double().numpy()
    grid = lr_runs["l2"].recorded_steps
    flow_grid = grid[grid <= settings["flow_steps"]]
    flows = {}
    for lr in settings["overlay_lrs"]:
        t = flow_grid * lr
        flows[lr] = {
            name: np.stack(
                [
                    flow_error(loss, w0[s], w_star[s], t, moving_boundary=moving)
                    for s in range(len(seeds))
                ]
            )
            for name, (loss, moving) in FLOW_KINDS.items()
        }

    results = {}
    for s, seed in enumerate(seeds):
        result = {
            "teacher": {"w0": main.w0[s].numpy(), "w_star": main.w_star[s].numpy()},
            "lr_sweep": {name: r.seed_result(s) for name, r in lr_runs.items()},
            "batch_sweep": {
                name: {
                    str(b): batch_runs[(name, b)].seed_result(s) for b in settings["batch_sizes"]
                }
                for name in VARIANTS
            },
            "fair": {
                f"d{dim}": {name: r.seed_result(s) for name, r in fair[dim].items()}
                for dim in settings["dims"]
            },
            "condition": {
                f"d{dim}": {name: float(k[s]) for name, k in kappa[dim].items()}
                for dim in settings["dims"]
            },
            "flows": {
                "steps": flow_grid,
                **{
                    f"lr {lr:g}": {name: f[s] for name, f in flows[lr].items()}
                    for lr, f in ((lr, flows[lr]) for lr in settings["overlay_lrs"])
                },
            },
        }
        if float64:
            result["float64"] = {
                name: {
                    loss: {
                        "error": r.error[0, s, -1],
                        "loss": r.l2_loss[0, s, -1],
                    }
                    for loss, r in pair.items()
                }
                for name, pair in float64.items()
            }
        results[seed] = result
    return results


# --------------------------------------------------------------------------------------------
# Reading the results back (chapter)
# --------------------------------------------------------------------------------------------


def sgd_run(runs: Runs, key: str) -> SGDRun:
    """The sweep ``key`` (e.g. ``"lr_sweep/h1"``, ``"batch_sweep/l2/64"``) over every seed."""
    return SGDRun.from_seed_results([runs.get(key, seed) for seed in runs.seeds])


def reach_sweep(runs: Runs, key: str) -> ReachSweep:
    """The fair-comparison sweep ``key`` (e.g. ``"fair/d10/h1"``) over every seed."""
    return ReachSweep.from_seed_results([runs.get(key, seed) for seed in runs.seeds])


def float64_finals(runs: Runs) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``{setting: {"error"|"loss": (L2 per seed, H1 per seed)}}`` of the float64 reruns."""
    first = runs[runs.seeds[0]].get("float64", {})
    if any(set(runs[seed].get("float64", {})) != set(first) for seed in runs.seeds):
        raise ResultsError("the seeds' results hold float64 reruns of different settings")
    return {
        name: {
            what: tuple(runs.stack(f"float64/{name}/{loss}/{what}") for loss in LOSSES)
            for what in ("error", "loss")
        }
        for name in first
    }


EXPERIMENT = register(
    Experiment(
        name="student-teacher-sgd",
        title="SGD on one ReLU neuron, L2 against H1, over learning rates and batch sizes",
        chapter="06-student-teacher-sgd",
        settings=SETTINGS,
        run_function=run,
        figure="Figure 2",
        batched=True,
        default_steps_between_checkpoints=5_000,
    ),
    aliases=("figure-2",),
)
