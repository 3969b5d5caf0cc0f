"""The Figure 4 experiment: registered, stored, and resumed to the bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sobolev.ensemble as ensemble_module
import sobolev.experiments.fourier_features_siren as figure_4
from sobolev import experiments
from sobolev.config import SCALES
from sobolev.ensemble import fit, make_ensemble, regression_problem, train_ensemble
from sobolev.networks import MLP, Siren
from sobolev.results import Checkpoint, ResultsError
from sobolev.targets import F1, F2


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
    experiment = experiments.get("figure-4")
    assert experiment is experiments.get("fourier-features-siren") is figure_4.EXPERIMENT
    assert experiment.batched and experiment.figure == "Figure 4"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] == list(range(len(settings["seeds"])))
        assert (
            settings["lr_main"] in settings["lrs_l2"] and settings["lr_main"] in settings["lrs_h1"]
        )
    paper = experiment.settings_for("paper")  # the paper's 100 networks, the authors' code's run
    assert len(paper["seeds"]) == 100 and paper["n_train"] == 1000
    assert paper["lr_main"] == 1e-4 and paper["steps"] == 10_000
    assert experiment.command("paper").endswith("--seeds 0-99 --out results/fourier-features-siren")


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("with_gradient", [False, True])
def test_train_ensemble_resumes_to_the_bit(tmp_path, monkeypatch, with_gradient):
    problem = regression_problem(F2, 24, 12, seed=0)
    gradient = problem.gradient if with_gradient else None
    factory = lambda: Siren([1, 8, 8, 1], omega_0=30.0)  # noqa: E731
    kwargs = dict(
        lr=[1e-3, 1e-2, 3e-3], steps=12, eval_every=2, test_x=problem.test_x,
        test_value=problem.test_value, test_gradient=problem.test_gradient,
    )  # fmt: skip
    reference = make_ensemble(factory, 3, seed=4)
    expected = train_ensemble(reference, problem.x, problem.value, gradient, **kwargs)
    path = tmp_path / "ensemble.pt"
    killed = make_ensemble(factory, 3, seed=4)
    with pytest.raises(Stop):
        train_ensemble(
            killed, problem.x, problem.value, gradient, checkpoint=StopAfterSave(path, 4), **kwargs
        )
    assert path.exists()
    calls = _counting(monkeypatch, ensemble_module, "member_losses")
    resumed = make_ensemble(factory, 3, seed=4)  # a fresh start, as a new process has
    history = train_ensemble(
        resumed, problem.x, problem.value, gradient, checkpoint=Checkpoint(path, 4), **kwargs
    )
    assert len(calls) == 12 - 4  # it went on from step 4, it did not start again
    # the finished run stays in its checkpoint until its owner has stored the results
    again = make_ensemble(factory, 3, seed=4)
    finished = train_ensemble(
        again, problem.x, problem.value, gradient, checkpoint=Checkpoint(path, 4), **kwargs
    )
    assert len(calls) == 12 - 4  # nothing trained again
    for ensemble, result in ((resumed, history), (again, finished)):
        for a, b in zip(ensemble.parameters(), reference.parameters()):
            assert torch.equal(a, b)
        for what in ("eval_steps", "test_mse", "test_h1", "train_loss", "lr"):
            assert np.array_equal(getattr(result, what), getattr(expected, what), equal_nan=True)


def test_an_ensemble_checkpoint_of_another_run_is_refused(tmp_path):
    x = torch.linspace(-1, 1, 16)
    value = torch.sin(3 * x)
    path = tmp_path / "ensemble.pt"
    with pytest.raises(Stop):
        train_ensemble(
            make_ensemble(lambda: MLP([1, 8, 1]), 2, seed=0), x, value,
            steps=6, eval_every=2, checkpoint=StopAfterSave(path, 2),
        )  # fmt: skip
    with pytest.raises(ResultsError, match="another ensemble run"):
        train_ensemble(
            make_ensemble(lambda: MLP([1, 8, 1]), 2, seed=0), x, value, lr=1e-2,
            steps=6, eval_every=2, checkpoint=Checkpoint(path, 2),
        )  # fmt: skip


def test_fit_with_seeds_is_fit_with_n_members():
    problem = regression_problem(F1, 20, 10, seed=0)
    factory = lambda: MLP([1, 8, 8, 1], "tanh")  # noqa: E731
    common = dict(loss="h1", lrs=[1e-3, 1e-2], steps=6, eval_every=3)
    by_count = fit(factory, problem, n_members=3, seed=2, **common)
    by_seeds = fit(factory, problem, seeds=[2, 3, 4], **common)
    one = fit(factory, problem, seeds=[3], **common)
    for lr in (1e-3, 1e-2):
        assert np.array_equal(by_count[lr].test_mse, by_seeds[lr].test_mse)
    # a network does not depend on the others trained beside it
    assert np.allclose(one[1e-2].test_mse[0], by_seeds[1e-2].test_mse[1], rtol=1e-6)
    with pytest.raises(ValueError, match="seeds"):
        fit(factory, problem, n_members=2, seeds=[0, 1, 2], **common)
    rebuilt = ensemble_module.Fit(by_seeds.histories, None, 3)
    assert rebuilt.best_lr() == by_seeds.best_lr()
    with pytest.raises(ValueError, match="no networks"):
        rebuilt.predict(1e-3, problem.test_x)


def test_smoke_run_is_stored_then_loaded(tmp_path):
    experiment = experiments.get("fourier-features-siren")
    settings = experiment.settings_for("smoke")
    experiments.run(experiment, scale="smoke", seeds=[0, 1], out=tmp_path)
    assert sorted(p.name for p in (tmp_path / "smoke").glob("*.npz")) == [
        "seed-0.npz",
        "seed-1.npz",
    ]
    again = experiments.run(experiment, scale="smoke", seeds=[0, 1], out=tmp_path)
    assert all(source.endswith(".npz") for source in again.sources.values())
    fits = figure_4.fits(again)
    assert len(fits) == 2 * len(figure_4.configurations(settings))
    evaluations = settings["steps"] // settings["eval_every"] + 1
    h = fits["f₂", "Fourier features", "l2"][settings["lr_main"]]
    assert h.test_mse.shape == (2, evaluations) and list(h.lr) == [settings["lr_main"]] * 2
    assert sorted(fits["f₁", "MLP", "h1"].histories) == sorted(settings["lrs_h1"])
    # the stored histories are those of the same fit run directly
    problem = figure_4.problems(settings)["f₂"]
    direct = fit(
        figure_4.factories(settings)["Fourier features"], problem, loss="l2", lrs=settings["lrs_l2"],
        seeds=[0, 1], steps=settings["steps"], eval_every=settings["eval_every"],
    )  # fmt: skip
    for lr in settings["lrs_l2"]:
        for what in ("test_mse", "test_h1", "train_loss"):
            stored = getattr(fits["f₂", "Fourier features", "l2"][lr], what)
            assert np.array_equal(stored, getattr(direct[lr], what))
    u, du = figure_4.functions(again, "f₂", "Fourier features", "l2")
    expected_u, expected_du = direct.predict(settings["lr_main"], figure_4.window("f₂"))
    assert np.array_equal(u, expected_u) and np.array_equal(du, expected_du)
    # the balanced weight makes both terms of the H1 loss start equal
    lam = figure_4.balance(problem)
    assert np.isclose(
        problem.value.square().mean().item(), lam * problem.gradient.square().mean().item()
    )


def test_an_interrupted_run_keeps_its_finished_parts(tmp_path, monkeypatch):
    experiment = experiments.get("fourier-features-siren")
    reference = experiments.run(experiment, scale="smoke", write=False)
    original = figure_4.fit
    calls = []

    def dies_in_the_fifth(*args, checkpoint=None, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            checkpoint = StopAfterSave(checkpoint.path, checkpoint.every, key=checkpoint.key)
        return original(*args, checkpoint=checkpoint, **kwargs)

    monkeypatch.setattr(figure_4, "fit", dies_in_the_fifth)
    with pytest.raises(Stop):
        experiments.run(experiment, scale="smoke", out=tmp_path, checkpoint_every=5)
    checkpoints = tmp_path / "smoke" / "checkpoints"
    assert len(list(checkpoints.glob("*.pt"))) == 5  # 4 finished, 1 stopped at step 5
    losses = _counting(monkeypatch, ensemble_module, "member_losses")
    resumed = experiments.run(experiment, scale="smoke", out=tmp_path, checkpoint_every=5)
    settings = experiment.settings_for("smoke")
    total = 2 * len(figure_4.configurations(settings))
    # one call per Adam step, and one for the initial networks of a run started afresh
    assert len(losses) == (settings["steps"] - 5) + (settings["steps"] + 1) * (total - 5)
    assert list(checkpoints.glob("*.pt")) == []  # deleted once the results are stored
    for seed in reference.seeds:
        for key in ("f1/siren/h1/test_mse", "f2/authors_siren/l2/train_loss", "f1/mlp/l2/u"):
            assert np.array_equal(reference.get(key, seed), resumed.get(key, seed))
    ref, got = figure_4.fits(reference), figure_4.fits(resumed)
    for key, fitted in ref.items():
        for lr, history in fitted.histories.items():
            assert np.array_equal(history.test_mse, got[key][lr].test_mse)
