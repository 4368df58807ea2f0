"""The pieces of `enhance-many` that need no worker: inputs and their mirrored outputs, the
manifest's skip rules, where a video may be cut, and how failures are classified."""

from __future__ import annotations

import errno
import json
import os
from dataclasses import fields, replace
from pathlib import Path

import pytest

from nightvid.engines import compile_engine
from nightvid.engines.shapes import ShapeRange
from nightvid.engines.spec import EngineSpec, picture_fields
from nightvid.errors import NightvidError
from nightvid.jobs.many import ManyJob, output_options
from nightvid.jobs.many.inputs import find_videos, output_name
from nightvid.jobs.many.manifest import MANIFEST_NAME, Fingerprint, Manifest
from nightvid.jobs.many.tasks import EngineBuildError, InputChanged, built_engine, classify
from nightvid.streamer.decode import CorruptInputError
from nightvid.streamer.encode_options import EncodeOptions
from nightvid.streamer.join import unjoinable
from nightvid.streamer.segments import SplitError, h264_nal_types, plan_spans, span_frames
from tests.clips import make_clip
from tests.engines.test_spec import OTHER
from tests.jobs.many_helpers import VIDEO, make_long_clip

# --------------------------------------------------------------------------- inputs


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def keys(items) -> list[str]:  # noqa: ANN001
    return [item.key for item in items]


def test_a_folder_is_searched_recursively_for_videos_only(tmp_path: Path) -> None:
    cam = tmp_path / "cam1"
    for name in ("a.mp4", "b.MKV", "night/c.ts", "night/deep/d.mov", "notes.txt", ".hidden.mp4", ".cache/e.mp4"):
        touch(cam / name)
    items = find_videos([cam], tmp_path / "out")
    assert keys(items) == ["a.mp4", "b.MKV", "night/c.ts", "night/deep/d.mov"]
    assert items[2].src == cam / "night" / "c.ts" and items[2].dst == tmp_path / "out" / "night" / "c.ts"


def test_several_inputs_mirror_below_their_common_folder(tmp_path: Path) -> None:
    touch(tmp_path / "cam1" / "x.mp4")
    touch(tmp_path / "cam2" / "x.mp4")
    touch(tmp_path / "cam2" / "sub" / "y.avi")
    items = find_videos([tmp_path / "cam1", tmp_path / "cam2"], tmp_path / "out", suffix="-bright", ext="mkv")
    assert keys(items) == ["cam1/x-bright.mkv", "cam2/sub/y-bright.mkv", "cam2/x-bright.mkv"]
    assert output_name("night.mp4", suffix="-b") == "night-b.mp4"


def test_globs_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("2024-01/a.mp4", "2024-01/b.mp4", "2024-02/c.mp4", "2023-12/d.mp4"):
        touch(tmp_path / "arch" / name)
    monkeypatch.chdir(tmp_path)
    assert keys(find_videos(["arch/2024-*/*.mp4"], tmp_path / "out")) == [
        "2024-01/a.mp4",
        "2024-01/b.mp4",
        "2024-02/c.mp4",
    ]
    assert keys(find_videos(["arch/**/c.mp4"], tmp_path / "out")) == ["2024-02/c.mp4"]
    listing = touch(
        tmp_path / "lists" / "todo.txt", b"# the December files\n../arch/2023-12\n\n../arch/2024-01/a.mp4\n"
    )
    assert keys(find_videos([listing], tmp_path / "out")) == ["2023-12/d.mp4", "2024-01/a.mp4"]


def test_inputs_that_cannot_work_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NightvidError, match="input not found"):
        find_videos([tmp_path / "missing.mp4"], tmp_path / "out")
    with pytest.raises(NightvidError, match="no file matches"):
        find_videos([str(tmp_path / "*.mp4")], tmp_path / "out")
    touch(tmp_path / "a" / "x.mp4")
    touch(tmp_path / "a" / "x.mkv")
    with pytest.raises(NightvidError, match="would both be written to"):
        find_videos([tmp_path / "a"], tmp_path / "out", ext=".mp4")
    with pytest.raises(NightvidError, match="would replace it"):
        find_videos([tmp_path / "a" / "x.mp4"], tmp_path / "a")


def test_outputs_inside_the_input_folder_are_not_inputs(tmp_path: Path) -> None:
    touch(tmp_path / "v" / "x.mp4")
    touch(tmp_path / "v" / "x-bright.mp4")  # an earlier run's output beside its input
    touch(tmp_path / "v" / "bright" / "x.mp4")  # an earlier run's output folder
    assert keys(find_videos([tmp_path / "v"], tmp_path / "v", suffix="-bright")) == ["x-bright.mp4"]
    assert keys(find_videos([tmp_path / "v"], tmp_path / "v" / "bright")) == ["x-bright.mp4", "x.mp4"]


# --------------------------------------------------------------------------- manifest

OPTIONS = {"model": "noiser", "crf": 18}


def finish(manifest: Manifest, key: str, src: Path, out: Path, options: dict = OPTIONS) -> None:
    touch(out / key, b"output")
    manifest.finished(key, src, Fingerprint.of(src), options, frames=3)


