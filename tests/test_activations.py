"""Tests of sobolev.activations: the stacked networks are the single networks, trained alike."""

import numpy as np
import pytest
import torch

from sobolev import MLP, seed_everything, sobolev_loss
from sobolev.activations import (
    ACTIVATIONS,
    LOSSES,
    WIDTHS,
    RunResult,
    StackedAdam,
    StackedMLP,
    best_lr,
    error_at_steps,
    errors_at_seconds,
    h2_equals_h1_after,
    h2_parameter_gradient_norm,
    make_dataset,
    select_lr,
    stacked_derivatives,
    stacked_loss,
    step_costs,
    train_stacked,
)
from sobolev.benchmark import step_times
from sobolev.losses import input_derivatives
from sobolev.report import gain_text, median_gain
from sobolev.targets import ACTIVATION_TARGET
from sobolev.training import train


@pytest.fixture(scope="module")
def data():
    return make_dataset(64, 32, seed=3)


def test_dataset_is_inside_the_box_and_exact(data):
    x = data.x.double().numpy()
    assert data.n_train == 64 and data.n_test == 32
    assert (x[:, 0] >= 1).all() and (x[:, 0] <= 4).all()
    assert (x[:, 1] >= -3).all() and (x[:, 1] <= 4).all()
    expected = ACTIVATION_TARGET.hessian(data.x.double()).float()
    assert torch.allclose(data.hessian, expected, atol=1e-3)  # x was rounded to float32
    # the test points are a different draw
    assert not torch.isin(data.x_test[:, 0], data.x[:, 0]).any()


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_stacked_derivatives_match_each_network(data, activation):
    stacked = StackedMLP.from_seeds(WIDTHS, activation, [0, 5])
    u, grad, hess = stacked_derivatives(stacked, data.x, 2)
    for k, seed in enumerate([0, 5]):
        seed_everything(seed)
        single = MLP(list(WIDTHS), activation)
        v, g, h = input_derivatives(single, data.x, 2)
        assert torch.allclose(u[k], v, atol=1e-5)
        assert torch.allclose(grad[k], g, atol=1e-5)
        assert torch.allclose(hess[k], h, atol=1e-4)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sine"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_stacked_training_equals_training_alone(activation, loss):
    """100 Adam steps of a stacked run give each network's parameters to 1e-5.

    In float64: in float32 the H2 runs (Hessian targets of size 10²) amplify
    the round-off of a different summation order past 1e-5 within 100 steps.
    """
    order = LOSSES[loss]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _compare_with_single_runs(activation, order)
    finally:
        torch.set_default_dtype(previous)


def _compare_with_single_runs(activation, order):
    data = make_dataset(64, 32, seed=3, dtype=torch.float64)
    lrs = [1e-3, 3e-3]
    seeds = [0, 1]
    stacked = StackedMLP.from_seeds(WIDTHS, activation, seeds * 2)
    optimizer = StackedAdam(stacked.parameters(), [lr for lr in lrs for _ in seeds])
    for _ in range(100):
        optimizer.zero_grad()
        stacked_loss(stacked, data, order)["total"].sum().backward()
        optimizer.step()

    def loss_fn(model, x, value, gradient, hessian):
        return sobolev_loss(
            model, x, value, gradient if order >= 1 else None, hessian if order >= 2 else None
        )

    for k, (lr, seed) in enumerate([(lr, s) for lr in lrs for s in seeds]):
        seed_everything(seed)
        single = MLP(list(WIDTHS), activation)
        train(
            single,
            loss_fn,
            [data.x, data.value, data.gradient, data.hessian],
            steps=100,
            lr=lr,
            progress=False,
        )
        member = stacked.member(k)
        for p, q in zip(single.parameters(), member.parameters()):
            assert torch.allclose(p.detach(), q.detach(), atol=1e-5, rtol=0), (k, lr, seed)


def test_stacked_loss_terms_are_the_sobolev_loss(data):
    stacked = StackedMLP.from_seeds(WIDTHS, "relu2", [2])
    terms = stacked_loss(stacked, data, 2)
    seed_everything(2)
    single = MLP(list(WIDTHS), "relu2")
    reference = sobolev_loss(single, data.x, data.value, data.gradient, data.hessian)
    for name in ("l2", "h1", "h2"):
        assert torch.allclose(terms[name][0], reference.terms[name], rtol=1e-5)
    assert torch.allclose(terms["total"][0], reference.total, rtol=1e-5)


def test_h2_term_trains_nothing_for_piecewise_linear_networks(data):
    assert h2_parameter_gradient_norm("relu", data) == 0.0
    assert h2_parameter_gradient_norm("leaky_relu", data) == 0.0
    assert h2_parameter_gradient_norm("tanh", data) > 0
    assert h2_parameter_gradient_norm("relu2", data) > 0


