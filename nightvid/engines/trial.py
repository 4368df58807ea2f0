"""``auto`` on the CPU: a short timed trial of the candidate backends, kept in the engine cache.

Which backend is fastest for a net depends on the CPU more than on the net: the fused
NoiSER kernel beats ONNX Runtime 3-4x on an Intel Xeon with AVX-512 and AMX, and lost
to it by 1.9x (enhance: 3.7 against 7.0 fps) on an AMD EPYC with AVX2 only. So ``auto`` does not trust a table tuned on
one CPU. The first time it runs a model on a machine it builds each candidate
(``engines.AUTO_CPU``, less what is not installed or cannot run the precision), times
them on the same frame, runs the fastest, and writes what it measured to a small JSON
in the engine cache; later runs read it and build only the winner.

The trial (``pick``):

- **Frame**: one synthetic dark frame (``trial_frame``) of the size the caller named,
  rounded to the nearest of ``SIZES`` (360p, 720p, 1080p; 360p when not named) and
  kept inside a compiled engine's shape range. Each candidate runs it as ``enhance``
  does (``Engine.enhance_batches``, one frame a batch), one frame per worker at once, so
  a two-worker backend is timed at its throughput; inference alone, with no decoding or
  encoding beside it.
- **Rounds**: a warm-up round each, then up to ``MAX_ROUNDS`` rounds taken round-robin
  (so a change of load on a shared machine reaches every candidate alike) until
  ``BUDGET_S`` seconds are spent; at least one. The figure is the median ms a frame;
  the fastest wins, except that a candidate earlier in the order within ``MARGIN`` (5%)
  of it is kept (the order also weighs memory and build time, and 5% is within the noise
  of one round on a shared machine).
- **Skipped**: a candidate that fails to build or to match eager on its test frame
  (``verify.py``), or raises while timed, with a warning; and a candidate whose build can
  take minutes (``BackendSpec.slow_build``: AOTInductor) unless its artifact is already
  cached or it is the first candidate, which ``auto`` built before it measured anything.
  So the trial builds nothing slow that the fixed order did not build; ``nightvid
  compile`` one and set ``NIGHTVID_AUTO_REMEASURE=1`` to have it timed too.

The record is keyed (``record_fields``) on the model, the weights' label, the
precision, the workers asked for, the net's steps (exposure aside), the candidates and
their versions, the trial frame, the torch version and the CPU's instruction set
(``cache.cpu_capability``), so another CPU, torch or ONNX Runtime measures again. It is
written atomically; two processes that measure at once both write, and the last wins.
``NIGHTVID_AUTO_REMEASURE=1`` measures again and rewrites it; deleting the
``auto-*.json`` files (or the cache folder) does the same for every model.
``NIGHTVID_AUTO_TRIAL=0`` measures nothing and takes the candidates in ``AUTO_CPU``'s
order, as before the trial existed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightvid.engines import cache
from nightvid.engines.base import Engine
from nightvid.errors import NightvidError
from nightvid.files import atomic_write_path

__all__ = [
    "BUDGET_S",
    "FORMAT",
    "MARGIN",
    "MAX_ROUNDS",
    "REMEASURE_ENV",
    "SIZES",
    "TRIAL_ENV",
    "Pick",
    "Timer",
    "Verdict",
    "pick",
    "read_verdict",
    "record_fields",
    "record_path",
    "remeasure_asked",
    "size_bucket",
    "time_round",
    "trial_enabled",
    "trial_frame",
]

# A child of the engine cache's logger: the CLI shows that one's INFO lines (a trial,
# like a build, happens once and costs seconds, so it is announced; --quiet hides it).
log = logging.getLogger("nightvid.engines.cache.trial")

#: Version of the record's layout; bump to measure again everywhere.
FORMAT = 1
#: Set to 1 to measure again (and rewrite the record) even where one is kept.
REMEASURE_ENV = "NIGHTVID_AUTO_REMEASURE"
#: Set to 0 to measure nothing: ``auto`` takes ``AUTO_CPU``'s order.
TRIAL_ENV = "NIGHTVID_AUTO_TRIAL"
#: Seconds of timed rounds (warm-up included) after which no new round starts.
BUDGET_S = 3.0
#: Timed rounds at most; the median of them is the figure.
MAX_ROUNDS = 5
#: A candidate within this fraction of the fastest, earlier in the order, is picked instead.
MARGIN = 0.05
#: The trial frame sizes, ``(height, width)``; a frame size is timed at the nearest.
SIZES: dict[str, tuple[int, int]] = {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}

#: ``timer(engine, frames)``: seconds ``engine`` takes to enhance ``frames`` (uint8
#: ``(N, H, W, 3)``, one per worker) as ``enhance`` would. Tests pass their own.
Timer = Callable[[Engine, np.ndarray], float]


def trial_enabled() -> bool:
    """False when ``NIGHTVID_AUTO_TRIAL=0``: ``auto`` takes the fixed order."""
    return os.environ.get(TRIAL_ENV, "1").strip() != "0"


def remeasure_asked() -> bool:
    """True when ``NIGHTVID_AUTO_REMEASURE`` is set to anything but empty or 0."""
    return os.environ.get(REMEASURE_ENV, "").strip() not in ("", "0")


def size_bucket(height: int, width: int) -> str:
    """The name in ``SIZES`` nearest to ``height`` x ``width`` in pixel count (on a log scale).

    Example:
        >>> size_bucket(360, 640), size_bucket(480, 854), size_bucket(1088, 1920), size_bucket(2160, 3840)
        ('360p', '360p', '1080p', '1080p')
    """
    pixels = max(1, height * width)
    return min(SIZES, key=lambda name: abs(np.log(pixels / (SIZES[name][0] * SIZES[name][1]))))


def trial_frame(height: int, width: int, count: int = 1) -> np.ndarray:
    """``count`` copies of a fixed dark frame, uint8 ``(count, H, W, 3)``: a night scene's kind of content.

    Mostly dark with sensor noise and a slow gradient, one lamp-lit patch (the fused
    kernel checks for lamp light) and edges, so each backend takes its usual path.
    """
    rng = np.random.default_rng(27)
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    tint = np.array([0.9, 1.0, 1.15], np.float32)
    scene = (6.0 + 14.0 * x + 8.0 * np.sin(y * 9.0) ** 2) * tint
    scene = scene + rng.normal(0.0, 3.0, (height, width, 3)).astype(np.float32)
    top, left = height // 5, width // 6
    scene[top : top + height // 8, left : left + width // 10] += np.array([170.0, 150.0, 90.0], np.float32)
    frame = np.clip(scene, 0, 255).astype(np.uint8)
    return np.repeat(frame[None], max(1, count), axis=0)


def time_round(engine: Engine, frames: np.ndarray) -> float:
    """Seconds ``engine`` takes to enhance ``frames`` one a batch, as ``enhance`` submits them."""
    start = time.perf_counter()
    for _ in engine.enhance_batches((frames[i : i + 1], i) for i in range(len(frames))):
        pass
    return time.perf_counter() - start


def record_fields(
    *,
    model: str,
    weights: str,
    precision: str,
    workers: int | None,
    frame: tuple[int, int],
    candidates: Mapping[str, str],
    steps: Mapping[str, Any],
) -> dict[str, Any]:
    """What a kept choice is valid for; any change is another record (and a new trial).

    ``weights``: the weights' label (a path, ``default``, ``random-init``), not their
    hash: speed does not depend on the values. ``candidates``: backend -> version (empty
    for in-process ones). ``steps``: the Enhancer's options; its exposure target is left
    out (the same cost everywhere). ``frame``: the trial frame's ``(height, width)``.
    """
    return {
        "format": FORMAT,
        "model": model,
        "weights": weights,
        "precision": precision,
        "workers": "default" if workers is None else int(workers),
        "steps": {k: repr(v) for k, v in sorted(_without_exposure(steps).items())},
        "candidates": dict(candidates),
        "frame": f"{frame[1]}x{frame[0]}",
        "torch_version": torch.__version__,
        "cpu_capability": cache.cpu_capability(),
    }


def _without_exposure(steps: Mapping[str, Any]) -> dict[str, Any]:
    """``steps`` less ``exposure``, also inside a chain's per-stage dicts."""
    return {k: _without_exposure(v) if isinstance(v, Mapping) else v for k, v in steps.items() if k != "exposure"}