def test_manifest_skips_the_same_input_with_the_same_options(tmp_path: Path) -> None:
    src, out = touch(tmp_path / "a.mp4", b"video one"), tmp_path / "out"
    out.mkdir()
    with Manifest(out) as manifest:
        manifest.started("a.mp4", src)
        assert not manifest.is_finished("a.mp4", src, OPTIONS)
        finish(manifest, "a.mp4", src, out)
        assert manifest.is_finished("a.mp4", src, OPTIONS)
        assert not manifest.is_finished("a.mp4", src, {**OPTIONS, "crf": 20})
    with Manifest(out) as manifest:
        assert manifest.is_finished("a.mp4", src, OPTIONS)
        os.utime(src, ns=(1, 1))  # only the mtime moved: hashed, still the same
        assert manifest.is_finished("a.mp4", src, OPTIONS)
        src.write_bytes(b"video two")  # same size, other content
        assert not manifest.is_finished("a.mp4", src, OPTIONS)


def test_manifest_redoes_a_missing_or_different_output(tmp_path: Path) -> None:
    src, out = touch(tmp_path / "a.mp4", b"video"), tmp_path / "out"
    out.mkdir()
    with Manifest(out) as manifest:
        finish(manifest, "a.mp4", src, out)
        (out / "a.mp4").write_bytes(b"truncated")
        assert not manifest.is_finished("a.mp4", src, OPTIONS)
        (out / "a.mp4").unlink()
        assert not manifest.is_finished("a.mp4", src, OPTIONS)


def test_manifest_survives_a_torn_line_and_is_compacted(tmp_path: Path) -> None:
    src, out = touch(tmp_path / "a.mp4"), tmp_path / "out"
    out.mkdir()
    with Manifest(out) as manifest:
        manifest.started("a.mp4", src)
        finish(manifest, "a.mp4", src, out)
    with open(out / MANIFEST_NAME, "a") as handle:
        handle.write('{"event": "done", "output": "b.m')  # killed mid-write
    with Manifest(out) as manifest:
        assert manifest.is_finished("a.mp4", src, OPTIONS)
        assert manifest.get("b.mp4") is None
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [(r["event"], r["output"]) for r in lines] == [("done", "a.mp4")]


def test_one_run_per_output_folder(tmp_path: Path) -> None:
    with Manifest(tmp_path), pytest.raises(NightvidError, match="another enhance-many is writing"):
        Manifest(tmp_path).__enter__()


def test_output_options_name_what_changes_the_picture() -> None:
    base = output_options(VIDEO)
    assert output_options(replace(VIDEO, engine=replace(VIDEO.engine, backend="onnx", workers=2, batch=4))) == base
    assert output_options(replace(VIDEO, encode=EncodeOptions(crf=30))) != base
    assert output_options(replace(VIDEO, engine=replace(VIDEO.engine, exposure=0.3))) != base
    assert base["weights"].startswith("default:")


@pytest.mark.parametrize("name", [f.name for f in fields(EngineSpec)])
def test_the_manifest_keys_on_the_engine_settings_marked_as_changing_the_picture(name: str) -> None:
    changed = replace(VIDEO, engine=replace(VIDEO.engine, **{name: OTHER[name]}))
    if name in picture_fields():
        assert output_options(changed) != output_options(VIDEO)
    else:
        assert output_options(changed) == output_options(VIDEO)


@pytest.mark.parametrize(
    "changed",
    [
        {"engine": replace(VIDEO.engine, deblock=False)},  # --no-deblock: a rerun skipped it before
        {"temporal": 1},  # off, against the default 3
        {"temporal": 5},
        {"strict": True},
        {"start": 2.0},
        {"duration": "0:03"},
        {"scale": "720p"},
    ],
    ids=["no-deblock", "temporal-off", "temporal-5", "strict", "start", "duration", "scale"],
)
def test_a_rerun_that_only_changes_a_picture_option_redoes_the_video(changed: dict) -> None:
    assert output_options(replace(VIDEO, **changed)) != output_options(VIDEO)


# --------------------------------------------------------------------------- cuts


def test_long_clip_is_cut_at_its_keyframes(tmp_path: Path) -> None:
    spans = plan_spans(make_long_clip(tmp_path / "long.mp4"), 0.7)
    assert [s.index for s in spans] == [0, 1, 2]
    assert spans[0].start is None and spans[-1].stop is None
    assert spans[0].stop == spans[1].start and spans[1].stop == spans[2].start
    assert all(s.seconds >= 0.7 for s in spans)
    assert [len(list(span_frames(tmp_path / "long.mp4", s))) for s in spans] == [20, 20, 20]


def test_short_tail_joins_the_piece_before_and_short_videos_stay_whole(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "two.mp4", frames=50, options={"g": "10", "bf": "2"})  # keyframes every 0.4 s to 1.96 s
    spans = plan_spans(src, 0.8)  # cuts at 0.8 and 1.6 s would leave 0.36 s: merged into the piece before
    assert [(s.start.pts if s.start else None) for s in spans] == [None, 10240]
    assert [len(list(span_frames(src, s))) for s in spans] == [20, 30]
    assert len(plan_spans(src, 5.0)) == 1


