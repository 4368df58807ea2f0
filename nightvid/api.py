"""The Python API: ``nightvid.enhance`` (a file, as ``nightvid enhance`` does) and
``nightvid.load`` (an engine for frames you bring). Documented in docs/PYTHON.md.

This module imports nothing heavy: torch, numpy and PyAV load when a function runs, so
``help(nightvid.enhance)`` is instant and ``import nightvid`` stays light.

``enhance`` builds the same values as the CLI (``engines.EngineSpec``,
``EncodeOptions``, ``EnhanceJob``) with the same defaults and runs ``EnhanceJob.run``;
the two write the same frames for the same options (tests/test_api.py checks it).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, overload

from nightvid.engines.spec import EngineSpec
from nightvid.errors import NightvidError
from nightvid.jobs.enhance import DEFAULT_TEMPORAL, EnhanceJob, output_path
from nightvid.streamer.encode_options import EncodeOptions

if TYPE_CHECKING:  # torch and numpy load only when an engine is built
    import numpy as np
    import torch
    from typing_extensions import Unpack

    from nightvid.engines.base import Engine

__all__ = ["EncodeExtras", "FrameEnhancer", "enhance", "load"]

#: A path as ``open`` takes it.
PathLike = str | os.PathLike[str]
#: ``on_progress(done, total)``: frames written so far, and the total (None when unknown).
ProgressCallback = Callable[[int, "int | None"], None]


class EncodeExtras(TypedDict, total=False):
    """The rest of ``nightvid enhance``'s encoding flags, as ``enhance(..., **encode)`` keywords."""

    #: ``--codec``: "auto" (libx264, or what the container holds: .webm -> libvpx-vp9), or an encoder.
    codec: str
    #: ``--pix-fmt``: "auto" (yuv420p, 10-bit for 10-bit sources where the codec can) or a pixel format.
    pix_fmt: str
    #: ``--bitrate``: an average bitrate ("300k", "2.5M") instead of constant quality.
    bitrate: str | None
    #: ``--audio-codec``: "copy", "none", or an audio encoder ("aac", "libopus", ...).
    audio_codec: str
    #: ``--encoder-opt``: the encoder's own options, ``{"tune": "film"}`` or ``["tune=film"]``.
    encoder_opt: Mapping[str, str] | Sequence[str]
    #: ``--quiet``: also silence encoders that print to the console themselves (x265).
    quiet: bool


_ENCODE_KEYS = tuple(EncodeExtras.__annotations__)
#: A command-line flag in a library message: ``--crf``, ``--no-deblock`` (not ``a--b`` in a path).
_FLAG = re.compile(r"(?<![\w/.-])--([a-z][a-z0-9-]*)\b")


@functools.cache
def _parameters() -> dict[str, bool]:
    """The keyword parameters of ``enhance`` and ``load`` (and ``EncodeExtras``), True for a bool."""
    names = {key: key == "quiet" for key in _ENCODE_KEYS}
    for function in (enhance, load):
        for name, parameter in inspect.signature(function).parameters.items():
            names[name] = parameter.annotation in ("bool", "bool | None")
    return names


def _python_words(message: str) -> str:
    """A library message as a Python caller reads it: the CLI's ``--pix-fmt`` as
    ``pix_fmt``, ``--overwrite`` as ``overwrite=True``, ``--no-deblock`` as
    ``deblock=False``; flags that are no parameter here are left as they are."""
    parameters = _parameters()

    def word(match: re.Match[str]) -> str:
        flag = match.group(1).replace("-", "_")
        if flag.startswith("no_") and parameters.get(flag[3:]):
            return f"{flag[3:]}=False"
        if flag not in parameters:
            return match.group(0)
        return f"{flag}=True" if parameters[flag] else flag

    return _FLAG.sub(word, message)


def _python_error(err: NightvidError) -> NightvidError:
    """``err`` with its message in ``_python_words``, on one line."""
    return NightvidError(" ".join(_python_words(str(err)).split()))


def _encode_options(crf: int | None, preset: str | None, extras: dict[str, Any]) -> EncodeOptions:
    """``EncodeOptions`` as ``cli.common.encode_options`` builds it from the same flags."""
    unknown = sorted(set(extras) - set(_ENCODE_KEYS))
    if unknown:
        raise NightvidError(
            f"enhance() got an unknown option {unknown[0]!r}; it takes {', '.join(_ENCODE_KEYS)} "
            "beside its named parameters"
        )
    defaults = EncodeOptions()
    given = extras.get("encoder_opt") or ()
    if isinstance(given, str):
        raise NightvidError(f"encoder_opt takes a dict or a list of KEY=VALUE strings, got the string {given!r}")
    items = [f"{key}={value}" for key, value in given.items()] if isinstance(given, Mapping) else list(given)
    return EncodeOptions(
        codec=extras.get("codec", defaults.codec),
        crf=defaults.crf if crf is None else crf,
        preset=defaults.preset if preset is None else preset,
        pix_fmt=extras.get("pix_fmt", defaults.pix_fmt),
        extra=tuple(str(item) for item in items),
        quiet=bool(extras.get("quiet", False)),
        bitrate=extras.get("bitrate"),
        audio_codec=extras.get("audio_codec", defaults.audio_codec),
    )


