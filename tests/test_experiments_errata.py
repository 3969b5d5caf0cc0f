"""The experiment of chapter 05 (errata): registry, results, and its Monte-Carlo references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sobolev import experiments
from sobolev.config import SCALES
from sobolev.experiments import errata
from sobolev.montecarlo import monte_carlo_gradient
from sobolev.theory import angle, population_gradient, population_loss


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the book runs (two on a busy 2-core machine are many times slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_registered_with_settings_at_every_scale():
    experiment = experiments.get("errata")
    assert experiment.chapter == "05-errata"
    sizes = [experiment.settings_for(s)["n_samples"] for s in SCALES]
    assert sizes == sorted(sizes) and all(experiment.seeds(s) == [0] for s in SCALES)


def test_the_pair_is_inside_the_ball_at_the_stated_angle():
    w, w_star = errata.pair()
    assert np.isclose(float(angle(w, w_star)), 0.9) and np.isclose(np.linalg.norm(w), 1.6)
    assert np.linalg.norm(w - w_star) < np.linalg.norm(w_star)


def test_smoke_run_is_stored_then_loaded_and_matches_the_closed_forms(tmp_path):
    experiment = experiments.get("errata")
    settings = experiment.settings_for("smoke")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert runs.sources[0] == "computed" and again.sources[0].endswith("seed-0.npz")
    w, w_star = errata.pair()
    grad = again.get("mc_grad/relu2_h1", 0)
    direct = monte_carlo_gradient("relu2_h1", w, w_star, settings["n_samples"], seed=5)
    assert np.array_equal(grad, direct)

    def relative(x, y):
        return np.linalg.norm(x - y) / np.linalg.norm(y)

    for term in errata.TERMS:  # autograd means against the paper's convention
        exact = population_gradient(term, w, w_star)
        assert relative(again.get(f"mc_grad/{term}", 0), exact) < 0.02, term
    for term in errata.MOVING:  # differences of the loss: the gradient with the moving boundary
        reference = again.get(f"mc_pop_grad/{term}", 0)
        moving = population_gradient(term, w, w_star, moving_boundary=True)
        assert relative(reference, moving) < 0.03, term
        assert relative(reference, population_gradient(term, w, w_star)) > 0.1, term
    unhalved = again.get("mc_unhalved", 0)
    assert np.isclose(unhalved, 2 * population_loss("relu_h1", w, w_star), rtol=0.02)
