"""Image degradations that turn clean photos into training inputs.

Deterministic functions do the work; ``random_*`` wrappers only draw the parameters from
a ``torch.Generator`` and call them, so every random choice sits in one place and a
seeded generator reproduces a degradation exactly.

Images are float ``(B, C, H, W)`` (or ``(C, H, W)`` where noted) with values in [0, 1];
each function says whether it expects sRGB or linear light. The synthetic low-light
pipeline (:func:`synthesize_low_light`) follows the camera: the scene in linear light is
blurred while the shutter is open (average of shifted frames along a camera
trajectory, as LOL-Blur was synthesised from frame averages), under-exposed, hit by
Poisson (shot) + Gaussian (read) sensor noise, mapped back to sRGB and optionally JPEG
compressed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LowLightConfig",
    "add_gaussian_noise",
    "blur",
    "blur_by_trajectory",
    "jpeg",
    "linear_to_srgb",
    "motion_blur_kernel",
    "poisson_gaussian_noise",
    "random_gaussian_noise",
    "random_jpeg",
    "random_motion_blur",
    "random_poisson_gaussian_noise",
    "random_reduce_exposure",
    "random_trajectory",
    "reduce_exposure",
    "srgb_to_linear",
    "synthesize_low_light",
]


def _per_image(value: float | Tensor, x: Tensor) -> Tensor | float:
    """A float, or a ``(B,)`` tensor viewed as ``(B, 1, 1, 1)`` to scale a batch."""
    if isinstance(value, Tensor) and value.ndim == 1:
        return value.to(x).view(-1, *([1] * (x.ndim - 1)))
    return value


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()


def _log_uniform(generator: torch.Generator, low: float, high: float) -> float:
    return math.exp(_uniform(generator, math.log(low), math.log(high)))


# --------------------------------------------------------------------------- colour


def srgb_to_linear(x: Tensor) -> Tensor:
    """sRGB [0, 1] -> linear light [0, 1] (IEC 61966-2-1 transfer curve).

    Example:
        >>> srgb_to_linear(torch.tensor([0.0, 0.5, 1.0]))
        tensor([0.0000, 0.2140, 1.0000])
    """
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055).pow(2.4))


def linear_to_srgb(x: Tensor) -> Tensor:
    """Linear light [0, 1] -> sRGB [0, 1]; inverse of :func:`srgb_to_linear` (input clamped)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-12).pow(1 / 2.4) - 0.055)


# --------------------------------------------------------------------------- exposure


def reduce_exposure(linear: Tensor, factor: float | Tensor) -> Tensor:
    """Scale linear light by ``factor`` (a float, or ``(B,)`` per image): fewer photons.

    Example:
        >>> reduce_exposure(torch.ones(1, 3, 2, 2), 0.1).mean()
        tensor(0.1000)
    """
    return linear * _per_image(factor, linear)


def random_reduce_exposure(
    linear: Tensor, generator: torch.Generator, *, factor: tuple[float, float] = (0.02, 0.25)
) -> Tensor:
    """:func:`reduce_exposure` by one factor drawn log-uniformly from ``factor``."""
    return reduce_exposure(linear, _log_uniform(generator, *factor))


# --------------------------------------------------------------------------- noise