def enhance(
    src: PathLike,
    dst: PathLike,
    *,
    model: str = "noiser",
    weights: PathLike | None = None,
    backend: str = "auto",
    device: str | None = None,
    precision: str = "auto",
    exposure: float | str | None = "default",
    deblock: bool = True,
    temporal: int = DEFAULT_TEMPORAL,
    stabilize: bool = True,
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
    strict: bool = False,
    keep_partial: bool = False,
    batch: int = 1,
    workers: int | None = None,
    tile: str | int = "auto",
    start: float | str | None = None,
    duration: float | str | None = None,
    scale: str | float | None = None,
    on_progress: ProgressCallback | None = None,
    **encode: Unpack[EncodeExtras],
) -> dict[str, Any]:
    """Enhance every frame of the video ``src`` into ``dst``, as ``nightvid enhance`` does.

    Audio and subtitles are copied untouched; every frame keeps its time. ``dst`` appears
    only when everything succeeded (it is written beside itself under a temporary name).
    Every option is checked before a frame is decoded or an engine is built. A photo
    ``src`` with an image ``dst`` (.png, .jpg, .bmp, .tif, .webp) is enhanced into that image.

    Args:
        src: the input video (or a photo).
        dst: the output video; its extension picks the container (.mp4, .mkv, .webm, ...);
            an image file for a photo.
        model: ``noiser`` (default: tiny, fast, shipped weights), ``lednet``, ``kind``,
            ``denoiser``, or a chain such as ``denoiser+noiser`` (``nightvid models``).
        weights: a ``.safetensors`` file; None: the weights shipped with the package.
        backend: ``auto`` (the fastest one installed here), ``eager``, ``fused``,
            ``inductor``, ``inductor-jit``, ``onnx`` or ``tensorrt``.
        device: ``cpu``, ``cuda`` or ``cuda:N``; None: CUDA when present, else the CPU.
        precision: ``auto`` (bf16 for LEDNet and KinD on a CPU with native bf16, else
            fp32), ``fp32``, ``fp16`` or ``bf16``.
        exposure: ``default`` (the model's choice), ``auto`` (from the input's
            brightness), ``lit``, ``none`` (the net's own) or the output's mean luma (0-1).
        deblock: smooth the codec's blocks out of dark areas first, where the model does;
            False is faster.
        temporal: frames fused against noise that boils from frame to frame (odd, 1 = off).
        stabilize: smooth the output brightness over time, restarting at scene cuts (on by
            default; False turns it off).
        crf: constant rate factor (lower = better); None: the CLI's default (18).
        preset: encoder speed preset (x264/x265: ultrafast .. veryslow); None: the
            CLI's default (veryfast).
        overwrite: replace ``dst`` if it exists (else that is an error).
        strict: fail on any damage in ``src`` (default: skip what does not decode, as
            FFmpeg does, and say so in ``warnings``).
        keep_partial: with ``strict``: if ``src`` is damaged, keep the frames before the damage.
        batch: frames per inference call.
        workers: frames enhanced at once on the CPU (onnx backend); None: the backend's default.
        tile: ``auto`` (tiles only when a frame would not fit in memory), a tile side in
            pixels, or 0 (never).
        start: enhance from this time of ``src``, in seconds (or ``"1:30"``); the output
            starts at 0. None: the beginning.
        duration: enhance this many seconds (or ``"0:10"``) from ``start``, the frames
            ``ffmpeg -ss START -i SRC -t DURATION`` keeps; None: to the end.
        scale: the output size, scaled after the model: ``"1280x720"``, ``"720p"`` (the
            width from the picture's shape) or a factor (``0.5``); None: the source's.
        on_progress: called as ``on_progress(done, total)`` after each batch (``total``
            is None when the input does not say).
        **encode: the other encoding flags (``EncodeExtras``): ``codec``, ``pix_fmt``,
            ``bitrate``, ``audio_codec``, ``encoder_opt``, ``quiet``.

    Returns:
        The summary that ``nightvid enhance --json`` prints, as a dict: ``input``,
        ``output``, ``frames``, ``seconds``, ``fps``, ``width``, ``height``, ``pix_fmt``,
        ``truncated``, ``warnings``, ``dropped`` and ``damage``.

    Raises:
        NightvidError: a problem you can fix (a missing input, an output that exists, a
            bad option, damage with ``strict``), with a one-line message. Nothing is left
            under ``dst``.

    Example:
        >>> import nightvid
        >>> summary = nightvid.enhance("night.mp4", "night-bright.mp4", model="lednet")  # doctest: +SKIP
        >>> print(summary["frames"], "frames at", round(summary["fps"], 1), "fps")  # doctest: +SKIP
    """
    engine = EngineSpec(
        model=model,
        weights="default" if weights is None else Path(weights),
        backend=backend,
        precision=precision,
        workers=workers,
        exposure=exposure,
        deblock=deblock,
        device=device,
        batch=batch,
        tile=tile,
    )
    try:
        job = EnhanceJob(
            Path(src),
            output_path(os.fspath(dst)),  # as typed: "out.mp4/" names a folder
            engine=engine,
            encode=_encode_options(crf, preset, dict(encode)),
            overwrite=overwrite,
            keep_partial=keep_partial,
            strict=strict,
            stabilize=stabilize,
            temporal=temporal,
            start=start,
            duration=duration,
            scale=scale,
        )
        return _run(job, on_progress)
    except NightvidError as err:
        raise _python_error(err) from None


