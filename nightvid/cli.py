"""The door: Typer commands that parse arguments, call one library function, and print.

No logic lives here. Library errors (``NightvidError``) become one red line on stderr
and exit code 1; Ctrl-C becomes exit code 130 with nothing written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nightvid.errors import NightvidError

if TYPE_CHECKING:
    from nightvid.trainers.evaluate import EvalReport

app = typer.Typer(
    help="Turn dark video into watchable video.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _take_ctrl_c() -> None:
    """Before any command: take SIGINT even where it was inherited as ignored.

    A shell starts background jobs with SIGINT ignored, and Python then installs no
    Ctrl-C handler: `kill -INT` on a backgrounded `nightvid enhance` did nothing and the
    run went on to write its whole output. A terminal's Ctrl-C reaches only the
    foreground job anyway, so taking SIGINT back changes nothing for it.
    """
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


train_app = typer.Typer(help="Train a model's weights from scratch.", no_args_is_help=True)
app.add_typer(train_app, name="train")

err_console = Console(stderr=True)
#: x264 preset of enhance and bench; equal to ``streamer.encode.DEFAULT_PRESET`` (a test
#: checks), repeated here so that the CLI starts without importing PyAV.
DEFAULT_PRESET = "veryfast"
DEMO_CLIP = Path(__file__).resolve().parent / "assets" / "night-demo.mp4"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program stands so cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def _terminate_like_ctrl_c() -> Iterator[None]:
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


def _interrupted(err: KeyboardInterrupt, what: str = "interrupted; no output written") -> typer.Exit:
    if isinstance(err, Terminated):
        name = signal.Signals(err.signum).name
        return _fail(f"{what.replace('interrupted', f'terminated by {name}')}", code=128 + err.signum)
    return _fail(what, code=130)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)


def _setup_logging(quiet: bool) -> None:
    logging.basicConfig(
        level=logging.ERROR if quiet else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # An engine build can take from seconds to minutes (AOTInductor): say so first.
    logging.getLogger("nightvid.engines.cache").setLevel(logging.ERROR if quiet else logging.INFO)


class _Progress:
    """A rich bar on a terminal, a plain line every few seconds otherwise, or nothing."""

    def __init__(self, label: str, *, quiet: bool, unit: str = "frames") -> None:
        self.label, self.quiet, self.unit = label, quiet, unit
        self.rich = not quiet and err_console.is_terminal
        self._bar: Progress | None = None
        self._task = None
        self._last = 0.0
        self._start = time.perf_counter()

    def __enter__(self) -> _Progress:
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
            per = "fps" if self.unit == "frames" else "it/s"
            self._task = self._bar.add_task(self.label, total=None, rate=0.0, per=per, note="")
        return self

    def __call__(self, done: int, total: int | None, note: str = "") -> None:
        rate = done / max(time.perf_counter() - self._start, 1e-9)
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=max(total or 0, done) or None, rate=rate, note=note)
        elif not self.quiet and time.perf_counter() - self._last >= 5.0:
            self._last = time.perf_counter()
            of = f"/{total}" if total else ""
            per = "fps" if self.unit == "frames" else "it/s"
            print(
                f"{self.label}: {done}{of} {self.unit}, {rate:.1f} {per} {note}".rstrip(), file=sys.stderr, flush=True
            )

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


#: The smallest fixed tile: tiles overlap by at least 32 px, and a net needs room inside.
MIN_TILE = 64


def _parse_tile(text: str) -> int | str | None:
    if text == "auto":
        return "auto"
    if text.isdigit() and (int(text) == 0 or int(text) >= MIN_TILE):
        return int(text) or None
    raise NightvidError(f"--tile takes auto, 0 (never) or a size of at least {MIN_TILE} px; got {text!r}")


def _check_counts(**counts: int | None) -> None:
    for name, value in counts.items():
        if value is not None and value < 1:
            raise NightvidError(f"--{name} must be at least 1, got {value}")


def _run_enhance(
    src: Path,
    dst: Path,
    *,
    model: str,
    weights: Path | None,
    backend: str,
    codec: str,
    crf: int,
    preset: str,
    pix_fmt: str,
    batch: int,
    overwrite: bool,
    keep_partial: bool,
    quiet: bool,
    as_json: bool,
    stabilize: bool = False,
    tile: str = "auto",
    precision: str = "fp32",
    workers: int | None = None,
    exposure: float | None = None,
    device: str | None = None,
) -> None:
    from nightvid.engines import create_engine
    from nightvid.nets import check_exposure
    from nightvid.streamer.decode import check_input
    from nightvid.streamer.encode import EncodeOptions, check_encoding
    from nightvid.streamer.pipeline import enhance_video
    from nightvid.streamer.target import check_output

    _setup_logging(quiet)
    try:
        with _terminate_like_ctrl_c():
            # Every option is checked before anything is opened or built.
            _check_counts(batch=batch, workers=workers)
            check_exposure(exposure)
            check_input(src)
            check_output(src, dst, overwrite=overwrite)
            tiles = _parse_tile(tile)
            encode = check_encoding(EncodeOptions(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt), dst)
            engine = create_engine(
                model,
                weights=weights or "default",
                backend=backend,
                precision=precision,
                workers=workers,
                exposure=exposure,
                device=device,
            )
            with _Progress(f"enhance {src.name}", quiet=quiet or as_json) as progress:
                summary = enhance_video(
                    src,
                    dst,
                    engine,
                    batch=batch,
                    overwrite=overwrite,
                    keep_partial=keep_partial,
                    stabilize=stabilize,
                    tile=tiles,
                    encode=encode,
                    on_progress=progress,
                )
    except NightvidError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt as err:
        raise _interrupted(err) from None
    except OSError as err:  # the disk filled or went away while writing: the file was removed
        reason = err.strerror or str(err)
        raise _fail(f"cannot write {dst}: {reason}; nothing was written") from None
    if as_json:
        print(json.dumps(summary.as_dict()))
    elif not quiet:
        if summary.truncated:
            err_console.print(
                f"[yellow]warning:[/] input was corrupt part-way; kept the "
                f"{summary.frames} frames decoded before the damage"
            )
        err_console.print(
            f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps) -> [bold]{summary.output}[/]",
            highlight=False,
            soft_wrap=True,
        )


Model = Annotated[
    str,
    typer.Option("--model", "-m", help="see `nightvid models`; a chain such as kind+denoiser runs both in one pass"),
]
Weights = Annotated[Path | None, typer.Option(help="safetensors weights (default: shipped)")]
Backend = Annotated[
    str,
    typer.Option(
        help="auto|eager|inductor|inductor-jit|onnx|tensorrt (auto: fastest installed for the model and device)"
    ),
]
Precision = Annotated[
    str,
    typer.Option(
        help="fp32 | fp16 (CUDA) | bf16 (CPU with AVX512-BF16 or AMX, or CUDA); lower precision is faster, "
        "NoiSER in bf16 differs from fp32 by 0.5 of a level on average"
    ),
]
Exposure = Annotated[
    float | None,
    typer.Option(
        help="brightness of the result as its mean luma, 0-1 (night: 0.25-0.35; KinD sets its illumination "
        "target, the others a tone curve); default: the model's own"
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        show_default="2 for onnx on 2+ CPU threads, else 1",
        help="frames enhanced at once on the CPU, splitting its threads (onnx backend)",
    ),
]


@app.command()
def enhance(
    src: Annotated[Path, typer.Argument(help="input video")],
    dst: Annotated[Path, typer.Argument(help="output video (its extension picks the container)")],
    model: Model = "noiser",
    weights: Weights = None,
    backend: Backend = "auto",
    precision: Precision = "fp32",
    workers: Workers = None,
    exposure: Exposure = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: cuda if available)")] = None,
    codec: Annotated[
        str, typer.Option(help="video encoder; auto: libx264, or what the container holds (.webm: libvpx-vp9)")
    ] = "auto",
    crf: Annotated[int, typer.Option(help="constant rate factor (lower = better)")] = 18,
    preset: Annotated[
        str, typer.Option(help="encoder speed preset (x264/x265: ultrafast .. veryslow)")
    ] = DEFAULT_PRESET,
    pix_fmt: Annotated[
        str,
        typer.Option(
            "--pix-fmt", help=("output pixel format; auto: yuv420p, 10-bit for 10-bit sources where the codec can")
        ),
    ] = "auto",
    batch: Annotated[int, typer.Option(help="frames per inference call")] = 1,
    overwrite: Annotated[bool, typer.Option(help="replace DST if it exists")] = False,
    keep_partial: Annotated[
        bool, typer.Option(help="if SRC is corrupt part-way, keep the frames decoded before the damage")
    ] = False,
    stabilize: Annotated[
        bool, typer.Option(help="smooth the output brightness over time (less flicker), restarting at scene cuts")
    ] = False,
    tile: Annotated[
        str, typer.Option(help="tile side for large frames: auto (when memory is short), a size, or 0 (never)")
    ] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary on stdout")] = False,
) -> None:
    """Enhance every frame of SRC into DST; audio is copied untouched."""
    _run_enhance(
        src,
        dst,
        model=model,
        weights=weights,
        backend=backend,
        codec=codec,
        crf=crf,
        preset=preset,
        pix_fmt=pix_fmt,
        batch=batch,
        overwrite=overwrite,
        keep_partial=keep_partial,
        quiet=quiet,
        as_json=as_json,
        stabilize=stabilize,
        tile=tile,
        precision=precision,
        workers=workers,
        exposure=exposure,
        device=device,
    )


@app.command()
def demo(
    dst: Annotated[Path, typer.Argument(help="where to write the result")] = Path("nightvid-demo.mp4"),
    model: Model = "noiser",
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Enhance the bundled dark dashcam clip (with its audio) and say where the result is."""
    _run_enhance(
        DEMO_CLIP,
        dst,
        model=model,
        weights=None,
        backend="auto",
        codec="auto",
        crf=18,
        preset=DEFAULT_PRESET,
        pix_fmt="auto",
        batch=1,
        overwrite=True,
        keep_partial=False,
        quiet=quiet,
        as_json=False,
    )
    print(dst.resolve())


