r"""The denoising autoencoder of Figure 6: the network, an H1 loss on images, the noise.

* :class:`DenoisingAutoencoder` — the authors' layers: three convolutions down to a
  32-dimensional code and three transposed convolutions back, LeakyReLU(0.01), no
  output activation (outputs are not clipped to [0, 1]).
* :func:`image_loss` — the L2 loss and the H1 loss on images,

  .. math::

     \mathcal L_{H^1}(u, f) = \frac1{N^2}\sum_{\text{pixels}} \big(|u - f|^2
     + |\nabla u - \nabla f|^2\big)
     = \frac1{N^2}\sum_{k} \big(1 + |\xi_k|^2\big)\,|\hat e_k|^2,
     \qquad \text{(eq-image-h1)}

  with :math:`e = u - f`, :math:`\hat e` its orthonormal 2-D DFT and the gradient
  spectral: :math:`\xi_k = 2\pi k / N` radians per pixel, the wavenumbers **wrapped**
  to :math:`k \in \{-N/2, \dots, N/2 - 1\}` (``numpy.fft.fftfreq``), so a mode and its
  mirror :math:`N - k` (the same real pattern) get the same weight, and the weight
  grows like :math:`1 + |\xi|^2` up to :math:`1 + 2\pi^2` at the corner. The length
  unit is the pixel (as for a finite difference with :math:`h = 1`). The loss is
  computed in the Parseval form, which counts the Nyquist modes with
  :math:`|\xi| = \pi` (a checkerboard error is not free).
* :func:`frequency_weights` — the weight each loss puts on each DFT coefficient,
  including the authors' multiplier (for comparison only, never trained with).
* :class:`Noise` — :math:`\epsilon_1 \sim N(0, \sigma^2)` per pixel, drawn anew per
  batch, and :math:`\epsilon_2 = a\sin(2\pi\eta(x + y))` on :math:`x, y \in [0, 1]`.
* :func:`train_denoiser` — Adam on minibatches, the test MSE recorded against step
  and training time; with a :class:`~sobolev.results.Checkpoint` it resumes a killed run
  bit for bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .config import check_int, seed_everything
from .results import Checkpoint, ResultsError, rng_state, set_rng_state

LOSSES = ("l2", "h1")
WEIGHTS = ("l2", "h1", "authors")
NOISE_KINDS = ("gaussian", "sine")


class DenoisingAutoencoder(nn.Module):
    """The authors' convolutional autoencoder for 28×28 images.

    Encoder: Conv(1→32, k3, s1, p1) → Conv(32→64, k3, s2, p1) → Conv(64→64, k3, s2, p1)
    → Linear(3136→``latent``); decoder: Linear(``latent``→3136) → ConvT(64→64, s2)
    → ConvT(64→32, s2) → ConvT(32→1, s1), the strided ones with ``output_padding=1``.
    LeakyReLU(``negative_slope``) after every layer except the last: no output
    activation, so outputs are not clipped to [0, 1].
    """

    def __init__(self, latent: int = 32, negative_slope: float = 0.01):
        super().__init__()
        latent = check_int(latent, "latent", minimum=1)

        def act():
            return nn.LeakyReLU(negative_slope)

        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=1, padding=1),
            act(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            act(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1),
            act(),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, latent),
            act(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, 64 * 7 * 7),
            act(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1),
            act(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            act(),
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
            raise ValueError(f"images must have shape (n, 1, 28, 28), got {tuple(images.shape)}")
        return self.decoder(self.encoder(images))


def wavenumbers(n: int, wrapped: bool = True) -> np.ndarray:
    """The DFT's angular wavenumbers in radians per pixel, :math:`\\xi_k = 2\\pi k/n`.

    ``wrapped`` (the correct ones): :math:`k` in ``numpy.fft.fftfreq`` order,
    :math:`0, 1, \\dots, n/2 - 1, -n/2, \\dots, -1`. ``wrapped=False``: :math:`k = 0, \\dots,
    n - 1`, the authors' mistake.
    """
    n = check_int(n, "n", minimum=1)
    k = np.fft.fftfreq(n, d=1.0 / n) if wrapped else np.arange(n, dtype=float)
    return 2 * np.pi * k / n


def frequency_weights(n: int = 28, kind: str = "h1") -> np.ndarray:
    """The weight on :math:`|\\hat e_k|^2` of each 2-D DFT coefficient, shape (n, n), fft order.

    * ``"l2"``: 1;
    * ``"h1"``: :math:`1 + \\xi_x^2 + \\xi_y^2` with wrapped wavenumbers (eq-image-h1);
    * ``"authors"``: :math:`(1 + \\xi_x^2)(1 + \\xi_y^2)` with :math:`\\xi = 2\\pi k/n`,
      :math:`k = 0..n-1` **not wrapped** — the square of the authors' multiplier
      :math:`(1+\\xi^2)^{s/2}` per axis at :math:`s = 1`. Not an H1 norm: a mode of
      frequency :math:`-1` (index :math:`n - 1`) gets :math:`\\approx 1 + 4\\pi^2` and its
      mirror :math:`+1` gets :math:`\\approx 1`.
    """
    if kind not in WEIGHTS:
        raise ValueError(f"kind must be one of {WEIGHTS}, got {kind!r}")
    if kind == "l2":
        return np.ones((n, n))
    xi = wavenumbers(n, wrapped=kind == "h1")
    xx, yy = np.meshgrid(xi, xi, indexing="ij")
    if kind == "h1":
        return 1 + xx**2 + yy**2
    return (1 + xx**2) * (1 + yy**2)


def effective_weights(weights: np.ndarray) -> np.ndarray:
    """What a weight does to a **real** image: the mean over each mode :math:`k` and its mirror
    :math:`-k` (their coefficients are conjugate, so they are always paired)."""
    mirror = np.roll(np.flip(weights, axis=(0, 1)), 1, axis=(0, 1))
    return (weights + mirror) / 2


def spectral_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The spectral image gradient (∂/∂row, ∂/∂column) per pixel, wrapped wavenumbers.

    The Nyquist coefficients are dropped (their derivative is not real), as usual for a
    spectral derivative; the loss :func:`h1_image_loss` counts them instead.
    """
    n = images.shape[-1]
    if images.shape[-2] != n:
        raise ValueError(f"images must be square, got {tuple(images.shape[-2:])}")
    xi = torch.as_tensor(wavenumbers(n), dtype=images.dtype, device=images.device)
    if n % 2 == 0:
        xi = xi.clone()
        xi[n // 2] = 0
    coefficients = torch.fft.fft2(images)
    rows = torch.fft.ifft2(1j * xi[:, None] * coefficients).real
    cols = torch.fft.ifft2(1j * xi[None, :] * coefficients).real
    return rows, cols


def weighted_spectral_loss(
    output: torch.Tensor,
    target: torch.Tensor,
    weights,
) -> torch.Tensor:
    """Σ_k w_k |ê_k|² / N², ê the orthonormal 2-D DFT of the error,
    averaged over the leading axes (images, channels)."""
    if output.shape != target.shape:
        shapes = f"{tuple(output.shape)} and {tuple(target.shape)}"
        raise ValueError(f"output and target differ in shape: {shapes}")
    error = output - target
    n1, n2 = error.shape[-2:]
    w = torch.as_tensor(weights, dtype=error.dtype, device=error.device)
    power = torch.fft.fft2(error, norm="ortho").abs() ** 2  # Parseval
    return (power * w).sum(dim=(-2, -1)).mean() / (n1 * n2)


def h1_image_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The H1 loss on images (eq-image-h1): mean squared error plus mean squared error of
    the (spectral, wrapped) image gradient, in pixel units."""
    weights = _h1_weights(output.shape[-1], output.dtype, output.device)
    return weighted_spectral_loss(output, target, weights)


_CACHE: dict = {}


def _h1_weights(n: int, dtype, device) -> torch.Tensor:
    key = (n, dtype, str(device))
    if key not in _CACHE:
        _CACHE[key] = torch.as_tensor(frequency_weights(n, "h1"), dtype=dtype).to(device)
    return _CACHE[key]


def l2_image_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean squared error over pixels and images."""
    if output.shape != target.shape:
        raise ValueError(f"output and target differ in shape: {output.shape} and {target.shape}")
    return ((output - target) ** 2).mean()


def image_loss(kind: str):
    """The training loss named ``kind``: ``"l2"`` or ``"h1"``."""
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {kind!r}")
    return l2_image_loss if kind == "l2" else h1_image_loss


def sine_pattern(n: int = 28, amplitude: float = 0.3, frequency: float = 1.0) -> np.ndarray:
    """:math:`a\\sin(2\\pi\\eta(x + y))` on the pixel grid, :math:`x, y = j/(n-1) \\in [0, 1]`."""
    x = np.arange(n) / (n - 1)
    return amplitude * np.sin(2 * np.pi * frequency * (x[:, None] + x[None, :]))


@dataclass(frozen=True)
class Noise:
    """Additive noise: ``gaussian`` (:math:`N(0, \\text{level}^2)` per pixel, fresh per draw) or
    ``sine`` (``level`` × sin(2π ``frequency`` (x + y)), the same for every image).

    Noisy images are not clipped to [0, 1].
    """

    kind: str
    level: float
    frequency: float = 1.0

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"Noise.kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        if not self.level >= 0:
            raise ValueError(f"Noise.level must be >= 0, got {self.level!r}")

    def sample(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The noise for ``clean`` (n, 1, N, N), drawn on the CPU with ``generator``."""
        if self.kind == "gaussian":
            noise = torch.randn(clean.shape, generator=generator) * self.level
        else:
            pattern = sine_pattern(clean.shape[-1], self.level, self.frequency)
            noise = torch.as_tensor(pattern, dtype=torch.float32).expand(clean.shape)
        return noise.to(device=clean.device, dtype=clean.dtype)

    def apply(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``clean`` + noise."""
        return clean + self.sample(clean, generator)

    def describe(self) -> str:
        """The noise in words: "ε₁ ~ N(0, 0.5²)", "ε₂ = 0.3·sin(2π·5(x + y))"."""
        if self.kind == "gaussian":
            return f"ε₁ ~ N(0, {self.level:g}²)"
        eta = "" if self.frequency == 1 else f"·{self.frequency:g}"
        return f"ε₂ = {self.level:g}·sin(2π{eta}(x + y))"


def noisy_copy(clean: torch.Tensor, noise: Noise, seed: int) -> torch.Tensor:
    """``clean`` with ``noise`` drawn from a generator seeded ``seed`` (a fixed test input)."""
    return noise.apply(clean, torch.Generator().manual_seed(seed))


@torch.no_grad()
def reconstruct(model: nn.Module, noisy: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The model's outputs for ``noisy``, in batches, without gradients."""
    model.eval()
    outputs = [model(noisy[i : i + batch_size]) for i in range(0, len(noisy), batch_size)]
    model.train()
    return torch.cat(outputs)


def per_image_mse(output: torch.Tensor, clean: torch.Tensor) -> np.ndarray:
    """The mean squared error of each image against its clean version."""
    return ((output - clean) ** 2).flatten(1).mean(1).double().cpu().numpy()


def psnr(mse) -> np.ndarray:
    """Peak signal-to-noise ratio in dB for images in [0, 1]: :math:`10\\log_{10}(1/\\text{MSE})`."""
    return 10 * np.log10(1.0 / np.asarray(mse, dtype=float))


@dataclass
class DenoiserRun:
    """One training run: the test MSE at ``steps``, the training time (s) spent to reach them."""

    loss: str
    noise: Noise
    lr: float
    seed: int
    steps: list = field(default_factory=list)
    test_mse: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    model: nn.Module | None = None

    def first_step_below(self, threshold: float) -> int | None:
        """The first recorded step with test MSE ≤ ``threshold`` (None if never)."""
        for step, mse in zip(self.steps, self.test_mse):
            if mse <= threshold:
                return step
        return None

    def seconds_to_reach(self, threshold: float) -> float | None:
        """The training time at :meth:`first_step_below` (None if never)."""
        for seconds, mse in zip(self.seconds, self.test_mse):
            if mse <= threshold:
                return seconds
        return None


def first_reaching(x, test_mse, threshold: float) -> np.ndarray:
    """For each run (row of ``test_mse``, runs × evaluations), the entry of ``x`` at its first
    evaluation with test MSE ≤ ``threshold``, ``inf`` where none is: the stored form of
    :meth:`DenoiserRun.first_step_below` (``x`` the evaluated steps) and
    :meth:`DenoiserRun.seconds_to_reach` (``x`` the times, one row per run)."""
    test_mse = np.atleast_2d(np.asarray(test_mse, dtype=float))
    x = np.broadcast_to(np.asarray(x, dtype=float), test_mse.shape)
    reached = test_mse <= threshold
    first = x[np.arange(len(test_mse)), reached.argmax(axis=1)]
    return np.where(reached.any(axis=1), first, np.inf)


def train_denoiser(
    clean: torch.Tensor,
    noise: Noise,
    loss: str,
    *,
    steps: int,
    eval_clean: torch.Tensor,
    eval_noisy: torch.Tensor,
    eval_steps,
    batch_size: int = 128,
    lr: float = 5e-3,
    seed: int = 0,
    checkpoint: Checkpoint | None = None,
) -> DenoiserRun:
    """Train a :class:`DenoisingAutoencoder` to map ``clean + noise`` to ``clean``.

    ``clean`` (n, 1, 28, 28) on the training device; minibatches of ``batch_size``
    drawn by reshuffling every epoch, the noise drawn anew per batch (Gaussian),
    Adam with learning rate ``lr``. At each step in ``eval_steps`` (0 = before
    training) the plain MSE of ``model(eval_noisy)`` against ``eval_clean`` is
    recorded, with the training time so far, evaluations excluded: on a GPU the
    wall-clock time (``time.perf_counter``, the device synchronised before each
    reading); on the CPU the process's CPU time (``time.process_time``), which is the
    wall-clock time of a single-threaded run on an idle machine and does not count
    time lost to other programs on a shared one.

    With a :class:`~sobolev.results.Checkpoint`, the state of the run (model, Adam,
    the generator that draws the batches and the noise, the epoch's order and the
    position in it, torch's global random state, the records and the step) is saved
    every ``checkpoint.every`` steps (the clock stopped meanwhile); a call that finds
    a checkpoint of the same run continues from it and returns the same records and
    the same network, to the bit on a CPU, as an uninterrupted run (only the training
    times differ). The last checkpoint holds the finished run (a call after the end
    returns it at once); :func:`sobolev.experiments.run` deletes it once the seed's
    results are stored.
    """
    steps = check_int(steps, "steps", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    objective = image_loss(loss)
    device = clean.device
    seed_everything(seed)
    model = DenoisingAutoencoder().to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    run = DenoiserRun(loss=loss, noise=noise, lr=lr, seed=seed, model=model)
    eval_steps = sorted({int(s) for s in eval_steps if 0 <= s <= steps} | {steps})

    def synchronise():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def record(step, seconds):
        output = reconstruct(model, eval_noisy)
        run.steps.append(step)
        run.test_mse.append(float(per_image_mse(output, eval_clean).mean()))
        run.seconds.append(seconds)

    clock = time.process_time if device.type == "cpu" else time.perf_counter
    n = len(clean)
    run_key = {
        "loss": loss,
        "noise": [noise.kind, float(noise.level), float(noise.frequency)],
        "lr": float(lr),
        "seed": int(seed),
        "steps": steps,
        "batch_size": batch_size,
        "eval_steps": eval_steps,
        "n": n,
    }
    state = checkpoint.load() if checkpoint is not None else None
    if state is not None:
        if state["run"] != run_key:
            raise ResultsError(
                f"{checkpoint.path} is the checkpoint of another run ({state['run']}, not "
                f"{run_key}); delete it"
            )
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        order, position = state["order"], int(state["position"])
        elapsed = float(state["seconds"])
        run.steps, run.test_mse, run.seconds = (
            list(state[k]) for k in ("steps", "test_mse", "times")
        )
        saved_at = int(state["step"])
        set_rng_state(state["rng"], device)
    else:
        order, position, elapsed = torch.randperm(n, generator=generator), 0, 0.0
        saved_at = 0
        if eval_steps[0] == 0:
            record(0, 0.0)

    def save_checkpoint(step):
        checkpoint.save(
            {
                "run": run_key,
                "step": step,
                "seconds": elapsed,
                "model": model.state_dict(),
                "optimizer": optimiser.state_dict(),
                "generator": generator.get_state(),
                "order": order,
                "position": position,
                "steps": run.steps,
                "test_mse": run.test_mse,
                "times": run.seconds,
                "rng": rng_state(device),
            }
        )

    synchronise()
    start = clock()
    for step in range(saved_at + 1, steps + 1):
        if position + batch_size > n:
            order, position = torch.randperm(n, generator=generator), 0
        index = order[position : position + batch_size].to(device)
        position += batch_size
        target = clean[index]
        value = objective(model(noise.apply(target, generator)), target)
        optimiser.zero_grad(set_to_none=True)
        value.backward()
        optimiser.step()
        evaluate = step in eval_steps
        save = checkpoint is not None and step < steps and step - saved_at >= checkpoint.every
        if evaluate or save:
            synchronise()
            elapsed += clock() - start
            if evaluate:
                if not math.isfinite(value.item()):
                    raise FloatingPointError(f"training diverged at step {step} (lr={lr})")
                record(step, elapsed)
            if save:
                save_checkpoint(step)
                saved_at = step
            synchronise()
            start = clock()
    if checkpoint is not None and saved_at < steps:
        # the finished run, kept until the experiment has stored its seed's results, so that a
        # job killed in a later run of the same seed does not train this one again
        save_checkpoint(steps)
    return run
