import numpy as np
import pytest
import torch

from sobolev.losses import input_derivatives, sobolev_loss
from sobolev.networks import SingleNeuron
from sobolev.student_teacher import (
    ReLUStudents,
    SGDRun,
    best_lr,
    condition_numbers,
    ensemble_loss,
    flow_error,
    input_gradients,
    log_steps,
    make_problem,
    per_row_losses,
    run_sgd,
    stable_lrs,
    steps_to_common_error,
)
from sobolev.training import train


def small_problem(d=4, n=300, seeds=(0, 1), dtype=torch.float64):
    return make_problem(d, n, seeds, dtype=dtype)


def test_problem_starts_in_the_basin_and_seeds_are_independent():
    p = make_problem(5, 50, range(20), dtype=torch.float64)
    assert (
        p.x.shape == (50, 20, 5) and p.value.shape == (50, 20) and p.gradient.shape == (50, 20, 5)
    )
    assert torch.all((p.w0 - p.w_star).norm(dim=1) < p.w_star.norm(dim=1))
    alone = make_problem(5, 50, [7], dtype=torch.float64)
    assert torch.equal(alone.w_star[0], p.w_star[7]) and torch.equal(alone.x[:, 0], p.x[:, 7])
    # teacher data against the hand formulas g* = σ(w*ᵀx), ∇g* = 1{w*ᵀx>0} w*
    z = torch.einsum("nsd,sd->ns", p.x, p.w_star)
    assert torch.allclose(p.value, torch.relu(z))
    assert torch.allclose(p.gradient, (z > 0).double()[..., None] * p.w_star)


def test_students_equal_single_neurons_and_the_hand_formula():
    p = small_problem()
    s = p.n_seeds
    w = torch.cat([p.w0, p.w_star + 0.3, -p.w0])  # L = 3 rows per seed
    students = ReLUStudents(w)
    xs = p.x.transpose(0, 1)
    _, values = students(xs)
    grads = input_gradients(students, xs)
    for r in range(w.shape[0]):
        neuron = SingleNeuron(w[r])
        x = xs[r % s]
        u, g, _ = input_derivatives(neuron, x, order=1)
        assert torch.allclose(values[r], u.detach(), atol=1e-12)
        assert torch.allclose(grads[r], g.detach(), atol=1e-12)
        hand = (x @ w[r] > 0).double()[:, None] * w[r]
        assert torch.allclose(grads[r], hand, atol=1e-12)


@pytest.mark.parametrize("loss", ["l2", "h1"])
def test_ensemble_loss_and_its_gradient_equal_sobolev_loss_on_single_neurons(loss):
    p = small_problem()
    s = p.n_seeds
    w = torch.cat([p.w0, p.w0 + 0.1])
    scale = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    students = ReLUStudents(w)
    extra = (p.slope, p.w_star) if loss == "h1" else ()
    total = ensemble_loss(students, p.x, p.value, *extra, row_scale=scale).total
    total.backward()
    expected_total, expected_grads = 0.0, []
    for r in range(w.shape[0]):
        neuron = SingleNeuron(w[r])
        out = sobolev_loss(
            neuron,
            p.x[:, r % s],
            p.value[:, r % s],
            p.gradient[:, r % s] if loss == "h1" else None,
            l2_weight=0.5,
            h1_weight=0.5 if loss == "h1" else 0.0,
        )
        (scale[r] * out.total).backward()
        expected_total += float(scale[r] * out.total.detach())
        expected_grads.append(neuron.w.grad)
    assert float(total.detach()) == pytest.approx(expected_total, rel=1e-10)
    assert torch.allclose(students.w.grad, torch.stack(expected_grads), rtol=1e-9, atol=1e-12)


def test_h1_loss_gradient_against_finite_differences():
    p = small_problem(d=3, n=200, seeds=(3,))
    w = p.w0.clone()

    def h1_loss(v):
        return float(ensemble_loss(ReLUStudents(v), p.x, p.value, p.slope, p.w_star).total.detach())

    students = ReLUStudents(w)
    ensemble_loss(students, p.x, p.value, p.slope, p.w_star).total.backward()
    eps = (
        1e-6  # small enough that no sample crosses w·x = 0 (the empirical loss is piecewise smooth)
    )
    fd = torch.zeros_like(w)
    for i in range(w.shape[1]):
        step = torch.zeros_like(w)
        step[0, i] = eps
        fd[0, i] = (h1_loss(w + step) - h1_loss(w - step)) / (2 * eps)
    assert torch.allclose(students.w.grad, fd, rtol=1e-5, atol=1e-8)


