"""The experiments' command line, the results files, and resumption after a kill."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from sobolev import experiments
from sobolev.experiments import (
    Experiment,
    format_seeds,
    parse_seeds,
    parse_shard,
    result_path,
    shard_seeds,
)
from sobolev.networks import MLP
from sobolev.results import (
    Checkpoint,
    ResultsError,
    atomic_write,
    load_result,
    read_result,
    save_result,
)
from sobolev.training import train

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cli(*args, env=None, check=True):
    environment = {**os.environ, "SOBOLEV_QUIET": "1", **(env or {})}
    environment.pop("SOBOLEV_SCALE", None)
    done = subprocess.run(
        [sys.executable, "-m", "sobolev.experiments", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"exit {done.returncode}: {done.stderr[-2000:]}")
    return done


def arrays(result, prefix=""):
    """Every leaf of a nested result, by its path."""
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update(arrays(value, f"{prefix}{key}/"))
        else:
            out[prefix + key] = np.asarray(value)
    return out


def assert_identical(a, b):
    a, b = arrays(a), arrays(b)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert np.array_equal(a[key], b[key]), f"{key} differs"


# --- seeds, shards ---------------------------------------------------------------------


def test_parse_and_format_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3") == [3]
    assert parse_seeds("0-2,7, 5") == [0, 1, 2, 5, 7]
    assert format_seeds([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    for seeds in ([0], [0, 2, 4], list(range(20)), [1, 2, 3, 9]):
        assert parse_seeds(format_seeds(seeds)) == seeds
    for bad in ("", "a", "4-2", "-1", "1-", "0..4"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_shards_cover_every_seed_exactly_once():
    seeds = list(range(17))
    for n in (1, 2, 3, 5, 17, 20):
        parts = [shard_seeds(seeds, parse_shard(f"{k}/{n}")) for k in range(n)]
        assert sorted(s for part in parts for s in part) == seeds
    for bad in ("4/4", "1/0", "a/b", "1", "-1/3"):
        with pytest.raises(ValueError):
            parse_shard(bad)


# --- results files ---------------------------------------------------------------------

SETTINGS = {"steps": 3, "seeds": [0, 1]}


def meta(seed=0, settings=SETTINGS, experiment="toy", scale="smoke"):
    from sobolev.results import provenance

    return provenance(experiment, scale, seed, settings, "cpu", 0.1)


def test_results_round_trip(tmp_path):
    result = {"a": {"b": np.arange(3.0), "c": 2.5}, "name": "x", "n": 3, "t": torch.ones(2)}
    path = save_result(tmp_path / "r.npz", result, meta())
    loaded, info = load_result(path, experiment="toy", scale="smoke", seed=0, settings=SETTINGS)
    assert loaded["a"]["c"] == 2.5 and loaded["name"] == "x" and loaded["n"] == 3
    assert np.array_equal(loaded["a"]["b"], np.arange(3.0))
    assert np.array_equal(loaded["t"], np.ones(2, dtype=np.float32))
    for key in ("date", "device", "torch", "package", "settings", "seed", "scale"):
        assert key in info
    assert not list(tmp_path.glob(".*tmp")), "a temporary file was left behind"


def test_foreign_and_corrupt_results_are_refused(tmp_path):
    path = save_result(tmp_path / "r.npz", {"x": 1.0}, meta())
    for wrong in (
        {"experiment": "other"},
        {"scale": "book"},
        {"seed": 1},
        {"settings": {"steps": 4, "seeds": [0, 1]}},
    ):
        kwargs = {"experiment": "toy", "scale": "smoke", "seed": 0, "settings": SETTINGS}
        kwargs.update(wrong)
        with pytest.raises(ResultsError):
            load_result(path, **kwargs)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ResultsError, match="not a readable results file"):
        read_result(truncated)
    plain = tmp_path / "plain.npz"
    np.savez(plain, x=np.ones(2))  # an npz, but not one of ours
    with pytest.raises(ResultsError, match="no provenance"):
        read_result(plain)
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ResultsError):
        read_result(tmp_path / "text.npz")
    with pytest.raises(ResultsError):
        save_result(tmp_path / "bad.npz", {"x": object()}, meta())


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def failing(file):
        file.write(b"half")
        raise KeyboardInterrupt  # killed half-way through

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, failing)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_checkpoint_refuses_another_runs_file(tmp_path):
    a = Checkpoint(tmp_path / "c.pt", every=5, key="run a")
    a.save({"x": torch.ones(1)})
    assert torch.equal(a.load()["x"], torch.ones(1))
    with pytest.raises(ResultsError, match="another run"):
        Checkpoint(tmp_path / "c.pt", every=5, key="run b").load()
    (tmp_path / "c.pt").write_bytes(b"junk")
    with pytest.raises(ResultsError):
        a.load()


# --- resuming train() ----------------------------------------------------------------------


def _fit(checkpoint=None, steps=60, batch_size=16):
    torch.manual_seed(0)
    x = torch.rand(64, 2) * 2 - 1
    y = torch.sin(3 * x[:, 0]) * x[:, 1]
    model = MLP([2, 16, 1], "tanh")

    def loss(model, x, y):
        return ((model(x)[:, 0] - y) ** 2).mean() + 1e-3 * torch.randn(()).abs()  # uses the RNG

    history = train(
        model,
        loss,
        (x, y),
        steps=steps,
        lr=1e-2,
        batch_size=batch_size,
        evaluate=lambda m: float(((m(x)[:, 0] - y) ** 2).mean()),
        eval_every=5,
        checkpoint=checkpoint,
    )
    return history, model


def test_train_resumes_from_a_checkpoint_to_the_same_bits(tmp_path):
    reference, reference_model = _fit()
    # a run "killed" after its second checkpoint: stop it by making the evaluation raise
    checkpoint = Checkpoint(tmp_path / "run.pt", every=10, key="k")
    saves = []
    original = checkpoint.save

    def save_then_die(state):
        original(state)
        saves.append(state["step"])
        if len(saves) == 2:
            raise KeyboardInterrupt

    checkpoint.save = save_then_die
    with pytest.raises(KeyboardInterrupt):
        _fit(checkpoint)
    assert saves == [10, 20] and checkpoint.exists()
    resumed, resumed_model = _fit(Checkpoint(tmp_path / "run.pt", every=10, key="k"))
    assert Checkpoint(tmp_path / "run.pt", every=10, key="k").load()["step"] == 60
    again, again_model = _fit(Checkpoint(tmp_path / "run.pt", every=10, key="k"))
    assert again.terms == reference.terms, "a finished run is returned, not trained again"
    assert resumed.terms == reference.terms
    assert resumed.test_error == reference.test_error
    assert resumed.eval_steps == reference.eval_steps
    for a, b, c in zip(
        reference_model.parameters(), resumed_model.parameters(), again_model.parameters()
    ):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_train_refuses_the_checkpoint_of_other_settings(tmp_path):
    checkpoint = Checkpoint(tmp_path / "run.pt", every=10, key="k")
    original = checkpoint.save

    def save_then_die(state):
        original(state)
        raise KeyboardInterrupt

    checkpoint.save = save_then_die
    with pytest.raises(KeyboardInterrupt):
        _fit(checkpoint)
    with pytest.raises(ResultsError, match="another run"):
        _fit(Checkpoint(tmp_path / "run.pt", every=10, key="k"), steps=80)


# --- the registry and the command line ---------------------------------------------------


def test_every_experiment_is_well_formed():
    names = experiments.names()
    assert "sobolev-losses" in names
    chapters = {p.stem for p in (ROOT / "book").glob("[0-9][0-9]-*.md")}
    for name in names:
        experiment = experiments.get(name)
        assert experiment.chapter in chapters, f"{name}: no chapter {experiment.chapter}"
        for scale in ("smoke", "book", "paper"):
            assert experiment.seeds(scale), f"{name} has no seeds at {scale}"
        assert "--scale paper" in experiment.command()
        # the chapter uses the experiment, and no longer has settings of its own
        source = (ROOT / "book" / f"{experiment.chapter}.md").read_text()
        assert f'experiments.get("{name}")' in source, f"{experiment.chapter} does not call {name}"
    for alias_of in names:
        for alias in experiments.aliases(alias_of):
            assert experiments.get(alias).name == alias_of


def test_cli_help_lists_experiments_and_settings():
    done = cli("--help")
    for name in experiments.names():
        assert name in done.stdout
    assert "smoke:" in done.stdout and "paper:" in done.stdout and "--shard" in done.stdout
    assert cli("--list").stdout.split() == experiments.names()
    shown = cli("sobolev-losses", "--show").stdout
    assert "steps = 5000" in shown and "python -m sobolev.experiments sobolev-losses" in shown


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-experiment"], "no experiment named"),
        (["sobolev-losses", "--scale", "huge"], "invalid choice"),
        (["sobolev-losses", "--seeds", "4-2"], "empty"),
        (["sobolev-losses", "--seeds", "x"], "not valid"),
        (["sobolev-losses", "--shard", "3/3"], "not valid"),
        ([], "name an experiment"),
    ],
)
def test_cli_errors_are_clear(args, message):
    done = cli(*args, check=False)
    assert done.returncode == 2
    assert message in done.stderr


def test_cli_refuses_a_foreign_results_file(tmp_path):
    out = tmp_path / "results"
    path = result_path(out, "smoke", 0)
    path.parent.mkdir(parents=True)
    save_result(path, {"x": 1.0}, meta(experiment="another-experiment"))
    done = cli("sobolev-losses", "--scale", "smoke", "--seeds", "0", "--out", str(out), check=False)
    assert done.returncode == 2 and "foreign results file" in done.stderr


def test_killed_run_resumes_to_identical_results(tmp_path):
    """Kill a smoke run right after a checkpoint, start the same command again, compare."""
    args = ["sobolev-losses", "--scale", "smoke", "--seeds", "0-1", "--checkpoint-every", "40"]
    cli(*args, "--out", str(tmp_path / "whole"))
    out = tmp_path / "killed"
    # 1: dies inside seed 0's L2 run, after its second checkpoint
    killed = cli(*args, "--out", str(out), env={"SOBOLEV_KILL_AFTER_CHECKPOINTS": "2"}, check=False)
    assert killed.returncode == -9
    assert not result_path(out, "smoke", 0).exists()
    assert list((out / "smoke" / "checkpoints").glob("seed-0-l2.pt"))
    # 2: resumes seed 0, writes it, dies inside seed 1 (each run saves 4 times, and once at
    # its end: seed 0 needs 3 + 5 more saves, the 9th is in seed 1)
    killed = cli(*args, "--out", str(out), env={"SOBOLEV_KILL_AFTER_CHECKPOINTS": "9"}, check=False)
    assert killed.returncode == -9
    assert result_path(out, "smoke", 0).exists() and not result_path(out, "smoke", 1).exists()
    # 3: finishes
    cli(*args, "--out", str(out))
    assert not list((out / "smoke" / "checkpoints").glob("*.pt"))
    for seed in (0, 1):
        whole, _ = read_result(result_path(tmp_path / "whole", "smoke", seed))
        resumed, info = read_result(result_path(out, "smoke", seed))
        assert_identical(whole, resumed)
        assert info["seed"] == seed and info["scale"] == "smoke"


def test_chapter_loads_stored_results_instead_of_computing(tmp_path, monkeypatch):
    calls = []

    def run_seed(settings, seed, context):
        calls.append(seed)
        return {"value": float(seed) + settings["steps"]}

    toy = Experiment(
        name="toy",
        title="toy",
        chapter="01-sobolev-losses",
        settings={scale: dict(SETTINGS) for scale in ("smoke", "book", "paper")},
        run_function=run_seed,
    )
    experiments.run(toy, scale="smoke", out=tmp_path / "toy")
    assert calls == [0, 1]
    runs = toy.load_or_run(scale="smoke", results=tmp_path)
    assert calls == [0, 1], "stored results were recomputed"
    assert list(runs.stack("value")) == [3.0, 4.0]
    assert "loaded from stored files" in runs.provenance()
    assert toy.stored("paper", results=tmp_path) is None
    fresh = toy.load_or_run(scale="book", results=tmp_path)
    assert calls == [0, 1, 0, 1] and "computed in this run" in fresh.provenance()
    assert not (tmp_path / "toy" / "book").exists(), "a chapter never writes results"


def test_recompute_ignores_stored_results_of_the_chapters_scale(tmp_path, monkeypatch):
    calls = []
    toy = Experiment(
        name="toy",
        title="toy",
        chapter="01-sobolev-losses",
        settings={scale: dict(SETTINGS) for scale in ("smoke", "book", "paper")},
        run_function=lambda settings, seed, context: calls.append(seed) or {"v": 1.0},
    )
    experiments.run(toy, scale="smoke", out=tmp_path / "toy")
    monkeypatch.setenv("SOBOLEV_RESULTS", str(tmp_path))
    toy.load_or_run(scale="smoke")
    assert calls == [0, 1], "stored results were not used"
    monkeypatch.setenv("SOBOLEV_RECOMPUTE", "1")
    toy.load_or_run(scale="smoke")
    assert calls == [0, 1, 0, 1], "SOBOLEV_RECOMPUTE did not recompute"
    assert toy.stored("smoke") is not None, "stored() still reads stored results"
