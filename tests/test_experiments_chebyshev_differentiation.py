"""The chebyshev-differentiation experiment (chapter 07): registration and stored results."""

import numpy as np
import pytest

from sobolev import experiments
from sobolev.chebyshev import cheb, chebfft
from sobolev.config import SCALES
from sobolev.experiments import chebyshev_differentiation as cd


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("chebyshev-differentiation")
    experiment = experiments.get("chebyshev-differentiation")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    return experiment, out, runs


def test_registered_with_settings_for_every_scale():
    experiment = experiments.get("chebyshev-differentiation")
    assert experiment.chapter == "07-chebyshev-differentiation"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] == [0]  # deterministic numerics
        for key in ("ns", "ns_floor", "ns_time", "ns_kink"):
            assert settings[key] == sorted(settings[key])
    assert experiment.settings_for("paper")["ns_floor"][-1] == 2048


def test_smoke_run_is_written_and_then_loaded(smoke):
    experiment, out, runs = smoke
    assert runs.sources[0] == "computed"
    again = experiments.run(experiment, scale="smoke", seeds=[0], out=out)
    assert again.sources[0] == str(out / "smoke" / "seed-0.npz")
    for key in cd.CONSTRUCTIONS:
        assert np.array_equal(again[0]["floor"][key], runs[0]["floor"][key])
    assert again[0]["ackley_grid"] == runs[0]["ackley_grid"]


def test_stored_errors_match_independent_computations(smoke):
    _, _, runs = smoke
    settings, result = cd.SETTINGS["smoke"], runs[0]
    # FFT route against the matrix, recomputed here
    n = settings["ns_time"][0]
    D, x = cheb(n)
    v = np.exp(np.sin(np.pi * x))
    assert result["fft_agreement"][0] == np.abs(chebfft(v) - D @ v).max()
    # exp(sin πx): spectral error at n = 64 is round-off, FD error is ~ n^-2
    i = settings["ns"].index(64)
    smooth = result["convergence"]["smooth"]
    assert smooth["chebyshev"][i] < 1e-11
    assert 1e-4 < smooth["fd_uniform_points"][i] < 1e-1
    # the authors' float32 construction is worse than the float64 matrix cast to float32
    floor = result["floor"]
    assert np.all(floor["float32_authors"] > floor["float64_cast"])
    resolved = np.array(settings["ns_floor"]) >= 64  # n = 16 does not resolve exp(sin πx)
    assert np.all(floor["float64_negative_sum"][resolved] < 1e-10)
    assert floor["float64_negative_sum"][~resolved].min() > 1e-4
    # the cusp: the largest error does not fall with n
    assert np.all(result["kink"]["max"] > 0.5)