@app.command()
def bench(
    src: Annotated[Path | None, typer.Option("--input", help="video to time (default: synthetic)")] = None,
    size: Annotated[str, typer.Option(help="synthetic clip size: 360p|720p|1080p|WxH")] = "360p",
    frames: Annotated[int, typer.Option(min=1, help="synthetic clip length")] = 60,
    model: Model = "noiser",
    backend: Backend = "auto",
    precision: Precision = "fp32",
    workers: Workers = None,
    batch: Annotated[int, typer.Option(min=1)] = 1,
    compare: Annotated[
        list[str] | None, typer.Option(help="more MODEL:BACKEND[:WORKERS] to time (e.g. noiser:onnx:1)")
    ] = None,
    preset: Annotated[str, typer.Option(help="x264 preset for the encode stage")] = DEFAULT_PRESET,
    repeats: Annotated[int, typer.Option(min=1, help="time every stage this many times; report medians")] = 3,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: cuda if available)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Frames per second of decode, inference, encode and end to end, side by side.

    Each stage is timed --repeats times in turn and the median shown; "CPU ms" is the
    process's CPU time per frame (all threads), which shows when stages sharing the
    cores cannot all run at full speed at once."""
    from nightvid.bench_report import run_bench

    _setup_logging(quiet=as_json)
    specs = [f"{model}:{backend}", *(compare or [])]
    try:
        report = run_bench(
            specs,
            src=src,
            size=size,
            frames=frames,
            batch=batch,
            preset=preset,
            device=device,
            repeats=repeats,
            precision=precision,
            workers=workers,
        )
    except NightvidError as err:
        raise _fail(str(err)) from None
    if as_json:
        print(json.dumps(report, indent=2))
        return
    table = Table(
        title=f"{report['input']} ({report['frames']} frames, batch {batch}, median of {repeats}, x264 {preset})"
    )
    table.add_column("engine", no_wrap=True)
    table.add_column("stage", no_wrap=True)
    for heading in ("fps", "ms/frame", "CPU ms/frame", "peak RSS MiB", "GPU MiB"):
        table.add_column(heading, justify="right")
    for row in report["rows"]:
        table.add_row(
            row["label"],
            row["stage"],
            f"{row['fps']:.{1 if row['fps'] >= 10 else 2}f}",
            f"{row['ms_per_frame']:.1f}",
            f"{row['cpu_ms_per_frame']:.1f}",
            f"{row['peak_rss_mib']:.0f}",
            "-" if row["peak_gpu_mib"] is None else f"{row['peak_gpu_mib']:.0f}",
        )
    Console().print(table)
    cores = report["machine"]["cores"]
    for label, ratio in report["end_to_end_over_slowest"].items():
        bound = report["bound_fps"][label]
        e2e = next(r["fps"] for r in report["rows"] if r["label"] == label and r["stage"] == "end-to-end")
        note = (
            ""
            if bound is None
            else (
                f"; the stages' CPU time on {cores} cores allows {bound:.1f} fps, end-to-end reaches {e2e / bound:.2f} of it"
            )
        )
        Console().print(f"{label}: end-to-end / slowest stage = {ratio}{note}")


@app.command()
def models(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the models, their sizes and whether weights ship with nightvid."""
    from nightvid.models_table import describe_models

    rows = describe_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("model", "params", "input range", "multiple", "weights", "what it does")
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['params']:,}",
            str(tuple(row["input_range"])),
            str(row["size_multiple"]),
            row["weights"] or "none (train first)",
            row["summary"],
        )
    Console().print(table)


