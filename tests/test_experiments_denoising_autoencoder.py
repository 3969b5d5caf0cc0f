"""The denoising-autoencoder experiment (chapter 11): registered, runs at smoke scale, stores and
reloads its results, and train_denoiser resumes a stopped run bit for bit."""

import numpy as np
import pytest
import torch

from sobolev import experiments
from sobolev.autoencoder import Noise, first_reaching, noisy_copy, train_denoiser
from sobolev.config import SCALES
from sobolev.experiments import denoising_autoencoder as dae
from sobolev.results import Checkpoint, ResultsError

N = 28


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions run fastest, and reproducibly, on one thread of a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registered_with_settings_at_every_scale():
    experiment = experiments.get("denoising-autoencoder")
    assert experiments.get("figure-6") is experiment
    assert experiment.chapter == "11-denoising-autoencoder" and experiment.figure == "Figure 6"
    for scale in SCALES:
        settings = experiment.settings_for(scale)
        assert settings["seeds"] and settings["n_curve"] <= settings["n_eval"]
        assert settings["lr"] in settings["lr_grid"]["l2"]
        for name, conditions in settings["test_noise"].items():
            assert (
                dae.noise(settings["train_noise"][name]).kind
                == dae.noise(conditions["training"]).kind
            )
    paper = experiment.settings_for("paper")
    # the paper's configuration: batch 128, 20 epochs of the 9,000 training digits
    assert paper["batch_size"] == 128 and paper["lr"] == 5e-3
    assert paper["steps"] == 20 * ((10_000 - paper["n_test"]) // paper["batch_size"])
    assert "--scale paper --seeds 0-4" in experiment.command("paper")


def test_smoke_run_is_stored_and_reloaded(tmp_path):
    experiment = experiments.get("denoising-autoencoder")
    settings = experiment.settings_for("smoke")
    runs = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path, checkpoint_every=2)
    path = tmp_path / "smoke" / "seed-0.npz"
    assert path.exists() and path.stat().st_size < 1_000_000
    assert not list((tmp_path / "smoke" / "checkpoints").glob("*.pt"))  # cleared at the end
    curve = dae.curves(runs, "e1", "h1")
    assert list(curve["steps"]) == list(range(0, settings["steps"] + 1, settings["eval_every"]))
    assert curve["test_mse"].shape == (1, len(curve["steps"]))
    other = dae.curves(runs, "e1", "l2", 1e-3)
    assert not np.array_equal(other["test_mse"], dae.curves(runs, "e1", "l2")["test_mse"])
    picks = np.asarray(runs.get("test/e2/frequency/h1/picks", 0))
    assert picks.shape == (len(settings["picks"]), 1, N, N)

    again = experiments.run(experiment, scale="smoke", seeds=[0], out=tmp_path)
    assert again.sources[0] == str(path)  # loaded, not recomputed
    for key in ("train/e1/h1/test_mse", "lr/h1/0.002/test_mse", "test/e1/amplified/l2/mse"):
        np.testing.assert_array_equal(again.stack(key), runs.stack(key))


class Stop(Exception):
    pass


class StoppingCheckpoint(Checkpoint):
    """A checkpoint whose run is killed right after its ``stop_after``-th save."""

    def __init__(self, *args, stop_after, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop_after = stop_after

    def save(self, state):
        super().save(state)
        if self.saves >= self.stop_after:
            raise Stop


def _tiny(noise):
    generator = torch.Generator().manual_seed(0)
    clean = (torch.rand(48, 1, N, N, generator=generator) > 0.8).float()
    return clean, dict(
        steps=9,
        eval_clean=clean[:8],
        eval_noisy=noisy_copy(clean[:8], noise, seed=3),
        eval_steps=[0, 2, 5, 7],
        batch_size=16,  # 3 batches per epoch: the order is reshuffled twice
        seed=1,
    )


@pytest.mark.parametrize("noise", [Noise("gaussian", 0.5), Noise("sine", 0.3)])
def test_train_denoiser_resumes_bit_for_bit(tmp_path, noise):
    clean, kwargs = _tiny(noise)
    whole = train_denoiser(clean, noise, "h1", **kwargs)
    path = tmp_path / "run.pt"
    # saves at steps 2 and 4 (every 2 steps); killed after the second, in the middle of the
    # second epoch
    with pytest.raises(Stop):
        train_denoiser(
            clean, noise, "h1", checkpoint=StoppingCheckpoint(path, 2, stop_after=2), **kwargs
        )
    assert path.exists()
    state = Checkpoint(path, 2).load()
    assert state["step"] == 4 and state["position"] == 16 and state["steps"] == [0, 2]
    resumed = train_denoiser(clean, noise, "h1", checkpoint=Checkpoint(path, 2), **kwargs)
    assert Checkpoint(path, 2).load()["step"] == 9  # the finished run, until its seed is stored
    again = train_denoiser(clean, noise, "h1", checkpoint=Checkpoint(path, 2), **kwargs)
    assert again.test_mse == whole.test_mse  # returned from the checkpoint, not trained again
    assert resumed.steps == whole.steps == [0, 2, 5, 7, 9]
    assert resumed.test_mse == whole.test_mse
    # the training time goes on from the saved one (times differ between runs, so no equality)
    assert resumed.seconds[:2] == state["times"] and resumed.seconds[2] >= state["seconds"] > 0
    assert np.all(np.diff(resumed.seconds) >= 0) and len(resumed.seconds) == len(whole.seconds)
    for a, b in zip(resumed.model.state_dict().values(), whole.model.state_dict().values()):
        assert torch.equal(a, b)
    # a checkpoint that never stops the run changes nothing either
    path.unlink()
    plain = train_denoiser(clean, noise, "h1", checkpoint=Checkpoint(path, 3), **kwargs)
    assert plain.test_mse == whole.test_mse


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    noise = Noise("gaussian", 0.5)
    clean, kwargs = _tiny(noise)
    path = tmp_path / "run.pt"
    with pytest.raises(Stop):
        train_denoiser(
            clean, noise, "l2", checkpoint=StoppingCheckpoint(path, 3, stop_after=1), **kwargs
        )
    with pytest.raises(ResultsError, match="another run"):
        train_denoiser(clean, noise, "l2", lr=1e-3, checkpoint=Checkpoint(path, 3), **kwargs)


def test_first_reaching_matches_the_run_methods():
    noise = Noise("sine", 0.3)
    clean, kwargs = _tiny(noise)
    run = train_denoiser(clean, noise, "l2", **kwargs)
    for threshold in (run.test_mse[0], run.test_mse[2], min(run.test_mse), -1.0):
        step = first_reaching(run.steps, run.test_mse, threshold)[0]
        seconds = first_reaching(run.seconds, run.test_mse, threshold)[0]
        expected_step = run.first_step_below(threshold)
        expected_seconds = run.seconds_to_reach(threshold)
        assert step == (np.inf if expected_step is None else expected_step)
        assert seconds == (np.inf if expected_seconds is None else expected_seconds)
    # several runs at once, per-run times; a run that never gets there is inf
    mse = np.array([[0.3, 0.2, 0.1], [0.3, 0.3, 0.3], [0.05, 0.2, 0.01]])
    np.testing.assert_array_equal(first_reaching([0, 10, 20], mse, 0.2), [10, np.inf, 0])
    times = np.array([[0, 1, 2], [0, 1, 2], [0, 3, 6]])
    np.testing.assert_array_equal(first_reaching(times, mse, 0.15), [2, np.inf, 0])
