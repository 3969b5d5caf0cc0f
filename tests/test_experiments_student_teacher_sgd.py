"""The student-teacher SGD experiment (chapter 06, Figure 2): registration, stored results,
and checkpoints that resume a sweep to the bit."""

import numpy as np
import pytest
import torch

import sobolev.student_teacher as st
from sobolev import experiments
from sobolev.config import SCALES, set_threads
from sobolev.experiments import Context
from sobolev.experiments import student_teacher_sgd as sts
from sobolev.results import Checkpoint, ResultsError


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the chapters and the command line run (many small operations)."""
    threads = torch.get_num_threads()
    set_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("student-teacher-sgd")
    experiment = experiments.get("figure-2")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    return experiment, out, runs


def test_registered_with_the_papers_settings():
    experiment = experiments.get("figure-2")
    assert experiment is experiments.get("student-teacher-sgd")
    assert experiment.chapter == "06-student-teacher-sgd" and experiment.batched
    assert experiment.figure == "Figure 2"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] and settings["d"] in settings["dims"]
        assert settings["flow_steps"] <= settings["steps"]
    paper, book = experiment.settings_for("paper"), experiment.settings_for("book")
    # the paper's numbers (docs/experiments.md): N, learning rates, batch sizes
    assert paper["n_samples"] == book["n_samples"] == 10_000
    assert paper["paper_lrs"] == [1e-1, 1e-2, 1e-3, 1e-4]
    assert paper["batch_sizes"] == [64, 256, 1024, 4096]
    assert paper["steps"] > book["steps"] and paper["batch_steps"] > book["batch_steps"]
    assert book["curve_per_decade"] is None  # the chapter's curves: every step
    assert sts.FINE_LRS[0] == pytest.approx(0.1) and sts.FINE_LRS[-1] == pytest.approx(6.4)
    assert "--scale paper" in experiment.command("paper")


def test_smoke_run_is_written_and_then_loaded(smoke):
    experiment, out, runs = smoke
    assert runs.sources[0] == "computed"
    assert (out / "smoke" / "seed-0.npz").exists()
    assert not list((out / "smoke").glob("checkpoints/*"))  # deleted once stored
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    assert again.sources[0].endswith("seed-0.npz")
    for key in ("lr_sweep/h1", "batch_sweep/l2/64", "lr_sweep/h1_w1"):
        a, b = sts.sgd_run(runs, key), sts.sgd_run(again, key)
        assert np.array_equal(a.error, b.error, equal_nan=True) and a.lrs == b.lrs
        assert np.array_equal(a.l2_loss, b.l2_loss) and a.batch_size == b.batch_size
    fair = sts.reach_sweep(again, "fair/d10/h1")
    assert np.array_equal(fair.reach, sts.reach_sweep(runs, "fair/d10/h1").reach)
    assert fair.lrs == tuple(sts.FINE_LRS)


def test_stored_sweep_equals_a_sweep_run_here(smoke):
    """The experiment's numbers are run_sgd's on make_problem(d, N, seeds), as the chapter had."""
    _, _, runs = smoke
    settings = sts.SETTINGS["smoke"]
    problem = st.make_problem(settings["d"], settings["n_samples"], [0])
    here = st.run_sgd(problem, "h1", settings["paper_lrs"], steps=settings["steps"])
    stored = sts.sgd_run(runs, "lr_sweep/h1")
    assert np.array_equal(stored.error, here.error) and np.array_equal(stored.h1_loss, here.h1_loss)
    batch = st.run_sgd(
        problem, "l2", [settings["batch_lr"]], steps=settings["batch_steps"], batch_size=256
    )
    assert np.array_equal(sts.sgd_run(runs, "batch_sweep/l2/256").error, batch.error)
    teacher = runs[0]["teacher"]
    assert np.array_equal(teacher["w_star"], problem.w_star[0].numpy())
    # the flows start at the initial error, and the condition numbers are those of the problem
    flow = runs[0]["flows"]["lr 0.01"]["l2"]
    start = np.linalg.norm(teacher["w0"].astype(float) - teacher["w_star"].astype(float))
    assert flow[0] == pytest.approx(start, rel=1e-9)
    p64 = st.make_problem(settings["d"], settings["n_samples"], [0], dtype=torch.float64)
    assert runs[0]["condition"]["d10"]["l2"] == st.condition_numbers(p64)[0][0]


def test_seed_results_round_trip_and_coarse_grids():
    problem = st.make_problem(3, 200, (0, 1))
    grid = st.record_grid(300, per_decade=5, also=[7])
    assert grid[0] == 0 and grid[-1] == 300 and 7 in grid and np.all(np.diff(grid) > 0)
    assert np.array_equal(st.record_grid(4), np.arange(5))
    full = st.run_sgd(problem, "h1", [0.3, 0.05], steps=300)
    coarse = st.run_sgd(problem, "h1", [0.3, 0.05], steps=300, record_steps=grid)
    assert np.array_equal(coarse.error, full.error[:, :, grid])  # the same run, fewer records
    back = st.SGDRun.from_seed_results([coarse.seed_result(s) for s in range(2)])
    assert np.array_equal(back.error, coarse.error) and np.array_equal(back.error_steps, grid)
    assert back.lrs == coarse.lrs and back.batch_size is None
    # first recorded step below: on the grid, the first grid step at or after the exact step
    exact, on_grid = full.steps_to_reach(1e-2), coarse.steps_to_reach(1e-2)
    for value, step in zip(exact.flat, on_grid.flat):
        assert step == grid[np.searchsorted(grid, value)]
    level, k_l2, k_h1 = st.steps_to_common_error(coarse, coarse, 1e-2, row=0)
    assert k_l2 == k_h1 and k_l2 in grid
    reach = st.ReachSweep.from_run(full, 1e-2)
    again = st.ReachSweep.from_seed_results([reach.seed_result(s) for s in range(2)])
    assert np.array_equal(again.steps_to_reach(1e-2), exact)
    assert st.best_lr(again, 1e-2) == (
        st.best_lr(full, 1e-2)[0],
        pytest.approx(st.best_lr(full, 1e-2)[1]),
    )
    with pytest.raises(ValueError, match="threshold"):
        again.steps_to_reach(1e-3)
    with pytest.raises(ValueError, match="record_steps"):
        st.run_sgd(problem, "l2", [0.1], steps=10, record_steps=[0, 5])


class Stop(Exception):
    """Stands for a killed job: raised right after the n-th checkpoint is written."""


def stopping_checkpoint(monkeypatch, after: int):
    """Make every Checkpoint the sweeps create raise Stop right after the ``after``-th save."""
    saves = {"n": 0}

    class Stopping(Checkpoint):
        def save(self, state):
            super().save(state)
            saves["n"] += 1
            if saves["n"] == after:
                raise Stop

    monkeypatch.setattr(st, "Checkpoint", Stopping)
    monkeypatch.setattr(sts, "Checkpoint", Stopping)
    return saves


def same_runs(a: st.SGDRun, b: st.SGDRun) -> bool:
    return (
        np.array_equal(a.error, b.error, equal_nan=True)
        and np.array_equal(a.l2_loss, b.l2_loss, equal_nan=True)
        and np.array_equal(a.h1_loss, b.h1_loss, equal_nan=True)
        and np.array_equal(a.diverged, b.diverged)
    )


@pytest.mark.parametrize("batch_size", [None, 16])
def test_sweep_stopped_and_resumed_equals_an_uninterrupted_one(tmp_path, monkeypatch, batch_size):
    problem = st.make_problem(3, 64, (0, 1))
    lrs = (0.3, 0.05, 80.0)  # the last one diverges: groups are split and rerun
    kwargs = dict(steps=120, batch_size=batch_size, seed=3, record_steps=st.record_grid(120, 4))
    monkeypatch.setattr(st, "EVAL_EVERY", 10)
    whole = st.run_sgd(problem, "h1", lrs, **kwargs)
    assert list(whole.diverged) == [False, False, True]
    for after in (2, 5, 9, 13):  # of 15 saves
        path = tmp_path / f"after-{after}" / "sweep.pt"
        saves = stopping_checkpoint(monkeypatch, after)
        with pytest.raises(Stop):
            st.run_sgd(problem, "h1", lrs, checkpoint=st.Checkpoint(path, 20, key="k"), **kwargs)
        assert saves["n"] == after and path.parent.exists()
        monkeypatch.setattr(st, "Checkpoint", Checkpoint)
        resumed = st.run_sgd(problem, "h1", lrs, checkpoint=Checkpoint(path, 20, key="k"), **kwargs)
        assert same_runs(resumed, whole), f"stopped after {after} checkpoints"
        # the groups' checkpoints are gone; the sweep's holds the finished sweep until cleared
        assert [p.name for p in path.parent.iterdir()] == ["sweep.pt"]
        again = st.run_sgd(problem, "h1", lrs, checkpoint=Checkpoint(path, 20, key="k"), **kwargs)
        assert same_runs(again, whole)
        st.clear_checkpoint(Checkpoint(path, 20, key="k"))
        assert not any(path.parent.iterdir())


def test_a_checkpoint_of_another_sweep_is_refused(tmp_path, monkeypatch):
    problem = st.make_problem(3, 64, (0,))
    path = tmp_path / "sweep.pt"
    monkeypatch.setattr(st, "EVAL_EVERY", 10)
    stopping_checkpoint(monkeypatch, 2)
    with pytest.raises(Stop):
        st.run_sgd(
            problem, "l2", [0.1, 50.0], steps=60, checkpoint=st.Checkpoint(path, 10, key="k")
        )
    monkeypatch.setattr(st, "Checkpoint", Checkpoint)
    with pytest.raises(ResultsError, match="another sweep"):
        st.run_sgd(problem, "l2", [0.2, 50.0], steps=60, checkpoint=Checkpoint(path, 10, key="k"))


TINY = {
    **sts.COMMON,
    "d": 3,
    "dims": [2, 3],
    "paper_lrs": [0.3, 0.01],
    "batch_sizes": [16],
    "batch_lr": 0.3,
    "f64_lr": 0.3,
    "fine_lrs": [0.3, 1.0, 60.0],
    "overlay_lrs": [0.01],
    "n_samples": 64,
    "seeds": [0, 1],
    "steps": 120,
    "batch_steps": 200,
    "f64_steps": 80,
    "fine_steps": 30,
    "flow_steps": 50,
    "curve_per_decade": 5,
}


def tiny_context(directory=None):
    return Context(
        scale="smoke",
        device=torch.device("cpu"),
        directory=directory,
        checkpoint_every=None if directory is None else 20,
    )


def flat(results):
    from sobolev.results import flatten

    return {seed: flatten(result) for seed, result in results.items()}


def test_experiment_stopped_and_resumed_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "EVAL_EVERY", 10)
    whole = flat(sts.run(TINY, [0, 1], tiny_context()))
    assert "float64/batch 16/h1/error" in whole[0]  # the converged setting was rerun
    assert whole[0]["flows/steps"][-1] == TINY["flow_steps"]
    for after in (17, 60, 95):  # of 104 saves: in the Figure 2, fair and float64 sweeps
        directory = tmp_path / f"after-{after}"
        stopping_checkpoint(monkeypatch, after)
        with pytest.raises(Stop):
            sts.run(TINY, [0, 1], tiny_context(directory))
        monkeypatch.setattr(st, "Checkpoint", Checkpoint)
        monkeypatch.setattr(sts, "Checkpoint", Checkpoint)
        context = tiny_context(directory)
        resumed = flat(sts.run(TINY, [0, 1], context))
        for seed in (0, 1):
            assert set(resumed[seed]) == set(whole[seed])
            for key, value in whole[seed].items():
                assert np.array_equal(
                    resumed[seed][key], value, equal_nan=value.dtype.kind == "f"
                ), f"{key} differs after a stop at checkpoint {after}"
        # the run's checkpoint (and a sweep's, if the stop fell between the two writes) is left
        # for the framework to delete once the results are stored
        left = sorted(p.name for p in (directory / "checkpoints").iterdir())
        assert "seeds-0-1.pt" in left and len(left) <= 2
        context.clear_checkpoints()
        assert not any((directory / "checkpoints").iterdir())
