"""The cost benchmark (sobolev.bench), the alternative derivatives and the compiled H1 loss
(sobolev.fast), and the sine activation's skipped multiplication by ω₀ = 1."""

import copy
import json
import math
import time
import warnings

import numpy as np
import pytest
import torch

from sobolev import bench
from sobolev.benchmark import count_operations, round_ratios, step_samples, threads
from sobolev.fast import (
    batched_derivatives,
    forward_derivatives,
    func_derivatives,
    h1_loss,
    loss_from,
)
from sobolev.losses import input_derivatives, sobolev_loss
from sobolev.networks import MLP, Sine


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    started = time.perf_counter()
    bench.main(["--quick", "--threads", "1", "--out", str(out)])
    return _strict_json(out.read_text()), time.perf_counter() - started


def test_quick_cli_writes_json_with_every_measurement(quick):
    result, _ = quick
    expected = set(bench.MEASUREMENTS) - {"compile"}
    assert expected <= set(result)
    meta = result["meta"]
    for key in ("torch", "device", "threads", "date", "package", "load_average"):
        assert key in meta
    assert meta["threads"] == [1] and meta["scale"] == "smoke"
    assert set(result["losses"]["runs"]) == {"tanh", "sine"}
    assert set(result["losses"]["runs"]["tanh"]["1"]["ratio"]) == set(bench.LOSS_METHODS)
    assert result["notebooks"]["total"] == pytest.approx(
        sum(result["notebooks"]["seconds"].values())
    )


def test_quick_ratios_are_positive_and_finite(quick):
    result, _ = quick
    values = []
    for by_threads in result["losses"]["runs"].values():
        for run in by_threads.values():
            values += list(run["ratio"].values()) + list(run["ms"].values())
            assert run["ratio"]["l2"] == 1.0  # each round's L2 step over itself
    values += [result["ensemble"][loss]["speedup"] for loss in ("l2", "h1")]
    values += list(result["authors"]["ratio"].values())
    for chapter in ("ch08", "ch10", "ch11"):
        for case in result["book_losses"][chapter].values():
            values += list(case["ratio"].values())
    for row in result["chebyshev"]["n"].values():
        values += list(row["ms"].values())
    for case in result["adam"]["ms"].values():
        values += list(case.values())
    assert values and all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in values)
    # the loop dispatches at least one operation set per network, the ensemble one in all
    ops = result["ensemble"]["h1"]["operations"]
    assert ops["loop"] > ops["ensemble"]


def test_bad_cli_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--only", "nonsense"])
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0"])
    with pytest.raises(ValueError, match="unknown measurements"):
        bench.run(["nonsense"])


def test_chebyshev_errors_fall_with_n_and_the_three_routes_agree():
    ns = (32, 64, 128)
    result = bench.chebyshev_costs(ns=ns, repeats=1, warmup=0)
    rows = [result["n"][str(n)] for n in ns]
    for method in ("matrix", "fft", "kron"):
        errors = [row["error"][method] for row in rows]
        assert errors[0] > errors[1] > errors[2] and errors[2] < errors[0] / 100, (method, errors)
    for row in rows:
        assert row["vs_matrix"]["fft"] < 1e-9 and row["vs_matrix"]["kron"] < 1e-10
    assert rows[-1]["kron_nnz"] == 2 * 129**3


def test_chebyshev_reference_derivative_is_right():
    # the exact gradient of the test function, against central differences
    x, y, h = 0.37, -0.81, 1e-6
    f, fx, fy = bench._smooth(np.array(x), np.array(y), 20.0)
    dx = (bench._smooth(x + h, y, 20.0)[0] - bench._smooth(x - h, y, 20.0)[0]) / (2 * h)
    dy = (bench._smooth(x, y + h, 20.0)[0] - bench._smooth(x, y - h, 20.0)[0]) / (2 * h)
    assert fx == pytest.approx(dx, rel=1e-6) and fy == pytest.approx(dy, rel=1e-6)


def test_kron_is_skipped_above_its_memory_limit():
    row = bench.chebyshev_costs(ns=[16], repeats=1, warmup=0, max_kron_nnz=100)["n"]["16"]
    assert "kron" not in row["ms"] and row["kron_mb"] > 0


