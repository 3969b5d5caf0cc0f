"""The Figure 5 experiment (chapter 08): registration, settings, its loss, storing and resuming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sobolev import experiments, fast
from sobolev.config import SCALES, get_device
from sobolev.experiments import Context, result_path
from sobolev.experiments import chebyshev_sobolev_training as fig5
from sobolev.losses import sobolev_loss
from sobolev.networks import MLP
from sobolev.results import Checkpoint, read_result

# A run small enough for a unit test (the function is the chapter's; only the sizes shrink).
TINY = {
    **fig5.SETTINGS["smoke"],
    "n_grid": 4,
    "steps": 30,
    "eval_every": 5,
    "n_test": 64,
    "plot_points": 5,
    "lr_l2_probes": [1e-2],
    "seeds": [0],
}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the book runs: on a shared machine two threads only spin."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def leaves(result, prefix=""):
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = np.asarray(value)
    return out


def assert_same_numbers(a, b):
    """Equal to the bit, except the measured training seconds."""
    a, b = leaves(a), leaves(b)
    assert a.keys() == b.keys()
    for key in a:
        if key.endswith("train_seconds"):
            continue
        assert np.array_equal(a[key], b[key]), f"{key} differs"


def test_registered_with_its_alias_and_all_scales():
    experiment = experiments.get("figure-5")
    assert experiment is experiments.get("chebyshev-sobolev-training")
    assert experiment.chapter == "08-chebyshev-sobolev-training"
    assert experiment.figure == "Figure 5"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"]
        assert set(settings["authors_fdm_seeds"]) <= set(settings["seeds"])
        assert set(settings["probe_seeds"]) <= set(settings["seeds"])
    assert experiment.command("paper") == (
        "python -m sobolev.experiments chebyshev-sobolev-training --scale paper "
        "--seeds 0-4 --out results/chebyshev-sobolev-training"
    )


def test_paper_scale_is_the_papers_setting():
    """docs/experiments.md, Figure 5: 2-64-64-1 tanh, Adam 1e-4, 101 x 101 grid, 200,000 epochs."""
    paper = fig5.SETTINGS["paper"]
    assert paper["widths"] == [2, 64, 64, 1]
    assert paper["lr"] == 1e-4
    assert paper["n_grid"] + 1 == 101
    assert paper["steps"] == 200_000


def test_authors_loss_is_l2_everywhere_and_h1_on_the_interior():
    torch.manual_seed(0)
    model = MLP([2, 8, 1], "tanh")
    targets = fig5.uniform_targets({"n_grid": 5})
    x = torch.as_tensor(targets.points, dtype=torch.float32)
    value = torch.as_tensor(targets.values.ravel(), dtype=torch.float32)
    gradient = torch.as_tensor(targets.gradients["fd"], dtype=torch.float32)
    mask = np.zeros_like(targets.values, dtype=bool)
    mask[1:-1, 1:-1] = True
    interior = torch.as_tensor(mask.ravel())
    assert int(interior.sum()) == 4 * 4
    loss = fig5.authors_fdm_loss(interior)(model, x, value, gradient)
    everywhere = sobolev_loss(model, x, value)
    inside = sobolev_loss(model, x[interior], value[interior], gradient[interior])
    torch.testing.assert_close(loss.terms["l2"], everywhere.terms["l2"])
    torch.testing.assert_close(loss.terms["h1"], inside.terms["h1"])
    torch.testing.assert_close(loss.total, everywhere.terms["l2"] + inside.terms["h1"])
    # with every point counted it is the plain H1 loss
    full = fig5.authors_fdm_loss(torch.ones_like(interior))(model, x, value, gradient)
    torch.testing.assert_close(full.total, sobolev_loss(model, x, value, gradient).total)


def test_plot_grid_and_test_points():
    axis, points = fig5.plot_grid({"plot_points": 4})
    assert points.shape == (16, 2)
    assert np.array_equal(points[1], [axis[0], axis[1]])  # "ij": the second axis runs fastest
    assert np.array_equal(points[4], [axis[1], axis[0]])
    x, y = fig5.test_data({"n_test": 50, "test_seed": 3}, torch.device("cpu"))
    assert x.shape == (50, 2) and y.shape == (50,)
    assert float(x.abs().max()) <= 2
    again, _ = fig5.test_data({"n_test": 50, "test_seed": 3}, torch.device("cpu"))
    assert torch.equal(x, again)


def test_tiny_run_and_its_history():
    result = fig5.run_seed(TINY, 0, Context(scale="smoke", device=get_device()))
    assert set(result) == set(fig5.RUNS) | {"probes"}
    for name in fig5.RUNS:
        entry = result[name]
        assert list(entry["eval_steps"]) == [0, 5, 10, 15, 20, 25, 30]
        assert entry["test_error"].shape == (7,)
        assert np.all(np.diff(entry["train_seconds"]) >= 0)
        assert ("h1" in entry["final_terms"]) == (name not in ("l2", "l2_large"))
        assert ("fit" in entry) == (name in fig5.FITTED)
        assert entry["std_ratio"] > 0
    assert result["exact"]["fit"].shape == (25,)
    # every loss starts from the seed's initial network: the same error at step 0
    starts = {float(result[name]["test_error"][0]) for name in fig5.METHODS}
    assert len(starts) == 1
    assert result["probes"]["test_error"].shape == (1,)

    class Stored:  # what Runs.get offers, over this one result
        seeds = [0]

        def __getitem__(self, seed):
            return result

        def get(self, key, seed):
            node = result
            for part in key.split("/"):
                node = node[part]
            return node

    history = fig5.history(Stored(), "exact", 0)
    errors = result["exact"]["test_error"]
    level = float(np.median(errors))
    below = np.flatnonzero(errors < level)
    expected = int(result["exact"]["eval_steps"][below[0]]) if len(below) else None
    assert history.first_step_below(level) == expected
    assert fig5.seeds_of(Stored(), "fd_authors") == [0]


def test_killed_seed_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    """A seed stopped after a checkpoint, run again, equals an uninterrupted run."""
    whole = fig5.run_seed(TINY, 0, Context(scale="smoke", device=get_device()))
    context = Context(scale="smoke", device=get_device(), directory=tmp_path, checkpoint_every=10)
    saves = []
    original = Checkpoint.save

    def save_then_die(self, state):
        original(self, state)
        saves.append(self.path.name)
        if len(saves) == 7:  # two saves a run and one at its end: inside the third run (fd)
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        fig5.run_seed(TINY, 0, context)
    assert saves[-1] == "seed-0-fd.pt"
    assert (tmp_path / "checkpoints" / "seed-0-fd.pt").exists()
    monkeypatch.setattr(Checkpoint, "save", original)
    saves.clear()

    def save_and_note(self, state):
        original(self, state)
        saves.append(self.path.name)

    monkeypatch.setattr(Checkpoint, "save", save_and_note)
    resumed = fig5.run_seed(TINY, 0, context)
    assert "seed-0-l2.pt" not in saves, "a finished run was trained again"
    context.clear_checkpoints()  # what sobolev.experiments.run does once the seed is stored
    assert not list((tmp_path / "checkpoints").glob("*.pt"))
    assert_same_numbers(whole, resumed)


def test_smoke_run_is_stored_then_loaded(tmp_path):
    experiment = experiments.get("chebyshev-sobolev-training")
    first = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    path = result_path(tmp_path, "smoke", 0)
    assert path.exists() and path.stat().st_size < 1_000_000
    stored, meta = read_result(path)
    assert meta["experiment"] == "chebyshev-sobolev-training" and meta["seed"] == 0
    assert_same_numbers(first[0], stored)
    second = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert second.sources[0] == str(path)  # loaded, not computed again


def test_compile_uses_the_fast_h1_loss_for_the_exact_run(monkeypatch):
    """--compile: the exact-H1 run trains with sobolev.fast's H1 loss (here uncompiled, to
    keep the test fast), which agrees with sobolev_loss to float round-off."""
    made = []

    def uncompiled(**options):
        made.append(fast.H1Loss(compile=False))
        return made[-1]

    monkeypatch.setattr(fast, "h1_loss", uncompiled)
    settings = {**TINY, "lr_l2_probes": [], "authors_fdm_seeds": []}
    plain = fig5.run_seed(settings, 0, Context(scale="smoke", device=get_device()))
    fused = fig5.run_seed(settings, 0, Context(scale="smoke", device=get_device(), compile=True))
    assert len(made) == 1
    assert plain["exact"]["loss"] == "sobolev.losses.sobolev_loss"
    assert fused["exact"]["loss"].startswith("sobolev.fast.H1Loss(uncompiled")
    np.testing.assert_allclose(
        fused["exact"]["test_error"], plain["exact"]["test_error"], rtol=1e-4
    )
    for name in ("l2", "fd", "chebyshev"):  # the other runs are untouched
        assert np.array_equal(fused[name]["test_error"], plain[name]["test_error"])