def record_path(folder: Path, fields: Mapping[str, Any]) -> Path:
    """``<folder>/auto-<model>-<16 hex of the fields' sha256>.json``."""
    blob = json.dumps(dict(fields), sort_keys=True, separators=(",", ":"))
    return folder / f"auto-{fields['model']}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}.json"


@dataclass(frozen=True)
class Verdict:
    """What a trial measured and chose, as kept in its record."""

    #: The backend ``auto`` runs.
    choice: str
    #: Median ms a frame of every candidate timed (a two-worker engine's throughput).
    ms_per_frame: Mapping[str, float]
    #: The candidates not timed, and why (failed, or a slow build not in the cache).
    not_timed: Mapping[str, str]
    #: The record's file.
    path: Path
    #: True when this call measured it, False when it was read from the record.
    measured: bool
    #: Timed rounds per candidate (after one warm-up round).
    rounds: int = 0

    def summary(self) -> str:
        """``fused 14.1 ms, onnx 30.2 ms; not timed: inductor (...)`` for a log line."""
        timed = ", ".join(f"{name} {ms:.1f} ms" for name, ms in self.ms_per_frame.items())
        skipped = "; ".join(f"{name} ({why})" for name, why in self.not_timed.items())
        return timed + (f"; not timed: {skipped}" if skipped else "")


