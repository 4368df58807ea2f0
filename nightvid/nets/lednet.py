"""LEDNet: joint low-light enhancement and deblurring.

Zhou, Li, Loy, "LEDNet: Joint Low-light Enhancement and Deblurring in the Dark",
ECCV 2022, https://arxiv.org/abs/2202.03373; official code github.com/sczhou/LEDNet
(``basicsr/archs/lednet_arch.py``), whose module layout this file keeps so that the
official checkpoints load with ``strict=True``.

Shape of the net (channels 32-64-128-128, 7,408,893 parameters):

- encoder: three residual blocks, each ending in a blur-pool residual downsampling, each
  followed by pyramid pooling (bins 1, 2, 3, 6) and a curve non-linear unit that
  brightens features with three learned per-pixel quadratic curves;
- two middle blocks at 1/8 scale, and a side head at 1/8 used only by the training loss;
- decoder: residual upsampling blocks, each followed by a filter-adaptive convolution
  (FAC) whose 5x5 per-pixel, per-channel kernels are predicted from the encoder features
  of the same scale (1/8, 1/4, 1/2) - this is where the deblurring happens.

Two departures in *form* (not in what is computed) keep the net exportable and lean:
the FAC is 25 shifted multiply-adds instead of ``unfold`` (which exporters dislike and
which materialises 25 shifted copies of the features), and adaptive average pooling is
a pair of small matrix products, whose windows stay right at every size of an exported
graph. Both have parity tests against the straightforward ops.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nightvid.errors import NightvidError
from nightvid.nets.checks import check_image_batch, checks_enabled
from nightvid.nets.registry import SICE_BRIGHTEST_INPUT, register_net
from nightvid.nets.weights import read_weights

__all__ = [
    "LEDNet",
    "LEDNetOutput",
    "filter_adaptive_conv",
    "filter_adaptive_conv_unfold",
    "lednet",
    "load_official_lednet",
    "pyramid_avg_pool2d",
]

_log = logging.getLogger(__name__)
#: What ``torch.load`` raises for a truncated, foreign or unsafe (non-weights) file.
_TORCH_LOAD_ERRORS = (
    pickle.UnpicklingError,
    RuntimeError,
    OSError,
    EOFError,
    ValueError,
)

#: Size of the FAC's per-pixel kernels (5x5 in the paper).
FAC_KERNEL_SIZE = 5
#: Pyramid pooling bins, as in PSPNet and the paper.
PPM_BINS = (1, 2, 3, 6)
#: Iterations of the curve non-linear unit.
CURVE_ITERATIONS = 3
#: The two input conventions of the official releases: the paper model (``lednet.pth``)
#: takes [0, 1]; the retrained one (``lednet_retrain_500000.pth``) takes and returns [-1, 1].
INPUT_RANGES = ((0.0, 1.0), (-1.0, 1.0))


# --------------------------------------------------------------------------- functions


def filter_adaptive_conv(feat: Tensor, kernel: Tensor, *, ksize: int = FAC_KERNEL_SIZE) -> Tensor:
    """Filter-adaptive convolution: every pixel and channel gets its own ``ksize`` x ``ksize`` filter.

    Written as ``ksize**2`` shifted multiply-adds over a replicate-padded copy of
    ``feat``: beyond ``kernel`` it needs a few feature maps at a time, where an
    ``unfold`` needs ``ksize**2`` shifted copies of the features plus a re-laid-out copy
    of ``kernel`` and the product (several tensors the size of ``kernel``). It uses only
    slicing, multiply and add, which every exporter and compiler handles with symbolic H
    and W. The LeakyReLU(0.2) that the official layer applies to its result is part of it.

    Args:
        feat: ``(B, C, H, W)`` features to filter.
        kernel: ``(B, C * ksize**2, H, W)``, channel-major: index ``c * ksize**2 + k``
            holds tap ``k = dy * ksize + dx`` of channel ``c`` (the official layout).
        ksize: odd kernel size.

    Returns:
        ``(B, C, H, W)``.

    Example:
        >>> feat, kernel = torch.rand(1, 4, 8, 8), torch.rand(1, 4 * 25, 8, 8)
        >>> filter_adaptive_conv(feat, kernel).shape
        torch.Size([1, 4, 8, 8])
    """
    pad = ksize // 2
    taps = kernel.unflatten(1, (feat.shape[1], ksize * ksize))
    padded = F.pad(feat, (pad, pad, pad, pad), mode="replicate")
    # Window [d, d + H) of the padded axis, with a constant (negative) end so that an
    # exported graph needs no size arithmetic per slice.
    window = [slice(d, d - 2 * pad or None) for d in range(ksize)]
    out = torch.zeros_like(feat)
    for dy in range(ksize):
        rows = padded[:, :, window[dy]]
        for dx in range(ksize):
            out = torch.addcmul(out, rows[..., window[dx]], taps[:, :, dy * ksize + dx])
    return F.leaky_relu(out, negative_slope=0.2)


def filter_adaptive_conv_unfold(feat: Tensor, kernel: Tensor, *, ksize: int = FAC_KERNEL_SIZE) -> Tensor:
    """The straightforward FAC (``unfold`` into patches, multiply, sum): the parity reference.

    Materialises every ``ksize`` x ``ksize`` patch of every pixel, so it needs several
    tensors the size of ``kernel`` at once; kept only to check ``filter_adaptive_conv``.
    """
    batch, channels, height, width = feat.shape
    pad = ksize // 2
    padded = F.pad(feat, (pad, pad, pad, pad), mode="replicate")
    patches = padded.unfold(2, ksize, 1).unfold(3, ksize, 1)  # (B, C, H, W, k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(batch, height, width, channels, -1)
    weights = kernel.permute(0, 2, 3, 1).reshape(batch, height, width, channels, -1)
    out = (patches * weights).sum(-1).permute(0, 3, 1, 2)
    return F.leaky_relu(out, negative_slope=0.2)


def _bin_weights(size: int, bins: Sequence[int], like: Tensor) -> Tensor:
    """``(sum(bins), size)`` averaging weights of adaptive pooling along one axis.

    Row ``r`` is bin ``i`` of a ``b``-bin grid, covering
    ``[floor(i * size / b), ceil((i + 1) * size / b))``: exactly the windows of
    ``F.adaptive_avg_pool2d``. Index ``j`` is inside iff ``i * size < (j + 1) * b`` and
    ``j * b < (i + 1) * size``: integer compares without division, on an ``arange`` so
    that ``size`` may be symbolic under export.
    """
    rows = [(i, b) for b in bins for i in range(b)]
    bin_index = torch.tensor([i for i, _ in rows], device=like.device)[:, None]
    bin_count = torch.tensor([b for _, b in rows], device=like.device)[:, None]
    index = torch.arange(size, device=like.device)[None, :]
    inside = (bin_index * size < (index + 1) * bin_count) & (index * bin_count < (bin_index + 1) * size)
    weights = inside.to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True)


def pyramid_avg_pool2d(x: Tensor, bins: Sequence[int]) -> list[Tensor]:
    """``[F.adaptive_avg_pool2d(x, b) for b in bins]`` as two small matrix products.

    The plain op's windows depend on H and W: ``torch.export`` keeps it, but the ONNX
    exporter bakes the example's windows into the graph, so the model is wrong at any
    other size. Averaging with ``(n, H)`` and ``(n, W)`` weight matrices (``n`` =
    ``sum(bins)``) gives the same windows on any symbolic size; all bins share one pair
    of matmuls, and the grids are the diagonal blocks of the ``n`` x ``n`` result. Costs
    about as much as one 1x1 convolution to ``n`` channels.

    Args:
        x: ``(B, C, H, W)``.
        bins: grid sizes.

    Returns:
        one ``(B, C, b, b)`` grid per ``b`` in ``bins``.

    Example:
        >>> [g.shape[-1] for g in pyramid_avg_pool2d(torch.rand(2, 4, 13, 20), (1, 2, 3, 6))]
        [1, 2, 3, 6]
    """
    rows = _bin_weights(x.shape[-2], bins, x)
    cols = _bin_weights(x.shape[-1], bins, x)
    # Both products multiply from the left, so matmul only merges the leading (B, C)
    # dims; ``t @ cols.T`` would flatten over W, which the exporter guards on.
    per_row = rows @ x  # (B, C, n, W)
    joint = (cols @ per_row.transpose(-1, -2)).transpose(-1, -2)  # (B, C, n, n)
    grids, start = [], 0
    for b in bins:
        grids.append(joint[:, :, start : start + b, start : start + b])
        start += b
    return grids


# --------------------------------------------------------------------------- blocks


class PyramidPooling(nn.Module):
    """Pyramid pooling: context from 1x1 to 6x6 grids, fused back into the features.

    Each bin is pooled, reduced to ``dim // 4`` channels and upsampled (bilinear,
    align_corners=True as in the official code); a 3x3 convolution fuses them with the
    input. Gives the encoder the global view it needs to tell dark regions from dark
    objects.
    """

    def __init__(self, dim: int, bins: tuple[int, ...] = PPM_BINS) -> None:
        super().__init__()
        reduced = dim // 4
        self.bins = tuple(bins)
        # Slot 0 held the official nn.AdaptiveAvgPool2d; forward pools all bins at once
        # with pyramid_avg_pool2d, so the checkpoint indices 1 and 2 stay where they were.
        self.features = nn.ModuleList(
            nn.Sequential(nn.Identity(), nn.Conv2d(dim, reduced, 1, bias=False), nn.PReLU()) for _ in bins
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(dim + reduced * len(bins), dim, 3, padding=1, bias=False),
            nn.PReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        size = (x.shape[-2], x.shape[-1])
        grids = pyramid_avg_pool2d(x, self.bins)
        pyramid = [
            F.interpolate(branch(grid), size=size, mode="bilinear", align_corners=True)
            for branch, grid in zip(self.features, grids, strict=False)
        ]
        return self.fuse(torch.cat([x, *pyramid], dim=1))


class CurveNLU(nn.Module):
    """Curve non-linear unit: features clipped to [0, 1], then ``x + a * x * (1 - x)``, three times.

    The curve parameters ``a`` (one per iteration, per pixel, in (0, 1) by a sigmoid)
    are predicted from the features themselves, so the unit brightens dark regions more
    than bright ones - a learned, spatially varying tone curve in feature space.
    """

    def __init__(self, dim: int, iterations: int = CURVE_ITERATIONS) -> None:
        super().__init__()
        self.iterations = iterations
        self.predict_a = nn.Sequential(
            nn.Conv2d(dim, dim, 5, padding=2), nn.ReLU(),
            nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(),
            nn.Conv2d(dim, iterations, 1), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        a = self.predict_a(x)
        x = x.clamp(0.0, 1.0)  # the official relu(x) - relu(x - 1)
        for i in range(self.iterations):
            x = x + a[:, i : i + 1] * x * (1.0 - x)
        return x


class BlurPool(nn.Module):
    """Anti-aliased stride-2 downsampling: reflect pad, fixed [1, 2, 1]^2 / 16 blur per channel.

    The filter is a buffer named ``filt`` because the official checkpoints store it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        filt = taps[:, None] * taps[None, :]
        self.filt: Tensor
        self.register_buffer("filt", (filt / filt.sum()).expand(channels, 1, 3, 3).clone())

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(x, self.filt, stride=2, groups=self.filt.shape[0])


