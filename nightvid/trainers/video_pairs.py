"""Synthetic night video with ground truth: clean moving sequences and their dark, noisy, H.264 versions.

Real night video has no clean reference, so the temporal stage is scored on sequences
made from clean photos: a camera that pans and turns a little over a photo, with a
patch of the photo sliding across as a moving object (the part a temporal filter must
not smear). Each clean frame is darkened in linear light with one exposure, lamp cast
and white balance for the whole sequence, gets its own Poisson-Gaussian sensor noise
(``trainers.degrade``), and the whole dark sequence is compressed with x264 as a camera
would, so the noise and the codec's damage both change from frame to frame.

``benchmarks/video_eval.py`` enhances them (per frame, then through the temporal filter)
and scores every frame against the clean sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from nightvid.trainers.degrade import colour_cast, linear_to_srgb, poisson_gaussian_noise, srgb_to_linear

__all__ = ["NightCamera", "VideoPair", "dark_sequence", "moving_sequence", "noiseless_sequence", "video_pairs"]


@dataclass(frozen=True)
class VideoPair:
    """A clean sequence and the dark one a camera would record of it (RGB uint8 frames)."""

    name: str
    clean: list[np.ndarray]
    dark: list[np.ndarray]


def moving_sequence(photo: np.ndarray, *, frames: int, size: tuple[int, int], seed: int) -> list[np.ndarray]:
    """``frames`` views ``size`` (w, h) of ``photo``: a slow pan and turn, and a patch sliding across."""
    rng = np.random.default_rng(seed)
    w, h = size
    ph, pw = photo.shape[:2]
    pan = rng.uniform(-1.0, 1.0, 2) * np.array([0.6, 0.3])  # px per frame
    turn = rng.uniform(-0.08, 0.08)  # degrees per frame
    patch = photo[rng.integers(0, ph - h // 3) :][: h // 3, : w // 4].copy()
    speed = rng.uniform(2.0, 4.0) * rng.choice([-1, 1])
    centre = np.array([pw / 2, ph / 2])
    out = []
    for t in range(frames):
        matrix = cv2.getRotationMatrix2D(tuple(centre + pan * t), turn * t, 1.0)
        matrix[:, 2] += pan * t - centre + np.array([w / 2, h / 2])
        view = cv2.warpAffine(photo, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        x = int((w // 2 + speed * t - patch.shape[1] // 2) % (w - patch.shape[1]))
        y = h // 2 - patch.shape[0] // 2
        view[y : y + patch.shape[0], x : x + patch.shape[1]] = patch[: h - y, : w - x]
        out.append(view)
    return out


def _h264(frames: list[np.ndarray], crf: int, path: Path) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@dataclass(frozen=True)
class NightCamera:
    """Ranges the night camera of :func:`dark_sequence` is drawn from, once per sequence
    (log-uniform; ``crf`` uniform, inclusive). ``exposure`` is the linear-light factor.
    The defaults were the first set's; :meth:`like_real_clips` matches the shared clips."""

    exposure: tuple[float, float] = (0.03, 0.12)
    gain: tuple[float, float] = (1e-3, 6e-3)
    read: tuple[float, float] = (1e-3, 4e-3)
    crf: tuple[int, int] = (23, 29)

    @classmethod
    def like_real_clips(cls) -> NightCamera:
        """As dark and as noisy after the codec as the shared dashcam and phone clips: on
        Kodak photos, mean luma 7-8.5 of 255 (the clips: 5.3-5.5) and a temporal-noise
        figure of 0.13-0.58, median 0.18 (the clips: 0.14-0.18). The default camera is
        3-5x brighter, and its stronger compression leaves a figure of 0.01-0.33 (median
        0.03): most of the noise a real clip keeps is gone before any filter sees it."""
        return cls(exposure=(0.006, 0.03), crf=(21, 25))


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]))))


@dataclass(frozen=True)
class _Shot:
    """One sequence's camera, drawn from a ``NightCamera`` (see :func:`_draw`)."""

    exposure: float
    gain: float
    read: float
    cast: tuple[float, float, float]
    white_balance: tuple[float, float, float]
    crf: int


def _draw(seed: int, camera: NightCamera) -> _Shot:
    """The camera of sequence ``seed``, the draws always in one order so that a seed gives
    the same shot with or without noise."""
    rng = np.random.default_rng(seed)
    exposure = _log_uniform(rng, camera.exposure)
    gain = _log_uniform(rng, camera.gain)
    read = _log_uniform(rng, camera.read)
    warm = float(rng.uniform(-0.2, 0.5))
    wb = (float(rng.uniform(1.0, 2.0)), 1.0, float(rng.uniform(1.0, 2.5)))
    crf = int(rng.integers(camera.crf[0], camera.crf[1] + 1))
    return _Shot(exposure, gain, read, (1.0 + warm, 1.0, 1.0 - 0.6 * warm), wb, crf)


def _dark_frames(clean: Sequence[np.ndarray], shot: _Shot, generator: torch.Generator | None) -> list[np.ndarray]:
    """``clean`` darkened in linear light and cast, with sensor noise drawn from
    ``generator`` (None: none), as 8-bit sRGB."""
    dark = []
    for frame in clean:
        x = torch.from_numpy(frame).permute(2, 0, 1).float().div(255).unsqueeze(0)
        linear = colour_cast(srgb_to_linear(x) * shot.exposure, shot.cast)
        if generator is not None:
            linear = poisson_gaussian_noise(
                linear, gain=shot.gain, read_sigma=shot.read, generator=generator, channel_gains=shot.white_balance
            )
        srgb = linear_to_srgb(linear.clamp(0, 1))
        dark.append((srgb[0].permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8))
    return dark


def dark_sequence(
    clean: Sequence[np.ndarray], *, seed: int, work: Path, camera: NightCamera = NightCamera()
) -> list[np.ndarray]:
    """``clean`` as a night camera records it: one exposure, cast and gain; noise per frame; x264."""
    shot = _draw(seed, camera)
    dark = _dark_frames(clean, shot, torch.Generator().manual_seed(seed))
    return _h264(dark, shot.crf, work / f"dark-{seed}.mp4")


def noiseless_sequence(
    clean: Sequence[np.ndarray], *, seed: int, camera: NightCamera = NightCamera()
) -> list[np.ndarray]:
    """:func:`dark_sequence`'s frames with its exposure and cast but no noise and no codec:
    what a perfect denoiser would hand the net, so a model's score on them is the mark for
    any temporal stage or denoiser before it (``benchmarks/video_eval.py --ceiling``)."""
    return _dark_frames(clean, _draw(seed, camera), None)


def video_pairs(
    photos: Sequence[Path],
    *,
    frames: int = 24,
    size: tuple[int, int] = (320, 192),
    work: Path,
    seed: int = 0,
    camera: NightCamera = NightCamera(),
) -> list[VideoPair]:
    """One ``VideoPair`` per photo (seeded: the same set every run)."""
    pairs = []
    for index, photo_path in enumerate(photos):
        bgr = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f"cannot read image {photo_path}")
        photo = np.ascontiguousarray(bgr[:, :, ::-1])
        clean = moving_sequence(photo, frames=frames, size=size, seed=seed + index)
        pairs.append(
            VideoPair(photo_path.stem, clean, dark_sequence(clean, seed=seed + index, work=work, camera=camera))
        )
    return pairs
