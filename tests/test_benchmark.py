import time

import numpy as np
import pytest
import torch

from sobolev.benchmark import step_times, training_step
from sobolev.losses import sobolev_loss
from sobolev.networks import MLP


def test_step_times_orders_known_sleeps():
    times = step_times(
        {"short": lambda: time.sleep(0.001), "long": lambda: time.sleep(0.01)}, repeats=5, warmup=1
    )
    assert times["long"] > 3 * times["short"]


def test_training_step_changes_the_parameters():
    model = MLP([1, 8, 1])
    x = torch.rand(16, 1)
    before = [p.clone() for p in model.parameters()]
    step = training_step(
        model, sobolev_loss, (x, torch.sin(x[:, 0])), torch.optim.Adam(model.parameters(), 1e-2)
    )
    step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bad_arguments():
    with pytest.raises(ValueError, match="repeats"):
        step_times({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="steps"):
        step_times({})
    with pytest.raises(ValueError, match="repeats must be an integer"):
        step_times({"a": lambda: None}, repeats=True)
    with pytest.raises(ValueError, match="warmup"):
        step_times({"a": lambda: None}, warmup=-1)
    assert set(step_times({"a": lambda: None}, repeats=np.int64(2), warmup=np.int8(0))) == {"a"}


def test_nominal_cost_counts_sobolev_steps_in_l2_steps():
    import numpy as np

    from sobolev.benchmark import nominal_cost

    assert np.array_equal(nominal_cost("h1_cheb", [10, np.inf]), [20, np.inf])
    assert nominal_cost("L2", 3) == 3 and nominal_cost("h2", 1) == 7
    with pytest.raises(ValueError, match="loss"):
        nominal_cost("exact", 1)