@app.command("compile")
def compile_cmd(
    model: Annotated[str, typer.Argument(help="see `nightvid models`")],
    weights: Weights = None,
    backend: Annotated[str, typer.Option(help="inductor|onnx|tensorrt")] = "inductor",
    device: Annotated[str | None, typer.Option(help="cpu|cuda|cuda:N (default: cuda if present)")] = None,
    precision: Annotated[str, typer.Option(help="fp32|fp16|bf16")] = "fp32",
    min_shape: Annotated[str | None, typer.Option("--min", help="smallest batch, BxHxW")] = None,
    opt_shape: Annotated[str | None, typer.Option("--opt", help="batch to tune for, BxHxW")] = None,
    max_shape: Annotated[str | None, typer.Option("--max", help="largest batch, BxHxW")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="engine cache (default: $NIGHTVID_CACHE_DIR or the user cache)")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="build even if a valid artifact is cached")] = False,
) -> None:
    """Compile MODEL into the engine cache (or verify the cached artifact); print its path."""
    from nightvid.engines import compile_engine, default_range

    _setup_logging(quiet=False)
    try:
        shape_range = default_range(backend).override(min_shape, opt_shape, max_shape)
        entry = compile_engine(
            model,
            weights=weights or "default",
            backend=backend,
            device=device,
            precision=precision,
            shape_range=shape_range,
            cache_dir=cache_dir,
            rebuild=rebuild,
        )
    except NightvidError as err:
        raise _fail(str(err)) from None
    err_console.print(
        f"{f'built in {entry.build_seconds:.1f} s' if entry.built else 'cached'}, "
        f"loads in {entry.load_seconds:.2f} s: {shape_range}",
        highlight=False,
    )
    print(entry.artifact)


