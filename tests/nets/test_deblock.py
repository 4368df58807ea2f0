"""Dark deblocking: the codec's macroblocks smoothed where it is dark, nothing else touched."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nightvid
from nightvid import nets
from nightvid.nets.colour import luma
from nightvid.nets.deblock import DARK_DEBLOCK, box_mean, dark_noise, deblock_dark

DEMO = Path(nightvid.__file__).parent / "assets" / "night-demo.mp4"
LEVEL = 1.0 / 255.0


@pytest.mark.parametrize("size", [1, 3, 7, 31])
def test_box_mean_is_the_mean_of_each_square_with_edges_replicated(size: int) -> None:
    x = torch.rand(2, 3, 23, 40, generator=torch.Generator().manual_seed(size))
    half = size // 2
    want = F.avg_pool2d(F.pad(x, (half, half, half, half), mode="replicate"), size, stride=1)
    torch.testing.assert_close(box_mean(x, size), want, atol=1e-5, rtol=0)  # running sums: float32 rounding
    with pytest.raises(ValueError, match="odd"):
        box_mean(x, 4)


def blocky_sky(levels_a: tuple[int, int, int], levels_b: tuple[int, int, int], size: int = 96) -> torch.Tensor:
    """A night sky as H.264 leaves it: 16x16 squares of two near-black colours, a checkerboard."""
    rows = torch.arange(size) // 16
    board = ((rows[:, None] + rows[None, :]) % 2).bool()
    a, b = (torch.tensor(v, dtype=torch.float32).view(3, 1, 1) * LEVEL for v in (levels_a, levels_b))
    return torch.where(board, a, b)[None]


def block_means(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 16)


def test_purple_and_green_blocks_become_one_colour_and_one_brightness() -> None:
    sky = blocky_sky((3, 1, 4), (1, 3, 1))  # purple and green, each about a level or two of luma
    out = deblock_dark(sky)
    means, before = block_means(out), block_means(sky)
    chroma = lambda m: torch.cat([m[:, 0] - m[:, 1], m[:, 2] - m[:, 1]])  # noqa: E731
    inner = (slice(None), slice(1, -1), slice(1, -1))  # blocks away from the frame's edge
    assert chroma(means)[inner].std() < 0.2 * chroma(before)[inner].std()
    assert luma(means)[0, 0][1:-1, 1:-1].std() < 0.3 * luma(before)[0, 0][1:-1, 1:-1].std()
    assert abs(float(luma(out).mean() - luma(sky).mean())) < 0.05 * LEVEL  # no brighter, no darker


def test_bright_pixels_are_untouched_and_a_tail_light_does_not_bleed_into_the_night() -> None:
    night = torch.full((1, 3, 64, 64), 3 * LEVEL)
    night[:, :, 24:40, 24:40] = torch.tensor([1.0, 0.05, 0.05]).view(3, 1, 1)  # a red light
    out = deblock_dark(night)
    fade = DARK_DEBLOCK[1]
    bright = luma(night) > fade
    assert torch.equal(out.masked_select(bright.expand_as(out)), night.masked_select(bright.expand_as(night)))
    ring = out[0, :, 20:44, 20:44].clone()
    ring[:, 4:20, 4:20] = 0  # the dark pixels right round the light
    dark_ring = ring[:, ring.sum(0) > 0]
    assert (dark_ring[0] - dark_ring[1]).abs().max() < 0.05 * LEVEL  # still neutral grey, not red


def test_an_edge_of_several_levels_in_the_dark_stays() -> None:
    x = torch.full((1, 3, 48, 64), 2 * LEVEL)
    x[..., 32:] = 10 * LEVEL  # a lit wall beside a dark one, both under the fade
    out = deblock_dark(x)
    step = (out[0, 1, :, 36] - out[0, 1, :, 27]).mean()
    assert step > 6 * LEVEL  # 8 levels before


def frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, decoded in enumerate(container.decode(video=0)):
            if i == index:
                return decoded.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


def block_chroma_jumps(image: np.ndarray) -> float:
    """Mean change of (R-G, B-G) from one 16x16 macroblock to the next, in levels."""
    h, w = image.shape[0] // 16 * 16, image.shape[1] // 16 * 16
    blocks = image[:h, :w].astype(np.float64).reshape(h // 16, 16, w // 16, 16, 3).mean(axis=(1, 3))
    chroma = np.stack([blocks[..., 0] - blocks[..., 1], blocks[..., 2] - blocks[..., 1]], -1)
    return float(np.abs(np.diff(chroma, axis=0)).mean() + np.abs(np.diff(chroma, axis=1)).mean())


def test_the_bundled_clips_night_sky_loses_its_purple_and_green_blocks() -> None:
    """NoiSER (the default) on the bundled dashcam frame: the sky's block-to-block colour
    changes fall from about 14 levels to under half (measured 5.5), the brightness stays."""
    image = frame(DEMO, 40)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    outputs = {}
    for deblock in (False, True):
        with torch.no_grad():
            y = nets.build_enhancer("noiser", deblock=deblock)(x)
        outputs[deblock] = (y[0].permute(1, 2, 0).numpy() * 255)[:96]  # the sky
    assert block_chroma_jumps(outputs[True]) < 0.5 * block_chroma_jumps(outputs[False])
    assert abs(outputs[True].mean() - outputs[False].mean()) < 1.0


def dark_texture() -> torch.Tensor:
    """Clean dark texture of 2-5 levels with structure a few pixels across (a verge, foliage)."""
    rng = torch.Generator().manual_seed(5)
    coarse = 2 + 3 * torch.rand(1, 1, 24, 24, generator=rng)
    return F.interpolate(coarse, size=(96, 96), mode="bicubic", align_corners=False).expand(1, 3, 96, 96) * LEVEL


def test_sensor_noise_in_the_dark_is_measured_and_smoothed_without_blocks() -> None:
    """Pixel-to-pixel noise (a phone's night photo) smooths whether there are blocks or not,
    by as much as it measures; the clean texture under it measures next to nothing."""
    texture = dark_texture()
    assert float(dark_noise(texture)) < 0.05
    rng = torch.Generator().manual_seed(6)
    for sigma, left in ((1.0, 0.75), (3.0, 0.5)):  # half strength at a level (NOISE), full at 3
        noisy = (texture + sigma * LEVEL * torch.randn(1, 3, 96, 96, generator=rng)).clamp(0, 1)
        assert float(dark_noise(noisy)) == pytest.approx(sigma, rel=0.25)
        before = float((noisy - texture).abs().mean())
        assert float((deblock_dark(noisy) - texture).abs().mean()) < left * before
    # a noisy frame's noise is as strong just above FADE: the dark range reaches further
    mid = texture + (0.07 - 3.5 * LEVEL)  # luma about 0.07, above FADE (0.06)
    mid[..., :, :48] = texture[..., :, :48]  # the left half dark, where the noise is measured
    assert torch.equal(deblock_dark(mid)[..., 48:], mid[..., 48:])  # clean: left alone
    noisy = (mid + 3 * LEVEL * torch.randn(1, 3, 96, 96, generator=rng)).clamp(0, 1)
    before = float((noisy - mid)[..., 8:88, 56:88].abs().mean())
    assert float((deblock_dark(noisy) - mid)[..., 8:88, 56:88].abs().mean()) < 0.85 * before
    bright = (0.5 + 3 * LEVEL * torch.randn(1, 3, 96, 96, generator=rng)).clamp(0, 1)
    assert float(dark_noise(bright)) == 0.0 and torch.equal(deblock_dark(bright), bright)  # noise in the light is left


def test_a_clean_dark_photo_is_left_close_and_blocks_beside_texture_are_evened_alone() -> None:
    """Where the blocks are decides the smoothing: steps on the 8 px lines only (a codec's
    sky) are evened; texture, which steps everywhere, keeps most of its structure."""
    texture = dark_texture()
    out = deblock_dark(texture)
    assert float((out - texture).abs().mean()) < 0.2 * LEVEL  # close: no watercolour
    scene = texture.clone()
    scene[..., :48] = blocky_sky((3, 1, 4), (1, 3, 1), size=96)[..., :48]  # left half: a blocky sky
    out = deblock_dark(scene)
    sky_before, sky_after = luma(scene)[..., 8:88, 4:36], luma(out)[..., 8:88, 4:36]
    assert sky_after.std() < 0.5 * sky_before.std()  # the blocks are evened
    kept = luma(out)[..., 8:88, 64:92] - luma(texture)[..., 8:88, 64:92]
    assert float(kept.abs().mean()) < 0.3 * LEVEL  # the texture beside them is not


def test_the_block_steps_are_counted_on_the_eight_pixel_lines() -> None:
    from nightvid.nets.deblock import block_steps

    x = torch.zeros(1, 1, 16, 16)
    x[..., 8:] = 1.0  # one vertical edge, between columns 7 and 8: on a block line
    steps = block_steps(x)
    assert float(steps[0, 0].sum()) == 16.0 and float(steps[0, 1].sum()) == 0.0
    x = torch.zeros(1, 1, 16, 16)
    x[..., 5:] = 1.0  # between columns 4 and 5: off the lines
    steps = block_steps(x)
    assert float(steps[0, 0].sum()) == 0.0 and float(steps[0, 1].sum()) == 16.0
