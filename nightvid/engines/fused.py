"""The ``fused`` backend: NoiSER as one native pass over row tiles on the CPU.

Why: NoiSER has 1,763 parameters and is memory-bound everywhere else. Eager, ONNX
Runtime and AOTInductor each write its 32-channel map (118 MB per 720p frame in fp32)
and read it back several times; here a first pass sums the input's patch statistics
(``noiser_fold``), and the second computes conv1 (normalisation folded in) -> GELU ->
conv2 -> tanh -> the colour post-step row by row in ``kernels/noiser.cpp``, so
only the 3-channel frame touches memory. Numbers: docs/BENCHMARKS.md, "Fused NoiSER".

The Enhancer around the net keeps its meaning: [0, 1] in and out, clamped, then the
optional input-colour mix and exposure curve, by calling ``Enhancer.finish`` as
``Enhancer.forward`` does. NoiSER takes any size
(``size_multiple`` 1), so there is no padding to do. fp32 only.
"""

from __future__ import annotations

import ctypes
import inspect
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from nightvid import nets
from nightvid.engines.base import Engine
from nightvid.engines.noiser_fold import NoiserWeights, fold
from nightvid.errors import NightvidError
from nightvid.native import load_kernel
from nightvid.nets.colour import BLACK_FLOOR, REC709, black_floor_tint, keep_input_colour, neutral_black
from nightvid.nets.deblock import BLOCKINESS, DARK_DEBLOCK, NOISE, SCALE, cell_windows
from nightvid.nets.noiser import NoiSER

__all__ = ["FusedNoiser", "build_fused", "check_fused"]

_F32 = ctypes.POINTER(ctypes.c_float)
_F64 = ctypes.POINTER(ctypes.c_double)
_U8 = ctypes.POINTER(ctypes.c_ubyte)
_INT, _LONG = ctypes.c_int, ctypes.c_long
_WEIGHTS = [_F32] * 5  # w1, b1, w2, b2, post


def _signatures(lib: ctypes.CDLL) -> ctypes.CDLL:
    for kind, pointer in (("f32", _F32), ("u8", _U8)):
        stats = getattr(lib, f"nv_noiser_stats_{kind}")
        read = [_F32] if kind == "u8" else []  # an 8-bit level's scale and shift per channel
        stats.argtypes = [pointer, _LONG, _LONG, _LONG, _INT, _INT, *read, _F32, _F64, _F64, _INT]
        stats.restype = _INT
    lib.nv_noiser_run_f32.argtypes = [_F32, _LONG, _LONG, _LONG, _INT, _INT, _F32, _LONG, _LONG, _LONG, *_WEIGHTS, _INT]
    lib.nv_noiser_run_u8.argtypes = [
        _U8,
        *(_LONG,) * 3,
        _INT,
        _INT,
        _F32,
        _U8,
        *(_LONG,) * 3,
        ctypes.c_float,
        *_WEIGHTS,
        _INT,
    ]
    lib.nv_noiser_run_f32.restype = lib.nv_noiser_run_u8.restype = lib.nv_noiser_hidden.restype = _INT
    return lib


