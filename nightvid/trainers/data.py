"""Training data: paired folders, synthetic low-light pairs, Gaussian-noise pairs, pure noise.

Images are ``(3, H, W)`` float32 sRGB in [0, 1]; a training pair is ``(input, target)``
(``(low, high)``, ``(noisy, clean)``). A dataset is anything with ``len()`` and
``sample(index, generator) -> (input, target)``; all randomness (crop, flips, rotation,
degradation parameters, noise) comes from the generator, so a sample is a pure function
of ``(index, generator seed)``. :func:`pair_batches` turns a dataset into the loop's
resumable :class:`~nightvid.trainers.loop.SeededBatches` (epoch-wise shuffling, optional
worker processes); :func:`held_out` gives fixed full-size pairs for validation.

Paired folder layouts that :func:`detect_layout` recognises (folder names are matched
case-insensitively):

- ``low/NAME`` + ``high/NAME`` (SICE here, a LOL split folder);
- splits holding those: ``our485|eval15/low|high`` (LOL), ``train|eval/low|high``;
- LOL-Blur: ``train|test/low_blur_noise|high_sharp_scaled/<video>/<frame>``, or one
  split folder of it.

Files pair by their path relative to ``low``/``high`` without the extension.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nightvid.errors import NightvidError
from nightvid.trainers.degrade import (
    LowLightConfig,
    add_gaussian_noise,
    linear_to_srgb,
    random_reduce_exposure,
    srgb_to_linear,
    synthesize_low_light,
)
from nightvid.trainers.loop import SeededBatches, step_generator

__all__ = [
    "Augment",
    "BrightenedNight",
    "CleanPhotos",
    "IMAGE_SUFFIXES",
    "JitteredInput",
    "MixedPairs",
    "NoisyImages",
    "PairDataset",
    "PairedImages",
    "PairedLayout",
    "SyntheticLowLight",
    "WellExposed",
    "augment",
    "detect_layout",
    "find_pairs",
    "held_out",
    "jitter_inputs",
    "list_images",
    "mix_well_exposed",
    "noise_batch",
    "pair_batches",
    "read_image",
    "val_augment",
]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})

#: Folder names a split role resolves to, in order of preference.
SPLIT_ALIASES = {
    "train": ("train", "our485", "training"),
    "eval": ("eval", "eval15", "test", "val", "valid", "validation"),
}
_PAIR_DIRS = {"low-high": ("low", "high"), "lol-blur": ("low_blur_noise", "high_sharp_scaled")}


# --------------------------------------------------------------------------- files


def read_image(path: Path | str) -> Tensor:
    """An image file as ``(3, H, W)`` float32 RGB in [0, 1] (8- or 16-bit; grey -> RGB; alpha dropped)."""
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise NightvidError(f"cannot read image {path}")
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    array = np.ascontiguousarray(array[:, :, 2::-1])  # BGR(A) -> RGB
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(array.dtype, 1.0)
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def list_images(folder: Path | str, *, recursive: bool = False) -> list[Path]:
    """Image files in ``folder`` (sorted); a NightvidError if it is missing or has none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NightvidError(f"image folder not found: {folder}")
    found = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise NightvidError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return files


# --------------------------------------------------------------------------- layouts


@dataclass(frozen=True)
class PairedLayout:
    """Where the inputs and targets of a paired dataset are."""

    kind: str  # "low-high" or "lol-blur"
    low: Path
    high: Path


def _subdirs(folder: Path) -> dict[str, Path]:
    return {p.name.lower(): p for p in sorted(folder.iterdir()) if p.is_dir()}


def _pair_layout(folder: Path) -> PairedLayout | None:
    dirs = _subdirs(folder)
    for kind, (low, high) in _PAIR_DIRS.items():
        if low in dirs and high in dirs:
            return PairedLayout(kind, dirs[low], dirs[high])
        if low in dirs or high in dirs:
            have, lack = (low, high) if low in dirs else (high, low)
            raise NightvidError(f"{folder} has {have}/ but no {lack}/")
    return None


