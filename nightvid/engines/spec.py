"""One engine's settings, checked once: ``EngineSpec``.

Every command builds one (the CLI from one shared set of options,
``cli.common.engine_spec``; the Python API from its keywords) and every engine is built
from one (``engines.create_engine(spec)``). A new setting is one field here.

Each field is a ``setting(..., picture=...)``: ``picture=True`` when another value changes
the enhanced picture (enhance-many's manifest and parts folder are keyed on those, so a
rerun with another value redoes the video), ``False`` when it only changes how fast or
where the picture is made. A field added without saying which is caught by a test.

Importing this module loads no torch: the CLI makes the spec before the slow imports,
and ``checked()`` (which needs the model registry) runs last.

Example:
    >>> spec = EngineSpec(model="lednet", workers=2)
    >>> sorted(spec.picture_settings())
    ['deblock', 'exposure', 'model', 'precision', 'tile', 'weights']
    >>> parse_tile("0") is None, parse_tile("auto"), parse_tile(256)
    (True, 'auto', 256)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nightvid.errors import NightvidError

if TYPE_CHECKING:
    from nightvid.engines.base import Engine

__all__ = [
    "AUTO_PRECISION",
    "MIN_TILE",
    "PICTURE",
    "EngineSpec",
    "check_counts",
    "parse_tile",
    "picture_fields",
    "setting",
]

#: The metadata key that says whether a field changes the picture.
PICTURE = "picture"
#: ``precision``: chosen per model and machine (``engines.build.resolve_precision``).
AUTO_PRECISION = "auto"
#: The smallest tile side ``--tile`` takes (smaller tiles are mostly overlap).
MIN_TILE = 64


def setting(default: Any, *, picture: bool) -> Any:
    """A field of ``EngineSpec`` that says whether it changes the picture."""
    return field(default=default, metadata={PICTURE: picture})


def parse_tile(text: str | int | None) -> int | str | None:
    """``--tile``: ``"auto"``, 0 (never: None) or a side of at least ``MIN_TILE`` px."""
    text = "0" if text is None else str(text)
    if text == "auto":
        return "auto"
    if text.isdigit() and (int(text) == 0 or int(text) >= MIN_TILE):
        return int(text) or None
    raise NightvidError(f"--tile takes auto, 0 (never) or a size of at least {MIN_TILE} px; got {text!r}")


def check_counts(**counts: int | None) -> None:
    """A NightvidError naming the first ``--name`` below 1."""
    for name, value in counts.items():
        if value is not None and value < 1:
            raise NightvidError(f"--{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class EngineSpec:
    """Which model to run and how: everything an engine is built from.

    ``model``: a registered net or a chain ``a+b`` (``nightvid models``). ``weights``: a
    safetensors file, ``"default"`` (the shipped file) or None (random: speed tests).
    ``exposure``: ``"default"`` (the model's choice), ``"auto"``, ``"lit"``, a mean luma
    in (0, 1), or None/``"none"`` (the net's own; ``nets.parse_exposure``). ``deblock``:
    smooth the codec's blocks out of dark areas first, where the model does.
    ``precision``: fp32, fp16 (CUDA), bf16, or ``"auto"`` (bf16 for the nets measured to
    keep their quality in it, ``NetInfo.cpu_bf16``, on a CPU with native bf16; else fp32).
    ``tile``: ``"auto"``, a side in px or 0
    (never). ``backend``: a row of ``engines.backends`` or ``"auto"``. ``device``: cpu,
    cuda, cuda:N (None: cuda if available). ``workers``: frames run at once on the CPU
    (None: the backend's default). ``batch``: frames per inference call.
    """

    model: str = setting("noiser", picture=True)
    weights: Path | str | None = setting("default", picture=True)
    exposure: float | str | None = setting("default", picture=True)
    deblock: bool = setting(True, picture=True)
    precision: str = setting("auto", picture=True)
    tile: int | str | None = setting("auto", picture=True)
    backend: str = setting("auto", picture=False)
    device: str | None = setting(None, picture=False)
    workers: int | None = setting(None, picture=False)
    batch: int = setting(1, picture=False)

    def checked(self) -> EngineSpec:
        """This spec validated and normalised (exposure parsed, tile parsed, weights a
        ``Path`` unless ``"default"``/None); builds nothing. The device is not checked:
        on a cluster the workers' may differ. Idempotent.

        Raises NightvidError with a one-line reason for the first bad value.
        """
        self.check_cheap()
        tile = parse_tile(self.tile)
        from nightvid import nets  # the model registry (torch): after the cheap checks
        from nightvid.engines.backends import BACKENDS
        from nightvid.engines.base import resolve_dtype

        exposure = nets.parse_exposure(self.exposure)
        nets.chain_parts(self.model)  # an unknown model names the available ones
        if self.backend not in BACKENDS:
            raise NightvidError(f"unknown backend {self.backend!r}; choose from {', '.join(BACKENDS)}")
        if self.precision != AUTO_PRECISION:
            resolve_dtype(self.precision)
        weights = self.weights if self.weights in (None, "default") else Path(self.weights)
        return replace(self, exposure=exposure, tile=tile, weights=weights, deblock=self.deblock is not False)

    def check_cheap(self) -> None:
        """The checks that load nothing (counts, the tile), for callers that refuse bad
        options before the slow imports and file checks; ``checked`` runs them too."""
        check_counts(workers=self.workers, batch=self.batch)
        parse_tile(self.tile)

    def picture_settings(self) -> dict[str, Any]:
        """The fields that change the picture, by name (JSON-ready: paths as text)."""
        return {name: _plain(getattr(self, name)) for name in picture_fields()}

    def for_model(self, model: str) -> EngineSpec:
        """The same settings for another model, with its shipped weights (the preview's ``m`` key)."""
        return replace(self, model=model, weights="default")

    def build(self, frame_size: tuple[int, int] | None = None) -> Engine:
        """The engine (``engines.create_engine``); ``frame_size`` ``(height, width)``: the
        frames it will mostly run, which ``auto``'s timed trial measures at."""
        from nightvid import engines

        return engines.create_engine(self, frame_size=frame_size)


def picture_fields() -> tuple[str, ...]:
    """The names of ``EngineSpec``'s fields that change the picture."""
    return tuple(f.name for f in fields(EngineSpec) if f.metadata[PICTURE])


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value
