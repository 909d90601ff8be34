"""`python -m bench.transcode [--seconds S] [--rounds N] [--size WxH]`: how fast the video
pipeline turns uploads into what viewers play.

Makes a clip with ffmpeg (test pattern and tone, 30 fps, default 10 s at 720x1280 like a phone
clip), then runs, in alternating rounds, the pipeline as the Celery task runs it
(`shopfeed.feed.media`: ffprobe checks, MP4 faststart, two HLS renditions, poster) and a
yardstick: one plain ffmpeg H.264/AAC encode of the same clip at the same preset. Prints, per
side, the median seconds of video per CPU-second of ffmpeg (children's user+system time) and
per wall second, and the pipeline/yardstick ratio. Bounded: at most 120 s of clip and 9 rounds.
Needs no database (bench settings, no queries).
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(work) -> tuple[float, float]:
    cpu, wall = _children_cpu(), time.monotonic()
    work()
    return _children_cpu() - cpu, time.monotonic() - wall


def make_clip(path: Path, seconds: float, size: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", str(path)],
        check=True, timeout=300,
    )  # fmt: skip


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.transcode", description=__doc__)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--size", default="720x1280")
    args = p.parse_args(argv)
    if not (3 <= args.seconds <= 120 and 1 <= args.rounds <= 9):
        p.error("--seconds is 3-120 and --rounds 1-9")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.conf import settings

    from shopfeed.feed import media

    print(f"transcode bench: {args.seconds:g} s clip at {args.size}, 30 fps, {args.rounds} "
          f"alternating rounds, x264 preset {settings.VIDEO_X264_PRESET}")  # fmt: skip
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at start",
          flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        make_clip(clip, args.seconds, args.size)
        info = media.probe(clip)

        def pipeline(n: int) -> None:
            out = media.transcode(clip, work / f"out{n}", info=info, cover_offset_ms=1000)
            assert len(out.renditions) == 2
            media.remove_tree(work / f"out{n}")

        def pipeline_with_probe(n: int) -> None:
            media.probe(clip)
            pipeline(n)

        def yardstick(n: int) -> None:
            subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(clip),
                 "-c:v", "libx264", "-preset", settings.VIDEO_X264_PRESET, "-crf", "23",
                 "-pix_fmt", "yuv420p", "-c:a", "aac", str(work / f"bare{n}.mp4")],
                check=True, timeout=600,
            )  # fmt: skip
            (work / f"bare{n}.mp4").unlink()

        sides = {"pipeline (probe+MP4+HLS x2+poster)": pipeline_with_probe,
                 "yardstick (one plain encode)": yardstick}  # fmt: skip
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
        for n in range(args.rounds):
            order = list(sides) if n % 2 == 0 else list(reversed(sides))
            for name in order:
                figures[name].append(_timed(lambda name=name, n=n: sides[name](n)))

    print()
    print(f"{'':38} {'video s / CPU s':>16} {'video s / wall s':>17}")
    medians = {}
    for name, runs in figures.items():
        per_cpu = statistics.median(args.seconds / cpu for cpu, _ in runs)
        per_wall = statistics.median(args.seconds / wall for _, wall in runs)
        medians[name] = per_cpu
        print(f"{name:38} {per_cpu:16.2f} {per_wall:17.2f}")
    pipe, bare = medians.values()
    print(f"\npipeline / yardstick (CPU): {pipe / bare:.2f}x")
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