def detect_layout(root: Path | str, *, split: str | None = None) -> PairedLayout:
    """Find the paired layout under ``root``.

    ``root`` may be a split folder (holding ``low``/``high`` or LOL-Blur's folders) or a
    dataset folder holding splits; then ``split`` picks one, by name or by role
    (``"train"`` -> train/our485, ``"eval"`` -> eval/eval15/test/val).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise NightvidError(f"dataset folder not found: {root}")
    layout = _pair_layout(root)
    if layout is not None:
        return layout
    splits = {name: path for name, path in _subdirs(root).items() if _pair_layout(path) is not None}
    if not splits:
        raise NightvidError(
            f"no paired images under {root}: expected low/ + high/, LOL's our485|eval15/low|high, "
            "or LOL-Blur's train|test/low_blur_noise|high_sharp_scaled"
        )
    if split is None:
        raise NightvidError(f"{root} holds several splits ({', '.join(splits)}); choose one")
    for name in (split.lower(), *SPLIT_ALIASES.get(split.lower(), ())):
        if name in splits:
            return _pair_layout(splits[name])  # type: ignore[return-value]
    raise NightvidError(f"{root} has no split {split!r}; it has {', '.join(splits)}")


def find_pairs(root: Path | str, *, split: str | None = None) -> list[tuple[Path, Path]]:
    """``(low, high)`` file pairs of a paired dataset, sorted; unmatched files are an error."""
    layout = detect_layout(root, split=split)
    recursive = layout.kind == "lol-blur"
    lows = {p.relative_to(layout.low).with_suffix(""): p for p in list_images(layout.low, recursive=recursive)}
    highs = {p.relative_to(layout.high).with_suffix(""): p for p in list_images(layout.high, recursive=recursive)}
    only_low, only_high = sorted(set(lows) - set(highs)), sorted(set(highs) - set(lows))
    if only_low or only_high:
        parts = []
        if only_low:
            parts.append(f"{len(only_low)} in {layout.low.name}/ have no match (e.g. {only_low[0]})")
        if only_high:
            parts.append(f"{len(only_high)} in {layout.high.name}/ have no match (e.g. {only_high[0]})")
        raise NightvidError(f"unpaired images under {layout.low.parent}: {'; '.join(parts)}")
    return [(lows[key], highs[key]) for key in sorted(lows)]


# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class Augment:
    """Random crop (``crop`` pixels square; None = whole image), flips and 90-degree turns."""

    crop: int | None = 128
    flip: bool = True
    rot90: bool = True


def val_augment(crop: int | None) -> Augment | None:
    """Validation's augmentation: a ``crop`` px crop in a seeded place, no flips or turns;
    None (or 0) scores whole images. Held-out pairs must look the same at every validation.
    """
    return Augment(crop=crop, flip=False, rot90=False) if crop else None


def augment(images: Sequence[Tensor], generator: torch.Generator, config: Augment) -> list[Tensor]:
    """Apply one random crop/flip/rotation to every image of ``images`` (a pair stays aligned).

    Images ``(C, H, W)`` of the same H and W; smaller than ``crop`` they are padded by
    replicating the border first.
    """
    height, width = images[0].shape[-2:]
    if any(img.shape[-2:] != (height, width) for img in images):
        raise NightvidError(f"paired images differ in size: {[tuple(i.shape[-2:]) for i in images]}")
    out = list(images)
    if config.crop is not None:
        size = config.crop
        pad_h, pad_w = max(0, size - height), max(0, size - width)
        if pad_h or pad_w:
            out = [F.pad(img[None], (0, pad_w, 0, pad_h), mode="replicate")[0] for img in out]
            height, width = height + pad_h, width + pad_w
        top = int(torch.randint(0, height - size + 1, (), generator=generator))
        left = int(torch.randint(0, width - size + 1, (), generator=generator))
        out = [img[:, top : top + size, left : left + size] for img in out]
    if config.flip and bool(torch.randint(0, 2, (), generator=generator)):
        out = [img.flip(-1) for img in out]
    if config.rot90:
        turns = int(torch.randint(0, 4, (), generator=generator))
        out = [img.rot90(turns, dims=(-2, -1)) for img in out]
    return [img.contiguous() for img in out]


# --------------------------------------------------------------------------- datasets


class PairDataset(Protocol):
    """What :func:`pair_batches` and :func:`held_out` draw from."""

    def __len__(self) -> int: ...

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]: ...


class PairedImages:
    """Real pairs from a paired folder: ``(low, high)``, augmented alike.

    Example: ``PairedImages.from_folder("~/datasets/LOL", split="train", augment=Augment(256))``.
    """

    def __init__(self, pairs: Sequence[tuple[Path, Path]], *, augment: Augment | None = Augment()) -> None:
        if not pairs:
            raise NightvidError("no image pairs given")
        self.pairs, self.augment = list(pairs), augment

    @classmethod
    def from_folder(
        cls, root: Path | str, *, split: str | None = None, augment: Augment | None = Augment()
    ) -> PairedImages:
        return cls(find_pairs(root, split=split), augment=augment)

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        low, high = (read_image(p) for p in self.pairs[index])
        if self.augment is None:
            if low.shape != high.shape:
                raise NightvidError(f"{self.pairs[index][0]} and its target differ in size")
            return low, high
        low, high = augment([low, high], generator, self.augment)
        return low, high


class CleanPhotos:
    """Clean photos, each read and augmented: what the pairs made from clean photos start from.

    Subclasses make the damaged input in ``sample`` from :meth:`clean`'s image, with the
    same generator, after the augmentation has drawn from it.
    """

    def __init__(self, files: Sequence[Path], *, augment: Augment | None = Augment()) -> None:
        if not files:
            raise NightvidError("no clean images given")
        self.files, self.augment = list(files), augment

    @classmethod
    def from_folder(cls: type[PhotosT], folder: Path | str, **kwargs: Any) -> PhotosT:
        """The dataset of every image in ``folder`` (sorted); ``kwargs`` go to the constructor."""
        return cls(list_images(folder), **kwargs)

    def __len__(self) -> int:
        return len(self.files)

    def clean(self, index: int, generator: torch.Generator) -> Tensor:
        """Photo ``index`` as ``(3, h, w)`` in [0, 1], augmented with ``generator``."""
        clean = read_image(self.files[index])
        if self.augment is not None:
            (clean,) = augment([clean], generator, self.augment)
        return clean


PhotosT = TypeVar("PhotosT", bound=CleanPhotos)


class SyntheticLowLight(CleanPhotos):
    """Pairs ``(synthesize_low_light(clean), clean)`` from a folder of clean sRGB photos."""

    def __init__(
        self, files: Sequence[Path], *, config: LowLightConfig = LowLightConfig(), augment: Augment | None = Augment()
    ) -> None:
        super().__init__(files, augment=augment)
        self.config = config

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        clean = self.clean(index, generator)
        return synthesize_low_light(clean[None], generator, self.config)[0], clean


class MixedPairs:
    """Real pairs and synthetic pairs in one dataset, ``synthetic_share`` of items synthetic.

    Every real pair is one item per epoch; the synthetic items (as many as make up the
    share) each draw a random photo of ``synthetic`` with the item's generator, so over
    the epochs every photo is used while an epoch keeps the stated mix. Both sides must
    crop to the same size.

    Example: ``MixedPairs(PairedImages(pairs), SyntheticLowLight(files), synthetic_share=0.5)``.
    """

    def __init__(self, real: PairDataset, synthetic: PairDataset, *, synthetic_share: float) -> None:
        if not 0.0 <= synthetic_share < 1.0:
            raise NightvidError(f"synthetic_share must be in [0, 1), got {synthetic_share}")
        self.real, self.synthetic = real, synthetic
        self.extra = round(len(real) * synthetic_share / (1.0 - synthetic_share))

    def __len__(self) -> int:
        return len(self.real) + self.extra

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if index < len(self.real):
            return self.real.sample(index, generator)
        pick = int(torch.randint(0, len(self.synthetic), (), generator=generator))
        return self.synthetic.sample(pick, generator)


class WellExposed(CleanPhotos):
    """Pairs ``(photo dimmed a little in linear light, photo)``: inputs that need little or nothing.

    Trained only on under-exposed pairs, LEDNet and KinD brighten and recolour everything,
    so a photo that is already partly well exposed (a blue sky over a dark street, DICM)
    came out with a pale cyan sky. These pairs (factor log-uniform in ``exposure``; 1 is
    the photo itself) teach the net to leave well-exposed pictures and regions alone and
    to pass their detail through. ``exposure`` is a linear-light factor, as in
    :func:`~nightvid.trainers.degrade.reduce_exposure`.
    """

    def __init__(
        self,
        files: Sequence[Path],
        *,
        exposure: tuple[float, float] = (0.5, 1.0),
        augment: Augment | None = Augment(),
    ) -> None:
        super().__init__(files, augment=augment)
        if not 0.0 < exposure[0] <= exposure[1] <= 1.0:
            raise NightvidError(f"exposure must be 0 < low <= high <= 1, got {exposure}")
        self.exposure = exposure

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        clean = self.clean(index, generator)
        low = random_reduce_exposure(srgb_to_linear(clean), generator, factor=self.exposure)
        return linear_to_srgb(low).clamp(0.0, 1.0), clean


def mix_well_exposed(dataset: PairDataset, references: Sequence[Path], share: float, augment: Augment) -> Any:
    """``dataset`` with ``share`` of its items :class:`WellExposed` pairs of ``references`` (0: as it is).

    The recipes' ``bright_share``: LEDNet mixes them into its pairs, KinD into every stage.
    """
    if not 0.0 <= share < 1.0:
        raise NightvidError(f"bright_share must be in [0, 1), got {share}")
    if share == 0:
        return dataset
    return MixedPairs(dataset, WellExposed(references, augment=augment), synthetic_share=share)


class JitteredInput:
    """``dataset``'s pairs with the input's exposure, white balance and gamma drawn at random.

    A net trained on one dataset's cameras learns their exposure and colour (SICE's
    brackets); other cameras differ in all three. Each input is scaled in linear light by
    a factor log-uniform in ``[1/(1+s), 1+s]``, its red and blue by factors in
    ``[1-s/4, 1+s/4]`` (green kept), and raised to a power in ``[1-s/4, 1+s/4]``
    (``s = strength``); the target is untouched, so the net learns to map every variant
    of the scene to the same picture.
    """

    def __init__(self, dataset: PairDataset, strength: float) -> None:
        if not 0.0 < strength <= 1.0:
            raise NightvidError(f"input_jitter must be in (0, 1], got {strength}")
        self.dataset, self.strength = dataset, strength

    def __len__(self) -> int:
        return len(self.dataset)

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        low, high = self.dataset.sample(index, generator)
        s = self.strength
        u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        exposure = math.exp((2 * u[0] - 1) * math.log1p(s))
        red, blue = 1 + (2 * u[1] - 1) * s / 4, 1 + (2 * u[2] - 1) * s / 4
        gamma = 1 + (2 * u[3] - 1) * s / 4
        gains = torch.tensor([red, 1.0, blue], dtype=low.dtype).view(3, 1, 1) * exposure
        linear = (srgb_to_linear(low) * gains).clamp(0.0, 1.0)
        return linear_to_srgb(linear).clamp_min(0.0).pow(gamma), high


def jitter_inputs(dataset: PairDataset, strength: float) -> Any:
    """``dataset`` through :class:`JitteredInput` (``strength`` 0: as it is); the recipes' ``input_jitter``."""
    return dataset if strength == 0 else JitteredInput(dataset, strength)