@pytest.mark.parametrize("activation", ["tanh", "sine"])
@pytest.mark.parametrize(
    "derivatives", [forward_derivatives, batched_derivatives, func_derivatives]
)
def test_other_derivative_methods_equal_reverse_mode(activation, derivatives):
    torch.manual_seed(0)
    model = MLP([2, 16, 16, 1], activation).double()
    x = torch.randn(40, 2, dtype=torch.float64)
    for order in (0, 1, 2):
        expected = input_derivatives(model, x, order)
        got = derivatives(model, x, order)
        for a, b in zip(got, expected):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_forward_mode_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="tanh or sine"):
        forward_derivatives(MLP([2, 8, 1], "relu"), torch.randn(3, 2), 1)
    with pytest.raises(ValueError, match="order"):
        forward_derivatives(MLP([2, 8, 1]), torch.randn(3, 2), 3)
    with pytest.raises(ValueError, match="method"):
        loss_from("sideways")


@pytest.mark.parametrize("method", ["forward", "batched", "func"])
def test_loss_from_gives_sobolev_loss_and_its_gradient(method):
    torch.manual_seed(1)
    model = MLP([2, 16, 16, 1], "tanh")
    x, value = torch.randn(30, 2), torch.randn(30)
    gradient, hessian = torch.randn(30, 2), torch.randn(30, 2, 2)
    ours = loss_from(method)(model, x, value, gradient, hessian, h1_weight=0.5, h2_weight=2.0)
    ref = sobolev_loss(model, x, value, gradient, hessian, h1_weight=0.5, h2_weight=2.0)
    assert ours.weights == ref.weights
    for name in ref.terms:
        torch.testing.assert_close(ours.terms[name], ref.terms[name], rtol=1e-5, atol=1e-6)
    params = list(model.parameters())
    for a, b in zip(
        torch.autograd.grad(ours.total, params), torch.autograd.grad(ref.total, params)
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def _check_h1(loss, model, x, value, gradient, h1_weight):
    ours = loss(model, x, value, gradient, h1_weight=h1_weight)
    ref = sobolev_loss(model, x, value, gradient, h1_weight=h1_weight)
    assert set(ours.terms) == {"l2", "h1"} and ours.weights == ref.weights
    for name in ("l2", "h1"):
        torch.testing.assert_close(ours.terms[name], ref.terms[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ours.total, ref.total, rtol=1e-5, atol=1e-6)
    params = list(model.parameters())
    for a, b in zip(
        torch.autograd.grad(ours.total, params), torch.autograd.grad(ref.total, params)
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_fast_h1_loss_equals_sobolev_loss():
    torch.manual_seed(2)
    model = MLP([2, 32, 32, 1], "tanh")
    x, value, gradient = torch.rand(64, 2) * 4 - 2, torch.randn(64, 1), torch.randn(64, 2)
    plain = h1_loss(compile=False)
    assert not plain.compiled and plain.reason == "compile=False"
    _check_h1(plain, model, x, value, gradient, 0.3)
    # compiled: dynamo + AOTAutograd trace the torch.func code (no C++ compiler needed here)
    compiled = h1_loss(backend="aot_eager")
    _check_h1(compiled, model, x, value, gradient, 0.3)
    assert compiled.compiled and compiled.compile_seconds > 0
    assert compiled.compile_cpu_seconds > 0
    _check_h1(compiled, model, x, value, gradient, None)  # a second call, default weight
    # a step with it trains the network as a sobolev_loss step does
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    for m, loss in ((a, compiled), (b, sobolev_loss)):
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        loss(m, x, value, gradient).total.backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_fast_h1_loss_falls_back_and_says_so(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(RuntimeWarning, match="uncompiled"):
        loss = h1_loss()
    assert not loss.compiled and "no compiler here" in loss.reason
    torch.manual_seed(3)
    model = MLP([2, 8, 1], "sine")
    x, value, gradient = torch.randn(10, 2), torch.randn(10), torch.randn(10, 2)
    _check_h1(loss, model, x, value, gradient, 1.0)


def test_fast_h1_loss_falls_back_when_compiling_fails_at_the_first_call():
    loss = h1_loss(backend=lambda gm, inputs: (_ for _ in ()).throw(RuntimeError("boom")))
    torch.manual_seed(4)
    model = MLP([2, 8, 1], "tanh")
    x, value, gradient = torch.randn(10, 2), torch.randn(10), torch.randn(10, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_h1(loss, model, x, value, gradient, 1.0)
    assert not loss.compiled and "boom" in loss.reason
    assert any("uncompiled" in str(w.message) for w in caught)


def test_fast_h1_loss_arguments():
    loss = h1_loss(compile=False)
    model = MLP([2, 8, 1])
    x, value = torch.randn(5, 2), torch.randn(5)
    with pytest.raises(ValueError, match="H2"):
        loss(model, x, value, torch.randn(5, 2), torch.randn(5, 2, 2))
    with pytest.raises(ValueError, match="gradient must have shape"):
        loss(model, x, value, torch.randn(5, 3))
    only_l2 = loss(model, x, value)  # no gradient: the L2 loss, as sobolev_loss gives it
    assert set(only_l2.terms) == {"l2"}


def test_sine_with_omega_one_is_bit_identical_to_sin():
    z = torch.randn(1000, dtype=torch.float32, requires_grad=True) * 10
    for dtype in (torch.float32, torch.float64):
        zz = z.detach().to(dtype).requires_grad_(True)
        new = Sine()(zz)
        assert torch.equal(new, torch.sin(zz)) and torch.equal(new, torch.sin(1.0 * zz))
        (g_new,) = torch.autograd.grad(new.sum(), zz)
        (g_old,) = torch.autograd.grad(torch.sin(1.0 * zz).sum(), zz)
        assert torch.equal(g_new, g_old)
    assert torch.equal(Sine(30.0)(z), torch.sin(30.0 * z))  # ω₀ ≠ 1 still multiplies


def test_sine_network_trains_bit_identically_without_the_multiplication():
    torch.manual_seed(5)
    new = MLP([2, 16, 16, 1], "sine")
    old = bench._old_sine_mlp([2, 16, 16, 1])
    old.load_state_dict(new.state_dict())
    assert any(isinstance(m, bench._SineTimesOne) for m in old.modules())
    x, value = torch.randn(50, 2), torch.randn(50)
    gradient, hessian = torch.randn(50, 2), torch.randn(50, 2, 2)
    for model in (new, old):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            sobolev_loss(model, x, value, gradient, hessian).total.backward()
            opt.step()
    for p, q in zip(new.parameters(), old.parameters()):
        assert torch.equal(p, q)


def test_authors_step_is_the_same_h1_step_as_the_package():
    n = 10
    torch.manual_seed(6)
    start = MLP([2, 16, 16, 1], "tanh")
    theirs, ours = copy.deepcopy(start), copy.deepcopy(start)
    bench.authors_step(theirs, n, lr=1e-2)()
    points, value, gradient = bench.authors_batch(n)
    assert points.shape == ((n + 1) ** 2, 2) and gradient.shape == ((n + 1) ** 2, 2)
    opt = torch.optim.Adam(ours.parameters(), lr=1e-2)
    sobolev_loss(ours, points, value, gradient).total.backward()
    opt.step()
    moved = max(float((p - q).abs().max()) for p, q in zip(start.parameters(), ours.parameters()))
    assert moved > 1e-3
    for p, q in zip(theirs.parameters(), ours.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_step_samples_round_ratios_threads_and_operation_counts():
    calls = []
    samples = step_samples(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=4, warmup=1
    )
    assert calls == ["a", "b"] * 5  # interleaved: one of each per round
    assert all(len(v) == 4 and (v >= 0).all() for v in samples.values())
    # per-round ratios: round r of "long" over round r of "short"
    ratios = round_ratios(
        {"short": np.array([1.0, 2.0, 4.0, 1.0]), "long": np.array([3.0, 6.0, 12.0, 2.0])},
        "short",
    )
    assert ratios["short"]["median"] == 1.0 and ratios["long"]["median"] == 3.0
    assert ratios["long"]["low"] == 2.75 and ratios["long"]["high"] == 3.0
    assert ratios["long"]["of_medians"] == pytest.approx(4.5 / 1.5)
    with pytest.raises(ValueError, match="reference"):
        round_ratios(samples, "missing")
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    a = torch.ones(3)
    assert count_operations(lambda: (a + a) * a) == 2