def read_verdict(path: Path, fields: Mapping[str, Any]) -> Verdict | None:
    """The verdict kept at ``path`` for exactly these ``fields``; None when missing or unusable."""
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
        if not isinstance(found, dict) or any(found.get(k) != v for k, v in fields.items()):
            raise ValueError("made for other inputs")
        return Verdict(
            choice=str(found["choice"]),
            ms_per_frame={str(k): float(v) for k, v in found.get("ms_per_frame", {}).items()},
            not_timed={str(k): str(v) for k, v in found.get("not_timed", {}).items()},
            path=path,
            measured=False,
            rounds=int(found.get("rounds", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("backend auto: measuring again: the record %s is unusable (%s)", path, err)
        return None


def _write_verdict(verdict: Verdict, fields: Mapping[str, Any]) -> None:
    record = {
        **fields,
        "choice": verdict.choice,
        "ms_per_frame": {k: round(v, 2) for k, v in verdict.ms_per_frame.items()},
        "not_timed": dict(verdict.not_timed),
        "rounds": verdict.rounds,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        atomic_write_path(verdict.path, lambda p: p.write_text(json.dumps(record, indent=2) + "\n"))
    except OSError as err:  # a read-only cache: the choice still holds for this run
        log.warning(
            "backend auto: cannot keep the trial's choice in %s (%s); later runs measure again", verdict.path, err
        )


@dataclass(frozen=True)
class Pick:
    """What ``pick`` decided: an engine ready to run, or the order to build in."""

    #: The winner, built and timed by this call; None when the choice was read from the
    #: record (build ``order[0]``) or when every candidate timed failed.
    engine: Engine | None
    #: The backends to build in turn when ``engine`` is None: the kept choice first, then
    #: the rest in the candidates' order (``auto``'s fallback when a build fails).
    order: tuple[str, ...] = ()
    #: The verdict read or measured; None when nothing could be timed.
    verdict: Verdict | None = None
    #: Why candidates failed in this call (name -> message), for the caller's error.
    failures: Mapping[str, str] = field(default_factory=dict)


def pick(
    candidates: Sequence[str],
    build: Callable[[str], Engine],
    *,
    fields: Mapping[str, Any],
    folder: Path,
    frame: tuple[int, int],
    slow: Collection[str] | Callable[[], Collection[str]] = (),
    timer: Timer = time_round,
    budget_s: float = BUDGET_S,
    max_rounds: int = MAX_ROUNDS,
    remeasure: bool | None = None,
) -> Pick:
    """The fastest of ``candidates`` on this machine: read from the record, or timed now.

    ``build(name)`` makes a candidate's engine (a ``NightvidError`` skips it); ``fields``
    (``record_fields``) key the record in ``folder``; ``frame`` is the trial frame's
    ``(height, width)``; ``slow`` names candidates not to build for the trial (they stay
    at the end of the fallback order), or is a function asked only when a trial runs
    (finding them may hash cached artifacts); ``timer`` times one round (``time_round``);
    ``remeasure`` (None: ``NIGHTVID_AUTO_REMEASURE``) ignores a kept record.
    """
    path = record_path(folder, fields)
    if not (remeasure_asked() if remeasure is None else remeasure):
        kept = read_verdict(path, fields)
        if kept is not None and kept.choice in candidates:
            log.debug("backend auto: %s kept in %s: %s", kept.choice, path, kept.summary())
            return Pick(None, (kept.choice, *(c for c in candidates if c != kept.choice)), kept)

    slow = slow() if callable(slow) else slow
    not_timed: dict[str, str] = {name: "its build can take minutes; not in the cache" for name in slow}
    failures: dict[str, str] = {}
    engines: dict[str, Engine] = {}
    for name in candidates:
        if name in slow:
            continue
        try:
            engines[name] = build(name)
        except NightvidError as err:
            log.warning("backend auto: %s failed (%s); not timed", name, err)
            failures[name] = not_timed[name] = f"failed: {err}"

    samples: dict[str, list[float]] = {name: [] for name in engines}
    spent = 0.0
    one = trial_frame(*frame)

    def run_round(name: str, engine: Engine) -> float | None:
        nonlocal spent
        frames = np.repeat(one, engine.workers, axis=0)
        try:
            seconds = timer(engine, frames)
        except Exception as err:  # a candidate that breaks on a real frame is not picked
            log.warning("backend auto: %s failed while timed (%s); not picked", name, err)
            failures[name] = not_timed[name] = f"failed while timed: {err}"
            del engines[name], samples[name]
            return None
        spent += seconds
        return seconds * 1000.0 / len(frames)

    for name, engine in list(engines.items()):  # warm-up: first-call costs are not speed
        run_round(name, engine)
    rounds = 0
    while engines and rounds < max_rounds and (rounds == 0 or spent < budget_s):
        rounds += 1
        for name, engine in list(engines.items()):
            ms = run_round(name, engine)
            if ms is not None:
                samples[name].append(ms)

    if not engines:
        rest = tuple(c for c in candidates if c in slow)
        if not rest and failures:
            raise NightvidError(
                f"backend auto: no backend runs here ({'; '.join(f'{k}: {v}' for k, v in failures.items())})"
            )
        return Pick(None, rest, None, failures)
    ms_per_frame = {name: statistics.median(samples[name]) for name in engines}
    fastest = min(ms_per_frame.values())
    # within MARGIN of the fastest, the earlier candidate: the order weighs memory and builds too
    choice = next(name for name, ms in ms_per_frame.items() if ms <= fastest * (1.0 + MARGIN))
    verdict = Verdict(choice, ms_per_frame, not_timed, path, measured=True, rounds=rounds)
    _write_verdict(verdict, fields)
    log.info(
        "backend auto: timed %s at %s on %s: %s -> %s (kept in %s; %s=1 times again)",
        fields.get("model"),
        fields.get("frame"),
        fields.get("cpu_capability"),
        verdict.summary(),
        choice,
        path,
        REMEASURE_ENV,
    )
    return Pick(engines[choice], (), verdict, failures)