class BrightenedNight(SyntheticLowLight):
    """Pairs ``(night frame brightened by one gain, clean)``: what a denoiser after an enhancer sees.

    A :class:`SyntheticLowLight` pair (default: night video without colour casts:
    per-channel sensor noise, H.264 blocks, JPEG, blur) whose dark input is scaled by one
    gain to the clean image's mean, as a brightening net would, clamped. What is left
    between input and target is the amplified noise and codec damage, not brightness or
    colour, so a denoiser trained on it does not also learn to re-tone.
    """

    def __init__(
        self, files: Sequence[Path], *, config: LowLightConfig | None = None, augment: Augment | None = Augment()
    ) -> None:
        super().__init__(files, config=config or LowLightConfig.night_video(cast_prob=0.0), augment=augment)

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        low, clean = super().sample(index, generator)
        gain = clean.mean() / low.mean().clamp_min(1e-4)
        return (low * gain).clamp(0.0, 1.0), clean


class NoisyImages(CleanPhotos):
    """Pairs ``(clean + N(0, sigma), clean)``; ``sigma`` fixed or drawn uniformly per sample.

    Sigma is in [0, 1] units (25/255 for "sigma 25"); the noisy image is not clamped
    unless ``clip=True``.
    """

    def __init__(
        self,
        files: Sequence[Path],
        *,
        sigma: float | tuple[float, float] = 25 / 255,
        augment: Augment | None = Augment(),
        clip: bool = False,
    ) -> None:
        super().__init__(files, augment=augment)
        self.sigma, self.clip = sigma, clip

    def sample(self, index: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        clean = self.clean(index, generator)
        sigma = self.sigma
        if isinstance(sigma, tuple):
            low, high = sigma
            sigma = low + (high - low) * torch.rand((), generator=generator, dtype=torch.float64).item()
        return add_gaussian_noise(clean, sigma, generator=generator, clip=self.clip), clean


def noise_batch(generator: torch.Generator, *, batch: int, patch: int, sigma: float, clamp: float) -> Tensor:
    """NoiSER's data: ``(batch, 3, patch, patch)`` N(0, sigma) noise clamped to [-clamp, clamp].

    Example:
        >>> x = noise_batch(torch.Generator().manual_seed(0), batch=2, patch=8, sigma=3.0, clamp=1.0)
        >>> tuple(x.shape), bool(x.abs().max() <= 1)
        ((2, 3, 8, 8), True)
    """
    noise = torch.randn(batch, 3, patch, patch, generator=generator) * sigma
    return noise.clamp(-clamp, clamp)


# --------------------------------------------------------------------------- batching


@dataclass(frozen=True)
class _PairDraw:
    """Batch ``step``: items ``step*B .. step*B+B-1`` of a per-epoch shuffled order (picklable)."""

    dataset: PairDataset
    batch_size: int
    seed: int

    def __call__(self, step: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n = len(self.dataset)
        items = [
            self.dataset.sample(self._index(k, n), generator)
            for k in range(step * self.batch_size, (step + 1) * self.batch_size)
        ]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

    def _index(self, k: int, n: int) -> int:
        return int(_epoch_order(self.seed, k // n, n)[k % n])


@functools.lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n: int) -> Tensor:
    return torch.randperm(n, generator=step_generator(seed, -1, epoch))


def pair_batches(dataset: PairDataset, *, batch_size: int, seed: int, workers: int = 0) -> SeededBatches:
    """Resumable ``(input, target)`` batches ``(B, 3, h, w)``: every item once per epoch, shuffled.

    Batch ``i`` depends only on ``(seed, i)``; ``workers > 0`` loads in worker processes.
    Items must share one size (use an ``Augment`` with ``crop``).
    """
    return SeededBatches(_PairDraw(dataset, batch_size, seed), seed=seed, workers=workers)


def held_out(dataset: PairDataset, *, seed: int = 0, limit: int | None = None) -> list[tuple[Tensor, Tensor]]:
    """Fixed validation pairs ``(1, 3, H, W)``: item ``i`` drawn with ``step_generator(seed, i)``.

    Build the dataset with ``augment=None`` to score whole images.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    pairs = [dataset.sample(i, step_generator(seed, i)) for i in range(count)]
    return [(low[None], high[None]) for low, high in pairs]
