"""``auto``'s timed trial on the CPU: the fastest candidate wins, the choice is kept per CPU.

Most tests drive ``trial.pick`` with stand-in engines and a stand-in timer (no real
build, no real timing); the last ones go through ``create_engine`` with stand-in
builders in the backend table and the real timer on a small frame.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from nightvid import engines
from nightvid.engines import Engine, ShapeRange, create_engine, trial
from nightvid.errors import NightvidError

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def trial_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite's conftest turns the trial off for every other test; here it is the subject."""
    monkeypatch.setenv(trial.TRIAL_ENV, "1")


def fields(**changes: object) -> dict:
    base = dict(
        model="noiser",
        weights="default",
        precision="fp32",
        workers=None,
        frame=(360, 640),
        candidates={"fused": "", "onnx": "onnxruntime 1.0", "eager": ""},
        steps={"exposure": "lit", "deblock_dark": True},
    )
    return trial.record_fields(**{**base, **changes})  # type: ignore[arg-type]


class Builds:
    """``build(name)``: a stand-in engine per backend (two workers for ``multi``), counted."""

    def __init__(self, fail: tuple[str, ...] = (), multi: tuple[str, ...] = ()) -> None:
        self.fail, self.multi, self.calls = fail, multi, Counter[str]()

    def __call__(self, name: str) -> Engine:
        self.calls[name] += 1
        if name in self.fail:
            raise NightvidError(f"the {name} engine gives wrong pixels on this machine")
        return Engine(fn=lambda x: x, backend=name, device=CPU, workers=2 if name in self.multi else 1)  # type: ignore[arg-type]


class Clock:
    """A timer: ``ms[name]`` ms a frame for each backend, frames counted; ``broken`` raise."""

    def __init__(self, ms: dict[str, float], broken: tuple[str, ...] = ()) -> None:
        self.ms, self.broken = ms, broken
        self.calls = Counter[str]()
        self.frames: dict[str, tuple[int, ...]] = {}

    def __call__(self, engine: Engine, frames: np.ndarray) -> float:
        self.calls[engine.backend] += 1
        self.frames[engine.backend] = frames.shape
        if engine.backend in self.broken:
            raise RuntimeError("onnxruntime: bad allocation")
        return self.ms[engine.backend] * len(frames) / 1000.0


def never(*args: object) -> float:
    raise AssertionError("timed again although the choice was kept")


CANDIDATES = ("fused", "onnx", "eager")


