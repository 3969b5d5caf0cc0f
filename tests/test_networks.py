import math

import pytest
import torch

from sobolev.networks import (
    ACTIVATIONS,
    MLP,
    AuthorsFourierNetwork,
    FourierFeatureNetwork,
    SingleNeuron,
    Siren,
)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_shapes_and_layers(activation):
    torch.manual_seed(0)
    net = MLP([2, 64, 64, 64, 1], activation)
    assert net(torch.randn(7, 2)).shape == (7, 1)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (2, 64),
        (64, 64),
        (64, 64),
        (64, 1),
    ]


def test_activations_compute_what_they_say():
    z = torch.linspace(-2, 2, 9)
    assert torch.equal(ACTIVATIONS["relu2"]()(z), torch.clamp(z, min=0) ** 2)
    assert torch.allclose(ACTIVATIONS["sine"]()(z), torch.sin(z))
    assert torch.allclose(ACTIVATIONS["leaky_relu"]()(z), torch.where(z > 0, z, 0.01 * z))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"widths": [2, 64, 1], "activation": "swish"}, "activation='swish'"),
        ({"widths": [2, 0, 1], "activation": "tanh"}, "width >= 1"),
        ({"widths": [2], "activation": "tanh"}, "at least 2"),
        ({"widths": [2, 3.5, 1], "activation": "tanh"}, "widths"),
        ({"widths": 5, "activation": "tanh"}, "widths"),
    ],
)
def test_mlp_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


@pytest.mark.parametrize("x", [torch.randn(5, 3), torch.randn(5), torch.randn(2, 5, 2)])
def test_wrong_input_shape_is_named(x):
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        MLP([2, 8, 1])(x)


def test_single_neuron_matches_its_formula():
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x = torch.randn(100, 3, dtype=torch.float64)
    relu = torch.clamp(x @ w, min=0)
    assert torch.equal(SingleNeuron(w, power=1)(x)[:, 0], relu)
    assert torch.allclose(SingleNeuron(w, power=2)(x)[:, 0], relu**2)
    with pytest.raises(ValueError, match="power"):
        SingleNeuron(w, power=3)
    with pytest.raises(ValueError, match="w must be a 1-D"):
        SingleNeuron(torch.ones(2, 2))


def test_fourier_features_are_fixed_and_correct():
    torch.manual_seed(0)
    net = FourierFeatureNetwork(1, 16, [32, 1], sigma=10.0)
    x = torch.rand(4, 1)
    z = 2 * math.pi * x @ net.features.B.T
    assert torch.allclose(net.features(x), torch.cat([torch.cos(z), torch.sin(z)], 1))
    assert "features.B" not in dict(net.named_parameters())  # a buffer, not trained
    assert net(x).shape == (4, 1)
    assert 5 < net.features.B.std().item() < 15  # B ~ N(0, 10²)
    with pytest.raises(ValueError, match="sigma"):
        FourierFeatureNetwork(1, 16, [32, 1], sigma=0.0)


def test_siren_initialisation_bounds():
    torch.manual_seed(0)
    net = Siren([1, 64, 64, 64, 1], omega_0=30.0)
    first = net.net[0].linear.weight
    hidden = net.net[1].linear.weight
    assert first.abs().max() <= 1.0 and first.abs().max() > 0.9
    bound = math.sqrt(6 / 64) / 30
    assert hidden.abs().max() <= bound and hidden.abs().max() > 0.9 * bound
    assert net(torch.rand(3, 1)).shape == (3, 1)
    with pytest.raises(ValueError, match="omega_0"):
        Siren([1, 8, 1], omega_0=-1)


@pytest.mark.parametrize(
    "net",
    [
        MLP([1, 8, 1]),
        FourierFeatureNetwork(1, 4, [8, 1], sigma=1.0),
        Siren([1, 8, 8, 1]),
        AuthorsFourierNetwork(1, 4, [8, 1]),
    ],
    ids=lambda n: type(n).__name__,
)
def test_dtype_mismatch_is_named(net):
    """Issue 9: float64 input to a float32 network names x and the expected dtype."""
    with pytest.raises(
        ValueError, match=r"x must have the dtype.*torch\.float32.*got torch\.float64"
    ):
        net(torch.zeros(3, 1, dtype=torch.float64))
    assert net.double()(torch.zeros(3, 1, dtype=torch.float64)).dtype == torch.float64


def test_single_neuron_dtype_mismatch_is_named():
    neuron = SingleNeuron(torch.ones(2))
    with pytest.raises(ValueError, match="dtype"):
        neuron(torch.zeros(3, 2, dtype=torch.float64))


def test_authors_fourier_network():
    torch.manual_seed(0)
    net = AuthorsFourierNetwork(1, 64, [64, 64, 1])
    x = torch.rand(5, 1)
    features = torch.sin(x @ net.features.weight.T + net.features.bias)
    assert torch.allclose(net(x), net.mlp(features))
    assert "features.weight" in dict(net.named_parameters())  # trained, unlike Tancik's B
    assert 0.7 < net.features.weight.std().item() < 1.3  # B ~ N(0, 1)
    assert net.mlp.activation == "tanh"
