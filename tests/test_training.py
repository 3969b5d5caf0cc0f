import numpy as np
import pytest
import torch

from sobolev.losses import sobolev_loss
from sobolev.networks import MLP, SingleNeuron
from sobolev.training import DivergenceError, train


def regression_data(n=128):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 1, generator=generator) * 2 - 1
    return x, torch.sin(3 * x[:, 0]), 3 * torch.cos(3 * x)


def test_training_records_terms_and_test_error():
    torch.manual_seed(0)
    x, y, dy = regression_data()
    model = MLP([1, 32, 32, 1], "tanh")

    def test_error(m):
        return (m(x)[:, 0] - y).square().mean().item()

    history = train(
        model, sobolev_loss, (x, y, dy), steps=300, lr=1e-2, evaluate=test_error, eval_every=100
    )
    assert history.steps == 300
    assert set(history.terms) == {"total", "l2", "h1"}
    assert history.eval_steps == [0, 100, 200, 300]
    assert history.test_error[-1] < 0.1 * history.test_error[0]
    assert np.all(np.diff(history.train_seconds) >= 0)
    assert history.first_step_below(history.test_error[0]) in (100, 200, 300)
    assert history.first_step_below(0.0) is None and history.seconds_to_reach(0.0) is None


def test_minibatches_and_sgd_are_reproducible():
    x, y, dy = regression_data()

    def run():
        torch.manual_seed(1)
        model = MLP([1, 16, 1], "tanh")
        history = train(
            model,
            sobolev_loss,
            (x, y, None),
            steps=50,
            lr=0.1,
            optimizer="sgd",
            batch_size=32,
            seed=3,
        )
        return history.term("total")

    first, second = run(), run()
    assert np.array_equal(first, second)
    assert first[-1] < first[0]


