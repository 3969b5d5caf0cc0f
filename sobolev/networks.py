"""The networks of the book.

* :class:`MLP` — a fully connected network of given widths and activation.
* :class:`FourierFeatureNetwork` — fixed random Fourier features then an MLP
  (Tancik et al., 2020).
* :class:`Siren` — sine activations with the SIREN initialisation
  (Sitzmann et al., 2020).
* :class:`AuthorsFourierNetwork` — the Fourier layer of the paper's published code:
  trainable, sine only, sin(Bx + b) with B ~ N(0, 1), then tanh layers.
* :class:`SingleNeuron` — the student ``g(x; w) = σ(wᵀx)^p`` of the theory.

All of them map a batch ``x`` of shape ``(N, d_in)`` to ``(N, d_out)`` and act on
each row independently, so input derivatives by autograd are per-sample. ``x``
must have the dtype of the network's parameters (float32 unless the network was
converted with ``.double()``): a mismatch raises a ``ValueError`` naming both,
rather than torch's "mat1 and mat2 must have the same dtype". Nothing is cast
silently, so a float64 experiment never runs in float32 by accident.

The SIREN of the authors' code (ω₀ = 1, PyTorch's default Kaiming-uniform weights)
is ``MLP(widths, "sine")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class ReLUSquared(nn.Module):
    """σ(z)² with σ(z) = max(0, z): twice weakly differentiable."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z).square()


class Sine(nn.Module):
    """sin(ω₀ z); with ω₀ = 1 it is the plain sine activation."""

    def __init__(self, omega_0: float = 1.0):
        super().__init__()
        self.omega_0 = float(omega_0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # A multiplication by exactly 1.0 changes no bit (forward or backward) but costs a pass
        # over the activations and one more node in every autograd graph: skip it.
        if self.omega_0 == 1.0:
            return torch.sin(z)
        return torch.sin(self.omega_0 * z)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "relu2": ReLUSquared,
    "tanh": nn.Tanh,
    "sine": Sine,
}


def make_activation(name: str) -> nn.Module:
    """The activation module called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"activation={name!r} is unknown; expected one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[name]()


def _check_widths(widths: Sequence[int], name: str = "widths", min_len: int = 2) -> list[int]:
    try:
        widths = [w for w in widths]
    except TypeError:
        raise ValueError(
            f"{name} must be a sequence of positive integers, got {widths!r}"
        ) from None
    if len(widths) < min_len:
        raise ValueError(f"{name} must list at least {min_len} layer widths, got {widths!r}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"{name} must be positive integers (width >= 1), got {widths!r}")
    return widths


def _check_input(x: torch.Tensor, d_in: int, who: str, dtype: torch.dtype | None = None) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{who}: x must be a torch.Tensor of shape (N, {d_in}), got {type(x).__name__}"
        )
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"{who}: x must have shape (N, {d_in}), got {tuple(x.shape)}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(
            f"{who}: x must have the dtype of the network's parameters, {dtype}, got {x.dtype}; "
            f"pass x.to({dtype}) or convert the network (e.g. net.to({x.dtype}))"
        )


def _dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of the first parameter (or buffer) of ``module``; None if it has neither."""
    for tensor in module.parameters():
        return tensor.dtype
    for tensor in module.buffers():
        return tensor.dtype
    return None


class MLP(nn.Module):
    """``widths[0] → widths[1] → … → widths[-1]`` with ``activation`` between layers.

    ``MLP([2, 64, 64, 64, 1], "tanh")`` is the 2-64-64-64-1 network of the paper's
    Figure 3. Weights use PyTorch's default (Kaiming-uniform) initialisation.
    """

    def __init__(self, widths: Sequence[int], activation: str = "tanh"):
        super().__init__()
        self.widths = _check_widths(widths)
        self.activation = activation
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(self.widths[:-1], self.widths[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(self.widths) - 2:
                layers.append(make_activation(activation))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.widths[0], type(self).__name__, _dtype(self))
        return self.net(x)


class FourierFeatures(nn.Module):
    """γ(x) = [cos 2πBx, sin 2πBx] with a fixed B ~ N(0, σ²) of shape (m, d_in)."""

    def __init__(
        self, d_in: int, n_features: int, sigma: float, generator: torch.Generator | None = None
    ):
        super().__init__()
        if isinstance(d_in, bool) or not isinstance(d_in, int) or d_in < 1:
            raise ValueError(f"d_in must be a positive integer, got {d_in!r}")
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma!r}")
        B = sigma * torch.randn(n_features, d_in, generator=generator)
        self.register_buffer("B", B)  # fixed: moves with .to(), never trained
        self.sigma = float(sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 2 * math.pi * x @ self.B.T
        return torch.cat([torch.cos(z), torch.sin(z)], dim=-1)


class FourierFeatureNetwork(nn.Module):
    """Fourier features (Tancik et al., 2020) followed by an MLP.

    ``FourierFeatureNetwork(1, 64, [64, 64, 1], sigma=10)`` embeds x into 2·64
    features [cos 2πBx, sin 2πBx] with B ~ N(0, σ²) fixed, then 128-64-64-1.
    """

    def __init__(
        self,
        d_in: int,
        n_features: int,
        widths: Sequence[int],
        sigma: float,
        activation: str = "relu",
    ):
        super().__init__()
        widths = _check_widths(widths, min_len=1)
        self.d_in = d_in
        self.features = FourierFeatures(d_in, n_features, sigma)
        self.mlp = MLP([2 * n_features, *widths], activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_in, type(self).__name__, _dtype(self))
        return self.mlp(self.features(x))


class SineLayer(nn.Module):
    """sin(ω₀ (Wx + b)) with the SIREN initialisation.

    First layer: W ~ U(−1/n, 1/n); later layers: W ~ U(−√(6/n)/ω₀, √(6/n)/ω₀),
    with n the fan-in (Sitzmann et al., 2020, Sec. 3.2).
    """

    def __init__(self, n_in: int, n_out: int, omega_0: float, is_first: bool):
        super().__init__()
        self.omega_0 = float(omega_0)
        self.linear = nn.Linear(n_in, n_out)
        bound = 1.0 / n_in if is_first else math.sqrt(6.0 / n_in) / self.omega_0
        with torch.no_grad():
            self.linear.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)
        return torch.sin(z if self.omega_0 == 1.0 else self.omega_0 * z)


