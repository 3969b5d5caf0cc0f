"""The experiments of chapters 02 and 03 (Figure 1, the sign claims): registry, results,
agreement with the direct computation, and resumption from the block checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sobolev import experiments
from sobolev.config import SCALES
from sobolev.experiments import Context, theorems
from sobolev.montecarlo import loglog_slope, monte_carlo_mse, sign_check
from sobolev.results import Checkpoint


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the book runs (two on a busy 2-core machine are many times slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


NAMES = {"theorem-relu-h1": "figure-1-relu", "theorem-relu2-h2": "figure-1-relu2"}
TINY = {  # a run of seconds, with every kind of block
    "terms": ["relu_l2", "relu_h1"],
    "dims": [2, 3],
    "moving_term": "relu_h1",
    "moving_dim": 3,
    "sign_dims": [2, 5],
    "sign_seed": 7,
    "speedups": {"h1": [["relu_l2", "relu_h1"], ["relu_l2"]]},
    "sizes": [10, 100, 1000],
    "repeats": 3,
    "n_pairs": 50,
    "seeds": [0],
}


def leaves(result, prefix=""):
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = np.asarray(value)
    return out


def assert_identical(a, b):
    a, b = leaves(a), leaves(b)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_alias_and_settings_at_every_scale(name):
    experiment = experiments.get(name)
    assert experiments.get(NAMES[name]) is experiment
    assert experiment.chapter.startswith(("02-", "03-")) and experiment.figure == "Figure 1"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] == [0]
        assert settings["sizes"] == sorted(set(settings["sizes"]))
        assert settings["moving_term"] in settings["terms"]
    paper, book = experiment.settings_for("paper"), experiment.settings_for("book")
    assert paper["sizes"][-1] == 10**6 and book["sizes"][-1] == 10**5
    assert paper["repeats"] == 50 and paper["n_pairs"] == 120_000


def test_smoke_run_is_the_direct_computation_and_is_stored_then_loaded(tmp_path):
    experiment = experiments.get("theorem-relu-h1")
    settings = experiment.settings_for("smoke")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert (tmp_path / "smoke" / "seed-0.npz").exists()
    assert runs.sources[0] == "computed"
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert again.sources[0].endswith("seed-0.npz")
    assert_identical(runs[0], again[0])
    # seed 0 is the chapter's computation, called directly
    sizes = np.unique(np.logspace(2, 4, 5).astype(int))
    assert np.array_equal(again.get("sizes", 0), sizes)
    mse = theorems.mse_arrays(again, 0)
    direct = monte_carlo_mse("relu_l2", 10, sizes, settings["repeats"], seed=10)
    assert np.array_equal(mse["relu_l2", 10], direct)
    assert mse["relu_h1 moving", 10].shape == (settings["repeats"], sizes.size)
    # the mathematics: unbiased against the autograd mean, biased against ∇J of the loss
    assert loglog_slope(sizes, mse["relu_h1", 10]) < -0.7
    assert loglog_slope(sizes, mse["relu_h1 moving", 10]) > -0.5
    check = sign_check(settings["terms"], settings["n_pairs"], inside=True, seed=2024)
    summary = again.get("signs/inside", 0)
    ratio = check.speedup(settings["terms"], ["relu_l2"], True)
    assert summary["moving"]["speedup"]["h1"]["median"] == np.median(ratio)
    assert summary["autograd"]["violations"]["relu_h1"] == 0.0
    assert 1.0 < summary["autograd"]["speedup"]["h1"]["min"] < 2.5  # Theorem 2: > 1


def test_other_seeds_are_independent_repetitions():
    context = Context(scale="smoke", device=torch.device("cpu"))
    first = theorems.run_seed(TINY, 0, context)
    second = theorems.run_seed(TINY, 1, context)
    assert not np.array_equal(first["mse"]["relu_l2"]["d2"], second["mse"]["relu_l2"]["d2"])
    assert first["signs"]["inside"]["n_pairs"] == TINY["n_pairs"]


class Stop(Exception):
    pass


def test_a_run_stopped_between_blocks_resumes_to_the_same_result(tmp_path, monkeypatch):
    uninterrupted = theorems.run_seed(TINY, 0, Context(scale="smoke", device=torch.device("cpu")))
    context = Context(
        scale="smoke", device=torch.device("cpu"), directory=tmp_path, checkpoint_every=1
    )
    compute = theorems._compute_block
    calls, stop = [], [True]

    def stop_at_the_fourth_block(*args):
        calls.append(args[0])
        if stop[0] and len(calls) == 4:
            raise Stop
        return compute(*args)

    monkeypatch.setattr(theorems, "_compute_block", stop_at_the_fourth_block)
    with pytest.raises(Stop):
        theorems.run_seed(TINY, 0, context)
    path = tmp_path / "checkpoints" / "seed-0-blocks.pt"
    saved = Checkpoint(path, 1, key="smoke/seed-0-blocks").load()
    assert len(saved) == 3
    calls.clear()
    stop[0] = False
    resumed = theorems.run_seed(TINY, 0, context)
    assert len(calls) == len(theorems._blocks(TINY)) - 3  # only the missing blocks
    assert_identical(resumed, uninterrupted)
    assert not path.exists()  # cleared at the end
