"""The gradient-flows experiment (chapter 04): registration, stored results, and what they hold."""

import numpy as np
import pytest

from sobolev import experiments, theory
from sobolev.config import SCALES
from sobolev.experiments import gradient_flows as gf
from sobolev.flows import BestSteps, best_steps, fate, integrate_flow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gradient-flows")
    experiment = experiments.get("gradient-flows")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    return experiment, out, runs


def test_registered_with_settings_for_every_scale():
    experiment = experiments.get("gradient-flows")
    assert experiment.chapter == "04-gradient-flows"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] == [0]
        assert settings["gd_starts"] <= settings["n_starts"]
    paper, book = experiment.settings_for("paper"), experiment.settings_for("book")
    assert paper["n_starts"] > book["n_starts"] and paper["max_steps"] > book["max_steps"]
    assert "--scale paper" in experiment.command("paper")


def test_smoke_run_is_written_and_then_loaded(smoke):
    experiment, out, runs = smoke
    assert runs.sources[0] == "computed"
    assert (out / "smoke" / "seed-0.npz").exists()
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    assert again.sources[0].endswith("seed-0.npz")
    stored, fresh = again[0], runs[0]
    assert np.array_equal(stored["w_star"], fresh["w_star"])
    for group in gf.GROUPS:
        for name in gf.LOSSES:
            a = gf.flows_of(stored, group, name)
            b = gf.flows_of(fresh, group, name)
            assert np.array_equal(a["time"], b["time"])
            assert list(a["fate"]) == list(b["fate"])
    assert gf.measurements(stored)["pairs"] == gf.measurements(fresh)["pairs"]


def test_problem_draws_the_starts_the_groups_promise():
    settings = gf.SETTINGS["book"]
    w_star, groups, w_obtuse = gf.problem(settings, 0)
    assert np.linalg.norm(w_star) == pytest.approx(1.0)
    inside = np.linalg.norm(np.array(groups["inside"]) - w_star, axis=1)
    assert np.all((inside >= 0.2) & (inside <= 0.95))
    outside = np.linalg.norm(np.array(groups["outside, obtuse"]) - w_star, axis=1)
    assert np.all((outside >= 1.2) & (outside <= 2.5))
    obtuse = [np.degrees(float(theory.angle(w, w_star))) for w in groups["outside, obtuse"]]
    assert min(obtuse) >= 120
    assert np.degrees(float(theory.angle(w_obtuse, w_star))) == pytest.approx(150.0)
    assert np.linalg.norm(w_obtuse) == pytest.approx(1.0)
    again = gf.problem(settings, 0)
    assert np.array_equal(again[0], w_star) and np.array_equal(again[2], w_obtuse)
    assert not np.array_equal(gf.problem(settings, 1)[0], w_star)


def test_stored_summaries_match_a_flow_integrated_here(smoke):
    _, _, runs = smoke
    settings, result = gf.SETTINGS["smoke"], runs[0]
    name = "I1+I2 (ReLU²)"
    terms, act = gf.LOSSES[name]
    w0 = result["starts"]["inside"][1]
    t_end = gf.horizon(settings, "inside", act)
    flow = integrate_flow(terms, w0, result["w_star"], t_end, n_eval=settings["n_eval"])
    stored = gf.flows_of(result, "inside", name)
    assert np.array_equal(flow.t, gf.time_grid(t_end, settings["n_eval"]))
    assert stored["time"][1] == flow.time_to_reach(settings["level"])
    assert np.allclose(stored["V"][1], np.maximum(flow.V, 1e-30), rtol=1e-6)
    assert stored["fate"][1] == fate(flow, result["w_star"]) == "converged"
    assert np.array_equal(stored["w_end"][1], flow.w[-1])


def test_comparison_ratios_are_medians_of_time_ratios(smoke):
    _, _, runs = smoke
    result = runs[0]
    c = gf.comparison(result)["I1+I2 (ReLU²)"]
    t_sob = gf.times_to(result, "inside", "I1+I2 (ReLU²)")
    t_base = gf.times_to(result, "inside", "I1 (ReLU²)")
    assert c["raw"] == pytest.approx(float(np.median(t_base / t_sob)))
    # lambda_max is 14 for I1+I2 and 6 for I1 at ||w*|| = 1
    assert c["lambda"] == pytest.approx((14.0, 6.0))
    assert c["curvature"] == pytest.approx(c["raw"] * 6.0 / 14.0)


def test_best_steps_survive_a_results_file():
    w_star = np.array([0.6, -0.8, 0.0])
    starts = [np.array([0.9, -0.2, 0.3]), np.array([0.5, -0.5, 0.4])]
    found = best_steps(["relu_l2"], starts, w_star, [0.5, 2.0], 50)
    never = best_steps(["relu_l2"], starts, w_star, [1e-3], 3)
    for r in (found, never):
        back = BestSteps.from_result(r.as_result())
        assert back == r
    assert found.median_steps is not None and never.median_steps is None
