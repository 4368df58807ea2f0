"""nightvid against vs-mlrt on the same models and clips: fps and peak memory.

Usage:
    python benchmarks/vs_mlrt.py --vs-python /work/venvs/vsmlrt/bin/python
    python benchmarks/vs_mlrt.py --vs-python VENV/bin/python --rounds 3 --json
    python benchmarks/vs_mlrt.py --vs-python VENV/bin/python --models lednet,kind --frames 24

The peer: VapourSynth with vs-mlrt's ONNX Runtime plugin (``core.ort.Model``, CPU
provider, 2 streams) running nightvid's own ONNX file of the model (``nightvid compile
MODEL --backend onnx``: the whole default Enhancer, dark deblocking, black floor and
exposure included, sRGB [0, 1] in and out), source
``bs.VideoSource``, RGBS in and YUV420P8 out through ``resize``, ``vspipe -c y4m``
piped into an x264 veryfast crf 18 encoder (there is no ffmpeg CLI here, so it is this
file's ``encode-y4m`` mode: PyAV in the peer's venv). nightvid: ``nightvid enhance CLIP
OUT --model MODEL`` with its defaults, and with ``--temporal 1`` (the temporal noise
filter off: the peer's output, frame for frame), and ``--backend onnx`` with ``--with-onnx``.

vs-mlrt needs Python 3.12: ``python3.12 -m venv VENV && VENV/bin/pip install vapoursynth
vapoursynth-mlrt-ort vapoursynth-bestsource av && VENV/bin/vapoursynth config``. Without
``--vs-python`` (or when its VapourSynth lacks the plugins) the peer is skipped, with
the reason printed, and nightvid's rows still run.

Clips: the bundled 640x360 clip (240 frames), and its first 120 frames scaled to
1280x720 (PyAV, libx264 veryfast crf 18), made once into ``--work``; with ``--frames N``
(for the heavy nets, which take seconds a frame) the first N frames of each.

Method: whole processes, alternating tools within each round (nightvid, peer, ...),
``--rounds`` rounds; medians. Seconds are the wall time from start to the last process's
exit (imports, model load and encode included); fps = frames / seconds. Peak memory is
each process's own peak resident set (``wait4``'s ``ru_maxrss``); for the peer it is
vspipe's and, in "+ encoder", vspipe's plus the encoder's (they run at once). CPU
ms/frame is the processes' user + system time per frame: other jobs on a shared machine
stretch wall time far more than CPU time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ROOT / "nightvid" / "assets" / "night-demo.mp4"
VPY = """\
import vapoursynth as vs
core = vs.core
clip = core.bs.VideoSource(source={source!r})
rgb = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s="709")
out = core.ort.Model(rgb, network_path={model!r}, provider="CPU", num_streams={streams})
core.resize.Bicubic(out, format=vs.YUV420P8, matrix_s="709").set_output()
"""


def encode_y4m(dst: str) -> None:
    """Read y4m on stdin, write H.264 (libx264 veryfast, crf 18) to ``dst``: the peer's encoder."""
    from fractions import Fraction

    import av
    import numpy as np

    stdin = sys.stdin.buffer
    header = stdin.readline().decode().split()
    fields = {item[0]: item[1:] for item in header[1:]}
    width, height = int(fields["W"]), int(fields["H"])
    num, den = (int(v) for v in fields.get("F", "30:1").split(":"))
    with av.open(dst, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(num, den))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        size = width * height * 3 // 2
        while stdin.readline():  # "FRAME\n"
            data = stdin.read(size)
            if len(data) < size:
                break
            planes = np.frombuffer(data, np.uint8).reshape(height * 3 // 2, width)
            for packet in stream.encode(av.VideoFrame.from_ndarray(planes, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_cut(src: Path, dst: Path, frames: int, size: tuple[int, int] | None = None) -> Path:
    """The first ``frames`` frames of ``src`` (scaled to ``size`` (W, H)), x264 veryfast crf 18."""
    import av

    if dst.is_file():
        return dst
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as source, av.open(str(tmp), "w") as out:
        video = source.streams.video[0]
        width, height = size or (video.codec_context.width, video.codec_context.height)
        stream = out.add_stream("libx264", rate=video.average_rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        for i, frame in enumerate(source.decode(video)):
            if i >= frames:
                break
            for packet in stream.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    tmp.replace(dst)
    return dst


def frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def run_processes(commands: list[list[str]]) -> tuple[float, list[float], float]:
    """Run ``commands`` as a pipe (each one's stdout into the next).

    Returns wall seconds, each process's peak RSS in MiB, and their CPU seconds together
    (user + system: less sensitive than wall time to other jobs on the machine).
    """
    started = time.perf_counter()
    procs: list[subprocess.Popen[bytes]] = []
    for i, command in enumerate(commands):
        stdin = procs[-1].stdout if procs else subprocess.DEVNULL
        stdout = subprocess.PIPE if i < len(commands) - 1 else subprocess.DEVNULL
        procs.append(subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE))
        if i > 0 and procs[-2].stdout is not None:
            procs[-2].stdout.close()  # the next process owns the pipe now
    peaks: list[float] = [0.0] * len(procs)
    cpu = 0.0
    failed: list[str] = []
    for _ in procs:
        pid, status, usage = os.wait4(-1, 0)
        index = next(i for i, p in enumerate(procs) if p.pid == pid)
        procs[index].returncode = os.waitstatus_to_exitcode(status)
        peaks[index] = usage.ru_maxrss / 1024
        cpu += usage.ru_utime + usage.ru_stime
        if procs[index].returncode != 0:
            assert procs[index].stderr is not None
            failed.append(f"{commands[index][0]}: {procs[index].stderr.read().decode()[-800:]}")
    seconds = time.perf_counter() - started
    if failed:
        raise RuntimeError("; ".join(failed))
    return seconds, peaks, cpu


def parity(clip: Path) -> dict[str, float]:
    """The default engine's frames against the fp32 eager path on every frame of ``clip``:
    mean and max absolute difference in 8-bit levels, and the share of values that differ."""
    import av
    import numpy as np

    from nightvid.engines import create_engine

    fast, eager = create_engine("noiser", deblock=False), create_engine("noiser", backend="eager", deblock=False)
    total, worst, differ, values = 0.0, 0, 0, 0
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            rgb = frame.to_ndarray(format="rgb24")[None]
            diff = np.abs(fast.enhance_frames(rgb).astype(np.int16) - eager.enhance_frames(rgb).astype(np.int16))
            total += float(diff.sum())
            worst = max(worst, int(diff.max()))
            differ += int((diff > 0).sum())
            values += diff.size
    return {"engine": fast.backend, "mean_abs": total / values, "max_abs": worst, "share_differing": differ / values}


def peer_reason(vs_python: str | None) -> str | None:
    """Why the peer cannot run here, or None."""
    if not vs_python:
        return "no --vs-python given (a Python 3.12 venv with vapoursynth, vapoursynth-mlrt-ort, -bestsource, av)"
    probe = "import vapoursynth as vs; c = vs.core; assert hasattr(c, 'ort') and hasattr(c, 'bs'); import av"
    result = subprocess.run([vs_python, "-c", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"vs-mlrt is not usable from {vs_python}: {result.stderr.strip().splitlines()[-1:]}"
    vspipe = Path(vs_python).parent / "vspipe"
    if not vspipe.is_file():
        return f"no vspipe beside {vs_python}"
    return None


def onnx_model(model: str) -> Path:
    """nightvid's ONNX artifact of ``model``'s default Enhancer (built into the engine cache if needed)."""
    from nightvid.engines import compile_engine

    return compile_engine(model, backend="onnx").artifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "encode-y4m"])
    parser.add_argument("dst", nargs="?", help="encode-y4m: the output file")
    parser.add_argument("--vs-python", help="python of a venv with vapoursynth + vs-mlrt (ort) + bestsource + av")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=2, help="vs-mlrt num_streams")
    parser.add_argument("--frames-720p", type=int, default=120)
    parser.add_argument("--models", default="noiser", help="comma-separated: noiser, lednet, kind")
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip (heavy nets)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "nightvid-vs-mlrt")
    parser.add_argument("--with-onnx", action="store_true", help="also time `nightvid enhance --backend onnx`")
    parser.add_argument("--only", choices=["360p", "720p"], help="one clip only")
    parser.add_argument("--parity", action="store_true", help="also compare the default engine with eager fp32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.mode == "encode-y4m":
        encode_y4m(args.dst)
        return

    args.work.mkdir(parents=True, exist_ok=True)
    clips = {
        "360p": BUNDLED,
        "720p": make_cut(BUNDLED, args.work / "night-demo-720p.mp4", args.frames_720p, (1280, 720)),
    }
    if args.frames:
        clips = {
            label: make_cut(clip, args.work / f"{label}-{args.frames}.mp4", args.frames)
            for label, clip in clips.items()
        }
    if args.only:
        clips = {args.only: clips[args.only]}
    reason = peer_reason(args.vs_python)
    if reason:
        print(f"vs-mlrt skipped: {reason}", file=sys.stderr)
    results: dict[str, dict[str, list[list[float]]]] = {}
    for model_name in args.models.split(","):
        onnx = onnx_model(model_name)
        nightvid = [sys.executable, "-m", "nightvid", "enhance", "--model", model_name, "--overwrite", "--quiet"]
        tools: dict[str, object] = {"nightvid": nightvid, "nightvid --temporal 1": [*nightvid, "--temporal", "1"]}
        if args.with_onnx:
            tools["nightvid onnx"] = [*nightvid, "--backend", "onnx"]
        if not reason:
            tools["vs-mlrt"] = "peer"
        for label, clip in clips.items():
            frames = frame_count(clip)
            script = args.work / f"{model_name}-{label}.vpy"
            script.write_text(VPY.format(source=str(clip), model=str(onnx), streams=args.streams))
            key = f"{model_name} {label}"
            for round_ in range(args.rounds):
                for tool, command in tools.items():
                    out = str(args.work / f"{model_name}-{label}-{tool.replace(' ', '-')}.mp4")
                    if command == "peer":
                        assert args.vs_python is not None
                        vspipe = str(Path(args.vs_python).parent / "vspipe")
                        pipe = [[vspipe, "-c", "y4m", str(script), "-"], [args.vs_python, __file__, "encode-y4m", out]]
                        seconds, peaks, cpu = run_processes(pipe)
                        row = [seconds, frames / seconds, peaks[0], sum(peaks), 1000 * cpu / frames]
                    else:
                        assert isinstance(command, list)
                        seconds, peaks, cpu = run_processes([[*command[:4], str(clip), out, *command[4:]]])
                        row = [seconds, frames / seconds, peaks[0], peaks[0], 1000 * cpu / frames]
                    results.setdefault(key, {}).setdefault(tool, []).append(row)
                    print(
                        f"{key} round {round_ + 1} {tool}: {row[0]:.2f} s, {row[1]:.2f} fps, {row[3]:.0f} MiB",
                        file=sys.stderr,
                    )
    report = {
        label: {tool: [statistics.median(col) for col in zip(*rows, strict=True)] for tool, rows in by_tool.items()}
        for label, by_tool in results.items()
    }
    same = parity(BUNDLED) if args.parity else None
    if args.json:
        print(json.dumps({"medians": report, "runs": results, "peer": reason or "vs-mlrt", "parity": same}, indent=2))
        return
    if same is not None:
        print(
            f"parity on the bundled clip, {same['engine']} vs eager fp32: mean abs {same['mean_abs']:.5f} levels, "
            f"max {same['max_abs']}, {100 * same['share_differing']:.3f}% of values differ"
        )
    print(f"medians of {args.rounds} alternating whole-process runs")
    print("| model, clip | tool | seconds | fps | vs vs-mlrt | peak MiB | peak MiB + encoder | CPU ms/frame |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, by_tool in report.items():
        peer = by_tool.get("vs-mlrt")
        for tool, (seconds, fps, peak, total, cpu) in by_tool.items():
            ratio = f"{fps / peer[1]:.2f}x" if peer else "-"
            print(f"| {label} | {tool} | {seconds:.2f} | {fps:.2f} | {ratio} | {peak:.0f} | {total:.0f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