def _deblock_signature(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.nv_deblock_f32.argtypes = [_F32, _LONG, _LONG, _LONG, _INT, _INT, _F32, _LONG, _LONG, _LONG, _F32, _F32, _INT]
    lib.nv_deblock_f32.restype = _INT
    return lib


def _ptr(t: Tensor, kind: type[ctypes._Pointer]) -> ctypes._Pointer:
    return ctypes.cast(t.data_ptr(), kind)


def _parts(net: nn.Module) -> tuple[nn.Conv2d, nn.InstanceNorm2d, nn.Conv2d]:
    """NoiSER's layers, or a NightvidError saying why the kernel cannot run this net."""
    if not isinstance(net, NoiSER):
        raise NightvidError(f"the fused backend runs NoiSER only, not {type(net).__name__}")
    conv1, norm, conv2 = net.body[0], net.body[1], net.body[3]
    assert isinstance(conv1, nn.Conv2d) and isinstance(norm, nn.InstanceNorm2d) and isinstance(conv2, nn.Conv2d)
    if conv1.out_channels != load_kernel("noiser").nv_noiser_hidden():
        raise NightvidError(f"the fused kernel is built for 32 hidden channels, this NoiSER has {conv1.out_channels}")
    if conv1.padding_mode != "replicate" or conv2.padding_mode != "replicate" or norm.affine:
        raise NightvidError("the fused kernel covers NoiSER with replicate padding and a plain instance norm")
    return conv1, norm, conv2


class FusedNoiser:
    """An ``Enhancer`` of NoiSER as a callable on float ``(B, 3, H, W)`` [0, 1] CPU batches."""

    def __init__(self, enhancer: nn.Module, threads: int | None = None) -> None:
        net = getattr(enhancer, "net", None)
        if not isinstance(enhancer, nets.Enhancer) or net is None:
            raise NightvidError("the fused backend runs a single NoiSER model, not a chain")
        if enhancer.brightest_input is not None:
            raise NightvidError("the fused kernel does not dim bright inputs (brightest_input); use another backend")
        conv1, norm, conv2 = _parts(net)
        self.lib = _signatures(load_kernel("noiser"))
        self.weights = NoiserWeights.of(conv1, conv2, norm.eps)
        eps = float(inspect.signature(keep_input_colour).parameters["eps"].default)
        self.post = torch.tensor([net.colour, net.max_gain, net.dark_level, eps, *REC709], dtype=torch.float32)
        self.enhancer = enhancer
        self.threads = threads
        self.deblock_lib = _deblock_signature(load_kernel("deblock")) if enhancer.deblock_dark else None
        dark, fade, _, _, eps_levels = DARK_DEBLOCK
        chroma_cells, luma_cells, block_cells = cell_windows()
        grid, _, low, high, floor = BLOCKINESS
        self.deblock_params = torch.tensor(
            [dark, fade, chroma_cells, luma_cells, eps_levels / 255.0, SCALE, *REC709]
            + [block_cells, grid, low, high, floor / 255.0, *NOISE],
            dtype=torch.float32,
        )

    def _folded(
        self, image: Tensor, chw: tuple[int, int, int], centre: Tensor, *, read: Tensor | None = None
    ) -> tuple[Tensor, ...]:
        """Pass 1: the frame's patch statistics -> the kernel's weights (w1, b1, w2, b2, post),
        norm folded in. ``read``: how an 8-bit frame's levels are read (``_read_u8``); None for floats."""
        s1 = torch.zeros(27, dtype=torch.float64)
        s2 = torch.zeros(27, 27, dtype=torch.float64)
        height, width = image.shape[chw[1]], image.shape[chw[2]]
        strides = (image.stride(chw[0]), image.stride(chw[1]), image.stride(chw[2]))
        centre = centre.float().contiguous()
        head: tuple[object, ...] = (_ptr(image, _F32), *strides, height, width)
        stats = self.lib.nv_noiser_stats_f32
        if read is not None:
            head, stats = (_ptr(image, _U8), *strides, height, width, _ptr(read, _F32)), self.lib.nv_noiser_stats_u8
        code = stats(
            *head,
            _ptr(centre, _F32),
            _ptr(s1, _F64),
            _ptr(s2, _F64),
            self._threads(),
        )
        assert code == 0, f"nv_noiser_stats failed on a {height}x{width} image"
        conv1 = fold(self.weights, centre, s1, s2, height * width)
        return conv1.w1, conv1.b1, self.weights.w2, self.weights.b2, self.post

    def _read_u8(self, image: Tensor) -> Tensor:
        """How the kernel reads an 8-bit ``(H, W, 3)`` frame: per channel ``level * scale + shift``
        as ``(scale_r, scale_g, scale_b, shift_r, shift_g, shift_b)``: level / 255, then the
        Enhancer's black-floor step (``nets.colour.neutral_black``) on the same pixels."""
        tint = torch.zeros(3)
        if self.enhancer.neutral_black:
            step = BLACK_FLOOR[2]
            grid = image[::step, ::step].permute(2, 0, 1)[None].float() / 255.0
            tint = black_floor_tint(grid, step=1).flatten()
        return torch.cat([1.0 / (255.0 * (1.0 - tint)), -tint / (1.0 - tint)]).float().contiguous()

    def _deblock(self, x: Tensor, tints: Tensor | None = None) -> Tensor:
        """``nets.deblock.deblock_dark(x)`` by the native kernel (``kernels/deblock.cpp``);
        with ``tints`` (``black_floor_tint(x)``), ``deblock_dark(neutral_black(x))`` in the
        same passes."""
        assert self.deblock_lib is not None
        out = torch.empty_like(x)
        per_image = [None] * len(x) if tints is None else list(tints.reshape(-1, 3).float().contiguous())
        for image, target, tint in zip(x, out, per_image, strict=True):
            height, width = image.shape[1:]
            code = self.deblock_lib.nv_deblock_f32(
                _ptr(image, _F32),
                *image.stride(),
                height,
                width,
                _ptr(target, _F32),
                *target.stride(),
                _ptr(self.deblock_params, _F32),
                None if tint is None else _ptr(tint, _F32),
                self._threads(),
            )
            assert code == 0, f"nv_deblock failed on a {height}x{width} image"
        return out

    def _threads(self) -> int:
        return self.threads or torch.get_num_threads()

    def _one(self, x: Tensor, out: Tensor) -> None:
        """One image ``(3, H, W)`` in [0, 1] into ``out`` (same shape, any strides)."""
        _, height, width = x.shape
        weights = self._folded(x, (0, 1, 2), x.mean(dim=(1, 2)))
        code = self.lib.nv_noiser_run_f32(
            _ptr(x, _F32),
            *x.stride(),
            height,
            width,
            _ptr(out, _F32),
            *out.stride(),
            *(_ptr(t, _F32) for t in weights),
            self._threads(),
        )
        assert code == 0, f"nv_noiser_run failed on a {height}x{width} image"

    def frames(self, batch: np.ndarray, gain: float) -> np.ndarray | None:
        """8-bit ``(B, H, W, 3)`` frames straight to 8-bit frames (``Engine.frames_fn``); None
        for deeper video or when the Enhancer adds a colour mix or an exposure curve (``lit``
        only bends a lamp-lit frame, so frames that cannot be lamp-lit stay on this path), or
        smooths the dark blocks first (``deblock_dark``: the float path runs its kernel first)."""
        if batch.dtype != np.uint8 or self.enhancer.input_colour or self.enhancer.deblock_dark:
            return None
        exposure = self.enhancer.exposure
        if exposure == nets.LIT:
            if _may_be_lamp_lit(batch):
                return None
        elif exposure is not None:
            return None
        frames = torch.from_numpy(np.ascontiguousarray(batch))
        out = torch.empty_like(frames)
        height, width = frames.shape[1:3]
        for image, target in zip(frames, out, strict=True):
            read = self._read_u8(image)
            centre = image[::8, ::8].reshape(-1, 3).float().mean(dim=0) * read[:3] + read[3:]
            weights = self._folded(image, (2, 0, 1), centre, read=read)
            code = self.lib.nv_noiser_run_u8(
                _ptr(image, _U8),
                image.stride(2),
                image.stride(0),
                image.stride(1),
                height,
                width,
                _ptr(read, _F32),
                _ptr(target, _U8),
                target.stride(2),
                target.stride(0),
                target.stride(1),
                gain,
                *(_ptr(t, _F32) for t in weights),
                self._threads(),
            )
            assert code == 0, f"nv_noiser_run failed on a {height}x{width} image"
        return out.numpy()

    def __call__(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise NightvidError(f"the fused backend takes (B, 3, H, W) batches, got {tuple(x.shape)}")
        if x.dtype != torch.float32 or x.device.type != "cpu":
            x = x.to(device="cpu", dtype=torch.float32)
        if self.enhancer.deblock_dark:  # the black floor taken off as the kernel reads the frame
            x = self._deblock(x, black_floor_tint(x) if self.enhancer.neutral_black else None)
        elif self.enhancer.neutral_black:
            x = neutral_black(x)
        y = torch.empty_like(x)
        for source, target in zip(x, y, strict=True):
            self._one(source, target)
        if self.enhancer.exposure == nets.LIT and not self.enhancer.input_colour and not _may_be_lamp_lit_float(x):
            return y  # `lit` leaves a frame that cannot be lamp-lit as it is: skip its costly check
        return self.enhancer.finish(x, y)


def _least_lamp_green() -> float:
    """A pixel reaches luma ``LIT_SCENE``'s WHITE only if its green reaches this (luma weighs
    green by 0.72, and red and blue add at most 0.28)."""
    return (nets.LIT_SCENE[0] - REC709[0] - REC709[2]) / REC709[1]


def _enough_bright_greens(bright: Tensor | np.ndarray, pixels: int) -> bool:
    """True if any frame's count of greens at or over :func:`_least_lamp_green` could make it
    lamp-lit (``nets.lamp_lit_share`` above 0), without computing luma."""
    return bool((bright >= 0.99 * nets.LIT_SCENE[1] * pixels).any())


def _may_be_lamp_lit(batch: np.ndarray) -> bool:
    """False only if no 8-bit ``(B, H, W, 3)`` frame of ``batch`` can count as lamp-lit."""
    bright = np.count_nonzero(batch[..., 1] >= int(_least_lamp_green() * 255) - 1, axis=(1, 2))
    return _enough_bright_greens(bright, batch.shape[1] * batch.shape[2])


def _may_be_lamp_lit_float(x: Tensor) -> bool:
    """:func:`_may_be_lamp_lit` for float ``(B, 3, H, W)`` frames in [0, 1]."""
    bright = (x[:, 1] >= _least_lamp_green() - 1.0 / 255.0).sum(dim=(1, 2))
    return _enough_bright_greens(bright, x.shape[2] * x.shape[3])


def check_fused(device: torch.device, dtype: torch.dtype) -> None:
    """A NightvidError unless the fused kernel can run here: CPU, fp32, a compiler that builds it."""
    if device.type != "cpu":
        raise NightvidError(f"the fused backend runs on the CPU, not {device.type}")
    if dtype != torch.float32:
        raise NightvidError("the fused backend runs fp32 only; use --precision fp32")
    load_kernel("noiser")


def build_fused(enhancer: nn.Module, *, device: torch.device, dtype: torch.dtype, workers: int = 1) -> Engine:
    """The fused engine for a NoiSER ``Enhancer`` (see the module docstring).

    ``workers`` frames run at once, each call on its share of torch's CPU threads.
    """
    check_fused(device, dtype)
    fused = FusedNoiser(enhancer, threads=max(1, torch.get_num_threads() // workers))
    fn: Callable[[Tensor], Tensor] = fused
    return Engine(fn=fn, backend="fused", device=device, dtype=dtype, workers=workers, frames_fn=fused.frames)
