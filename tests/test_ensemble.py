"""The vectorised ensemble trains each member exactly as that network alone."""

import copy

import numpy as np
import pytest
import torch

from sobolev.ensemble import (
    Ensemble,
    StackedAdam,
    ensemble_step,
    loop_step,
    make_ensemble,
    member_losses,
    train_ensemble,
)
from sobolev.losses import input_derivatives, sobolev_loss
from sobolev.networks import MLP, AuthorsFourierNetwork, FourierFeatureNetwork, Siren
from sobolev.targets import F1

FACTORIES = {
    "mlp": lambda: MLP([1, 16, 16, 1], "tanh"),
    "fourier": lambda: FourierFeatureNetwork(1, 8, [16, 1], sigma=3.0, activation="tanh"),
    "siren": lambda: Siren([1, 16, 16, 1], omega_0=30.0),
    "authors_fourier": lambda: AuthorsFourierNetwork(1, 8, [16, 1]),
    "authors_siren": lambda: MLP([1, 16, 16, 1], "sine"),
}


def problem(n=40, dtype=torch.float64):
    x = torch.linspace(-1, 1, n, dtype=dtype)[:, None]
    return (x, *F1.sample(x, order=2, dtype=dtype))


def networks(name, n=3):
    torch.manual_seed(0)
    return [FACTORIES[name]().double() for _ in range(n)]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_values_and_input_derivatives_match_autograd(name):
    x, *_ = problem()
    nets = networks(name)
    u, du, d2u = Ensemble.from_modules(nets).derivatives(x, order=2)
    for k, net in enumerate(nets):
        value, grad, hess = input_derivatives(net, x, order=2)
        scale = 1 + hess.abs().max().item()
        assert torch.allclose(u[k], value, atol=1e-12)
        assert torch.allclose(du[k], grad[:, 0], atol=1e-10 * scale)
        assert torch.allclose(d2u[k], hess[:, 0, 0], atol=1e-10 * scale)


@pytest.mark.parametrize("loss", ["l2", "h1"])
@pytest.mark.parametrize("name", ["mlp", "fourier", "siren", "authors_fourier", "authors_siren"])
def test_ensemble_training_equals_training_each_network_alone(name, loss):
    """100 Adam steps of the ensemble give each member the parameters of training it alone."""
    x, value, gradient, _ = problem()
    gradient = gradient if loss == "h1" else None
    nets = networks(name)
    ensemble = Ensemble.from_modules(nets)
    train_ensemble(ensemble, x, value, gradient, lr=1e-3, steps=100, eval_every=50)
    for k, net in enumerate(nets):
        alone = copy.deepcopy(net)
        optimizer = torch.optim.Adam(alone.parameters(), lr=1e-3)
        for _ in range(100):
            optimizer.zero_grad()
            sobolev_loss(alone, x, value, gradient).total.backward()
            optimizer.step()
        moved = False
        for p_alone, p_ens, p_start in zip(
            alone.parameters(), ensemble.member(k), net.parameters()
        ):
            assert torch.allclose(p_ens, p_alone, atol=1e-5, rtol=0)
            moved |= not torch.allclose(p_alone, p_start)
        assert moved, "training did not change the parameters"


def test_h2_loss_matches_sobolev_loss():
    x, value, gradient, hessian = problem()
    nets = networks("siren")
    losses = member_losses(Ensemble.from_modules(nets), x, value, gradient, hessian)
    for k, net in enumerate(nets):
        expected = sobolev_loss(net, x, value, gradient, hessian[:, :, :]).total
        assert torch.allclose(losses[k], expected, rtol=1e-10)


def test_one_learning_rate_per_member():
    x, value, gradient, _ = problem()
    nets = networks("mlp", n=2)
    both = Ensemble.from_modules(nets)
    train_ensemble(both, x, value, gradient, lr=[1e-3, 1e-2], steps=20)
    for k, lr in enumerate((1e-3, 1e-2)):
        alone = Ensemble.from_modules(nets[k : k + 1])
        train_ensemble(alone, x, value, gradient, lr=lr, steps=20)
        for a, b in zip(both.member(k), alone.member(0)):
            assert torch.allclose(a, b, atol=1e-12)