def _run(job: EnhanceJob, on_progress: ProgressCallback | None) -> dict[str, Any]:
    """``job.run``; an OSError as the CLI says it, the summary as ``--json`` prints it."""
    try:
        summary = job.run(on_progress=on_progress)
    except OSError as err:  # cli.common.reported: disk full, the folder gone
        reason = err.strerror or str(err)
        raise NightvidError(f"cannot write {job.dst}: {reason}; nothing was written") from None
    # Through JSON, so the dict equals what `nightvid enhance --json` prints (lists, not tuples).
    result: dict[str, Any] = json.loads(json.dumps(summary.as_dict()))
    return result


class FrameEnhancer:
    """An engine for frames you bring: ``enhancer(frames)`` -> the enhanced frames.

    Made by ``nightvid.load``. Takes either

    - RGB numpy frames, ``uint8`` (0-255) or ``uint16`` (0-65535), ``(H, W, 3)`` or
      ``(B, H, W, 3)``, and returns a new array of the same shape and dtype; or
    - a torch float tensor ``(3, H, W)`` or ``(B, 3, H, W)``, sRGB in [0, 1], on any
      device, and returns a float tensor of the same shape, dtype and device, in [0, 1].

    Frames are RGB: OpenCV's BGR frames need ``cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)``.
    One call runs at a time: an enhancer is not meant to be shared between threads.

    Attributes:
        model: the model's name (``noiser``, ``lednet``, ...).
        backend: the backend that runs it (``auto`` resolved: ``fused``, ``eager``, ...).
        device: the torch device it runs on (``cpu``, ``cuda:0``).
        precision: what it runs in (``auto`` resolved): ``fp32``, ``fp16`` or ``bf16``.
        engine: the underlying ``nightvid.engines.Engine``.
    """

    def __init__(self, engine: Engine, *, model: str, precision: str = "fp32") -> None:
        self.engine = engine
        self.model = model
        self.precision = precision
        self.backend: str = engine.backend
        self.device: str = str(engine.device)

    def __repr__(self) -> str:
        return (
            f"FrameEnhancer(model={self.model!r}, backend={self.backend!r}, "
            f"device={self.device!r}, precision={self.precision!r})"
        )

    @overload
    def __call__(self, frames: np.ndarray) -> np.ndarray: ...

    @overload
    def __call__(self, frames: torch.Tensor) -> torch.Tensor: ...

    def __call__(self, frames: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Enhance ``frames`` (see the class docstring for the formats); a NightvidError
        with a one-line message for any other dtype or shape."""
        import numpy as np

        if isinstance(frames, np.ndarray):
            return self._frames(frames)
        import torch

        if isinstance(frames, torch.Tensor):
            return self._tensor(frames)
        raise NightvidError(
            f"frames must be a numpy array (H, W, 3) or (B, H, W, 3) of uint8 or uint16, or a torch float "
            f"tensor (3, H, W) or (B, 3, H, W); got {type(frames).__name__}"
        )

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        import numpy as np

        if frames.dtype not in (np.uint8, np.uint16):
            raise NightvidError(
                f"numpy frames must be uint8 or uint16 RGB, got {frames.dtype} "
                "(floats in [0, 1] go in as a torch tensor (B, 3, H, W))"
            )
        if frames.ndim not in (3, 4) or frames.shape[-1] != 3:
            raise NightvidError(f"numpy frames must be RGB (H, W, 3) or (B, H, W, 3), got shape {tuple(frames.shape)}")
        if 0 in frames.shape[-3:-1]:
            raise NightvidError(f"frames have no pixels: shape {tuple(frames.shape)}")
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        if len(batch) == 0:
            return frames.copy()
        # Contiguous: a view such as frame[..., ::-1] (BGR -> RGB) has negative strides.
        out = self.engine.enhance_frames(np.ascontiguousarray(batch))
        return out[0] if single else out

    def _tensor(self, frames: torch.Tensor) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        from nightvid.engines.base import MIN_SIDE

        if not frames.is_floating_point():
            raise NightvidError(
                f"tensor frames must be float (B, 3, H, W) in [0, 1], got {frames.dtype} "
                "(integer frames go in as a numpy array (B, H, W, 3))"
            )
        if frames.ndim not in (3, 4) or frames.shape[-3] != 3:
            raise NightvidError(f"tensor frames must be (3, H, W) or (B, 3, H, W), got shape {tuple(frames.shape)}")
        height, width = frames.shape[-2:]
        if height == 0 or width == 0:
            raise NightvidError(f"frames have no pixels: shape {tuple(frames.shape)}")
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        if len(batch) == 0:
            return frames.clone()
        x = batch.detach().to(device=self.engine.device, dtype=self.engine.dtype)
        if height < MIN_SIDE or width < MIN_SIDE:  # as Engine.submit: instance norm needs more than one pixel
            x = F.pad(x, (0, max(0, MIN_SIDE - width), 0, max(0, MIN_SIDE - height)), mode="replicate")
        with torch.inference_mode():
            y = self.engine(x.contiguous())[..., :height, :width]
        # Outside inference mode: a plain tensor the caller may use freely.
        out = y.clamp(0.0, 1.0).to(device=frames.device, dtype=frames.dtype)
        return out[0] if single else out


def load(
    model: str = "noiser",
    *,
    weights: PathLike | None = None,
    backend: str = "auto",
    device: str | None = None,
    precision: str = "auto",
    exposure: float | str | None = "default",
    deblock: bool | None = None,
) -> FrameEnhancer:
    """Build an engine for ``model`` and return it as a callable on your own frames.

    For frames from anywhere (OpenCV, PyAV, VapourSynth, a camera SDK): the returned
    ``FrameEnhancer`` takes RGB numpy ``uint8``/``uint16`` frames ``(H, W, 3)`` or
    ``(B, H, W, 3)`` and returns the same shape and dtype, or a torch float tensor
    ``(B, 3, H, W)`` / ``(3, H, W)`` in [0, 1] and returns the same. Building takes a
    moment (a compiled backend is built once and cached); build once, call per frame.

    Args:
        model: ``noiser`` (default), ``lednet``, ``kind``, ``denoiser``, or a chain such as
            ``denoiser+noiser``.
        weights: a ``.safetensors`` file; None: the weights shipped with the package.
        backend: ``auto`` (the fastest one installed here), ``eager``, ``fused``,
            ``inductor``, ``inductor-jit``, ``onnx`` or ``tensorrt``.
        device: ``cpu``, ``cuda`` or ``cuda:N``; None: CUDA when present, else the CPU.
        precision: ``auto`` (bf16 for LEDNet and KinD on a CPU with native bf16, else
            fp32), ``fp32``, ``fp16`` or ``bf16``.
        exposure: ``default`` (the model's choice), ``auto`` (from each batch's
            brightness), ``lit``, ``none`` (the net's own) or the output's mean luma (0-1).
        deblock: smooth the codec's blocks out of dark areas first: None (the model's
            choice, as ``enhance``'s default), True or False.

    Returns:
        A ``FrameEnhancer`` (``.model``, ``.backend``, ``.device``, ``.precision``).

    Raises:
        NightvidError: an unknown model, backend, device or precision, or weights that do
            not load, with a one-line message.

    Example:
        >>> import numpy as np, nightvid
        >>> engine = nightvid.load("noiser")
        >>> frames = np.full((2, 360, 640, 3), 12, np.uint8)   # two dark RGB frames
        >>> bright = engine(frames)
        >>> bright.shape, bright.dtype
        ((2, 360, 640, 3), dtype('uint8'))
    """
    try:
        return _load(
            model, "default" if weights is None else Path(weights), backend, device, precision, exposure, deblock
        )
    except NightvidError as err:
        raise _python_error(err) from None


def _load(
    model: str,
    weights: Path | str,
    backend: str,
    device: str | None,
    precision: str,
    exposure: float | str | None,
    deblock: bool | None,
) -> FrameEnhancer:
    spec = EngineSpec(
        model=model,
        weights=weights,
        backend=backend,
        precision=precision,
        exposure=exposure,
        deblock=deblock is not False,
        device=device,
        workers=1,  # one call at a time: a worker pool only pays off with batches submitted ahead
        tile=0,  # frames you bring run whole, as they always have (no memory probe on the first call)
    ).checked()  # the cheap checks first, with the CLI's messages
    engine = spec.build()
    return FrameEnhancer(engine, model=model, precision=engine.details.get("precision", precision))