def test_the_trial_picks_the_fastest_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    builds, clock = Builds(multi=("fused", "onnx")), Clock({"fused": 30.0, "onnx": 12.0, "eager": 50.0})
    with caplog.at_level(logging.INFO, logger="nightvid.engines.cache"):
        chosen = trial.pick(CANDIDATES, builds, fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert chosen.engine is not None and chosen.engine.backend == "onnx"
    verdict = chosen.verdict
    assert verdict is not None and verdict.measured and verdict.choice == "onnx"
    assert dict(verdict.ms_per_frame) == {"fused": 30.0, "onnx": 12.0, "eager": 50.0}  # a frame, not a round
    assert builds.calls == Counter(CANDIDATES)  # each built once
    assert clock.calls == Counter({name: 1 + trial.MAX_ROUNDS for name in CANDIDATES})  # warm-up + rounds
    assert clock.frames == {"fused": (2, 360, 640, 3), "onnx": (2, 360, 640, 3), "eager": (1, 360, 640, 3)}
    record = json.loads(verdict.path.read_text())
    assert record["choice"] == "onnx" and record["ms_per_frame"]["eager"] == 50.0
    assert record["cpu_capability"] == engines.cache.cpu_capability() and record["frame"] == "640x360"
    said = [r.message for r in caplog.records if r.levelno == logging.INFO]
    assert len(said) == 1 and "fused 30.0 ms, onnx 12.0 ms, eager 50.0 ms" in said[0] and "-> onnx" in said[0]


@pytest.mark.parametrize(("fused", "winner"), [(10.4, "fused"), (11.0, "onnx")])
def test_a_near_tie_keeps_the_order(tmp_path: Path, fused: float, winner: str) -> None:
    clock = Clock({"fused": fused, "onnx": 10.0, "eager": 50.0})  # MARGIN: 5% of the fastest
    chosen = trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert chosen.verdict is not None and chosen.verdict.choice == winner


def test_the_budget_bounds_the_rounds(tmp_path: Path) -> None:
    clock = Clock({"fused": 800.0, "onnx": 900.0, "eager": 2000.0})  # a heavy net: one round is over budget
    chosen = trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert chosen.verdict is not None and chosen.verdict.rounds == 1 and chosen.verdict.choice == "fused"
    assert clock.calls == Counter({name: 2 for name in CANDIDATES})


def test_the_choice_is_kept_and_reused_without_timing(tmp_path: Path) -> None:
    clock = Clock({"fused": 30.0, "onnx": 12.0, "eager": 50.0})
    trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    builds = Builds()
    again = trial.pick(CANDIDATES, builds, fields=fields(), folder=tmp_path, frame=(360, 640), timer=never)
    assert again.engine is None and again.order == ("onnx", "fused", "eager")  # the choice, then the fallbacks
    assert again.verdict is not None and not again.verdict.measured and again.verdict.choice == "onnx"
    assert not builds.calls  # the caller builds the kept choice


def test_another_cpu_measures_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = fields()
    trial.pick(
        CANDIDATES,
        Builds(),
        fields=here,
        folder=tmp_path,
        frame=(360, 640),
        timer=Clock(dict(fused=9, onnx=12, eager=50)),
    )
    monkeypatch.setattr("nightvid.engines.cache.cpu_capability", lambda: "x86_64/AVX2")
    epyc = fields()
    assert epyc["cpu_capability"] == "x86_64/AVX2" and trial.record_path(tmp_path, epyc) != trial.record_path(
        tmp_path, here
    )
    clock = Clock({"fused": 30.0, "onnx": 12.0, "eager": 50.0})
    chosen = trial.pick(CANDIDATES, Builds(), fields=epyc, folder=tmp_path, frame=(360, 640), timer=clock)
    assert clock.calls and chosen.engine is not None and chosen.engine.backend == "onnx"
    kept = trial.read_verdict(trial.record_path(tmp_path, here), here)
    assert kept is not None and kept.choice == "fused"  # the other CPU's record is untouched
    for change in ({"frame": (720, 1280)}, {"precision": "bf16"}, {"workers": 1}, {"weights": "mine.safetensors"}):
        assert trial.record_path(tmp_path, fields(**change)) != trial.record_path(tmp_path, epyc), change
    # the exposure target costs the same everywhere: the same record
    assert trial.record_path(tmp_path, fields(steps={"exposure": 0.3, "deblock_dark": True})) == trial.record_path(
        tmp_path, epyc
    )


def test_a_failing_candidate_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    builds = Builds(fail=("onnx",))
    clock = Clock({"fused": 30.0, "onnx": 1.0, "eager": 5.0}, broken=("eager",))
    chosen = trial.pick(CANDIDATES, builds, fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert chosen.engine is not None and chosen.engine.backend == "fused"
    assert chosen.verdict is not None and list(chosen.verdict.ms_per_frame) == ["fused"]
    assert set(chosen.verdict.not_timed) == {"onnx", "eager"} and set(chosen.failures) == {"onnx", "eager"}
    said = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("backend auto: onnx failed (the onnx engine gives wrong pixels") for m in said), said
    assert any(m.startswith("backend auto: eager failed while timed (onnxruntime: bad allocation)") for m in said)


def test_slow_builds_are_not_tried_and_stay_as_fallbacks(tmp_path: Path) -> None:
    builds = Builds(fail=("fused",))
    four = ("fused", "inductor", "onnx", "eager")
    chosen = trial.pick(
        four,
        builds,
        fields=fields(),
        folder=tmp_path,
        frame=(360, 640),
        slow=lambda: ["inductor"],
        timer=Clock({"onnx": 12.0, "eager": 50.0}),
    )
    assert "inductor" not in builds.calls and chosen.engine is not None and chosen.engine.backend == "onnx"
    assert chosen.verdict is not None and "its build can take minutes" in chosen.verdict.not_timed["inductor"]
    # nothing timed ran: the slow ones are what is left to build, in order
    none = trial.pick(
        four,
        Builds(fail=("fused", "onnx", "eager")),
        fields=fields(workers=1),
        folder=tmp_path,
        frame=(360, 640),
        slow=("inductor",),
        timer=never,
    )
    assert none.engine is None and none.order == ("inductor",) and none.verdict is None
    with pytest.raises(NightvidError, match="no backend runs here"):
        trial.pick(CANDIDATES, Builds(fail=CANDIDATES), fields=fields(workers=1), folder=tmp_path, frame=(360, 640))


def test_the_env_var_measures_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trial.pick(
        CANDIDATES,
        Builds(),
        fields=fields(),
        folder=tmp_path,
        frame=(360, 640),
        timer=Clock({"fused": 9.0, "onnx": 12.0, "eager": 50.0}),
    )
    monkeypatch.setenv(trial.REMEASURE_ENV, "1")
    clock = Clock({"fused": 30.0, "onnx": 12.0, "eager": 50.0})
    chosen = trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert clock.calls and chosen.verdict is not None and chosen.verdict.measured and chosen.verdict.choice == "onnx"
    monkeypatch.setenv(trial.REMEASURE_ENV, "0")
    kept = trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=never)
    assert kept.order[0] == "onnx"  # the new measurement was written over the old one


