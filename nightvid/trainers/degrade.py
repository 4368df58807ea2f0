"""Image degradations that turn clean photos into training inputs.

Deterministic functions do the work; ``random_*`` wrappers only draw the parameters from
a ``torch.Generator`` and call them, so every random choice sits in one place and a
seeded generator reproduces a degradation exactly.

Images are float ``(B, C, H, W)`` (or ``(C, H, W)`` where noted) with values in [0, 1];
each function says whether it expects sRGB or linear light. The synthetic low-light
pipeline (:func:`synthesize_low_light`) follows the camera: the scene in linear light is
blurred while the shutter is open (average of shifted frames along a camera
trajectory, as LOL-Blur was synthesised from frame averages), under-exposed, hit by
lit by a coloured street lamp (a white-balance shift), hit by Poisson (shot) + Gaussian
(read) sensor noise per colour channel (the camera's white-balance gains amplify the red
and blue channels' noise more than green's), mapped back to sRGB and compressed the way
the footage users bring is: H.264 at dashcam-like qualities with 4:2:0 chroma, or JPEG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

import av
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
    "colour_cast",
    "h264",
    "jpeg",
    "linear_to_srgb",
    "motion_blur_kernel",
    "poisson_gaussian_noise",
    "random_colour_cast",
    "random_gaussian_noise",
    "random_h264",
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


# --------------------------------------------------------------------------- colour casts


def colour_cast(linear: Tensor, gains: tuple[float, float, float]) -> Tensor:
    """Multiply each channel of linear light by ``gains`` ``(r, g, b)``: a coloured light.

    A sodium or old tungsten street lamp lights the scene orange (red up, blue down), a
    white LED or the sky before dawn bluish; the camera's auto white balance rarely
    undoes it at night. Not clamped (the noise step clamps).

    Example:
        >>> colour_cast(torch.ones(1, 3, 1, 1), (1.5, 1.0, 0.5)).flatten()
        tensor([1.5000, 1.0000, 0.5000])
    """
    if linear.shape[-3] != 3:
        raise ValueError(f"colour_cast needs 3-channel images, got shape {tuple(linear.shape)}")
    return linear * linear.new_tensor(gains).view(3, 1, 1)


def random_colour_cast(
    linear: Tensor,
    generator: torch.Generator,
    *,
    warmth: tuple[float, float] = (-0.3, 0.7),
    tint: tuple[float, float] = (-0.1, 0.1),
) -> Tensor:
    """:func:`colour_cast` along the lamp-colour line: ``(e^{w/2}, e^{t}, e^{-w/2})``.

    ``w`` (warmth) drawn uniformly from ``warmth``: positive is orange (sodium, tungsten),
    negative blue (LED, moonlight); ``t`` a small green/magenta tint. Gains are
    normalised to keep the luminance (Rec. 709 weights) of a grey scene unchanged, so
    the cast shifts hue, not exposure.
    """
    w, t = _uniform(generator, *warmth), _uniform(generator, *tint)
    gains = (math.exp(w / 2), math.exp(t), math.exp(-w / 2))
    luma = 0.2126 * gains[0] + 0.7152 * gains[1] + 0.0722 * gains[2]
    return colour_cast(linear, (gains[0] / luma, gains[1] / luma, gains[2] / luma))


# --------------------------------------------------------------------------- noise


def poisson_gaussian_noise(
    linear: Tensor,
    *,
    gain: float | Tensor,
    read_sigma: float | Tensor,
    generator: torch.Generator | None = None,
    channel_gains: tuple[float, float, float] | None = None,
) -> Tensor:
    """Sensor noise in linear light: ``gain * Poisson(x / gain) + N(0, read_sigma**2)``.

    ``gain`` is the signal of one photo-electron (``1 / gain`` electrons fill [0, 1]), so
    the output has mean ``x`` and variance ``gain * x + read_sigma**2``. Not clamped.

    ``channel_gains`` ``(k_r, k_g, k_b)`` are the camera's white-balance gains: channel
    ``c`` was recorded as ``x_c / k_c`` on the sensor, got its noise there, and was then
    multiplied by ``k_c``, so its variance is ``k_c * gain * x_c + (k_c * read_sigma)**2``
    (a night shot's blue channel, gained most, is the noisiest).
    Runs on the CPU generator; the result is moved back to the input's device.
    """
    x = linear.detach().to("cpu", torch.float32).clamp_min(0.0)
    gain_, sigma_ = _per_image(gain, x), _per_image(read_sigma, x)
    if channel_gains is not None:
        if x.ndim < 3 or x.shape[-3] != 3:
            raise ValueError(f"channel_gains needs 3-channel images, got shape {tuple(x.shape)}")
        k = torch.tensor(channel_gains, dtype=torch.float32).view(3, 1, 1)
        gain_, sigma_ = gain_ * k, sigma_ * k
    shot = torch.poisson(x / gain_, generator=generator) * gain_
    read = torch.randn(x.shape, generator=generator) * sigma_
    return (shot + read).to(linear)


def random_poisson_gaussian_noise(
    linear: Tensor,
    generator: torch.Generator,
    *,
    gain: tuple[float, float] = (2e-4, 1e-2),
    read_sigma: tuple[float, float] = (5e-4, 5e-3),
    channel_gain: tuple[float, float] = (1.0, 1.0),
) -> Tensor:
    """:func:`poisson_gaussian_noise` with ``gain`` and ``read_sigma`` drawn log-uniformly.

    The red and blue white-balance gains are drawn log-uniformly from ``channel_gain``
    (green's is 1); ``(1.0, 1.0)`` gives every channel the same noise.
    """
    g, s = _log_uniform(generator, *gain), _log_uniform(generator, *read_sigma)
    gains = None
    if channel_gain != (1.0, 1.0):
        gains = (_log_uniform(generator, *channel_gain), 1.0, _log_uniform(generator, *channel_gain))
    return poisson_gaussian_noise(linear, gain=g, read_sigma=s, generator=generator, channel_gains=gains)


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
    for (r0, c0), (fy, fx) in zip(base.long().tolist(), frac.tolist(), strict=False):
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
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if decoded is None:
            raise RuntimeError("OpenCV could not decode the JPEG it encoded")
        decoded = decoded[:, :, ::-1]
        out.append(torch.from_numpy(np.ascontiguousarray(decoded)).permute(2, 0, 1))
    result = torch.stack(out).to(img.device, img.dtype) / 255
    return result[0] if img.ndim == 3 else result


def random_jpeg(img: Tensor, generator: torch.Generator, *, quality: tuple[int, int] = (60, 95)) -> Tensor:
    """:func:`jpeg` at a quality drawn uniformly from ``quality`` (inclusive)."""
    q = int(torch.randint(quality[0], quality[1] + 1, (), generator=generator))
    return jpeg(img, q)


# --------------------------------------------------------------------------- video codec


def _to_rgb24(frame: Tensor) -> np.ndarray:
    return (frame.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def h264(img: Tensor, crf: int, *, preset: str = "veryfast") -> Tensor:
    """Encode each image as one H.264 frame (libx264 through PyAV, 4:2:0) and decode it.

    What a dashcam or CCTV recorder does to a dark frame: the frame is converted to
    YUV 4:2:0 (colour at half resolution, Rec. 601 limited range as swscale does for
    untagged video), quantised in 4x4/8x8 transform blocks at a rate-controlled
    quality (``crf`` 0..51, higher is coarser; recorders sit around 23-35), and in
    dark areas, where the signal is a few code values, most detail and noise turn
    into flat blocks. Odd sizes are padded by replication to even and cropped back.
    One thread, so the result is deterministic.

    Shape:
        ``(B, 3, H, W)`` or ``(3, H, W)`` sRGB in [0, 1] -> same shape, dtype and device,
        values on the 1/255 grid.
    """
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be in 0..51, got {crf}")
    batch = img.unsqueeze(0) if img.ndim == 3 else img
    height, width = batch.shape[-2:]
    pad_h, pad_w = height % 2, width % 2
    if pad_h or pad_w:
        batch = F.pad(batch, (0, pad_w, 0, pad_h), mode="replicate")
    out = []
    for frame in batch:
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width, encoder.height = frame.shape[-1], frame.shape[-2]
        encoder.pix_fmt, encoder.time_base = "yuv420p", Fraction(1, 25)
        encoder.options = {"crf": str(int(crf)), "preset": preset, "threads": "1"}
        source = av.VideoFrame.from_ndarray(np.ascontiguousarray(_to_rgb24(frame)), format="rgb24")
        packets = list(encoder.encode(source.reformat(format="yuv420p"))) + list(encoder.encode(None))
        decoder = av.CodecContext.create("h264", "r")
        decoded = [f for packet in packets for f in decoder.decode(packet)] + list(decoder.decode(None))
        if len(decoded) != 1:
            raise RuntimeError(f"H.264 round trip gave {len(decoded)} frames, expected 1")
        rgb = decoded[0].to_ndarray(format="rgb24")
        out.append(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
    result = (torch.stack(out).to(img.device, img.dtype) / 255)[..., :height, :width]
    return result[0] if img.ndim == 3 else result


def random_h264(img: Tensor, generator: torch.Generator, *, crf: tuple[int, int] = (23, 36)) -> Tensor:
    """:func:`h264` at a ``crf`` drawn uniformly from ``crf`` (inclusive)."""
    return h264(img, int(torch.randint(crf[0], crf[1] + 1, (), generator=generator)))


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
    #: Probability of a street-lamp colour cast, and the warmth range (see ``random_colour_cast``).
    cast_prob: float = 0.0
    cast_warmth: tuple[float, float] = (-0.3, 0.7)
    #: Range of the red and blue white-balance gains that scale their sensor noise.
    channel_gain: tuple[float, float] = (1.0, 1.0)
    #: Probability of H.264 compression (4:2:0) of the dark frame, and the crf range;
    #: applied instead of JPEG when both are drawn.
    h264_prob: float = 0.0
    h264_crf: tuple[int, int] = (23, 36)

    @classmethod
    def night_video(cls, **overrides) -> LowLightConfig:
        """Night footage as cameras record it: street-lamp casts (70%), per-channel sensor
        noise with white-balance gains 1-2.5, H.264 of the dark frame (60%, crf 23-36),
        JPEG otherwise (20%), motion blur (30%)."""
        base = cls(cast_prob=0.7, channel_gain=(1.0, 2.5), h264_prob=0.6, jpeg_prob=0.2, blur_prob=0.3)
        return replace(base, **overrides)


def synthesize_low_light(
    clean: Tensor, generator: torch.Generator, config: LowLightConfig = LowLightConfig()
) -> Tensor:
    """A dark, noisy (optionally blurred, cast, compressed) sRGB input made from a clean sRGB image.

    Order: sRGB -> linear -> motion blur (p = ``blur_prob``) -> exposure reduction ->
    street-lamp colour cast (p = ``cast_prob``) -> Poisson-Gaussian noise per channel ->
    clamp -> sRGB -> H.264 (p = ``h264_prob``), else JPEG (p = ``jpeg_prob``). One set of
    parameters is drawn for the whole batch; call once per image for per-image draws.

    Shape:
        ``(B, 3, H, W)`` sRGB in [0, 1] -> the same shape, sRGB in [0, 1].
    """
    linear = srgb_to_linear(clean)
    if torch.rand((), generator=generator).item() < config.blur_prob:
        linear = random_motion_blur(linear, generator, length=config.blur_length)
    linear = random_reduce_exposure(linear, generator, factor=config.exposure)
    if config.cast_prob > 0 and torch.rand((), generator=generator).item() < config.cast_prob:
        linear = random_colour_cast(linear, generator, warmth=config.cast_warmth)
    linear = random_poisson_gaussian_noise(
        linear, generator, gain=config.gain, read_sigma=config.read_sigma, channel_gain=config.channel_gain
    )
    low = linear_to_srgb(linear)
    if config.h264_prob > 0 and torch.rand((), generator=generator).item() < config.h264_prob:
        return random_h264(low, generator, crf=config.h264_crf)
    if torch.rand((), generator=generator).item() < config.jpeg_prob:
        low = random_jpeg(low, generator, quality=config.jpeg_quality)
    return low
