"""What every command shares: the error line, signals, logging, progress, option types.

``reported()`` is the one place where library errors become the CLI's contract: a
``NightvidError`` is one red ``error:`` line on stderr and exit code 1; Ctrl-C is exit
130 with nothing written; SIGTERM/SIGHUP (while files are written) exit 128+N the same
way; a full disk while writing is one line, not a traceback.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from nightvid.engines.spec import EngineSpec
from nightvid.engines.table import BACKEND_HELP
from nightvid.errors import NightvidError
from nightvid.streamer.encode_options import EncodeOptions

__all__ = [
    "AudioCodec",
    "Tile",
    "Stabilize",
    "Preset",
    "PixFmt",
    "Crf",
    "Codec",
    "Batch",
    "Bitrate",
    "Backend",
    "Device",
    "EncoderOpt",
    "Exposure",
    "Model",
    "Precision",
    "ProgressLine",
    "Quiet",
    "Terminated",
    "Weights",
    "Workers",
    "clock",
    "counted",
    "err_console",
    "fail",
    "reported",
    "say",
    "setup_logging",
    "split_list",
]

err_console = Console(stderr=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program stands so cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """While a command writes files, SIGTERM and SIGHUP unwind like Ctrl-C (temporary
    files removed, nothing under the output name); the old handlers come back after."""

    def raise_terminated(signum: int, frame: object) -> None:
        raise Terminated(signum)

    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, raise_terminated) for s in wanted}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; the ``typer.Exit`` to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def say(message: str) -> None:
    """One plain line on stderr (no markup, no highlighting)."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def reported(
    *, interrupted: str = "interrupted", terminate: bool = False, writing: Path | None = None
) -> Iterator[None]:
    """Library errors, Ctrl-C and signals as one line and an exit code (see the module docstring).

    ``interrupted``: the message for Ctrl-C. ``terminate``: SIGTERM/SIGHUP unwind like
    Ctrl-C (exit 128+N). ``writing``: the output being written; an ``OSError`` (disk
    full, the folder gone) is then reported as "cannot write it".
    """
    try:
        with terminate_like_ctrl_c() if terminate else contextlib.nullcontext():
            yield
    except NightvidError as err:
        raise fail(str(err)) from None
    except KeyboardInterrupt as err:
        if isinstance(err, Terminated):
            name = signal.Signals(err.signum).name
            raise fail(interrupted.replace("interrupted", f"terminated by {name}"), code=128 + err.signum) from None
        raise fail(interrupted, code=130) from None
    except OSError as err:
        if writing is None:
            raise
        reason = err.strerror or str(err)
        raise fail(f"cannot write {writing}: {reason}; nothing was written") from None


def setup_logging(quiet: bool) -> None:
    """Warnings on stderr (errors only with ``quiet``); engine builds announced, since they can take minutes."""
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    logging.getLogger("nightvid.engines.cache").setLevel(logging.ERROR if quiet else logging.INFO)