def test_per_row_learning_rates_equal_separate_sgd_runs():
    p = small_problem(d=3, n=128, seeds=(0, 1))
    lrs = (0.3, 0.05)
    run = run_sgd(p, "h1", lrs, steps=20, batch_size=32, seed=5)
    for li, lr in enumerate(lrs):
        for si in range(p.n_seeds):
            neuron = SingleNeuron(p.w0[si])
            errors = []

            def loss_fn(model, x, value, gradient):
                return sobolev_loss(model, x, value, gradient, l2_weight=0.5, h1_weight=0.5)

            train(
                neuron,
                loss_fn,
                (p.x[:, si], p.value[:, si], p.gradient[:, si]),
                steps=20,
                lr=lr,
                optimizer="sgd",
                batch_size=32,
                seed=5,
                progress=False,
                evaluate=lambda m: errors.append(float((m.w - p.w_star[si]).norm())) or 0.0,  # noqa: B023
            )
            assert np.allclose(run.error[li, si], errors, rtol=1e-9, atol=1e-12)


def test_tiny_sgd_run_decreases_the_error_and_h1_is_faster():
    p = make_problem(5, 500, (0, 1, 2))
    runs = {loss: run_sgd(p, loss, [0.2], steps=60, per_decade=3) for loss in ("l2", "h1")}
    for run in runs.values():
        assert run.error.shape == (1, 3, 61)
        assert np.all(run.error[0, :, -1] < 0.1 * run.error[0, :, 0])
        assert run.l2_loss.shape == (1, 3, len(run.loss_steps))
        assert np.all(run.l2_loss[0, :, -1] < run.l2_loss[0, :, 0])
    assert np.all(runs["h1"].error[0, :, -1] < runs["l2"].error[0, :, -1])


def test_divergence_is_recorded_not_averaged():
    p = make_problem(3, 200, (0, 1))
    run = run_sgd(p, "h1", [0.1, 50.0], steps=200, per_decade=2)
    assert list(run.diverged) == [False, True]
    assert np.all(np.isnan(run.error[1])) and np.all(np.isfinite(run.error[0]))
    assert run.messages and "diverged" in run.messages[0]
    assert np.isinf(run.median_steps_to_reach(1e-2)[1])
    best = stable_lrs(run, 1e-2)
    assert best["largest"][0] == 0.1 and best["fastest"][0] == 0.1


def test_flow_error_starts_at_the_initial_error_and_decreases():
    p = make_problem(4, 10, (0,), dtype=torch.float64)
    times = np.linspace(0, 5, 11)
    for loss in ("l2", "h1"):
        err = flow_error(loss, p.w0[0].numpy(), p.w_star[0].numpy(), times)
        assert err[0] == pytest.approx(float((p.w0[0] - p.w_star[0]).norm()), rel=1e-9)
        assert np.all(np.diff(err) < 0)


def test_log_steps():
    marks = log_steps(1000, per_decade=5)
    assert marks[0] == 0 and marks[-1] == 1000 and np.all(np.diff(marks) > 0)


def test_bad_inputs_name_the_argument():
    p = small_problem()
    with pytest.raises(ValueError, match="d must"):
        make_problem(0, 10, [0])
    with pytest.raises(ValueError, match="n_samples"):
        make_problem(2, -1, [0])
    with pytest.raises(ValueError, match="seeds"):
        make_problem(2, 10, [])
    with pytest.raises(ValueError, match="w must"):
        ReLUStudents(torch.ones(3))
    with pytest.raises(ValueError, match="x must"):
        ReLUStudents(torch.ones(4, 3))(torch.ones(3, 5, 3))
    with pytest.raises(ValueError, match="value must"):
        per_row_losses(ReLUStudents(p.w0), p.x, p.value[:5])
    with pytest.raises(ValueError, match="teacher_slope and w_star"):
        per_row_losses(ReLUStudents(p.w0), p.x, p.value, p.slope)
    with pytest.raises(ValueError, match="row_scale"):
        ensemble_loss(ReLUStudents(p.w0), p.x, p.value, row_scale=torch.ones(5))
    with pytest.raises(ValueError, match="l2_weight"):
        ensemble_loss(ReLUStudents(p.w0), p.x, p.value, l2_weight=-1.0)
    with pytest.raises(ValueError, match="loss"):
        run_sgd(p, "h2", [0.1], steps=1)
    with pytest.raises(ValueError, match="lrs"):
        run_sgd(p, "l2", [0.1, -1.0], steps=1)
    with pytest.raises(ValueError, match="steps"):
        run_sgd(p, "l2", [0.1], steps=0)
    with pytest.raises(ValueError, match="times"):
        flow_error("l2", p.w0[0].numpy(), p.w_star[0].numpy(), [-1.0])


