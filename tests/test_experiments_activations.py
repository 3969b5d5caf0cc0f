"""The activations experiment (Figure 3): registered, stored, and resumed to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sobolev.activations as activations
import sobolev.experiments.activations as figure_3
from sobolev import experiments
from sobolev.activations import make_dataset, train_stacked
from sobolev.config import SCALES
from sobolev.results import Checkpoint, ResultsError


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class Stop(Exception):
    pass


class StopAfterSave(Checkpoint):
    """A checkpoint whose first save kills the run, as a killed job would stop."""

    def save(self, state):
        super().save(state)
        raise Stop


def test_registered_with_its_alias_and_every_scale():
    experiment = experiments.get("figure-3")
    assert experiment is experiments.get("activations") is figure_3.EXPERIMENT
    assert experiment.batched and experiment.figure == "Figure 3"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] and settings["lr"] in settings["l2_lrs"]
    paper = experiment.settings_for("paper")  # the paper's Adam rate and epochs
    assert paper["lr"] == 1e-4 and paper["steps"] == 50_000
    assert experiment.command("paper").endswith("--seeds 0-4 --out results/activations")


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("loss", ["l2", "h2"])
def test_train_stacked_resumes_to_the_bit(tmp_path, monkeypatch, loss):
    data = make_dataset(32, 16, seed=1)
    kwargs = dict(seeds=[0, 1], lrs=[1e-3, 1e-2], steps=12, eval_every=2)
    reference = train_stacked("tanh", loss, data, **kwargs)
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        train_stacked("tanh", loss, data, checkpoint=StopAfterSave(path, 4), **kwargs)
    assert path.exists()
    calls = _counting(monkeypatch, activations, "stacked_loss")
    resumed = train_stacked("tanh", loss, data, checkpoint=Checkpoint(path, 4), **kwargs)
    assert len(calls) == 12 - 4  # it went on from step 4, it did not start again
    # the finished run stays in its checkpoint until its owner has stored the results
    finished = train_stacked("tanh", loss, data, checkpoint=Checkpoint(path, 4), **kwargs)
    assert len(calls) == 12 - 4  # nothing trained again
    for result in (resumed, finished):
        assert np.array_equal(result.eval_steps, reference.eval_steps)
        assert np.array_equal(result.test_error, reference.test_error)
        assert np.array_equal(result.final_loss, reference.final_loss)
        assert result.seeds == reference.seeds and result.lrs == reference.lrs


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    data = make_dataset(32, 16, seed=1)
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        train_stacked(
            "tanh", "l2", data, seeds=[0], lrs=1e-3, steps=8, eval_every=2,
            checkpoint=StopAfterSave(path, 2),
        )  # fmt: skip
    with pytest.raises(ResultsError, match="another stacked run"):
        train_stacked(
            "sine", "l2", data, seeds=[0], lrs=1e-3, steps=8, eval_every=2,
            checkpoint=Checkpoint(path, 2),
        )  # fmt: skip


def test_smoke_run_is_stored_then_loaded(tmp_path):
    experiment = experiments.get("activations")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert (tmp_path / "smoke" / "seed-0.npz").exists()
    assert runs.sources[0] == "computed"
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert again.sources[0].endswith("seed-0.npz")
    by_loss, grid = figure_3.curves(again)
    settings = experiment.settings_for("smoke")
    evaluations = settings["steps"] // settings["eval_every"] + 1
    assert by_loss[("sine", "h2")].test_error.shape == (1, evaluations)
    assert ("relu", "h2") not in by_loss  # H2 is H1 for piecewise-linear networks
    assert grid["tanh"].test_error.shape == (len(settings["l2_lrs"]), evaluations)
    fresh, _ = figure_3.curves(runs)
    for key, result in by_loss.items():
        assert np.array_equal(result.test_error, fresh[key].test_error, equal_nan=True)
    costs = figure_3.step_seconds(again)
    assert all(costs[a][loss] > 0 for a in costs for loss in ("l2", "h1", "h2"))


def test_curves_rebuild_what_train_stacked_returns(tmp_path):
    """Seeds stored one file each come back in the member order of one stacked run."""
    experiment = experiments.get("activations")
    settings = experiment.settings_for("smoke")
    runs = experiments.run(experiment, scale="smoke", seeds=[0, 2], out=tmp_path)
    _, grid = figure_3.curves(runs)
    data = figure_3.dataset(settings)
    direct = train_stacked(
        "tanh", "l2", data, seeds=[0, 2], lrs=settings["l2_lrs"],
        steps=settings["steps"], eval_every=settings["eval_every"],
    )  # fmt: skip
    assert grid["tanh"].seeds == direct.seeds and grid["tanh"].lrs == direct.lrs
    assert np.array_equal(grid["tanh"].test_error, direct.test_error)
    assert np.array_equal(grid["tanh"].final_loss, direct.final_loss)


def test_an_interrupted_run_keeps_its_finished_parts(tmp_path, monkeypatch):
    """Killed during its fourth stacked run, a run started again trains only what was left."""
    experiment = experiments.get("activations")
    reference = experiments.run(experiment, scale="smoke", seeds=[0, 1], write=False)
    original = figure_3.train_stacked
    calls = []

    def dies_in_the_fourth(*args, checkpoint=None, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            checkpoint = StopAfterSave(checkpoint.path, checkpoint.every, key=checkpoint.key)
        return original(*args, checkpoint=checkpoint, **kwargs)

    monkeypatch.setattr(figure_3, "train_stacked", dies_in_the_fourth)
    with pytest.raises(Stop):
        experiments.run(experiment, scale="smoke", seeds=[0, 1], out=tmp_path, checkpoint_every=5)
    checkpoints = tmp_path / "smoke" / "checkpoints"
    assert len(list(checkpoints.glob("*.pt"))) == 4  # 3 finished, 1 stopped at step 5
    steps = _counting(monkeypatch, activations, "stacked_loss")  # one call per Adam step
    resumed = experiments.run(
        experiment, scale="smoke", seeds=[0, 1], out=tmp_path, checkpoint_every=5
    )
    total = sum(1 + len(figure_3.sobolev_losses(a)) for a in activations.ACTIVATIONS)
    settings = experiment.settings_for("smoke")
    assert len(steps) == (settings["steps"] - 5) + settings["steps"] * (total - 4)
    assert list(checkpoints.glob("*.pt")) == []  # deleted once the results are stored
    ref, got = figure_3.curves(reference)[0], figure_3.curves(resumed)[0]
    for key in ref:
        assert np.array_equal(ref[key].test_error, got[key].test_error, equal_nan=True)
        assert np.array_equal(ref[key].final_loss, got[key].final_loss, equal_nan=True)