def test_an_unusable_record_is_measured_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = trial.record_path(tmp_path, fields())
    path.write_text("{not json")
    clock = Clock({"fused": 30.0, "onnx": 12.0, "eager": 50.0})
    chosen = trial.pick(CANDIDATES, Builds(), fields=fields(), folder=tmp_path, frame=(360, 640), timer=clock)
    assert clock.calls and chosen.verdict is not None and json.loads(path.read_text())["choice"] == "onnx"
    assert any("is unusable" in r.message for r in caplog.records)


def test_frame_sizes_and_the_trial_frame() -> None:
    assert [trial.size_bucket(h, w) for h, w in [(48, 64), (360, 640), (540, 960), (720, 1280), (2160, 3840)]] == [
        "360p",
        "360p",
        "720p",
        "720p",
        "1080p",
    ]
    frames = trial.trial_frame(36, 64, count=2)
    assert frames.shape == (2, 36, 64, 3) and frames.dtype == np.uint8
    assert 5 < frames.mean() < 40 and frames.max() > 150  # dark, with a lamp
    np.testing.assert_array_equal(frames, trial.trial_frame(36, 64, count=2))  # the same every time


# ------------------------------------------------------------------ through create_engine


def sleeper(name: str, ms: float, built: Counter[str]) -> Callable[..., Engine]:
    """An in-process builder whose engine is the identity after ``ms`` of sleep."""

    def build(enhancer: torch.nn.Module, *, device: torch.device, dtype: torch.dtype, workers: int = 1) -> Engine:
        built[name] += 1

        def fn(x: torch.Tensor) -> torch.Tensor:
            time.sleep(ms / 1000.0)
            return x

        return Engine(fn=fn, backend=name, device=device, dtype=dtype)  # type: ignore[arg-type]

    return build


@pytest.fixture
def two_fakes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """NoiSER's candidates: a slow "fused", inductor (not cached: not tried) and a fast "eager"."""
    built: Counter[str] = Counter()
    specs = engines.BACKEND_SPECS
    monkeypatch.setitem(specs, "fused", replace(specs["fused"], build=sleeper("fused", 40.0, built), check=None))
    monkeypatch.setitem(specs, "eager", replace(specs["eager"], build=sleeper("eager", 2.0, built)))
    monkeypatch.setitem(engines.AUTO_CPU, "noiser", ("fused", "inductor", "eager"))
    return built