def _show_training(progress: _Progress, record: dict, total: int) -> None:
    """Feed the loop's log records (train/val/checkpoint events) to the progress display."""
    terms = {k: v for k, v in record.items() if k == "loss" or k.startswith(("l1", "tv", "mse", "psnr", "ssim"))}
    note = " ".join(f"{k} {v:.4f}" for k, v in terms.items() if isinstance(v, float))
    progress(int(record.get("step", 0)), total, note)


@train_app.command("noiser")
def train_noiser_cmd(
    out: Annotated[Path, typer.Option(help="run directory for checkpoints and weights")],
    seed: Annotated[int, typer.Option()] = 0,
    iters: Annotated[int, typer.Option(min=1)] = 2000,
    sigma: Annotated[float | None, typer.Option(help="std of the training noise")] = None,
    resume: Annotated[bool, typer.Option(help="continue from the last checkpoint in OUT")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Train NoiSER on Gaussian noise alone (no data needed)."""
    import dataclasses

    from nightvid.trainers.noiser import NoiserRecipe, train_noiser

    _setup_logging(quiet)
    recipe = NoiserRecipe(seed=seed, iters=iters)
    if sigma is not None:
        recipe = dataclasses.replace(recipe, sigma=sigma)
    try:
        with _Progress("train noiser", quiet=quiet, unit="iterations") as progress:
            weights = train_noiser(
                recipe, out, resume=resume, on_log=lambda rec: _show_training(progress, rec, recipe.iters)
            )
    except NightvidError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; resume with --resume", code=130) from None
    print(weights)


Data = Annotated[Path, typer.Option(help="training data: a paired folder (low/high, LOL, LOL-Blur) or clean photos")]
Out = Annotated[Path, typer.Option(help="run directory for checkpoints, weights and the model card")]
Iters = Annotated[int | None, typer.Option(min=1, help="optimiser steps (KinD: per stage)")]
Batch = Annotated[int | None, typer.Option(min=1, help="patches per step")]
Patch = Annotated[int | None, typer.Option(min=8, help="patch size in pixels")]
Preset = Annotated[str, typer.Option(help="cpu (reduced, what shipped weights used) | paper")]
Resume = Annotated[bool, typer.Option(help="continue from the last checkpoint in OUT")]
Device = Annotated[str, typer.Option(help="cpu | cuda | cuda:N")]
Settings = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="any recipe field, KEY=VALUE, repeatable (lr=2e-4, restoration.iters=800); see the recipe dataclasses",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q")]


def _train(
    name: str,
    data: Path,
    out: Path,
    *,
    preset: str,
    resume: bool,
    device: str,
    quiet: bool,
    settings: list[str] | None = None,
    **overrides: object,
) -> None:
    """Shared body of `train kind|lednet|denoiser`: recipe from options, progress, errors."""
    from nightvid.trainers import recipes

    _setup_logging(quiet)
    try:
        recipe = recipes.apply_settings(recipes.make_recipe(name, preset=preset, **overrides), settings or [])
        total = recipes.total_iters(recipe)
        with _Progress(f"train {name}", quiet=quiet, unit="iterations") as progress:
            weights = recipes.train(
                name,
                recipe,
                data,
                out,
                resume=resume,
                device=device,
                on_log=lambda rec: _show_training(progress, {**rec, "step": recipes.progress_step(recipe, rec)}, total),
            )
    except NightvidError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; resume with --resume", code=130) from None
    print(weights)


@train_app.command("kind")
def train_kind_cmd(
    data: Data,
    out: Out,
    iters: Iters = None,
    batch: Batch = None,
    patch: Patch = None,
    preset: Preset = "cpu",
    seed: Annotated[int, typer.Option()] = 0,
    resume: Resume = False,
    device: Device = "cpu",
    settings: Settings = None,
    quiet: Quiet = False,
) -> None:
    """Train KinD's three stages (decomposition, adjustment, restoration) on low/high pairs."""
    _train(
        "kind",
        data,
        out,
        preset=preset,
        resume=resume,
        device=device,
        quiet=quiet,
        settings=settings,
        iters=iters,
        batch=batch,
        patch=patch,
        seed=seed,
    )


@train_app.command("lednet")
def train_lednet_cmd(
    data: Data,
    out: Out,
    iters: Iters = None,
    batch: Batch = None,
    patch: Patch = None,
    vgg19: Annotated[
        Path | None,
        typer.Option(help="torchvision VGG-19 weights for the perceptual loss; without: an edge loss instead"),
    ] = None,
    preset: Preset = "cpu",
    seed: Annotated[int, typer.Option()] = 0,
    resume: Resume = False,
    device: Device = "cpu",
    settings: Settings = None,
    quiet: Quiet = False,
) -> None:
    """Train LEDNet on real pairs, or on synthetic dark (blurred) pairs from clean photos."""
    _train(
        "lednet",
        data,
        out,
        preset=preset,
        resume=resume,
        device=device,
        quiet=quiet,
        settings=settings,
        iters=iters,
        batch=batch,
        patch=patch,
        seed=seed,
        vgg19=str(vgg19) if vgg19 else None,
    )


@train_app.command("denoiser")
def train_denoiser_cmd(
    data: Data,
    out: Out,
    iters: Iters = None,
    batch: Batch = None,
    patch: Patch = None,
    sigma: Annotated[float, typer.Option(help="Gaussian noise std, 0-255 units")] = 25.0,
    task: Annotated[str | None, typer.Option(help="joint training: classify | segment")] = None,
    lam: Annotated[float | None, typer.Option("--lambda", help="task loss weight")] = None,
    vgg16: Annotated[Path | None, typer.Option(help="torchvision VGG-16 weights (else: offline net)")] = None,
    init: Annotated[Path | None, typer.Option(help="denoiser weights to start from")] = None,
    preset: Preset = "cpu",
    seed: Annotated[int, typer.Option()] = 0,
    resume: Resume = False,
    device: Device = "cpu",
    settings: Settings = None,
    quiet: Quiet = False,
) -> None:
    """Train the denoiser with MSE, or jointly with a frozen recognition net (--task)."""
    _train(
        "denoiser",
        data,
        out,
        preset=preset,
        resume=resume,
        device=device,
        quiet=quiet,
        settings=settings,
        iters=iters,
        batch=batch,
        patch=patch,
        seed=seed,
        sigma=sigma,
        task=task,
        task_weight=lam,
        vgg16=str(vgg16) if vgg16 else None,
        init=str(init) if init else None,
    )


@app.command("eval")
def eval_cmd(
    model: Annotated[str, typer.Argument(help="model to score (see `nightvid models`)")],
    data: Annotated[Path, typer.Option(help="paired folder; with --sigma, a folder of clean images")],
    weights: Weights = None,
    sigma: Annotated[float | None, typer.Option(help="denoising: add N(0, S/255) noise (seeded)")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="score only the first N images")] = None,
    device: Device = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="print the full report as JSON on stdout")] = False,
) -> None:
    """RGB PSNR/SSIM of MODEL per image and mean, beside plain baselines on the same images."""
    from nightvid.trainers.evaluate import evaluate_model

    _setup_logging(quiet=as_json)
    try:
        report = evaluate_model(model, data, weights=weights or "default", sigma=sigma, limit=limit, device=device)
    except NightvidError as err:
        raise _fail(str(err)) from None
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    _print_eval(report)


