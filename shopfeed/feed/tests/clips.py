"""Real clips made by ffmpeg for the tests (lavfi test pattern and a sine tone)."""

import subprocess
from pathlib import Path


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


def make_clip(
    path: Path, *, seconds: float = 4, size: str = "480x854", rate: int = 30, audio=True
) -> Path:
    """An H.264/AAC MP4 (moov at the end, as cameras write it)."""
    inputs = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    _ffmpeg(
        *inputs, "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        *(["-c:a", "aac"] if audio else []), str(path),
    )  # fmt: skip
    return path


def make_long_clip(path: Path, *, minutes: int = 20) -> Path:
    """A 360p clip of `minutes` minutes made in about a second: one frame a second of a
    still picture, which x264 stores as almost nothing."""
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=navy:size=360x640:rate=1",
        "-t", str(minutes * 60),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_8k_frame(path: Path) -> Path:
    """One 7680x4320 (8K) frame as an H.264 MP4."""
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:size=7680x4320:rate=1", "-frames:v", "1",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def make_truncated(source: Path, path: Path) -> Path:
    """The first half of `source` with its index moved to the front (faststart), so the
    container still describes every frame but half of them are missing."""
    full = path.with_suffix(".full.mp4")
    _ffmpeg("-i", str(source), "-c", "copy", "-movflags", "+faststart", str(full))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    full.unlink()
    return path