def test_train_stacked_records_every_member(data):
    result = train_stacked(
        "tanh", "h1", data, seeds=[0, 1, 2], lrs=[1e-3, 1e-2], steps=10, eval_every=4
    )
    assert result.test_error.shape == (6, 4)
    assert list(result.eval_steps) == [0, 4, 8, 10]
    assert result.seeds == [0, 1, 2, 0, 1, 2]
    assert result.lrs == [1e-3] * 3 + [1e-2] * 3
    # step 0: the initial networks, the same for both learning rates
    assert np.allclose(result.test_error[:3, 0], result.test_error[3:, 0])
    assert np.isfinite(result.test_error).all()
    chosen = select_lr(result, 1e-2)
    assert chosen.test_error.shape == (3, 4) and chosen.seeds == [0, 1, 2]
    with pytest.raises(ValueError, match="no member ran"):
        select_lr(result, 0.5)


def test_divergence_is_nan_from_then_on():
    result = RunResult(
        "tanh",
        "l2",
        [0, 1],
        [1e-3, 1e-3],
        np.array([0, 10, 20, 30]),
        np.array([[1.0, 0.5, np.nan, 0.2], [1.0, 0.5, 0.4, 0.3]]),
        np.array([0.1, 0.1]),
    )
    at = error_at_steps(result, [0, 15, 20, 100])
    assert np.allclose(at[1], [1.0, 0.5, 0.4, 0.3])
    assert at[0, 1] == 0.5 and np.isnan(at[0, 2])


def test_best_lr_prefers_the_lowest_median_and_skips_diverged():
    errors = np.array([[0.5], [0.4], [0.6], [0.1], [np.nan], [np.nan], [0.3], [0.3], [0.3]])
    result = RunResult(
        "tanh",
        "l2",
        [0, 1, 2] * 3,
        [1e-3] * 3 + [1e-2] * 3 + [3e-3] * 3,
        np.array([100]),
        errors,
        np.zeros(9),
    )
    lr, chosen = best_lr(result)
    assert lr == 3e-3 and np.allclose(chosen, 0.3)


def test_bad_arguments_are_named(data):
    with pytest.raises(ValueError, match="activation"):
        train_stacked("gelu", "l2", data, seeds=[0], lrs=1e-3, steps=1, eval_every=1)
    with pytest.raises(ValueError, match="loss"):
        train_stacked("tanh", "h3", data, seeds=[0], lrs=1e-3, steps=1, eval_every=1)
    with pytest.raises(ValueError, match="lr"):
        StackedAdam(StackedMLP.from_seeds(WIDTHS, "tanh", [0, 1]).parameters(), [1e-3] * 3)
    with pytest.raises(ValueError, match="n_train"):
        make_dataset(0, 10)


def test_h2_training_is_h1_training_for_relu(data):
    assert h2_equals_h1_after("relu", data, steps=5) == 0.0
    assert h2_equals_h1_after("tanh", data, steps=5) > 0.0


def test_errors_at_seconds_counts_the_epochs_that_fit():
    result = RunResult(
        "tanh",
        "h1",
        [0],
        [1e-3],
        np.array([0, 10, 20]),
        np.array([[1.0, 0.5, 0.25]]),
        np.zeros(1),
    )
    assert errors_at_seconds(result, 0.1, 1.0)[0] == 0.5  # 10 epochs
    assert errors_at_seconds(result, 0.1, 1.99)[0] == 0.5  # 19 epochs
    assert errors_at_seconds(result, 0.05, 1.0)[0] == 0.25  # 20 epochs


def test_gain_text_is_coarse():
    assert gain_text(150) == "≥ 100×" and gain_text(3) == "≥ 2×" and gain_text(1.4) == "> 1×"
    assert gain_text(1.05) == "≈ 1×" and gain_text(0.7) == "< 1×"
    assert gain_text(0.3) == "≤ 0.5×" and gain_text(None) == "–"
    assert median_gain([1, 1, 1], [2, 2, np.nan]) == 2.0
    assert median_gain([np.inf] * 3, [np.inf] * 3) is None
    assert median_gain([1, 1, 1], [np.inf] * 3) == np.inf


def test_step_costs_order_the_losses(data):
    costs = step_costs(data, ["tanh"], repeats=5)
    assert set(costs["tanh"]) == {"l2", "h1", "h2"}
    assert all(v > 0 for v in costs["tanh"].values())
    assert costs["tanh"]["h2"] > costs["tanh"]["l2"]
    with pytest.raises(ValueError, match="steps"):
        step_times({}, clock="process")
    with pytest.raises(ValueError, match="clock"):
        step_times({"a": lambda: None}, clock="gpu")