class ResidualDown(nn.Module):
    """Halve H and W: a conv path (1x1, 3x3, blur-pool, 1x1) plus a blur-pool + 1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.top = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 1, bias=False), nn.PReLU(),
            nn.Conv2d(in_ch, in_ch, 3, padding=1, bias=False), nn.PReLU(),
            BlurPool(in_ch),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
        )  # fmt: skip
        self.bot = nn.Sequential(BlurPool(in_ch), nn.Conv2d(in_ch, out_ch, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.top(x) + self.bot(x)


class ResidualUp(nn.Module):
    """Double H and W: a transposed-conv path plus a bilinear + 1x1 shortcut."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.top = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 1, bias=False), nn.PReLU(),
            nn.ConvTranspose2d(in_ch, in_ch, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.PReLU(),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
        )  # fmt: skip
        self.bot = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.top(x) + self.bot(x)


class EncoderBlock(nn.Module):
    """Residual 3x3 pair, a 3x3 + PReLU, then (``down=True``) a ``ResidualDown`` to ``out_ch``."""

    def __init__(self, in_ch: int, out_ch: int | None = None, *, down: bool = False) -> None:
        super().__init__()
        self.body1 = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, 3, padding=1),
            nn.PReLU(),
            nn.Conv2d(in_ch, in_ch, 3, padding=1),
        )
        self.body2 = nn.Sequential(nn.Conv2d(in_ch, in_ch, 3, padding=1), nn.PReLU())
        self.reshape_conv = ResidualDown(in_ch, out_ch or in_ch) if down else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.body2(x + self.body1(x))
        return self.reshape_conv(x)