class ProgressLine:
    """A rich bar on a terminal, a plain line every few seconds otherwise, or nothing.

    ``quiet``: nothing. ``json``: the command prints JSON on stdout; the bar still shows
    where stderr is a terminal, and no plain lines are written elsewhere (a script reads
    the JSON). Plain lines name the count, the rate and, once the total is known, the
    time left; one is printed as soon as the work starts and one when it is done.
    """

    def __init__(self, label: str, *, quiet: bool, unit: str = "frames", json: bool = False) -> None:
        self.label, self.unit = label, unit
        self.rich = not quiet and err_console.is_terminal
        self.quiet = quiet or (json and not self.rich)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last = 0.0
        self._start = time.perf_counter()

    def __enter__(self) -> ProgressLine:
        if self.rich:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:.1f} {task.fields[per]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[note]}"),
                console=err_console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, rate=0.0, per=self._per(), note="")
        return self

    def _per(self) -> str:
        return "fps" if self.unit == "frames" else "it/s"

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        if done == 0:  # the work starts now: what came before (building an engine) is not its rate
            self._start = time.perf_counter()
        rate = done / max(time.perf_counter() - self._start, 1e-9)
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=max(total or 0, done) or None, rate=rate, note=note)
        elif not self.quiet and (time.perf_counter() - self._last >= 5.0 or done == total):
            self._last = time.perf_counter()
            of = f"/{total}" if total else ""
            unit = self.unit.removesuffix("s") if (total or done) == 1 else self.unit  # 1 frame, 1/1 frame
            left = f", {clock((total - done) / rate)} left" if total and 0 < done < total else ""
            line = f"{self.label}: {done}{of} {unit}, {rate:.1f} {self._per()}{left} {note}".rstrip()
            print(line, file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def clock(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``: a time left, to the second."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def counted(count: int, noun: str) -> str:
    """``counted(1, "frame")`` -> ``"1 frame"``, ``counted(3, "frame")`` -> ``"3 frames"``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


Model = Annotated[
    str,
    typer.Option("--model", "-m", help="see `nightvid models`; a chain such as kind+denoiser runs both in one pass"),
]
Weights = Annotated[Path | None, typer.Option(help="safetensors weights (default: shipped)")]
#: ``--backend``: its help is the backend table's (``engines.table``, which loads no torch).
Backend = Annotated[str, typer.Option(help=BACKEND_HELP)]
Precision = Annotated[
    str,
    typer.Option(
        help="auto (bf16 for LEDNet and KinD on a CPU with AVX512-BF16 or AMX, where it is faster at "
        "the same quality; else fp32) | fp32 | fp16 (CUDA) | bf16 (CPU with AVX512-BF16 or AMX, or CUDA)"
    ),
]
Exposure = Annotated[
    str,
    typer.Option(
        help="brightness of the result: auto (darker scenes stay darker: a night dashcam at 0.27, an "
        "under-exposed day scene at 0.45), a mean luma strictly between 0 and 1 (night: 0.25-0.35), "
        "none (the model's own), "
        "lit (the model's own, held down in lamp-lit scenes as auto does), "
        "or default (auto for KinD and LEDNet, lit for NoiSER, none for the denoiser)"
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        show_default="2 for fused and onnx on 2+ CPU threads, else 1",
        help="frames enhanced at once on the CPU, splitting its threads (fused and onnx backends)",
    ),
]
Device = Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: cuda if available)")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")]

#: Encoding and run options that ``enhance`` and ``enhance-many`` share; defaults from
#: ``streamer.encode_options.EncodeOptions`` (imported without PyAV).
Codec = Annotated[
    str, typer.Option(help="video encoder; auto: libx264, or what the container holds (.webm: libvpx-vp9)")
]
AudioCodec = Annotated[
    str,
    typer.Option(
        "--audio-codec",
        help="copy (audio kept byte for byte; refused where the container cannot hold it), none (left out), "
        "or an audio encoder for every audio stream: aac, libopus, mp2, libmp3lame, ac3, pcm_s16le",
    ),
]
Crf = Annotated[int | None, typer.Option(help="constant rate factor (lower = better)")]
Bitrate = Annotated[
    str | None,
    typer.Option(help="average bitrate instead of constant quality, e.g. 300k or 2.5M (--crf is then not used)"),
]
Preset = Annotated[str | None, typer.Option(help="encoder speed preset (x264/x265: ultrafast .. veryslow)")]
PixFmt = Annotated[
    str,
    typer.Option("--pix-fmt", help="output pixel format; auto: yuv420p, 10-bit for 10-bit sources where the codec can"),
]
EncoderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--encoder-opt",
        metavar="KEY=VALUE",
        help="an option of the video encoder, passed as is (repeatable): e.g. tune=grain, profile=high, "
        "x264-params=keyint=60:bframes=2; checked when the encoder opens",
    ),
]
Batch = Annotated[int, typer.Option(help="frames per inference call")]
Deblock = Annotated[
    bool,
    typer.Option(
        help="smooth the codec's blocks out of dark areas before brightening (else a night sky can come "
        "out as purple and green squares); --no-deblock is faster (NoiSER at 360p: about 1.8x)"
    ),
]
Stabilize = Annotated[
    bool,
    typer.Option(
        help="smooth the output brightness over time (less flicker), restarting at scene cuts; "
        "--no-stabilize keeps each frame's own brightness"
    ),
]
Temporal = Annotated[
    int,
    typer.Option(
        help="frames fused against noise that boils from frame to frame: each dark frame with its "
        "motion-aligned neighbours before the model (3: one on either side; 1: off)"
    ),
]
Tile = Annotated[
    str, typer.Option(help="tile side for large frames: auto (when memory is short), a size, or 0 (never)")
]


def engine_spec(
    model: str,
    *,
    weights: Path | None = None,
    backend: str = "auto",
    precision: str = "auto",
    workers: int | None = None,
    exposure: str = "default",
    deblock: bool = True,
    device: str | None = None,
    batch: int = 1,
    tile: str = "auto",
) -> EngineSpec:
    """The engine named by the shared options (``Model``, ``Weights``, ``Backend``, ...):
    one builder for every command that runs a model; checked later, by the job."""
    return EngineSpec(
        model=model,
        weights=weights or "default",
        backend=backend,
        precision=precision,
        workers=workers,
        exposure=exposure,
        deblock=deblock,
        device=device,
        batch=batch,
        tile=tile,
    )


def encode_options(
    *,
    codec: str,
    crf: int | None,
    preset: str | None,
    pix_fmt: str,
    encoder_opt: list[str] | None,
    quiet: bool,
    bitrate: str | None,
    audio_codec: str,
) -> EncodeOptions:
    """The encoding that ``enhance`` and ``enhance-many`` build from the same flags."""
    return EncodeOptions(
        codec=codec,
        crf=crf,
        preset=preset,
        pix_fmt=pix_fmt,
        extra=tuple(encoder_opt or ()),
        quiet=quiet,
        bitrate=bitrate,
        audio_codec=audio_codec,
    )