def _print_eval(report: EvalReport) -> None:
    methods = list(report.scores)
    table = Table(
        "image",
        *(f"{m} PSNR / SSIM" for m in methods),
        title=f"{report.model} on {report.data}" + (f", sigma {report.sigma:g}" if report.sigma else ""),
    )
    for i, name in enumerate(report.images):
        table.add_row(name, *(f"{report.scores[m][i][0]:.2f} / {report.scores[m][i][1]:.3f}" for m in methods))
    table.add_section()
    table.add_row("[bold]mean[/]", *(f"[bold]{report.mean(m)[0]:.2f} / {report.mean(m)[1]:.3f}[/]" for m in methods))
    Console().print(table)
    for name, what in report.as_dict()["baselines"].items():
        Console().print(f"{name}: {what}", highlight=False)


def _split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _parse_times(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        return [float(t) for t in _split_list(text)]
    except ValueError:
        raise NightvidError(f"--at takes seconds separated by commas (1.5,4,10), got {text!r}") from None


@app.command()
def compare(
    src: Annotated[Path, typer.Argument(help="a video, or a folder of images")],
    out: Annotated[Path, typer.Option("--out", "-o", help="contact sheet to write (PNG)")] = Path("compare.png"),
    models: Annotated[str, typer.Option(help="models to show, comma-separated (see `nightvid models`)")] = (
        "noiser,lednet,kind"
    ),
    baselines: Annotated[
        str, typer.Option(help="baselines to show: gain (mean to 0.45), gamma (1/2.2); '' for none")
    ] = "gain,gamma",
    frames: Annotated[int, typer.Option(help="frames spread evenly over the video (or images of the folder)")] = 4,
    at: Annotated[str | None, typer.Option(help="times in seconds instead, e.g. 1.5,4,10")] = None,
    max_side: Annotated[int, typer.Option(help="scale frames down to this longer side first (0: full size)")] = 640,
    cell_width: Annotated[int, typer.Option(min=32, help="width of each frame on the sheet, in pixels")] = 320,
    flicker_frames: Annotated[int, typer.Option(help="consecutive frames run for the flicker figure (0: skip)")] = 24,
    video: Annotated[Path | None, typer.Option(help="also write a labelled side-by-side clip (H.264 .mp4)")] = None,
    video_seconds: Annotated[float | None, typer.Option(min=0, help="only the first S seconds in --video")] = None,
    exposure: Exposure = None,
    backend: Backend = "auto",
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N (default: cuda if available)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the figures as JSON on stdout")] = False,
) -> None:
    """Input, baselines and models side by side on a labelled contact sheet, with no-reference figures."""
    from nightvid.compare import baseline_method, model_method, run_compare, write_side_by_side

    _setup_logging(quiet or as_json)
    try:
        methods = [baseline_method(b) for b in _split_list(baselines)]
        methods += [model_method(m, backend=backend, device=device, exposure=exposure) for m in _split_list(models)]
        report = run_compare(
            src,
            methods=methods,
            frames=frames,
            at=_parse_times(at),
            sheet=out,
            max_side=max_side or None,
            flicker_frames=flicker_frames,
            cell_width=cell_width,
        )
        if video is not None:
            if src.is_dir():
                raise NightvidError("--video needs a video input, not a folder of images")
            with _Progress(f"side by side {src.name}", quiet=quiet or as_json) as progress:
                report["side_by_side"] = write_side_by_side(
                    src,
                    video,
                    methods=methods,
                    seconds=video_seconds,
                    max_side=max_side or None,
                    on_progress=lambda n: progress(n, None),
                )
    except NightvidError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", code=130) from None
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if not quiet:
        _print_compare(report)


def _print_compare(report: dict) -> None:
    from nightvid.compare.figures import FIGURES

    columns = [*FIGURES, "flicker"]
    short = {"mean_luma": "luma", "colourfulness": "colour", "colour_vs_gain": "vs gain", "border_excess": "border"}
    table = Table(
        "method", *(short.get(c, c) for c in columns), title=f"{report['input']}: {len(report['frames'])} frames"
    )
    for name, row in report["methods"].items():
        table.add_row(name, *("-" if row[c] is None else f"{row[c]:.3f}" for c in columns))
    Console().print(table)
    err_console.print(f"contact sheet -> [bold]{report['sheet']}[/]", highlight=False, soft_wrap=True)
    if "side_by_side" in report:
        clip = report["side_by_side"]
        err_console.print(
            f"side-by-side clip ({clip['frames']} frames) -> [bold]{clip['video']}[/]", highlight=False, soft_wrap=True
        )


@app.command()
def preview(
    source: Annotated[
        str, typer.Option("--source", "-s", help="camera index, /dev/videoN, video file or rtsp:// URL")
    ] = "0",
    model: Model = "noiser",
    weights: Weights = None,
    backend: Backend = "auto",
    exposure: Exposure = None,
    device: Annotated[str | None, typer.Option(help="cpu | cuda | cuda:N (default: cuda if available)")] = None,
    serve: Annotated[
        str | None, typer.Option(help="HOST:PORT: serve the view as an MJPEG web page instead of a window")
    ] = None,
    record: Annotated[Path | None, typer.Option(help="record the view from the start (r toggles)")] = None,
    snapshot_dir: Annotated[Path, typer.Option(help="folder for s snapshots and r recordings")] = Path("."),
    layout: Annotated[str, typer.Option(help="side (side by side) | split (the mouse moves the divider)")] = "side",
    loop: Annotated[bool, typer.Option(help="replay a file source at its end")] = False,
    max_frames: Annotated[int | None, typer.Option(min=1, help="stop after N shown frames")] = None,
    seconds: Annotated[float | None, typer.Option(min=0, help="stop after S seconds")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON summary on stdout")] = False,
) -> None:
    """Live preview: original and enhanced side by side (q m + - s r keys); Ctrl-C stops."""
    from nightvid.streamer.preview import PreviewOptions
    from nightvid.streamer.preview import preview as run_preview

    _setup_logging(quiet)
    options = PreviewOptions(
        layout=layout,
        serve=serve,
        record=record,
        snapshot_dir=snapshot_dir,
        max_frames=max_frames,
        seconds=seconds,
        loop=loop,
    )

    def say(msg: str) -> None:
        err_console.print(msg, markup=False, highlight=False, soft_wrap=True)

    try:
        summary = run_preview(
            source,
            model=model,
            weights=weights or "default",
            backend=backend,
            options=options,
            announce=None if quiet else say,
            exposure=exposure,
            device=device,
        )
    except NightvidError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", code=130) from None
    if as_json:
        print(json.dumps(summary.as_dict()))
    elif not quiet:
        err_console.print(
            f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps, "
            f"latency {summary.latency_ms:.0f} ms, {summary.dropped} dropped): "
            f"{summary.reason}",
            highlight=False,
        )