def test_history_and_members():
    x, value, gradient, _ = problem(dtype=torch.float32)
    ensemble = make_ensemble(FACTORIES["mlp"], 4, seed=3)
    history = train_ensemble(
        ensemble,
        x,
        value,
        gradient,
        lr=1e-3,
        steps=30,
        eval_every=10,
        test_x=x[::2],
        test_value=value[::2],
        test_gradient=gradient[::2],
    )
    assert list(history.eval_steps) == [0, 10, 20, 30]
    assert history.test_mse.shape == history.test_h1.shape == (4, 4)
    assert np.all(np.diff(history.seconds) >= 0)
    assert history.final().shape == (4,)
    assert np.array_equal(history.at_step(25), history.test_mse[:, 2])
    assert history.select([0, 2]).test_mse.shape == (2, 4)
    # member k is the same network at any ensemble size
    small = make_ensemble(FACTORIES["mlp"], 2, seed=3)
    big = make_ensemble(FACTORIES["mlp"], 4, seed=3)
    for a, b in zip(small.member(1), big.member(1)):
        assert torch.equal(a, b)


def test_step_callables_run():
    x, value, gradient, _ = problem(dtype=torch.float32)
    torch.manual_seed(0)
    nets = [FACTORIES["siren"]() for _ in range(2)]
    before = [p.clone() for p in nets[0].parameters()]
    ensemble_step(Ensemble.from_modules(nets), x, value, gradient)()
    loop_step(nets, x, value, gradient)()
    assert all(torch.equal(a, b) for a, b in zip(before, nets[0].parameters()))


def test_bad_inputs_are_named():
    nets = networks("mlp", n=2)
    ensemble = Ensemble.from_modules(nets)
    with pytest.raises(ValueError, match="dtype|float64"):
        ensemble.derivatives(torch.zeros(5, dtype=torch.float32))
    with pytest.raises(ValueError, match="shape"):
        ensemble.derivatives(torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="order"):
        ensemble.derivatives(torch.zeros(5, dtype=torch.float64), order=3)
    with pytest.raises(ValueError, match="same architecture"):
        Ensemble.from_modules([MLP([1, 8, 1]), MLP([1, 9, 1])])
    with pytest.raises(ValueError, match="tanh or sine"):
        Ensemble.from_modules([MLP([1, 8, 1], "relu")])
    with pytest.raises(ValueError, match="one input"):
        Ensemble.from_modules([MLP([2, 8, 1])])
    with pytest.raises(ValueError, match="lr"):
        StackedAdam(ensemble.parameters(), lr=[1e-3, -1.0])


def test_fit_shares_initialisations_across_learning_rates():
    from sobolev.ensemble import fit, regression_problem

    problem = regression_problem(F1, 30, 20, seed=0)
    assert problem.x.shape == problem.value.shape == problem.gradient.shape == (30,)
    assert problem.test_x.shape == (20,)
    runs = fit(
        FACTORIES["mlp"], problem, loss="h1", lrs=[1e-3, 1e-2], n_members=3, steps=4, eval_every=2
    )
    assert sorted(runs.histories) == [1e-3, 1e-2]
    assert runs.best_lr() in (1e-3, 1e-2)
    u, du = runs.predict(1e-2, problem.test_x)
    assert u.shape == du.shape == (3, 20)
    assert np.allclose(((u - problem.test_value.numpy()) ** 2).mean(1), runs[1e-2].final())
    assert np.array_equal(runs[1e-3].test_mse[:, 0], runs[1e-2].test_mse[:, 0])
    assert not np.array_equal(runs[1e-3].test_mse[:, -1], runs[1e-2].test_mse[:, -1])
    assert list(runs[1e-3].lr) == [1e-3] * 3


def test_late_window_is_a_geometric_mean():
    from sobolev.ensemble import EnsembleHistory

    steps = np.arange(0, 101, 10)
    mse = np.vstack([np.full(11, 4.0), 10.0 ** -np.arange(11)])
    h = EnsembleHistory(steps, mse, mse, mse, steps * 0.1)
    assert np.allclose(h.late(), [4.0, 10.0**-9])  # steps 80, 90, 100
    assert np.allclose(h.late(end=50, fraction=0.2), [4.0, 10.0**-4.5])  # steps 40, 50
    assert np.allclose(h.late(end=55, fraction=0.01), [4.0, 1e-5])  # only step 50
    with pytest.raises(ValueError, match="fraction"):
        h.late(fraction=0)


def test_h1_weight_reaches_the_loss():
    x, value, gradient, _ = problem()
    nets = networks("mlp", n=1)
    ensemble = Ensemble.from_modules(nets)
    full = member_losses(ensemble, x, value, gradient, h1_weight=1.0)
    none = member_losses(ensemble, x, value, gradient, h1_weight=0.0)
    assert torch.allclose(none, member_losses(ensemble, x, value))
    assert bool((full > none).all())
