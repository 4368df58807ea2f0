"""NoiSER: a tiny enhancer trained only on Gaussian noise.

Zhang et al., "Noise Self-Regression: A New Learning Paradigm to Enhance Low-light
Images Without Task-related Data" (2023), https://arxiv.org/abs/2211.04700.

Trained to reproduce N(0, sigma) noise (clamped to [-1, 1]) with L1 + total variation,
the net learns a contrast-stretching map: instance normalisation re-centres and rescales
each channel's statistics, which brightens a dark frame and restores its contrast.

Two details the paper leaves open, chosen here from what real night footage showed
(``nightvid compare`` on the bundled dashcam clip):

- **Padding.** The convolutions pad by replicating the edge pixels. Zero padding in the
  net's [-1, 1] range is mid-grey: next to a dark frame's edge the first convolution sees
  grey neighbours and the output drew a bright line around every frame (border excess
  0.63 of the mean luma, against 0.04 for a plain gain).
- **Colour from the input** (``colour``, 0.7 at inference, 0 in training).
  Instance normalisation stretches each channel on its own: on a dark, noisy frame it
  equalises the channels into a grey-blue haze and lifts black to mid-grey. The
  post-step keeps the net's brightness and takes the colour from the input,
  ``kept = x * min(Y(net(x)) / Y(x), max_gain)`` per pixel with Rec. 709 luma ``Y`` in
  [0, 1] (hue and saturation are the input's, black stays black, the gain cap of 12
  leaves the darkest noise dark), and mixes in the net's own output where the input is
  not black: ``w = (1 - colour) * min(Y(x) / 0.03, 1)``, ``out = w * net(x) + (1 - w) *
  kept``. On the 13 SICE eval pairs (``nightvid eval noiser``): the net alone 17.47 dB /
  0.679 SSIM; kept alone 18.85 / 0.714; a plain 0.7 mix 19.35 / 0.725, because the
  net's local contrast stretch adds structure the ratio lacks; this one 19.26 / 0.723.
  The plain mix lifted black letterbox bars and night sky to a purple-grey haze on the
  CCTV clip; fading the net's share out below 8 levels of input keeps them black.
  Mixes from 0.5 to 0.9, caps of 6-24 and fades of 0.01-0.03 were measured.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from nightvid.nets.colour import keep_input_colour, luma
from nightvid.nets.exposure import LIT
from nightvid.nets.registry import PaddingMode, register_net

__all__ = ["NoiSER", "keep_input_colour", "noiser"]


class NoiSER(nn.Module):
    """Conv3x3 -> InstanceNorm -> GELU -> Conv3x3 -> Tanh, as in the paper.

    Args:
        hidden: channels of the single hidden layer (32 in the paper).
        padding: the convolutions' padding mode ("replicate"; "zeros" is PyTorch's default).
        colour: share of the colour-kept output in the result (see the module doc); 0 is
            the paper's net alone, which training uses.
        max_gain: the post-step's largest per-pixel brightening.
        dark_level: input luma below which the net's own output fades out of the mix.

    Shape:
        input ``(B, 3, H, W)`` in [-1, 1]; output the same shape in [-1, 1].
    """

    input_range = (-1.0, 1.0)
    size_multiple = 1

    def __init__(
        self,
        hidden: int = 32,
        *,
        padding: PaddingMode = "replicate",
        colour: float = 0.0,
        max_gain: float = 12.0,
        dark_level: float = 0.03,
    ) -> None:
        super().__init__()
        if not 0.0 <= colour <= 1.0:
            raise ValueError(f"colour must be in [0, 1], got {colour}")
        self.colour, self.max_gain, self.dark_level = float(colour), float(max_gain), float(dark_level)
        self.body = nn.Sequential(
            nn.Conv2d(3, hidden, kernel_size=3, padding=1, padding_mode=padding),
            nn.InstanceNorm2d(hidden),  # no affine, no running stats: per-frame statistics
            nn.GELU(),
            nn.Conv2d(hidden, 3, kernel_size=3, padding=1, padding_mode=padding),
            nn.Tanh(),
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        if self.colour == 0.0:
            return y
        source = (x + 1) * 0.5
        kept = keep_input_colour(source, (y + 1) * 0.5, max_gain=self.max_gain) * 2.0 - 1.0
        share = (1.0 - self.colour) * (luma(source) / self.dark_level).clamp(0.0, 1.0)
        return share * y + (1.0 - share) * kept


@register_net(
    "noiser",
    summary="tiny net trained on Gaussian noise only; fast, brightens and restores contrast",
    paper="Zhang et al. 2023, Noise Self-Regression (NoiSER)",
    default_weights="noiser.safetensors",
    # Its own brightness: the instance norm already normalises each frame's statistics
    # (the paper's design). Measured: "auto" scored 18.61 / 0.706 on SICE eval against
    # 19.26 / 0.723 for its own (on 33 train pairs at half size it was 19.00 against 18.43).
    # "lit" is its own, held down in lamp-lit scenes only: the CCTV clip had come out as a
    # lavender fog at mean luma 0.42; no SICE eval input, nor the dashcam or phone clip, is
    # lamp-lit, so those are bit-identical to its own.
    default_exposure=LIT,
    # The phone clip's magenta black floor (R 2.5, G 0.3, B 4.1 of 255) came out as a
    # purple night sky for every model; SICE eval unchanged (19.26 / 0.723).
    neutral_black=True,
    # The bundled clip's night sky came out as purple and green macroblocks (its H.264);
    # smoothed in the dark first, it is one even sky. SICE eval 19.27 / 0.723 -> 19.36 / 0.729.
    deblock_dark=True,
)
def noiser(**kwargs: Any) -> NoiSER:
    """Build NoiSER for inference (``hidden=32``, replicate padding, ``colour=0.7``)."""
    kwargs.setdefault("colour", 0.7)
    return NoiSER(**kwargs)
