"""The shipped enhancement weights are trained ones: on real SICE pairs they beat the input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nightvid import nets
from nightvid.trainers.data import read_image
from nightvid.trainers.metrics import psnr


@pytest.mark.parametrize("model", ["lednet", "kind", "noiser"])
def test_shipped_model_brightens_real_pairs_towards_the_truth(model: str, shared_data: Path) -> None:
    enhancer = nets.build_enhancer(model)  # the shipped file, float16 ones included
    torch.manual_seed(0)
    untrained = nets.build_enhancer(model, weights=None)
    pairs = sorted((shared_data / "pairs/SICE/eval/low").iterdir())[:2]
    for low_path in pairs:
        low = F.interpolate(read_image(low_path)[None], size=(128, 128), mode="area")
        high = F.interpolate(
            read_image(low_path.parent.parent / "high" / low_path.name)[None], size=(128, 128), mode="area"
        )
        with torch.inference_mode():
            score, random_score = (float(psnr(net(low).clamp(0, 1), high)) for net in (enhancer, untrained))
        # Measured: shipped 13.2-18.1 dB, random init 4.4-8.7, dark input 5.7-9.1.
        assert score > float(psnr(low, high)) + 4.0 and score > random_score + 4.0, low_path.name


@pytest.mark.parametrize("model", ["lednet", "kind"])
def test_a_sunlit_photo_keeps_its_blue_sky(model: str, shared_data: Path) -> None:
    """DICM 43 (a station under a blue sky, mean luma 0.46): brighter than any training input."""
    photo = read_image(shared_data / "lowlight/DICM/43.jpg")[None]
    photo = F.interpolate(photo, size=(240, 320), mode="area")
    sky = (photo[0, 2] - photo[0, 0] > 0.15) & (photo[0, 2] > 0.5)
    with torch.inference_mode():
        out = nets.build_enhancer(model)(photo)[0]
    blue_over_green = float((out[2] - out[1])[sky].mean())
    # Measured: input 0.151; dimmed first 0.038 (LEDNet) / 0.067 (KinD); not dimmed, the
    # sky burnt to cyan-white: 0.002 / 0.000.
    assert blue_over_green > 0.02, blue_over_green


@pytest.mark.parametrize("model", ["noiser", "lednet", "kind"])
def test_a_phone_night_sky_comes_out_without_a_purple_cast(model: str, shared_data: Path) -> None:
    """The night phone clip's camera has a magenta black floor (R 2.5, G 0.3, B 4.1 of 255)."""
    import av

    with av.open(str(shared_data / "video/night-phone-portrait.mp4")) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 120).to_ndarray(format="rgb24")
    x = F.interpolate(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255, scale_factor=0.5, mode="area")
    level = nets.colour.luma(x)[0, 0]
    darkest = level <= level.quantile(0.3)
    with torch.inference_mode():
        out = nets.build_enhancer(model)(x)[0]
    red, green, blue = (out[:, darkest].mean(dim=1) * 255).tolist()
    # Measured, levels of green below the lesser of red and blue: 11.5 / 8.8 / 11.5 before the
    # black-floor step (NoiSER / LEDNet / KinD), -4.8 / -1.1 / -1.5 with it.
    assert min(red, blue) - green < 2.0, (red, green, blue)


def test_noiser_by_default_keeps_a_lamp_lit_cctv_scene_a_night(shared_data: Path) -> None:
    """The highway CCTV clip (mean luma 0.13, about 1% lamps burnt white)."""
    import av

    with av.open(str(shared_data / "video/night-cctv-highway.mp4")) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == 30).to_ndarray(format="rgb24")
    x = F.interpolate(torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255, scale_factor=0.5, mode="area")
    with torch.inference_mode():
        default, own = (nets.build_enhancer("noiser", exposure=e)(x) for e in ("default", "none"))
    # Measured at full size: its own brightness 0.42 (a lavender fog), "lit" 0.27.
    assert float(nets.colour.luma(own).mean()) > 0.36
    assert float(nets.colour.luma(default).mean()) < 0.30