def numpy_gradient_descent(w0, w_star, x, lr, steps, h1_weight):
    """Full-batch GD on ½·mean(σ(wᵀx) − σ(w*ᵀx))² + h1_weight·mean‖a w − a* w*‖², by hand in NumPy.

    a = 1{wᵀx > 0} is held fixed when differentiating (what autograd does), so the gradient is
    mean((σ(z) − g*) a x) + 2·h1_weight·(mean(a) w − mean(a a*) w*). Returns ‖w_k − w*‖, k = 0..steps.
    """
    w = w0.copy()
    a_star = (x @ w_star > 0).astype(float)
    g_star = np.maximum(x @ w_star, 0.0)
    errors = [np.linalg.norm(w - w_star)]
    for _ in range(steps):
        z = x @ w
        a = (z > 0).astype(float)
        grad = ((np.maximum(z, 0.0) - g_star) * a) @ x / len(x)
        grad = grad + 2 * h1_weight * (a.mean() * w - (a * a_star).mean() * w_star)
        w = w - lr * grad
        errors.append(np.linalg.norm(w - w_star))
    return np.array(errors)


@pytest.mark.parametrize("loss,h1_weight", [("l2", 0.5), ("h1", 0.5), ("h1", 1.0)])
def test_float64_run_equals_hand_written_gradient_descent(loss, h1_weight):
    p = make_problem(4, 400, (0, 1), dtype=torch.float64)
    lrs = (0.3, 0.05)
    run = run_sgd(p, loss, lrs, steps=40, h1_weight=h1_weight, per_decade=2)
    assert run.error.dtype == np.float64
    for li, lr in enumerate(lrs):
        for si in range(p.n_seeds):
            expected = numpy_gradient_descent(
                p.w0[si].numpy(),
                p.w_star[si].numpy(),
                p.x[:, si].numpy(),
                lr,
                40,
                h1_weight if loss == "h1" else 0.0,
            )
            assert np.allclose(run.error[li, si], expected, rtol=1e-10, atol=1e-14)


def test_float64_floor_is_far_below_float32():
    """Converged runs stop at round-off: about 1e-6 in float32, about 1e-15 in float64."""
    finals = {}
    for dtype in (torch.float32, torch.float64):
        p = make_problem(3, 300, (0, 1), dtype=dtype)
        run = run_sgd(p, "l2", [1.0], steps=200, per_decade=2)
        finals[dtype] = run.error[0, :, -1]
    assert np.all(finals[torch.float32] > 1e-9) and np.all(finals[torch.float32] < 1e-4)
    assert np.all(finals[torch.float64] < 1e-12)


def fake_run(error, lrs=(0.1, 1.0)):
    error = np.asarray(error, dtype=float)
    return SGDRun(
        loss="l2",
        lrs=tuple(lrs),
        batch_size=None,
        steps=error.shape[2] - 1,
        error=error,
        loss_steps=np.array([0]),
        l2_loss=np.zeros((len(lrs), error.shape[1], 1)),
        h1_loss=np.zeros((len(lrs), error.shape[1], 1)),
        diverged=np.zeros(len(lrs), dtype=bool),
    )


def test_steps_to_common_error_and_best_lr():
    decay = 10.0 ** -np.arange(6)  # 1, 0.1, ..., 1e-5
    slow = fake_run([[decay**0.5] * 3, [decay] * 3])  # lr 0.1 slow, lr 1 fast
    fast = fake_run([[decay] * 3, [decay**2] * 3])
    level, k_l2, k_h1 = steps_to_common_error(slow, fast, 1e-2, row=0)
    assert level == pytest.approx(1e-2) and (k_l2, k_h1) == (4, 2)
    level, k_l2, k_h1 = steps_to_common_error(slow, fast, 1e-9, row=0)
    assert level == pytest.approx(10**-2.5) and k_l2 == 5 and k_h1 == 3  # L2 ends above 1e-9
    lr, steps = best_lr(slow, 1e-3)
    assert lr == 1.0 and np.array_equal(steps, [4, 4, 4])
    lr, steps = best_lr(slow, 1e-3, rule="largest")
    assert lr == 1.0
    assert best_lr(slow, 1e-9) == (None, None)
    with pytest.raises(ValueError, match="rule"):
        best_lr(slow, 1e-3, rule="best")


def test_condition_numbers_against_numpy():
    p = make_problem(3, 500, (0, 1), dtype=torch.float64)
    kappa_l2, kappa_h1 = condition_numbers(p)
    kappa_l2_w1, kappa_h1_w1 = condition_numbers(p, h1_weight=1.0)
    for s in range(2):
        x = p.x[:, s].numpy()
        a = (x @ p.w_star[s].numpy() > 0).astype(float)
        sigma = np.einsum("n,ni,nj->ij", a, x, x) / len(x)
        eig = np.linalg.eigvalsh(sigma)
        assert kappa_l2[s] == pytest.approx(eig[-1] / eig[0], rel=1e-10)
        assert kappa_h1[s] == pytest.approx((eig[-1] + a.mean()) / (eig[0] + a.mean()), rel=1e-10)
        h1_w1 = (eig[-1] + 2 * a.mean()) / (eig[0] + 2 * a.mean())
        assert kappa_h1_w1[s] == pytest.approx(h1_w1, rel=1e-10)
        assert kappa_l2_w1[s] == kappa_l2[s] and 1 < kappa_h1[s] < kappa_l2[s]