SMALL = ShapeRange.parse("1x32x32", "1x48x64", "2x64x96")


def auto(tmp_path: Path, **options: object) -> Engine:
    options = {"shape_range": SMALL, **options}
    return create_engine("noiser", weights=None, backend="auto", device="cpu", cache_dir=tmp_path, **options)  # type: ignore[arg-type]


def test_create_engine_times_once_and_then_builds_only_the_choice(
    tmp_path: Path, two_fakes: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = auto(tmp_path)
    assert engine.backend == "eager" and two_fakes == Counter({"fused": 1, "eager": 1})
    assert engine.details["auto"].startswith("timed: fused ") and "not timed: inductor" in engine.details["auto"]
    (record,) = tmp_path.glob("auto-noiser-*.json")
    kept = json.loads(record.read_text())
    assert kept["choice"] == "eager" and kept["frame"] == "96x64"  # 360p, inside the compiled range
    assert kept["ms_per_frame"]["fused"] > kept["ms_per_frame"]["eager"] and kept["weights"] == "random-init"

    assert auto(tmp_path).backend == "eager" and two_fakes == Counter({"fused": 1, "eager": 2})  # kept: no trial
    monkeypatch.setattr("nightvid.engines.cache.cpu_capability", lambda: "x86_64/AVX2")
    assert auto(tmp_path).backend == "eager" and two_fakes == Counter({"fused": 2, "eager": 3})  # another CPU
    assert len(list(tmp_path.glob("auto-noiser-*.json"))) == 2
    auto(tmp_path, frame_size=(1080, 1920))  # the same trial frame inside this range: kept
    assert two_fakes == Counter({"fused": 2, "eager": 4})
    wide = ShapeRange.parse("1x16x16", "1x360x640", "1x720x1280")
    auto(tmp_path, frame_size=(700, 1200), shape_range=wide)  # 720p: measured for it
    assert two_fakes == Counter({"fused": 3, "eager": 5})
    assert {json.loads(p.read_text())["frame"] for p in tmp_path.glob("auto-noiser-*.json")} == {"96x64", "1280x720"}


def test_without_the_trial_auto_takes_the_order(
    tmp_path: Path, two_fakes: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(trial.TRIAL_ENV, "0")
    assert auto(tmp_path).backend == "fused" and two_fakes == Counter({"fused": 1})
    assert not list(tmp_path.glob("auto-*.json"))


def test_a_kept_choice_that_fails_now_falls_back(
    tmp_path: Path, two_fakes: Counter[str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert auto(tmp_path).backend == "eager"

    def refuse(enhancer: torch.nn.Module, **kwargs: object) -> Engine:
        raise NightvidError("refused")

    monkeypatch.setitem(engines.BACKEND_SPECS, "eager", replace(engines.BACKEND_SPECS["eager"], build=refuse))
    assert auto(tmp_path).backend == "fused"
    assert any(r.message == "backend auto: eager failed (refused); trying fused" for r in caplog.records)


def test_real_backends_are_timed_as_enhance_runs_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if engines.auto_backend("noiser", "cpu") != "fused":
        pytest.skip("no C++ compiler for the fused kernel")
    monkeypatch.setitem(engines.AUTO_CPU, "noiser", ("fused", "eager"))
    engine = create_engine(
        "noiser", weights=None, backend="auto", device="cpu", workers=None, shape_range=SMALL, cache_dir=tmp_path
    )
    (record,) = (json.loads(p.read_text()) for p in tmp_path.glob("auto-noiser-*.json"))
    assert set(record["ms_per_frame"]) == {"fused", "eager"} and all(ms > 0 for ms in record["ms_per_frame"].values())
    assert engine.backend == record["choice"] and record["workers"] == "default"
    assert engine.workers == (2 if engine.backend == "fused" and torch.get_num_threads() >= 2 else 1)
    frame = trial.trial_frame(48, 64)
    assert engine.enhance_frames(frame).shape == frame.shape