class Siren(nn.Module):
    """SIREN (Sitzmann et al., 2020): sine layers with ω₀ and a linear last layer.

    ``Siren([1, 64, 64, 64, 1], omega_0=30)`` is the 1-64-64-64-1 SIREN of Figure 4.
    """

    def __init__(self, widths: Sequence[int], omega_0: float = 30.0):
        super().__init__()
        self.widths = _check_widths(widths, min_len=3)
        if not omega_0 > 0:
            raise ValueError(f"omega_0 must be positive, got {omega_0!r}")
        self.omega_0 = float(omega_0)
        hidden = [
            SineLayer(n_in, n_out, omega_0, is_first=(i == 0))
            for i, (n_in, n_out) in enumerate(zip(self.widths[:-2], self.widths[1:-1]))
        ]
        last = nn.Linear(self.widths[-2], self.widths[-1])
        bound = math.sqrt(6.0 / self.widths[-2]) / self.omega_0
        with torch.no_grad():
            last.weight.uniform_(-bound, bound)
        self.net = nn.Sequential(*hidden, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.widths[0], type(self).__name__, _dtype(self))
        return self.net(x)


class AuthorsFourierNetwork(nn.Module):
    """The "Fourier feature network" of the paper's published code.

    A trainable first layer sin(Bx + b), B ~ N(0, 1), PyTorch's default
    bias, sine only (no cosine), then an MLP with ``activation`` (tanh in
    their code): ``AuthorsFourierNetwork(1, 64, [64, 64, 1])`` is
    1 → 64 (sine) → 64 → 64 → 1. Unlike :class:`FourierFeatureNetwork`
    (Tancik et al.), B is trained and not scaled by 2π or by a σ.
    """

    def __init__(
        self,
        d_in: int,
        n_features: int,
        widths: Sequence[int],
        activation: str = "tanh",
    ):
        super().__init__()
        widths = _check_widths(widths, min_len=1)
        for name, v in (("d_in", d_in), ("n_features", n_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v}")
        self.d_in = d_in
        self.features = nn.Linear(d_in, n_features)
        with torch.no_grad():
            self.features.weight.normal_(0.0, 1.0)
        self.mlp = MLP([n_features, *widths], activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_in, type(self).__name__, _dtype(self))
        return self.mlp(torch.sin(self.features(x)))


class SingleNeuron(nn.Module):
    """The student of the theory: g(x; w) = σ(wᵀx)ᵖ, σ(z) = max(0, z).

    ``power=1`` is the ReLU node of Theorems 1–2, ``power=2`` the ReLU² node of
    Theorem 3. ``w`` is the initial weight (a 1-D tensor or array of length d).
    """

    def __init__(self, w, power: int = 1):
        super().__init__()
        w = torch.as_tensor(w)
        if w.ndim != 1 or w.numel() < 1:
            raise ValueError(f"w must be a 1-D vector of length d >= 1, got shape {tuple(w.shape)}")
        if power not in (1, 2):
            raise ValueError(f"power must be 1 (ReLU) or 2 (ReLU²), got {power!r}")
        if not torch.is_floating_point(w):
            w = w.to(torch.get_default_dtype())
        self.power = power
        self.w = nn.Parameter(w.detach().clone())

    @property
    def d(self) -> int:
        return self.w.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d, type(self).__name__, self.w.dtype)
        return torch.relu(x @ self.w).pow(self.power).unsqueeze(-1)