class DecoderBlock(nn.Module):
    """(``up=True``) a ``ResidualUp`` to ``out_ch``, then two residual 3x3 pairs."""

    def __init__(self, in_ch: int, out_ch: int, *, up: bool = False) -> None:
        super().__init__()
        self.reshape_conv = ResidualUp(in_ch, out_ch) if up else nn.Identity()
        self.body1 = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.PReLU(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )
        self.body2 = nn.Sequential(
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.PReLU(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.reshape_conv(x)
        x = x + self.body1(x)
        return x + self.body2(x)


def _fac_kernel_predictor(dim: int, ksize: int = FAC_KERNEL_SIZE) -> nn.Sequential:
    """Three 3x3 + ReLU, then a 1x1 to ``dim * ksize**2`` per-pixel filter taps."""
    return nn.Sequential(
        nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(),
        nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(),
        nn.Conv2d(dim, dim, 3, padding=1), nn.ReLU(),
        nn.Conv2d(dim, dim * ksize * ksize, 1),
    )  # fmt: skip


# --------------------------------------------------------------------------- the net


class LEDNetOutput(NamedTuple):
    """What ``LEDNet(x, side_output=True)`` returns; the image comes first (registry contract)."""

    image: Tensor
    #: 1/8-scale RGB head on the encoder features, for the training loss only.
    side: Tensor


class LEDNet(nn.Module):
    """LEDNet as in the official code (channels 32-64-128-128, no encoder-decoder additive skips).

    Attribute names follow the official module layout (``E_block1`` ... ``D_block0``,
    ``conv_fac_k*``, ``conv_*c``, ``PPM*``, ``side_out``), so ``state_dict()`` keys and
    shapes are those of the released checkpoints, blur-pool ``filt`` buffers included.

    Args:
        channels: widths at full, 1/2, 1/4 and 1/8 scale (the paper's 32, 64, 128, 128).
        input_range: ``(0, 1)`` for the paper model, ``(-1, 1)`` for the retrained
            release; the same network either way, the attribute tells ``Enhancer``
            how to map frames in and out.

    Shape:
        input ``(B, 3, H, W)`` in ``input_range``, H and W multiples of 8; output the
        same shape (not clamped). With ``side_output=True`` a ``LEDNetOutput`` whose
        ``side`` is ``(B, 3, H / 8, W / 8)``.

    Example:
        >>> net = LEDNet().eval()
        >>> net(torch.rand(1, 3, 32, 48)).shape
        torch.Size([1, 3, 32, 48])
    """

    size_multiple = 8

    def __init__(
        self,
        channels: tuple[int, int, int, int] = (32, 64, 128, 128),
        *,
        input_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        super().__init__()
        input_range = (float(input_range[0]), float(input_range[1]))
        if input_range not in INPUT_RANGES:
            raise ValueError(f"input_range must be one of {INPUT_RANGES}, got {input_range}")
        self.input_range = input_range
        ch1, ch2, ch3, ch4 = channels

        # encoder: full -> 1/2 -> 1/4 -> 1/8
        self.E_block1 = nn.Sequential(
            nn.Conv2d(3, ch1, 3, padding=1),
            nn.PReLU(),
            EncoderBlock(ch1, ch2, down=True),
        )
        self.E_block2 = EncoderBlock(ch2, ch3, down=True)
        self.E_block3 = EncoderBlock(ch3, ch4, down=True)
        self.PPM1 = PyramidPooling(ch2)
        self.PPM2 = PyramidPooling(ch3)
        self.PPM3 = PyramidPooling(ch4)
        self.conv_1c = CurveNLU(ch2)
        self.conv_2c = CurveNLU(ch3)
        self.conv_3c = CurveNLU(ch4)
        self.side_out = nn.Conv2d(ch4, 3, 3, padding=1)

        self.M_block1 = EncoderBlock(ch4)
        self.M_block2 = EncoderBlock(ch4)

        # FAC kernels for the decoder, predicted from the encoder features of each scale
        self.conv_fac_k3 = _fac_kernel_predictor(ch4)
        self.conv_fac_k2 = _fac_kernel_predictor(ch3)
        self.conv_fac_k1 = _fac_kernel_predictor(ch2)

        # decoder: 1/8 -> 1/4 -> 1/2 -> full
        self.D_block3 = DecoderBlock(ch4, ch4)
        self.D_block2 = DecoderBlock(ch4, ch3, up=True)
        self.D_block1 = DecoderBlock(ch3, ch2, up=True)
        self.D_block0 = nn.Sequential(DecoderBlock(ch2, ch1, up=True), nn.Conv2d(ch1, 3, 3, padding=1))

    def forward(self, x: Tensor, side_output: bool = False) -> Tensor | LEDNetOutput:
        if checks_enabled():
            check_image_batch(x)
            if x.shape[-2] % self.size_multiple or x.shape[-1] % self.size_multiple:
                raise NightvidError(
                    f"LEDNet needs H and W in multiples of {self.size_multiple}, got "
                    f"{tuple(x.shape[-2:])}; wrap it in nets.Enhancer to pad"
                )
        e1 = self.conv_1c(self.PPM1(self.E_block1(x)))  # 1/2
        e2 = self.conv_2c(self.PPM2(self.E_block2(e1)))  # 1/4
        e3 = self.conv_3c(self.PPM3(self.E_block3(e2)))  # 1/8

        d = self.M_block2(self.M_block1(e3))
        d = filter_adaptive_conv(self.D_block3(d), self.conv_fac_k3(e3))
        d = filter_adaptive_conv(self.D_block2(d), self.conv_fac_k2(e2))
        d = filter_adaptive_conv(self.D_block1(d), self.conv_fac_k1(e1))
        image = self.D_block0(d)
        if side_output:
            return LEDNetOutput(image, self.side_out(e3))
        return image


# --------------------------------------------------------------------------- weights


def load_official_lednet(net: LEDNet, path: Path | str, *, param_key: str | None = None) -> None:
    """Load an official LEDNet checkpoint into ``net``, strictly.

    Reads a BasicSR ``.pth`` (the released ``lednet.pth``, ``lednet_retrain_500000.pth``,
    ``lednetgan.pth``; loaded with ``weights_only=True``) or a plain safetensors state
    dict. BasicSR nests the weights under ``"params"`` and, when trained with EMA, also
    ``"params_ema"``; the official inference script uses ``"params"``, so that is taken
    unless ``param_key`` says otherwise, and the key taken is logged. Floating values
    are cast to the net's dtype (fp16-stored weights load into a float32 net).

    Note that the retrained release expects ``LEDNet(input_range=(-1, 1))``; nothing in
    the file says so.

    Raises:
        NightvidError: unreadable file, no such key, or weights that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise NightvidError(f"LEDNet checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        state, _ = read_weights(path)
        if param_key is not None:
            raise NightvidError(f"{path} is a plain safetensors state dict; it has no {param_key!r} key")
    else:
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except _TORCH_LOAD_ERRORS as err:
            raise NightvidError(f"cannot read LEDNet checkpoint {path} ({err})") from None
        state = _pick_params(blob, path, param_key)
    # checkpoints saved from DataParallel carry a "module." prefix
    state = {k.removeprefix("module."): v for k, v in state.items()}

    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise NightvidError(
            f"{path} is not a LEDNet checkpoint in the official layout: "
            f"{len(missing)} missing key(s) {missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise NightvidError(
                f"{path}: {key!r} has shape {tuple(value.shape)}, LEDNet expects {tuple(expected[key].shape)}"
            )
    net.load_state_dict(
        {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state.items()},
        strict=True,
    )


def _pick_params(blob: Any, path: Path, param_key: str | None) -> dict[str, Tensor]:
    """The state dict inside a BasicSR checkpoint (or the checkpoint itself if it is one)."""
    if not isinstance(blob, dict):
        raise NightvidError(f"{path} holds a {type(blob).__name__}, not a state dict")
    if param_key is None and all(isinstance(v, Tensor) for v in blob.values()):
        _log.info("%s: plain state dict (no BasicSR params key)", path)
        return blob
    candidates = [param_key] if param_key is not None else ["params", "params_ema"]
    for key in candidates:
        if key in blob:
            _log.info(
                "%s: loading weights from key %r (keys present: %s)",
                path,
                key,
                sorted(blob),
            )
            return blob[key]
    raise NightvidError(f"{path} has no {' or '.join(map(repr, candidates))} key; keys: {sorted(blob)}")


@register_net(
    "lednet",
    summary="joint low-light enhancement and deblurring (7.4M params); best quality, slowest",
    paper="Zhou, Li, Loy, ECCV 2022, LEDNet: Joint Low-light Enhancement and Deblurring in the Dark",
    default_weights="lednet.safetensors",
    input_colour=0.6,
    # "auto" with the colour-keeping curve: SICE eval 19.87 / 0.733 (its own brightness
    # 19.55 / 0.722), 0.83x a plain gain's colourfulness on the bundled night clip (the
    # per-channel curve had left it 0.73x), and no grey fog on lamp-lit scenes (its own
    # lifted the CCTV clip to mean luma 136). Colour share 0.6 re-checked with this curve
    # on the 125 SICE train pairs: 0.45 / 0.6 tie (19.78 dB), 0.3 and 0.75 lose.
    default_exposure="auto",
    # A sunlit photo was burnt to white and its sky came out cyan (DICM 43, 37); dimmed
    # to the brightest SICE input first, sky and clouds stay blue. SICE eval unchanged
    # (its inputs are all darker).
    brightest_input=SICE_BRIGHTEST_INPUT,
    # The phone clip's purple night sky (its camera's magenta black floor). SICE eval unchanged.
    neutral_black=True,
    # The codec's purple and green macroblocks in a night sky. SICE eval 20.36 / 0.772 -> 20.38 / 0.770.
    deblock_dark=True,
    # bf16 autocast on an AMX CPU: SICE eval fp32 -> bf16 20.502 / 0.7785 -> 20.507 / 0.7781, 1.4-1.9x faster
    # (docs/BENCHMARKS.md, "bf16 on the CPU").
    cpu_bf16=True,
)
def lednet(**kwargs: Any) -> LEDNet:
    """Build LEDNet (channels 32-64-128-128; ``input_range=(0, 1)`` as the paper model)."""
    return LEDNet(**kwargs)