def test_sgd_on_the_student_converges():
    w_star = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    x = torch.randn(2000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.relu(x @ w_star)
    model = SingleNeuron(w_star + torch.tensor([0.3, 0.2, -0.4], dtype=torch.float64))
    history = train(
        model,
        lambda m, xb, yb: sobolev_loss(m, xb, yb, l2_weight=0.5),
        (x, y),
        steps=400,
        lr=0.5,
        optimizer="sgd",
        evaluate=lambda m: (m.w - w_star).norm().item(),
        eval_every=400,
    )
    assert history.test_error[-1] < 1e-3 * history.test_error[0]


def test_divergence_raises_with_the_step():
    torch.manual_seed(0)
    x, y, dy = regression_data()
    model = MLP([1, 32, 1], "relu")
    with pytest.raises(
        DivergenceError, match=r"diverged: loss term 'total' is (nan|inf) at step \d+"
    ):
        train(
            model,
            sobolev_loss,
            (x, 1e3 * y),
            steps=200,
            lr=1e6,
            optimizer="sgd",
            max_growth=None,
        )


def test_a_growing_loss_is_a_divergence():
    # Adam at lr 1e6 takes the loss from O(10) to O(1e14) without ever reaching inf
    torch.manual_seed(0)
    x, y, _ = regression_data()
    model = MLP([1, 32, 32, 1], "tanh")
    with pytest.raises(
        DivergenceError, match=r"grew from .* more than max_growth=100 times its start, at step \d+"
    ):
        train(model, sobolev_loss, (x, 3 * y + 2), steps=50, lr=1e6, max_growth=100)
    # the default factor 1e4 stops it too, even when the check runs only every 25 steps
    torch.manual_seed(0)
    model = MLP([1, 32, 32, 1], "tanh")
    with pytest.raises(DivergenceError, match=r"max_growth=10000 times its start, at step 1 "):
        train(model, sobolev_loss, (x, 3 * y + 2), steps=50, lr=1e6, eval_every=25)
    # the same run without the check ends finite and huge: the check is what stops it
    torch.manual_seed(0)
    model = MLP([1, 32, 32, 1], "tanh")
    history = train(model, sobolev_loss, (x, 3 * y + 2), steps=5, lr=1e6, max_growth=None)
    assert history.term("total").max() > 1e6 * history.term("total")[0]
    # a loss that falls is never stopped, however far it falls
    torch.manual_seed(0)
    model = MLP([1, 32, 32, 1], "tanh")
    history = train(model, sobolev_loss, (x, y, dy_of(x)), steps=100, lr=1e-2, max_growth=1.5)
    assert history.term("total")[-1] < history.term("total")[0]


def dy_of(x):
    return 3 * torch.cos(3 * x)


def test_data_and_loss_fn_are_checked():
    x, y, _ = regression_data()
    model = MLP([1, 8, 1])
    with pytest.raises(ValueError, match=r"data must be a tuple or list of tensors.*\(128, 1\)"):
        train(model, sobolev_loss, x, steps=1, lr=1e-3)
    with pytest.raises(ValueError, match=r"data\[1\] must be a tensor or None, got list"):
        train(model, sobolev_loss, (x, y.tolist()), steps=1, lr=1e-3)
    with pytest.raises(ValueError, match="loss_fn must be a callable"):
        train(model, "mse", (x, y), steps=1, lr=1e-3)
    with pytest.raises(ValueError, match="loss_fn must return a SobolevLoss .* got a float"):
        train(model, lambda m, x, y: (m(x)[:, 0] - y).square().mean().item(), (x, y), steps=1, lr=1)
    with pytest.raises(ValueError, match=r"loss_fn must return .* tensor of shape \(128,\)"):
        train(model, lambda m, x, y: (m(x)[:, 0] - y).square(), (x, y), steps=1, lr=1e-3)
    with pytest.raises(ValueError, match="requires_grad is False"):
        train(model, lambda m, x, y: (y - y).square().mean(), (x, y), steps=1, lr=1e-3)


def test_bad_arguments_are_named():
    x, y, dy = regression_data()
    model = MLP([1, 8, 1])
    for kwargs, message in [
        ({"steps": -1, "lr": 1e-3}, "steps"),
        ({"steps": 1, "lr": 0.0}, "lr"),
        ({"steps": 1, "lr": 1e-3, "optimizer": "lbfgs"}, "optimizer='lbfgs'"),
        ({"steps": 1, "lr": 1e-3, "batch_size": 0}, "batch_size"),
        ({"steps": 1, "lr": 1e-3, "eval_every": 0}, "eval_every"),
        ({"steps": True, "lr": 1e-3}, "steps must be an integer"),
        ({"steps": 2.0, "lr": 1e-3}, "steps must be an integer"),
        ({"steps": 1, "lr": float("inf")}, "lr"),
        ({"steps": 1, "lr": 1e-3, "seed": -2}, "seed"),
        ({"steps": 1, "lr": 1e-3, "max_growth": 0.5}, "max_growth"),
    ]:
        with pytest.raises(ValueError, match=message):
            train(model, sobolev_loss, (x, y), **kwargs)
    with pytest.raises(ValueError, match="rows"):
        train(model, sobolev_loss, (x, y[:5]), steps=1, lr=1e-3)
    # NumPy integers are integers
    history = train(
        model, sobolev_loss, (x, y), steps=np.int64(2), lr=1e-3, batch_size=np.int32(64)
    )
    assert history.steps == 2


def test_optimizer_factory_is_used():
    x, y, _ = regression_data()
    model = MLP([1, 8, 1])
    seen = []

    def factory(m):
        seen.append(m)
        return torch.optim.SGD(m.parameters(), lr=0.0)

    before = [p.clone() for p in model.parameters()]
    train(model, sobolev_loss, (x, y), steps=3, lr=1.0, optimizer=factory)
    assert seen == [model]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_train_runs_starts_every_method_from_the_same_network():
    from sobolev import MLP
    from sobolev.training import train_runs

    x = torch.linspace(-1, 1, 16)[:, None]
    y = torch.sin(3 * x[:, 0])

    def mse(model, x, y):
        return (model(x)[:, 0] - y).square().mean()

    initial = {}

    def make_model():
        model = MLP([1, 8, 1], "tanh")
        initial.setdefault(len(initial), model.net[0].weight.detach().clone())
        return model

    histories, models = train_runs(
        make_model,
        {"a": (mse, (x, y)), "b": (mse, (x, y))},
        [0, 1],
        steps=3,
        lr=1e-2,
        progress=False,
    )
    assert [len(histories[k]) for k in ("a", "b")] == [2, 2]
    assert torch.equal(initial[0], initial[1]) and not torch.equal(initial[0], initial[2])
    # the same loss, data and seed give the same trained network
    assert torch.equal(models["a"][0].net[0].weight, models["b"][0].net[0].weight)
    with pytest.raises(ValueError, match="seed"):
        train_runs(make_model, {"a": (mse, (x, y))}, [-1], steps=1, lr=1e-2)
