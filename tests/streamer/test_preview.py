"""`nightvid preview`: keys, latest-frame capture, sources, errors, window on Xvfb, web page.

A small dark clip made with PyAV stands in for the camera: file sources are paced by
their timestamps, so they behave like a camera of the clip's frame rate. The window
test needs Xvfb and the web-page test needs Chromium (`.ci/run` installs both); on a
machine without them they skip, except on CI, where a missing tool is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nightvid.cli import app
from nightvid.engines import EngineSpec, create_engine, engine_factory
from nightvid.engines.base import Engine
from nightvid.engines.wrappers import tiled as engine_tiled
from nightvid.errors import NightvidError
from nightvid.streamer.capture import Captured, LatestFrameCapture, open_source, redact
from nightvid.streamer.preview import (
    GAIN_STEP,
    MAX_GAIN_STEPS,
    PreviewOptions,
    PreviewState,
    apply_gain,
    check_display,
    compose,
    handle_key,
    key_name,
    run_preview,
)
from nightvid.streamer.preview.serve import MjpegServer, parse_address
from nightvid.streamer.stages import END
from tests.clips import make_clip
from tests.procs import interruptible

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[2]


def need(tool: str, package: str) -> str:
    """Path of ``tool``; skip without it (fail on CI, where .ci/run installs it)."""
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: `apt-get install {package}` (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def halves(image: np.ndarray) -> tuple[float, float]:
    """Median luma of the left and right half of an RGB image (robust to overlay text)."""
    gray = image.mean(axis=2)
    mid = gray.shape[1] // 2
    return float(np.median(gray[:, :mid])), float(np.median(gray[:, mid:]))


def identity_engine() -> Engine:
    return Engine(fn=lambda x: x, backend="eager", device=torch.device("cpu"))


class Prebuilt:
    """Engines built ahead, by model name: what the preview takes from its caller."""

    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.engines)

    def __call__(self, model: str) -> Engine:
        return self.engines[model]


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """2 s of dark 96x72 video at 25 fps, no audio."""
    return make_clip(tmp_path / "dark.mp4", frames=50, size=(96, 72), audio=False)


# --- keys and composition -------------------------------------------------------------


def test_key_codes() -> None:
    assert [key_name(ord(c)) for c in "qmsr+-=_"] == list("qmsr+-+-")
    assert key_name(27) == "q" and key_name(ord("Q")) == "q"
    assert key_name(-1) is None and key_name(ord("x")) is None


def test_key_state_machine() -> None:
    s = PreviewState(models=("noiser", "kind", "lednet"))
    assert handle_key(s, "m").model == "kind"
    assert handle_key(handle_key(handle_key(s, "m"), "m"), "m").model == "noiser"  # wraps
    assert handle_key(handle_key(s, "+"), "+").gain_steps == 2
    low = s
    for _ in range(MAX_GAIN_STEPS + 3):
        low = handle_key(low, "-")
    assert low.gain_steps == -MAX_GAIN_STEPS  # clamped
    assert handle_key(handle_key(s, "s"), "s").snapshots == 2
    assert handle_key(s, "r").recording and not handle_key(handle_key(s, "r"), "r").recording
    assert handle_key(s, "q").quit
    assert handle_key(s, "x") == s
    assert s.quit is False  # frozen: keys never mutate


def test_gain_keys_set_the_output_gain() -> None:
    engine = identity_engine()
    assert apply_gain(engine.controls, 2) == f"gain x{GAIN_STEP**2:.2f}"
    frame = np.full((1, 4, 4, 3), 100, np.uint8)
    assert int(engine.enhance_frames(frame)[0, 0, 0, 0]) == round(100 * GAIN_STEP**2)
    apply_gain(engine.controls, 0)
    assert engine.controls.gain == 1.0


def test_gain_keys_survive_the_tiling_wrapper() -> None:
    # The gain keys once found KinD by looking inside the engine's callable, so any
    # wrapper lost them; the control now travels with the engine.
    torch.manual_seed(0)
    engine = create_engine("kind", weights=None, backend="eager", tile=0)
    tiled = engine_tiled(engine, 64)
    assert tiled is not engine and tiled.details["tile"] == "64"
    assert tiled.controls is engine.controls
    frame = np.random.default_rng(0).integers(0, 60, (1, 96, 96, 3), dtype=np.uint8)
    low = tiled.enhance_frames(frame)
    assert apply_gain(tiled.controls, 3) == f"gain x{GAIN_STEP**3:.2f}"
    high = tiled.enhance_frames(frame)
    assert engine.controls.gain == pytest.approx(GAIN_STEP**3)
    assert high.astype(int).sum() > low.astype(int).sum()  # the gain reached the tiled frames


def test_preview_package_builds_no_engine_by_name() -> None:
    # The preview gets its engines from its caller; importing it loads neither torch nor a net.
    code = (
        "import sys, nightvid.streamer.preview\n"
        "assert not [m for m in sys.modules if m == 'torch' or m.startswith('nightvid.nets')], sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_compose_side_by_side_and_split() -> None:
    dark = np.full((48, 64, 3), 10, np.uint8)
    bright = np.full((48, 64, 3), 200, np.uint8)
    side = compose(dark, bright)
    assert side.shape == (240, 640, 3)  # enlarged x5 to the minimum width
    assert halves(side) == (10.0, 200.0)
    split = compose(dark, bright, layout="split", split=0.25, min_width=0)
    assert split.shape == (48, 64, 3)
    assert split[0, 5, 0] == 10 and split[0, 40, 0] == 200
    odd = compose(dark[:47, :63], bright[:47, :63], min_width=0)
    assert odd.shape[0] % 2 == 0 and odd.shape[1] % 2 == 0
    with pytest.raises(NightvidError, match="unknown layout"):
        compose(dark, bright, layout="grid")


# --- capture: newest frame only, files paced like a camera ---------------------------


class FastLiveSource:
    """A live source that produces frames as fast as it can (a camera faster than the net)."""

    live = True
    name = "fake camera"

    def __init__(self, count: int) -> None:
        self.count, self.closed = count, False

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, None]]:
        for i in range(self.count):
            if stop.is_set():
                return
            time.sleep(0.001)
            yield np.full((4, 4, 3), i % 256, np.uint8), None

    def close(self) -> None:
        self.closed = True


def take_all(capture: LatestFrameCapture, work_s: float) -> list[tuple[Captured, float]]:
    """Consume like a slow engine: each frame costs ``work_s``; returns (frame, latency)."""
    taken = []
    while (item := capture.read(timeout=0.5)) is not END:
        if item is None:
            continue
        taken.append((item, time.monotonic() - item.at))
        time.sleep(work_s)
    capture.close()
    return taken


def test_capture_keeps_only_the_newest_frame() -> None:
    source = FastLiveSource(300)
    capture = LatestFrameCapture(source)
    taken = take_all(capture, work_s=0.03)
    indices = [item.index for item, _ in taken]
    assert capture.captured == 300 and source.closed
    assert capture.dropped > 100  # far more frames than the consumer could take
    assert len(taken) + capture.dropped == 300
    assert indices == sorted(indices) and indices[-1] == 299  # in order; the last one arrives
    # Waiting time in the slot stays below one consumer period, never a growing queue.
    assert max(lat for _, lat in taken) < 0.2


def test_file_source_is_paced_like_a_camera_and_latency_stays_bounded(tmp_path: Path) -> None:
    fast = make_clip(tmp_path / "100fps.mp4", frames=40, size=(32, 32), rate=100, audio=False)
    capture = LatestFrameCapture(open_source(str(fast)))
    assert capture.paced
    start = time.monotonic()
    taken = take_all(capture, work_s=0.045)  # a net at ~20 fps behind a 100 fps camera
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 3.0  # 40 frames at 100 fps: released over ~0.4 s, not at once
    assert capture.dropped > 10 and len(taken) + capture.dropped == 40
    assert max(lat for _, lat in taken) < 0.1  # the newest frame, ~10 ms old at most + jitter


def test_file_source_plays_at_its_rate_and_loops(clip: Path) -> None:
    capture = LatestFrameCapture(open_source(str(clip)))
    start = time.monotonic()
    frames = [item.index for item in capture.frames()]
    elapsed = time.monotonic() - start
    capture.close()
    assert frames == list(range(50)) and capture.dropped == 0
    assert 1.7 <= elapsed < 4.0  # 50 frames at 25 fps
    looped = LatestFrameCapture(open_source(str(clip), loop=True))
    seen = []
    for item in looped.frames():
        seen.append(item)
        if len(seen) == 60:
            break
    looped.close()
    assert [s.index for s in seen] == list(range(60))  # past the end of the 50-frame file
    assert seen[-1].at - seen[0].at >= 2.0  # and still at 25 fps across the restart


# --- unreadable sources and no display: clear errors ----------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: str(d / "missing.mp4"), "input not found"),
        (lambda d: (d / "notes.txt").write_text("hello") and str(d / "notes.txt"), "cannot read"),
        (lambda d: "/dev/video63", "no camera at /dev/video63"),
        (lambda d: "63", "no camera at /dev/video63"),
        (lambda d: "rtsp://user:secret@127.0.0.1:1/cam", "cannot open stream rtsp://user:\\*\\*\\*@"),
        (lambda d: "  ", "empty --source"),
    ],
    ids=["missing", "text-file", "dev-video", "index", "rtsp-refused", "empty"],
)
def test_unreadable_source_is_a_clear_error(tmp_path: Path, make, message: str) -> None:
    if "video63" in message and not sys.platform.startswith("linux"):
        pytest.skip("device paths are Linux's")
    with pytest.raises(NightvidError, match=message) as err:
        open_source(make(tmp_path))
    assert "secret" not in str(err.value)


def test_redact_hides_url_passwords() -> None:
    assert redact("rtsp://admin:hunter2@cam.local:554/s") == "rtsp://admin:***@cam.local:554/s"
    assert redact("rtsp://cam.local/s") == "rtsp://cam.local/s"


def test_cli_unreadable_source_exits_1_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["preview", "--source", str(tmp_path / "nope.mp4")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: input not found"), result.output


def test_cli_even_temporal_is_refused_in_one_line(clip: Path) -> None:
    result = CliRunner().invoke(app, ["preview", "--source", str(clip), "--temporal", "2"])
    assert result.exit_code == 1 and "--temporal takes an odd number" in result.output


def test_no_display_is_a_clear_error_not_an_abort(clip: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "-m", "nightvid", "preview", "--source", str(clip), "--backend", "eager"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr  # an abort would be -6 (SIGABRT)
    assert proc.stderr.startswith("error: no display") and "--serve" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_unreachable_display_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    free = next(n for n in range(300, 400) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    monkeypatch.setenv("DISPLAY", f":{free}")
    with pytest.raises(NightvidError, match=f"cannot open a window on display :{free}.*--serve"):
        check_display()  # Qt aborts in the probe's process, not in ours


# --- the MJPEG server and the whole loop, in process -------------------------------------


def test_server_routes_and_clean_shutdown() -> None:
    assert parse_address("8080") == ("127.0.0.1", 8080)
    with pytest.raises(NightvidError, match="HOST:PORT"):
        parse_address("localhost:http")
    before = threading.active_count()
    server = MjpegServer("127.0.0.1", 0, title="clip <1>")
    try:
        with pytest.raises(NightvidError, match="cannot serve on"):
            MjpegServer("127.0.0.1", int(server.url.rsplit(":", 1)[1].strip("/")))  # port taken
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert 'src="/stream.mjpg"' in page and "clip &lt;1&gt;" in page
        ok, jpeg = cv2.imencode(".jpg", np.zeros((8, 16, 3), np.uint8))
        server.publish(jpeg.tobytes())
        assert urllib.request.urlopen(server.url + "snapshot.jpg", timeout=5).read() == jpeg.tobytes()
        stream = urllib.request.urlopen(server.url + "stream.mjpg", timeout=5)
        assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace; boundary=")
        server.publish(jpeg.tobytes())
        head = stream.read(80)
        assert head.startswith(b"--nightvid-frame\r\nContent-Type: image/jpeg\r\n")
        press = urllib.request.Request(server.url + "key", data=b"s", method="POST", headers={"X-Nightvid-Key": "s"})
        assert urllib.request.urlopen(press, timeout=5).status == 204
        forged = urllib.request.Request(server.url + "key", data=b"q", method="POST")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(forged, timeout=5)  # no custom header: refused
        assert server.keys() == ["s"]
    finally:
        t0 = time.monotonic()
        server.close()  # the open stream ends by itself; every thread is joined
    assert time.monotonic() - t0 < 3.0
    stream.close()
    assert threading.active_count() <= before


def test_keys_snapshot_record_and_model_switch_in_serve_mode(clip: Path, tmp_path: Path) -> None:
    messages: list[str] = []
    ready = threading.Event()

    def announce(message: str) -> None:
        messages.append(message)
        if message.startswith("serving "):
            ready.url = message.split()[1]  # type: ignore[attr-defined]
            ready.set()

    def press_keys() -> None:
        assert ready.wait(30)
        while True:  # keys act on the view: wait for the first one
            try:
                urllib.request.urlopen(ready.url + "snapshot.jpg", timeout=5).read()
                break
            except urllib.error.HTTPError:
                time.sleep(0.05)
        for key, pause in [("+", 0.2), ("s", 0.2), ("m", 0.2), ("-", 0.2), ("r", 1.0), ("r", 0.2), ("q", 0)]:
            request = urllib.request.Request(
                ready.url + "key", data=key.encode(), method="POST", headers={"X-Nightvid-Key": key}
            )
            urllib.request.urlopen(request, timeout=5).read()
            time.sleep(pause)

    engines = {"noiser": create_engine("noiser", backend="eager"), "identity": identity_engine()}
    presser = threading.Thread(target=press_keys, daemon=True)
    presser.start()
    summary = run_preview(
        str(clip),
        engines=lambda: Prebuilt(engines),
        options=PreviewOptions(serve="127.0.0.1:0", snapshot_dir=tmp_path / "shots", loop=True, seconds=20),
        announce=announce,
    )
    presser.join(5)
    assert summary.reason == "quit", messages
    assert "model: identity" in messages
    assert engines["noiser"].controls.gain == GAIN_STEP and engines["identity"].controls.gain == 1.0
    (shot,) = summary.snapshots
    assert cv2.imread(shot).shape == (288, 768, 3)  # 2 x 96 x 72, enlarged x4
    (recording,) = summary.recordings
    with av.open(recording) as video:
        assert video.streams.video[0].width == 768 and len(list(video.decode(video=0))) >= 1
    assert summary.frames > 0 and summary.url and summary.url.startswith("http://127.0.0.1:")


def test_cheap_checks_come_before_the_engines(tmp_path: Path, clip: Path) -> None:
    asked = []

    def engines():
        asked.append(True)
        return engine_factory(EngineSpec(model="nosuchnet", backend="eager"))

    with pytest.raises(NightvidError, match="input not found"):
        run_preview(str(tmp_path / "nope.mp4"), engines=engines)
    with pytest.raises(NightvidError, match="unknown layout"):
        run_preview(str(clip), engines=engines, options=PreviewOptions(layout="grid"))
    assert not asked
    with pytest.raises(NightvidError, match="unknown model 'nosuchnet'"):
        run_preview(str(clip), engines=engines, options=PreviewOptions(serve="127.0.0.1:0"))
    assert asked


def test_engine_factory_drives_the_preview(clip: Path) -> None:
    # What `nightvid preview --backend eager --serve ...` runs, without the CLI.
    messages: list[str] = []
    summary = run_preview(
        str(clip),
        engines=lambda: engine_factory(EngineSpec(model="noiser", backend="eager", workers=1)),
        options=PreviewOptions(serve="127.0.0.1:0", max_frames=3, seconds=30),
        announce=messages.append,
    )
    assert summary.reason == "max frames" and summary.frames == 3, messages
    assert any(m.startswith("preview of ") and " with noiser (" in m for m in messages)


# --- the real window on Xvfb, the real page in Chromium ----------------------------------


class Preview:
    """`nightvid preview ...` in a subprocess; stderr collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nightvid", "preview", *args],
            cwd=ROOT,
            text=True,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=interruptible,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())

    def wait_for(self, prefix: str, timeout: float = 40) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no {prefix!r} line; stderr: {self.lines}")

    def interrupt(self) -> int:
        """Ctrl-C; the preview must shut down cleanly and exit 0."""
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=10)
        finally:
            self.kill()
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A private X server; yields its DISPLAY (Xvfb picks a free number itself)."""
    binary = need("Xvfb", "xvfb")
    if "x11grab" not in av.formats_available:
        pytest.skip("this PyAV's FFmpeg has no x11grab to take screenshots")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", "800x600x24", "-nolisten", "tcp", "-wr"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as ready:
        number = ready.readline().strip()  # written once the server accepts clients
    try:
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def grab_screen(display: str) -> np.ndarray:
    with av.open(display, format="x11grab", options={"video_size": "800x600", "draw_mouse": "0"}) as screen:
        return next(screen.decode(video=0)).to_ndarray(format="rgb24")


def test_window_on_xvfb_shows_original_and_brighter_enhanced(xvfb: str, clip: Path, tmp_path: Path) -> None:
    env = dict(os.environ, DISPLAY=xvfb)
    env.pop("WAYLAND_DISPLAY", None)
    preview = Preview("--source", str(clip), "--backend", "eager", "--loop", "--seconds", "40", env=env)
    try:
        preview.wait_for("preview of ")
        deadline, window = time.monotonic() + 20, None
        while time.monotonic() < deadline and window is None:
            screen = grab_screen(xvfb)
            ys, xs = np.nonzero(screen.min(axis=2) < 250)  # the root window is white (-wr)
            if len(xs) and xs.max() - xs.min() + 1 >= 600:
                window = screen[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
            else:
                time.sleep(0.2)
        assert window is not None, "no preview window appeared"
        cv2.imwrite(str(tmp_path / "xvfb.png"), cv2.cvtColor(screen, cv2.COLOR_RGB2BGR))
        assert window.shape[:2] == (288, 768)  # 2 x 96 x 72 enlarged x4 to >= 640 px wide
        left, right = halves(window)
        assert left < 40 and right > left + 40, (left, right)  # dark original, bright result
    finally:
        code = preview.interrupt()
    assert code == 0, preview.lines
    assert preview.lines[-1].endswith(": interrupted"), preview.lines


def test_served_page_in_headless_chromium(clip: Path, tmp_path: Path) -> None:
    chromium = need("chromium", "chromium")
    preview = Preview(
        "--source", str(clip), "--backend", "eager", "--serve", "127.0.0.1:0", "--loop", "--seconds", "40", "--json"
    )
    try:
        url = preview.wait_for("serving ").split()[1]
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 20
        while True:  # the first view is published once the net has run
            try:
                jpeg = urllib.request.urlopen(url + "snapshot.jpg", timeout=5).read()
                break
            except urllib.error.HTTPError:
                assert time.monotonic() < deadline, "no frame served"
                time.sleep(0.1)
        left, right = halves(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
        assert right > left + 40, (left, right)
        shot = tmp_path / "chromium.png"
        profile = tmp_path / "profile"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=800,400",
                url,
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
        page = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
        assert page.shape[:2] == (400, 800)
        # The <img> is 100% wide: 800 x 300 (the 768 x 288 view scaled), buttons below it.
        view = page[:300]
        left, right = halves(view)
        assert left < 40 and right > left + 40, (left, right)
        assert halves(page[310:])[0] < 60  # the dark bar with the buttons
    finally:
        code = preview.interrupt()
    assert code == 0, preview.lines
    summary = json.loads(preview.proc.stdout.read())
    assert summary["reason"] == "interrupted" and summary["frames"] > 0
    assert summary["url"] == url
