"""Cut the bundled demo clip from ../shared/data/video/night-dashcam.mp4.

The first SECONDS of the real night drive: video re-encoded (x264, so the cut starts
on a keyframe and stays small), audio packets copied as they are. Run once; the
result is committed as nightvid/assets/night-demo.mp4.

    python scripts/make_demo_clip.py [SRC] [DST] [--seconds 8]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]


def cut(src: Path, dst: Path, seconds: float) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        vout = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "20", "preset": "slow"})
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        vout.time_base = vin.time_base
        for attr in ("colorspace", "color_range", "color_primaries", "color_trc"):
            setattr(vout.codec_context, attr, getattr(vin.codec_context, attr))
        aout = out.add_stream_from_template(ain)
        for packet in inp.demux(vin, ain):
            if packet.size == 0 or packet.pts is None:
                continue
            if float(packet.pts * packet.time_base) >= seconds:
                continue
            if packet.stream is ain:
                packet.stream = aout
                out.mux(packet)
                continue
            for frame in packet.decode():
                if frame.time < seconds:
                    frame.pict_type = av.video.frame.PictureType.NONE
                    out.mux(vout.encode(frame))
        out.mux(vout.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", type=Path, default=ROOT.parent / "shared/data/video/night-dashcam.mp4")
    parser.add_argument("dst", nargs="?", type=Path, default=ROOT / "nightvid/assets/night-demo.mp4")
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    cut(args.src, args.dst, args.seconds)
    print(args.dst, args.dst.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
