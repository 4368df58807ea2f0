"""Score a model against plain baselines on the same images: RGB PSNR and SSIM (and, on
paired sets, SSIM over the darkest third of each reference: "dark SSIM").

Two kinds of test set:

- enhancement (``sigma=None``): a paired folder (``find_pairs`` layouts); each low image
  is enhanced and compared with its high image;
- denoising (``sigma`` given, 0-255 units): a folder of clean photos; each gets
  Gaussian noise N(0, sigma/255), drawn from ``step_generator(seed, index)`` so every
  run and every method sees the same noise, and is denoised. The noisy input is not
  clipped when fed to the model.

Every method's output is clamped to [0, 1] and scored with :func:`metrics.psnr` and
:func:`metrics.ssim` (RGB, full image, no border crop). Baselines:

- ``input``: the input as is (the noisy image, clamped to [0, 1], in denoising);
- ``gamma``: ``x ** (1 / 2.2)`` per channel (enhancement only);
- ``global gain``: ``x * 0.45 / mean(x)`` with the mean over all pixels and channels,
  clamped (enhancement only).

Inference runs the registered net through ``nets.build_enhancer`` in eval mode without
gradients, one image at a time, at full size, at the model's default brightness unless
``exposure`` says otherwise (``nets.parse_exposure``). ``exposure=0.45`` scores the model at
the global-gain baseline's brightness: a like-for-like comparison of what each method
does beyond exposure, since PSNR on these pairs moves by several dB with the mean
brightness alone (the ground truths are exposed like day, a night scene should not be).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nightvid import nets
from nightvid.engines.spec import EngineSpec
from nightvid.errors import NightvidError
from nightvid.trainers.data import (
    add_gaussian_noise,
    find_pairs,
    list_images,
    read_image,
)
from nightvid.trainers.loop import step_generator
from nightvid.trainers.metrics import psnr, ssim_and_dark_third

__all__ = [
    "BASELINES",
    "GAIN_TARGET",
    "GAMMA",
    "EvalReport",
    "evaluate_model",
    "gamma_curve",
    "global_gain",
    "score_methods",
]

log = logging.getLogger(__name__)

GAMMA = 2.2
GAIN_TARGET = 0.45


def gamma_curve(x: Tensor, gamma: float = GAMMA) -> Tensor:
    """``x ** (1 / gamma)`` per channel (sRGB in [0, 1] -> same shape).

    Example:
        >>> gamma_curve(torch.full((1, 3, 2, 2), 0.25), 2.0).max()
        tensor(0.5000)
    """
    return x.clamp(0.0, 1.0).pow(1.0 / gamma)


def global_gain(x: Tensor, target: float = GAIN_TARGET, eps: float = 1e-6) -> Tensor:
    """Scale each image so that its mean (over pixels and channels) is ``target``; clamp to [0, 1].

    Example:
        >>> global_gain(torch.full((1, 3, 2, 2), 0.1)).mean()
        tensor(0.4500)
    """
    mean = x.mean(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    return (x * (target / mean)).clamp(0.0, 1.0)


#: Baselines by name, for enhancement sets; denoising sets use only ``input``.
BASELINES: dict[str, Callable[[Tensor], Tensor]] = {
    "input": lambda x: x,
    "gamma": gamma_curve,
    "global gain": global_gain,
}


@dataclass
class EvalReport:
    """Per-image and mean scores of every method on one test set."""

    model: str
    weights: str | None
    data: str
    sigma: float | None
    images: list[str]
    #: the ``--exposure`` the model ran at ("default": its registered choice).
    exposure: float | str | None = "default"
    #: method -> list of ``(psnr, ssim)`` per image, in ``images`` order.
    scores: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    seconds: float = 0.0
    #: method -> SSIM over the darkest third of each target (``metrics.ssim_and_dark_third``).
    dark: dict[str, list[float]] = field(default_factory=dict)

    def mean(self, method: str) -> tuple[float, float]:
        rows = self.scores[method]
        return sum(p for p, _ in rows) / len(rows), sum(s for _, s in rows) / len(rows)

    def mean_dark(self, method: str) -> float | None:
        rows = self.dark.get(method)
        return sum(rows) / len(rows) if rows else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights": self.weights,
            "data": self.data,
            "sigma": self.sigma,
            "exposure": "none" if self.exposure is None else self.exposure,
            "baselines": {
                "input": "the input as is" + (" (noisy, clamped to [0, 1])" if self.sigma else ""),
                **(
                    {}
                    if self.sigma
                    else {"gamma": f"x ** (1/{GAMMA})", "global gain": f"x * {GAIN_TARGET} / mean(x), clamped"}
                ),
            },
            "methods": {
                method: {
                    "mean": {
                        **dict(zip(("psnr", "ssim"), self.mean(method), strict=False)),
                        "dark_ssim": self.mean_dark(method),
                    },
                    "images": [
                        {"name": n, "psnr": p, "ssim": s, "dark_ssim": d}
                        for n, (p, s), d in zip(
                            self.images, rows, self.dark.get(method, [None] * len(rows)), strict=False
                        )
                    ],
                }
                for method, rows in self.scores.items()
            },
            "seconds": round(self.seconds, 2),
        }


def _test_items(data: Path, *, sigma: float | None, limit: int | None) -> list[tuple[str, Path, Path]]:
    """``(name, input file, target file)`` of each test image, the first ``limit``."""
    if sigma is None:
        items = [(low.name, low, high) for low, high in find_pairs(data, split="eval")]
    else:
        items = [(p.name, p, p) for p in list_images(data)]
    return items[:limit]


def _test_images(
    items: list[tuple[str, Path, Path]], *, sigma: float | None, seed: int
) -> Iterator[tuple[str, Tensor, Tensor]]:
    """``(name, input (1, 3, H, W), target)`` for each of ``_test_items``."""
    for index, (name, src, ref) in enumerate(items):
        target = read_image(ref)[None]
        if sigma is None:
            source = read_image(src)[None]
            if source.shape != target.shape:
                raise NightvidError(f"{src} and its target differ in size")
        else:
            source = add_gaussian_noise(target, sigma / 255.0, generator=step_generator(seed, index))
        yield name, source, target


def _engine_method(spec: EngineSpec) -> Callable[[Tensor], Tensor]:
    """The engine of ``spec`` as a method on one float ``(1, 3, H, W)`` CPU image."""
    from nightvid.engines import create_engine

    engine = create_engine(spec)
    return lambda x: engine(x.to(engine.device, engine.dtype)).float().cpu()


def score_methods(
    methods: dict[str, Callable[[Tensor], Tensor]],
    images: Iterator[tuple[str, Tensor, Tensor]],
    *,
    dark: dict[str, list[float]] | None = None,
    total: int | None = None,
    on_progress: Callable[[int, int | None, str], None] | None = None,
) -> tuple[list[str], dict[str, list[tuple[float, float]]]]:
    """Run every method on every ``(name, input, target)``; clamp, score, collect.

    With ``dark`` (filled in place) each method's SSIM over the darkest third of the target
    is collected too. ``on_progress(done, total, name)`` after each image (``total``: how
    many ``images`` holds, if known)."""
    names: list[str] = []
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    if on_progress is not None:
        on_progress(0, total, "")
    with torch.no_grad():
        for name, source, target in images:
            names.append(name)
            for method, run in methods.items():
                out = run(source).clamp(0.0, 1.0)
                whole, dark_third = ssim_and_dark_third(out, target)
                scores[method].append((psnr(out, target).item(), whole.item()))
                if dark is not None:
                    dark.setdefault(method, []).append(dark_third.item())
            log.info("%s: %s", name, {m: s[-1] for m, s in scores.items()})
            if on_progress is not None:
                on_progress(len(names), total, name)
    if not names:
        raise NightvidError("no test images")
    return names, scores


def evaluate_model(
    spec: EngineSpec | str | None,
    data: Path | str,
    *,
    sigma: float | None = None,
    limit: int | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int | None, str], None] | None = None,
    **settings: Any,
) -> EvalReport:
    """Score the engine ``spec`` describes (None = baselines only) and the baselines on ``data``.

    ``spec``: an ``EngineSpec``, or a model name with its fields as keywords (``weights``,
    ``exposure``, ``precision``, ...; a name alone runs eager on the CPU, the reference
    path). The model runs as ``nightvid enhance`` runs it (``create_engine``), so a
    precision or backend is scored as users get it. ``sigma`` (0-255) switches to
    denoising: ``data`` is then a folder of clean images. ``limit`` keeps the first N
    images. ``exposure`` is the model's brightness (``nets.parse_exposure``; see the
    module doc). ``on_progress(done, total, name)`` after each image.
    """
    data = Path(data)
    if sigma is not None and sigma <= 0:
        raise NightvidError(f"sigma must be > 0, got {sigma}")
    if isinstance(spec, str):
        spec = EngineSpec(**{"model": spec, "backend": "eager", "device": "cpu", **settings})
    elif spec is not None and settings:
        spec = replace(spec, **settings)
    methods: dict[str, Callable[[Tensor], Tensor]] = {}
    if spec is not None:
        spec = spec.checked()
        methods[spec.model] = _engine_method(spec)
    wanted = ("input",) if sigma is not None else tuple(BASELINES)
    methods.update({name: BASELINES[name] for name in wanted})
    started = time.perf_counter()
    dark: dict[str, list[float]] = {}
    items = _test_items(data, sigma=sigma, limit=limit)
    names, scores = score_methods(
        methods,
        _test_images(items, sigma=sigma, seed=seed),
        dark=dark if sigma is None else None,
        total=len(items),
        on_progress=on_progress,
    )
    if spec is None:
        shown: str | None = None
    elif spec.weights == "default":
        shown = nets.CHAIN.join(str(nets.shipped_weights(p)) for p in nets.chain_parts(spec.model))
    else:
        shown = None if spec.weights is None else str(spec.weights)
    return EvalReport(
        spec.model if spec is not None else "-",
        shown,
        str(data),
        sigma,
        names,
        exposure=spec.exposure if spec is not None else "default",
        scores=scores,
        seconds=time.perf_counter() - started,
        dark=dark,
    )