def test_open_gop_and_non_idr_keyframes_are_no_cut(tmp_path: Path) -> None:
    open_gop = make_clip(
        tmp_path / "open.mp4", frames=40, options={"x264-params": "open-gop=1:keyint=10:scenecut=0", "bf": "3"}
    )
    assert len(plan_spans(open_gop, 0.3)) == 1
    # A keyframe flag on a packet without an IDR slice (NAL type 5) is not trusted for H.264.
    avcc = bytes([1, 0x64, 0, 0x1F, 0xFF])
    idr = (2).to_bytes(4, "big") + bytes([0x65, 0x88]) + (2).to_bytes(4, "big") + bytes([0x06, 0x05])
    non_idr = (2).to_bytes(4, "big") + bytes([0x41, 0x9A])
    assert 5 in h264_nal_types(avcc, idr) and 5 not in h264_nal_types(avcc, non_idr)
    assert h264_nal_types(b"", b"\x00\x00\x00\x01\x67\x00\x00\x01\x65\x88") == {7, 5}


def test_a_piece_must_decode_to_its_packets(tmp_path: Path) -> None:
    """A wrong cut (here: a keyframe that is not one) is caught by the frames' pts, not trusted."""
    from nightvid.streamer.segments import Cut, Span

    src = make_long_clip(tmp_path / "long.mp4")
    with pytest.raises(SplitError, match="not found again"):
        list(span_frames(src, Span(1, Cut(pts=7, dts=5), None, 1.0)))


def test_avi_outputs_are_made_in_one_pass() -> None:
    assert unjoinable(".avi") is not None
    assert unjoinable(".mp4") is None and unjoinable(".mkv") is None and unjoinable(".ts") is None


# --------------------------------------------------------------------------- failures


def test_failures_are_classified() -> None:
    eio = OSError(errno.EIO, "Input/output error", "/nfs/a.mp4")
    assert classify(eio).kind == "transient" and "/nfs/a.mp4" in classify(eio).reason
    assert classify(FileNotFoundError(errno.ENOENT, "No such file", "a.mp4")).kind == "permanent"
    try:
        try:
            raise eio
        except OSError:
            raise CorruptInputError("input is corrupt or truncated after 3 decoded frames", frames=3) from None
    except CorruptInputError as err:
        assert classify(err).kind == "transient"  # damage that is a storage error may pass
        assert classify(err, in_part=True).kind == "split"
    assert classify(CorruptInputError("bad", frames=0)).kind == "permanent"
    assert classify(NightvidError("not a video")).kind == "permanent"
    assert classify(NightvidError("not a video"), in_part=True).kind == "split"
    assert classify(InputChanged("grew")).kind == "changed"
    assert classify(EngineBuildError("no weights")).kind == "fatal"
    assert classify(MemoryError()).kind == "transient"
    assert classify(RuntimeError("CUDA out of memory. Tried")).kind == "transient"
    internal = classify(KeyError("x"))
    assert internal.kind == "permanent" and internal.reason.startswith("internal error: KeyError")


def test_a_worker_keeps_its_engine_while_its_compiled_range_holds_the_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's engine may take a range ``nightvid compile`` built for its first video's
    frames; a later video those frames do not fit gets an engine whose range holds its own."""
    monkeypatch.setenv("NIGHTVID_CACHE_DIR", str(tmp_path))
    small, large = (
        compile_engine("noiser", backend="onnx", device="cpu", shape_range=ShapeRange.parse(*bounds)).artifact
        for bounds in (("1x32x32", "1x48x64", "1x64x96"), ("1x96x96", "1x112x128", "1x128x160"))
    )
    spec = EngineSpec(model="noiser", backend="onnx", device="cpu").checked()
    first = built_engine(spec, (48, 64))
    assert first.artifact == small
    assert built_engine(spec, (40, 40)) is first and built_engine(spec) is first
    assert built_engine(spec, (112, 128)).artifact == large
    assert len(list(tmp_path.glob("*.onnx"))) == 2  # no default range was built


def test_many_job_checks_its_own_options(tmp_path: Path) -> None:
    job = ManyJob(("x",), tmp_path / "out", video=VIDEO)
    for bad, message in [
        ({"jobs": 0}, "--jobs"),
        ({"max_retries": -1}, "--max-retries"),
        ({"chunk_seconds": -2.0}, "--chunk-seconds"),
        ({"gpus_per_job": -1.0}, "--gpus-per-job"),
    ]:
        with pytest.raises(NightvidError, match=message):
            replace(job, **bad).checked()  # type: ignore[arg-type]
    touch(tmp_path / "file")
    with pytest.raises(NightvidError, match="not a folder"):
        replace(job, out_dir=tmp_path / "file").checked()


def test_a_worker_stopped_while_it_starts_ends_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM during a respawned worker's torch import once printed a traceback on Ctrl-C (CI)."""
    from nightvid.jobs.many import local_pool

    def interrupted_setup(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(local_pool, "_become_worker", interrupted_setup)
    assert local_pool._serve(None, None, 1, {}, None, os.getpid()) is None
