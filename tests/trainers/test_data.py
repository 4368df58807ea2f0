"""Paired-folder layouts, datasets, augmentation and batching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nightvid.errors import NightvidError
from nightvid.trainers import data as D
from nightvid.trainers.degrade import LowLightConfig

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write(path: Path, value: int = 128, size: tuple[int, int] = (20, 24), dtype=np.uint8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    cv2.imwrite(str(path), rng.integers(0, np.iinfo(dtype).max, (*size, 3), dtype=dtype))
    return path


def make_pairs(folder: Path, names: list[str], low: str = "low", high: str = "high") -> None:
    for i, name in enumerate(names):
        write(folder / low / name, i)
        write(folder / high / name, 100 + i)


def test_read_image(tmp_path: Path) -> None:
    img = D.read_image(write(tmp_path / "a.png"))
    assert img.shape == (3, 20, 24) and img.dtype == torch.float32 and 0 <= img.min() and img.max() <= 1
    deep = D.read_image(write(tmp_path / "b.png", dtype=np.uint16))
    assert deep.max() > 0.9 and deep.max() <= 1
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 255, np.uint8))
    assert torch.equal(D.read_image(tmp_path / "g.png"), torch.ones(3, 5, 6))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(NightvidError, match="cannot read image"):
        D.read_image(tmp_path / "bad.png")


def test_flat_low_high_layout(tmp_path: Path) -> None:
    make_pairs(tmp_path, ["1.png", "2.png"])
    assert D.detect_layout(tmp_path).kind == "low-high"
    pairs = D.find_pairs(tmp_path)
    assert [(a.name, b.parent.name) for a, b in pairs] == [("1.png", "high"), ("2.png", "high")]


def test_lol_layout_and_split_roles(tmp_path: Path) -> None:
    make_pairs(tmp_path / "our485", ["1.png", "2.png", "3.png"])
    make_pairs(tmp_path / "eval15", ["9.png"])
    assert len(D.find_pairs(tmp_path, split="train")) == 3
    assert len(D.find_pairs(tmp_path, split="eval")) == 1
    assert len(D.find_pairs(tmp_path, split="our485")) == 3
    assert len(D.find_pairs(tmp_path / "eval15")) == 1
    with pytest.raises(NightvidError, match="several splits"):
        D.find_pairs(tmp_path)
    with pytest.raises(NightvidError, match="no split 'val2'"):
        D.find_pairs(tmp_path, split="val2")


def test_lol_blur_layout(tmp_path: Path) -> None:
    for split in ("train", "test"):
        for video in ("0001", "0002"):
            make_pairs(
                tmp_path / split,
                [f"{video}/{f:04d}.png" for f in range(2)],
                low="low_blur_noise",
                high="high_sharp_scaled",
            )
    layout = D.detect_layout(tmp_path, split="eval")
    assert layout.kind == "lol-blur" and layout.low.parent.name == "test"
    pairs = D.find_pairs(tmp_path, split="train")
    assert len(pairs) == 4
    assert all(a.relative_to(a.parents[1]) == b.relative_to(b.parents[1]) for a, b in pairs)


def test_layout_errors(tmp_path: Path) -> None:
    with pytest.raises(NightvidError, match="not found"):
        D.find_pairs(tmp_path / "missing")
    with pytest.raises(NightvidError, match="no paired images"):
        D.find_pairs(tmp_path)
    (tmp_path / "only" / "low").mkdir(parents=True)
    with pytest.raises(NightvidError, match="has low/ but no high/"):
        D.find_pairs(tmp_path / "only")
    (tmp_path / "empty" / "low").mkdir(parents=True)
    (tmp_path / "empty" / "high").mkdir(parents=True)
    with pytest.raises(NightvidError, match="no images"):
        D.find_pairs(tmp_path / "empty")
    make_pairs(tmp_path / "odd", ["1.png", "2.png"])
    write(tmp_path / "odd" / "low" / "3.png")
    with pytest.raises(NightvidError, match=r"1 in low/ have no match \(e.g. 3\)"):
        D.find_pairs(tmp_path / "odd")


def test_pairs_match_across_extensions(tmp_path: Path) -> None:
    write(tmp_path / "low" / "a.jpg")
    write(tmp_path / "high" / "a.png")
    assert len(D.find_pairs(tmp_path)) == 1


def test_augment_keeps_pairs_aligned() -> None:
    img = torch.arange(2 * 10 * 12, dtype=torch.float32).view(2, 10, 12)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        a, b = D.augment([img, img + 1], g, D.Augment(crop=6))
        assert a.shape == (2, 6, 6) and torch.equal(a + 1, b)
    small = D.augment([torch.rand(3, 4, 5)], g, D.Augment(crop=8))[0]
    assert small.shape == (3, 8, 8)
    with pytest.raises(NightvidError, match="differ in size"):
        D.augment([torch.rand(3, 4, 5), torch.rand(3, 4, 6)], g, D.Augment())


def test_pair_batches_are_seeded_epochs(tmp_path: Path) -> None:
    make_pairs(tmp_path, [f"{i}.png" for i in range(4)])
    dataset = D.PairedImages.from_folder(tmp_path, augment=D.Augment(crop=8))
    source = D.pair_batches(dataset, batch_size=2, seed=0)
    first = source.iterate(0)
    batches = [next(first) for _ in range(4)]
    low, high = batches[0]
    assert low.shape == high.shape == (2, 3, 8, 8)
    resumed = next(source.iterate(3))
    assert all(torch.equal(a, b) for a, b in zip(resumed, batches[3], strict=False))


class Numbered:
    """A dataset whose item ``i`` is the pair ``(i, i)``: batches show which items they hold."""

    def __len__(self) -> int:
        return 5

    def sample(self, index: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        item = torch.full((1, 1, 1), float(index))
        return item, item


def test_pair_batches_visit_every_item_once_per_epoch() -> None:
    source = D.pair_batches(Numbered(), batch_size=5, seed=0).iterate(0)
    epochs = [next(source)[0].flatten().tolist() for _ in range(3)]
    assert all(sorted(epoch) == [0, 1, 2, 3, 4] for epoch in epochs)
    assert len({tuple(epoch) for epoch in epochs}) > 1  # shuffled anew each epoch


def test_synthetic_and_noisy_pairs(tmp_path: Path) -> None:
    files = [write(tmp_path / f"{i}.png", 200 + i) for i in range(2)]
    synth = D.SyntheticLowLight.from_folder(tmp_path, config=LowLightConfig(), augment=D.Augment(crop=16))
    low, clean = synth.sample(0, torch.Generator().manual_seed(0))
    assert low.shape == clean.shape == (3, 16, 16) and low.mean() < clean.mean()
    noisy = D.NoisyImages(files, sigma=(0.05, 0.1), augment=None)
    pairs = D.held_out(noisy, seed=0)
    assert len(pairs) == 2 and pairs[0][0].shape == (1, 3, 20, 24)
    assert 0.04 < (pairs[0][0] - pairs[0][1]).std().item() < 0.11
    assert all(torch.equal(a[0], b[0]) for a, b in zip(pairs, D.held_out(noisy, seed=0), strict=False))


@pytest.mark.skipif(not (SHARED_DATA / "pairs" / "SICE").is_dir(), reason="shared SICE data not present")
def test_sice_pairs() -> None:
    root = SHARED_DATA / "pairs" / "SICE"
    train, val = D.find_pairs(root, split="train"), D.find_pairs(root, split="eval")
    assert len(train) == 129 and len(val) == 13
    assert not {a.name for a, _ in train} & {a.name for a, _ in val}
    dataset = D.PairedImages(train, augment=D.Augment(crop=64))
    low, high = next(D.pair_batches(dataset, batch_size=2, seed=0).iterate(0))
    assert low.shape == high.shape == (2, 3, 64, 64)
    assert low.mean() < high.mean()  # low-light inputs are darker than their targets
    held = D.held_out(D.PairedImages(val, augment=None), limit=1)
    assert held[0][0].shape == held[0][1].shape and held[0][0].shape[-2:] == (512, 512)


def test_fit_on_pairs_with_validation_and_workers(tmp_path: Path) -> None:
    from nightvid import nets
    from nightvid.trainers.loop import LoopConfig, fit
    from nightvid.trainers.metrics import validator

    make_pairs(tmp_path / "data" / "train", [f"{i}.png" for i in range(3)])
    make_pairs(tmp_path / "data" / "eval", ["9.png"])
    train = D.PairedImages.from_folder(tmp_path / "data", split="train", augment=D.Augment(crop=16))
    val = D.PairedImages.from_folder(tmp_path / "data", split="eval", augment=None)
    torch.manual_seed(0)
    enhancer = nets.build_enhancer("noiser", weights=None).train()
    seen: list[dict] = []
    result = fit(
        enhancer.net,
        lambda net, batch: (nets.Enhancer(net)(batch[0]) - batch[1]).abs().mean(),
        D.pair_batches(train, batch_size=2, seed=0, workers=1),
        LoopConfig(iters=4, validate_every=2, threads=1),
        out_dir=tmp_path / "run",
        model_name="noiser",
        make_optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
        validate=validator(D.held_out(val)),
        on_log=seen.append,
    )
    assert [r["step"] for r in seen if r["event"] == "val"] == [2, 4]
    assert result.best is not None and set(result.metrics) == {"psnr", "ssim"}
    nets.build_enhancer("noiser", weights=tmp_path / "run" / "best.safetensors")


def test_mixed_pairs_keep_every_real_pair_and_the_synthetic_share(tmp_path: Path) -> None:
    make_pairs(tmp_path / "pairs", [f"{i}.png" for i in range(6)])
    clean = tmp_path / "clean"
    clean.mkdir()
    for i in range(3):
        write(clean / f"{i}.png", value=60 * i + 40)
    real = D.PairedImages.from_folder(tmp_path / "pairs", augment=D.Augment(crop=16))
    synthetic = D.SyntheticLowLight.from_folder(clean, augment=D.Augment(crop=16))
    mixed = D.MixedPairs(real, synthetic, synthetic_share=1 / 3)
    assert len(mixed) == 9  # 6 real + 3 synthetic = one third synthetic
    g = torch.Generator().manual_seed(0)
    assert torch.equal(mixed.sample(2, g)[0], real.sample(2, torch.Generator().manual_seed(0))[0])
    low, high = mixed.sample(7, torch.Generator().manual_seed(1))
    assert low.shape == high.shape == (3, 16, 16) and low.mean() < high.mean()
    with pytest.raises(NightvidError):
        D.MixedPairs(real, synthetic, synthetic_share=1.0)


def test_well_exposed_pairs_dim_the_photo_a_little_or_not_at_all(tmp_path: Path) -> None:
    write(tmp_path / "a.png", value=200)
    same = D.WellExposed.from_folder(tmp_path, exposure=(1.0, 1.0), augment=None)
    low, high = same.sample(0, torch.Generator().manual_seed(0))
    assert torch.allclose(low, high, atol=1e-5)  # factor 1: the photo itself
    dimmed = D.WellExposed.from_folder(tmp_path, exposure=(0.5, 0.5), augment=None)
    low, high = dimmed.sample(0, torch.Generator().manual_seed(0))
    from nightvid.trainers.degrade import linear_to_srgb, srgb_to_linear

    assert torch.allclose(low, linear_to_srgb(0.5 * srgb_to_linear(high)), atol=1e-5)
    assert 0.6 < (low.mean() / high.mean()).item() < 0.85  # a little darker, not night
    with pytest.raises(NightvidError, match="exposure"):
        D.WellExposed.from_folder(tmp_path, exposure=(0.5, 2.0))


def test_jittered_inputs_vary_exposure_and_colour_and_leave_targets_alone() -> None:
    from nightvid.trainers.data import jitter_inputs

    class Fixed:
        def __len__(self) -> int:
            return 1

        def sample(self, index: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.full((3, 8, 8), 0.2), torch.full((3, 8, 8), 0.6)

    assert jitter_inputs(Fixed(), 0.0).__class__ is Fixed  # 0: the dataset as it is
    jittered = jitter_inputs(Fixed(), 0.5)
    draws = [jittered.sample(0, torch.Generator().manual_seed(seed)) for seed in range(40)]
    means = torch.stack([low.mean() for low, _ in draws])
    red_over_blue = torch.stack([low[0].mean() / low[2].mean() for low, _ in draws])
    assert means.min() < 0.17 and means.max() > 0.23  # exposure and gamma moved both ways
    assert red_over_blue.min() < 0.95 and red_over_blue.max() > 1.05  # white balance too
    assert all(torch.equal(high, torch.full((3, 8, 8), 0.6)) for _, high in draws)
    assert all(float(low.min()) >= 0.0 and float(low.max()) <= 1.0 for low, _ in draws)
    again = jittered.sample(0, torch.Generator().manual_seed(3))[0]
    assert torch.equal(again, draws[3][0])  # seeded: a resumed run draws the same
    with pytest.raises(NightvidError):
        jitter_inputs(Fixed(), 1.5)


def test_whole_scenes_are_held_out_and_none_of_them_trained_on() -> None:
    from nightvid.trainers.common import hold_out_scenes, scene_of

    names = ["0938-0938", "0938-0943", "1962-1970", "1962-1973", "1962-1974", "1996-1996", "1996-1997"]
    pairs = [(Path(f"low/{n}.jpg"), Path(f"high/{n}.jpg")) for n in names]
    train, val = hold_out_scenes(pairs, held=3, what="pairs")
    assert [low.stem for low, _ in val] == names[2:]  # the tail reached into 1962: all of it
    assert {scene_of(low) for low, _ in train}.isdisjoint({scene_of(low) for low, _ in val})
    assert train + val == pairs
    plain = [(Path(f"low/{i:04d}.png"), Path(f"high/{i:04d}.png")) for i in range(5)]
    assert hold_out_scenes(plain, held=2, what="pairs") == (plain[:3], plain[3:])  # one scene per file
    with pytest.raises(NightvidError, match="held-out scenes"):
        hold_out_scenes(pairs[2:5], held=1, what="pairs")