def poisson_gaussian_noise(
    linear: Tensor, *, gain: float | Tensor, read_sigma: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Sensor noise in linear light: ``gain * Poisson(x / gain) + N(0, read_sigma**2)``.

    ``gain`` is the signal of one photo-electron (``1 / gain`` electrons fill [0, 1]), so
    the output has mean ``x`` and variance ``gain * x + read_sigma**2``. Not clamped.
    Runs on the CPU generator; the result is moved back to the input's device.
    """
    x = linear.detach().to("cpu", torch.float32).clamp_min(0.0)
    gain_, sigma_ = _per_image(gain, x), _per_image(read_sigma, x)
    shot = torch.poisson(x / gain_, generator=generator) * gain_
    read = torch.randn(x.shape, generator=generator) * sigma_
    return (shot + read).to(linear)


def random_poisson_gaussian_noise(
    linear: Tensor,
    generator: torch.Generator,
    *,
    gain: tuple[float, float] = (2e-4, 1e-2),
    read_sigma: tuple[float, float] = (5e-4, 5e-3),
) -> Tensor:
    """:func:`poisson_gaussian_noise` with ``gain`` and ``read_sigma`` drawn log-uniformly."""
    g, s = _log_uniform(generator, *gain), _log_uniform(generator, *read_sigma)
    return poisson_gaussian_noise(linear, gain=g, read_sigma=s, generator=generator)


def add_gaussian_noise(
    img: Tensor, sigma: float | Tensor, *, generator: torch.Generator | None = None, clip: bool = False
) -> Tensor:
    """``img + N(0, sigma**2)`` (sigma in the image's units: 25/255 for "sigma 25").

    ``clip=True`` clamps the result to [0, 1]; denoiser training usually leaves it off.
    """
    noise = torch.randn(img.shape, generator=generator).to(img) * _per_image(sigma, img)
    out = img + noise
    return out.clamp(0.0, 1.0) if clip else out


def random_gaussian_noise(
    img: Tensor, generator: torch.Generator, *, sigma: tuple[float, float] = (5 / 255, 50 / 255), clip: bool = False
) -> Tensor:
    """:func:`add_gaussian_noise` with ``sigma`` drawn uniformly from the range."""
    return add_gaussian_noise(img, _uniform(generator, *sigma), generator=generator, clip=clip)


# --------------------------------------------------------------------------- motion blur


def random_trajectory(
    generator: torch.Generator, *, steps: int = 32, length: tuple[float, float] = (3.0, 15.0)
) -> Tensor:
    """A random hand-held camera path: ``(steps, 2)`` positions ``(dy, dx)`` in pixels.

    A random walk with inertia (after Boracchi and Foi 2012): the velocity drifts by
    small Gaussian changes, is pulled back towards the start and gets an occasional
    jerk. The path is scaled so that its largest extent is drawn from ``length`` and
    centred on its mean, so the blurred image stays aligned with the sharp one.
    """
    angle = _uniform(generator, 0.0, 2 * math.pi)
    velocity = torch.tensor([math.sin(angle), math.cos(angle)], dtype=torch.float64)
    position = torch.zeros(2, dtype=torch.float64)
    points = []
    for _ in range(steps):
        points.append(position.clone())
        drift = torch.randn(2, generator=generator, dtype=torch.float64) * 0.3
        jerk = torch.randn(2, generator=generator, dtype=torch.float64) * 1.5
        jerk = jerk * (torch.rand((), generator=generator, dtype=torch.float64) < 0.05)
        velocity = velocity + drift + jerk - 0.02 * position
        position = position + velocity / velocity.norm().clamp_min(1e-6)
    path = torch.stack(points)
    path = path - path.mean(dim=0)
    extent = (path.max(dim=0).values - path.min(dim=0).values).max().clamp_min(1e-6)
    return (path * (_uniform(generator, *length) / extent)).float()


def motion_blur_kernel(points: Tensor) -> Tensor:
    """The ``(k, k)`` kernel (odd k, sums to 1) that averages frames shifted by ``points``.

    Each point ``(dy, dx)`` is splatted bilinearly at ``(r - dy, r - dx)`` with weight
    ``1 / len(points)`` (``r`` the centre), so ``blur(img, kernel)`` equals the mean of
    the image shifted by each point (content moves by ``+dy`` rows, ``+dx`` columns).

    Example:
        >>> motion_blur_kernel(torch.tensor([[0.0, -1.0], [0.0, 1.0]]))
        tensor([[0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.5000, 0.0000, 0.5000, 0.0000],
                [0.0000, 0.0000, 0.0000, 0.0000, 0.0000],
                [0.0000, 0.0000, 0.0000, 0.0000, 0.0000]])
    """
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points must be (N, 2) with N >= 1, got shape {tuple(points.shape)}")
    pts = points.double()
    radius = int(math.ceil(pts.abs().max().item())) + 1
    size = 2 * radius + 1
    kernel = torch.zeros(size, size, dtype=torch.float64)
    where = radius - pts  # (row, col) of each sample in the kernel
    base = where.floor()
    frac = where - base
    weight = 1.0 / len(pts)
    for (r0, c0), (fy, fx) in zip(base.long().tolist(), frac.tolist()):
        kernel[r0, c0] += weight * (1 - fy) * (1 - fx)
        kernel[r0, c0 + 1] += weight * (1 - fy) * fx
        kernel[r0 + 1, c0] += weight * fy * (1 - fx)
        kernel[r0 + 1, c0 + 1] += weight * fy * fx
    return (kernel / kernel.sum()).float()


def blur(img: Tensor, kernel: Tensor) -> Tensor:
    """Filter every channel of ``img`` ``(B, C, H, W)`` with ``kernel`` ``(k, k)`` (odd k).

    Borders are replicated, so the output has the input's shape; apply in linear light.
    """
    channels, size = img.shape[1], kernel.shape[-1]
    weight = kernel.to(img).expand(channels, 1, size, size)
    pad = size // 2
    return F.conv2d(F.pad(img, (pad, pad, pad, pad), mode="replicate"), weight, groups=channels)


def blur_by_trajectory(linear: Tensor, points: Tensor) -> Tensor:
    """The average of ``linear`` shifted along ``points`` (a camera path, in pixels)."""
    return blur(linear, motion_blur_kernel(points))


def random_motion_blur(
    linear: Tensor, generator: torch.Generator, *, length: tuple[float, float] = (3.0, 15.0), steps: int = 32
) -> Tensor:
    """:func:`blur_by_trajectory` along a :func:`random_trajectory`."""
    return blur_by_trajectory(linear, random_trajectory(generator, steps=steps, length=length))


# --------------------------------------------------------------------------- JPEG


def jpeg(img: Tensor, quality: int) -> Tensor:
    """JPEG-compress and decode each image with OpenCV (``quality`` 0..100).

    Shape:
        ``(B, 3, H, W)`` or ``(3, H, W)`` sRGB in [0, 1] -> same shape, dtype and device,
        values on the 1/255 grid.
    """
    batch = img.unsqueeze(0) if img.ndim == 3 else img
    out = []
    for frame in batch:
        rgb = (frame.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("OpenCV could not JPEG-encode the image")
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]
        out.append(torch.from_numpy(np.ascontiguousarray(decoded)).permute(2, 0, 1))
    result = torch.stack(out).to(img.device, img.dtype) / 255
    return result[0] if img.ndim == 3 else result


def random_jpeg(img: Tensor, generator: torch.Generator, *, quality: tuple[int, int] = (60, 95)) -> Tensor:
    """:func:`jpeg` at a quality drawn uniformly from ``quality`` (inclusive)."""
    q = int(torch.randint(quality[0], quality[1] + 1, (), generator=generator))
    return jpeg(img, q)


# --------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class LowLightConfig:
    """Parameter ranges of :func:`synthesize_low_light` (ranges are sampled per call)."""

    #: Linear-light exposure factor, log-uniform.
    exposure: tuple[float, float] = (0.02, 0.25)
    #: Shot-noise gain (signal of one electron), log-uniform.
    gain: tuple[float, float] = (2e-4, 1e-2)
    #: Read-noise standard deviation in linear units, log-uniform.
    read_sigma: tuple[float, float] = (5e-4, 5e-3)
    #: Probability of motion blur, and the blur path length range in pixels.
    blur_prob: float = 0.0
    blur_length: tuple[float, float] = (3.0, 15.0)
    #: Probability of JPEG compression, and the quality range.
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 95)


def synthesize_low_light(
    clean: Tensor, generator: torch.Generator, config: LowLightConfig = LowLightConfig()
) -> Tensor:
    """A dark, noisy (optionally blurred, JPEG'd) sRGB input made from a clean sRGB image.

    Order: sRGB -> linear -> motion blur (p = ``blur_prob``) -> exposure reduction ->
    Poisson-Gaussian noise -> clamp -> sRGB -> JPEG (p = ``jpeg_prob``). One set of
    parameters is drawn for the whole batch; call once per image for per-image draws.

    Shape:
        ``(B, 3, H, W)`` sRGB in [0, 1] -> the same shape, sRGB in [0, 1].
    """
    linear = srgb_to_linear(clean)
    if torch.rand((), generator=generator).item() < config.blur_prob:
        linear = random_motion_blur(linear, generator, length=config.blur_length)
    linear = random_reduce_exposure(linear, generator, factor=config.exposure)
    linear = random_poisson_gaussian_noise(linear, generator, gain=config.gain, read_sigma=config.read_sigma)
    low = linear_to_srgb(linear)
    if torch.rand((), generator=generator).item() < config.jpeg_prob:
        low = random_jpeg(low, generator, quality=config.jpeg_quality)
    return low
