"""The one door to ffprobe and ffmpeg (Debian's `ffmpeg` package): what a file is, and what we
make of it. Nothing else in the project runs them.

`probe` decides by content, never by name: the container, the codecs, the duration, the
picture size, and a scan of every packet so a file cut short is caught before it is accepted.
`transcode` writes, into a local directory: an H.264/AAC MP4 with its index first (faststart),
an HLS VOD with two renditions scaled from the source (the MP4's own stream copied as the top
one), and a JPEG poster at the chosen moment.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from shopfeed.errors import ShopFeedError

# ffprobe's format_name lists every name a demuxer answers to; one of these must be among them.
CONTAINERS = {"mov", "mp4", "matroska", "webm"}
VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4"}
AUDIO_CODECS = {"aac", "mp3", "opus", "vorbis", "ac3", "eac3", "alac", "flac", "pcm_s16le"}
SEGMENT_SECONDS = 4
KEYFRAME_SECONDS = 2
HLS_MASTER = "hls/master.m3u8"


class InvalidVideo(ShopFeedError):
    """The file is not a video we accept; the message says why and what to do."""

    code = "invalid_video"


class TranscodeError(Exception):
    """ffmpeg failed on a file that probed as valid (a damaged stream inside, say)."""


@dataclass(frozen=True)
class Probe:
    container: str
    video_codec: str
    audio_codec: str | None
    duration_ms: int
    # As displayed: a phone clip stored sideways with a rotation flag is reported upright.
    width: int
    height: int
    size_bytes: int


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    max_kbps: int


@dataclass(frozen=True)
class Output:
    """What `transcode` wrote, as paths relative to its output directory."""

    mp4: str
    hls_master: str
    poster: str
    files: tuple[str, ...]
    renditions: tuple[Rendition, ...]


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.0f} MB"


def _preexec() -> None:  # pragma: no cover - runs in the child
    # The tool dies with the worker that started it (Linux): a worker killed mid-transcode
    # leaves no ffmpeg running on.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _run(args: list[str], *, timeout: float, heartbeat: Callable[[], None] | None = None):
    """Run a tool; returns (returncode, stdout, stderr). `heartbeat` is called about every
    VIDEO_HEARTBEAT_SECONDS while it runs (the processing lease is renewed from it)."""
    proc = subprocess.Popen(  # noqa: S603 - fixed binaries, our own arguments, no shell
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_preexec,  # only sets the parent-death signal
    )
    deadline = time.monotonic() + timeout
    # Often enough that the processing lease never runs out while the tool works.
    beat = min(settings.VIDEO_HEARTBEAT_SECONDS, settings.VIDEO_PROCESSING_LEASE_SECONDS / 3)
    while True:
        try:
            out, err = proc.communicate(timeout=min(beat, max(0.1, deadline - time.monotonic())))
            return proc.returncode, out, err
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                proc.kill()
                proc.communicate()
                raise TranscodeError(
                    f"{Path(args[0]).name} took longer than {timeout:.0f} s"
                ) from None
            if heartbeat is not None:
                heartbeat()


def _ffprobe_json(path: Path) -> dict | None:
    code, out, _ = _run(
        [
            settings.FFPROBE_BIN,
            "-v", "error",
            "-print_format", "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        timeout=60,
    )  # fmt: skip
    if code != 0:
        return None
    try:
        data = json.loads(out or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("format") else None


def _packets_intact(path: Path) -> bool:
    """Every packet the container indexes is in the file: ffprobe reads them all (no
    decoding, about a second per few hundred MB) and reports a file cut short."""
    code, _, err = _run(
        [settings.FFPROBE_BIN, "-v", "error", "-show_entries", "packet=size", "-of", "csv=p=0",
         str(path)],
        timeout=120,
    )  # fmt: skip
    return code == 0 and not err.strip()


def _rotation(stream: dict) -> int:
    for item in stream.get("side_data_list") or []:
        if "rotation" in item:
            return int(float(item["rotation"]))
    return int(float((stream.get("tags") or {}).get("rotate", 0) or 0))


def _seconds(*values) -> float:
    for value in values:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return seconds
    return 0.0


def probe(path: Path) -> Probe:
    """What the file at `path` is, or InvalidVideo saying why we refuse it."""
    size = path.stat().st_size
    limit = settings.VIDEO_UPLOAD_MAX_BYTES
    if size > limit:
        raise InvalidVideo(
            f"The video is {_mb(size)}; the limit is {_mb(limit)}.", code="video_too_large"
        )
    data = _ffprobe_json(path)
    if data is None:
        raise InvalidVideo(
            "This file is not a video we can read. Upload an MP4, MOV or WebM video.",
            code="video_unreadable",
        )
    fmt = data["format"]
    names = set(str(fmt.get("format_name", "")).split(","))
    if not names & CONTAINERS:
        raise InvalidVideo(
            "This file is not an MP4, MOV or WebM video. Export it as MP4 and upload it again.",
            code="video_bad_container",
        )
    streams = data.get("streams") or []
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise InvalidVideo("This file has no video track.", code="video_no_video_track")
    codec = str(video.get("codec_name", ""))
    if codec not in VIDEO_CODECS:
        raise InvalidVideo(
            f"Videos encoded as {codec or 'this format'} are not accepted; use H.264, HEVC, "
            "VP9 or AV1 (what phones record).",
            code="video_bad_codec",
        )
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    audio_codec = str(audio.get("codec_name", "")) if audio else None
    if audio_codec is not None and audio_codec not in AUDIO_CODECS:
        raise InvalidVideo(
            f"The sound is encoded as {audio_codec}, which is not accepted; use AAC or Opus.",
            code="video_bad_audio_codec",
        )
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if abs(_rotation(video)) % 180 == 90:
        width, height = height, width
    short, long = sorted((width, height))
    if short < settings.VIDEO_MIN_SIDE or long > settings.VIDEO_MAX_SIDE:
        raise InvalidVideo(
            f"The video is {width}×{height} pixels; each side must be between "
            f"{settings.VIDEO_MIN_SIDE} and {settings.VIDEO_MAX_SIDE} pixels "
            "(360p to 4K).",
            code="video_bad_resolution",
        )
    seconds = _seconds(video.get("duration"), fmt.get("duration"))
    if seconds < settings.VIDEO_MIN_SECONDS:
        raise InvalidVideo(
            f"The video is {seconds:.1f} s long; it must be at least "
            f"{settings.VIDEO_MIN_SECONDS} s.",
            code="video_too_short",
        )
    if seconds > settings.VIDEO_MAX_SECONDS:
        raise InvalidVideo(
            f"The video is {seconds / 60:.1f} minutes long; the limit is "
            f"{settings.VIDEO_MAX_SECONDS // 60} minutes. Trim it and upload it again.",
            code="video_too_long",
        )
    if not _packets_intact(path):
        raise InvalidVideo(
            "The video file is incomplete or damaged (it ends before its last frame). Save or "
            "export it again and upload the new copy.",
            code="video_damaged",
        )
    return Probe(
        container=sorted(names & CONTAINERS)[0],
        video_codec=codec,
        audio_codec=audio_codec,
        duration_ms=round(seconds * 1000),
        width=width,
        height=height,
        size_bytes=size,
    )


def _even(n: float) -> int:
    return max(2, round(n / 2) * 2)


def renditions_for(width: int, height: int) -> tuple[Rendition, Rendition]:
    """Two renditions scaled from the source, never above it: the top at most 720p on the
    short side, the lower at 360p (240p when the source itself is 360p)."""
    short = min(width, height)
    top_short = min(720, short)
    low_short = 360 if top_short > 360 else 240

    def scaled(target: int) -> tuple[int, int]:
        if width <= height:
            return _even(target), _even(height * target / width)
        return _even(width * target / height), _even(target)

    tw, th = scaled(top_short)
    lw, lh = scaled(low_short)
    return (
        Rendition(f"{top_short}p", tw, th, 2500 if top_short >= 720 else 1400),
        Rendition(f"{low_short}p", lw, lh, 800 if low_short >= 360 else 400),
    )


def _x264(max_kbps: int, spec: str = "v") -> list[str]:
    """x264 options for the video streams `spec` selects ("v", or "v:1" for one of them)."""
    return [
        f"-c:{spec}", "libx264", f"-preset:{spec}", settings.VIDEO_X264_PRESET,
        f"-crf:{spec}", "23", f"-maxrate:{spec}", f"{max_kbps}k",
        f"-bufsize:{spec}", f"{max_kbps * 2}k", f"-profile:{spec}", "high",
        f"-pix_fmt:{spec}", "yuv420p",
        # Keyframes on a fixed clock so both renditions cut into the same segments.
        f"-force_key_frames:{spec}", f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
        f"-sc_threshold:{spec}", "0",
    ]  # fmt: skip


def _ffmpeg(args: list[str], *, heartbeat, what: str) -> None:
    code, _, err = _run(
        [settings.FFMPEG_BIN, "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        timeout=settings.VIDEO_TRANSCODE_TIMEOUT_SECONDS,
        heartbeat=heartbeat,
    )
    if code != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise TranscodeError(f"{what} failed: {' / '.join(tail) or f'exit {code}'}")


def transcode(
    source: Path,
    out_dir: Path,
    *,
    info: Probe,
    cover_offset_ms: int,
    heartbeat: Callable[[], None] | None = None,
) -> Output:
    """Write the MP4, the HLS renditions and the poster for `source` into `out_dir`."""
    top, low = renditions_for(info.width, info.height)
    (out_dir / "hls").mkdir(parents=True, exist_ok=True)
    mp4 = out_dir / "video.mp4"
    silent = info.audio_codec is None
    audio_in = ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=44100"]
    _ffmpeg(
        [
            "-i", str(source), *(audio_in if silent else []),
            "-map", "0:v:0", "-map", "1:a:0" if silent else "0:a:0",
            "-vf", f"scale={top.width}:{top.height}",
            *_x264(top.max_kbps),
            "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "44100",
            *(["-shortest"] if silent else []),
            "-t", str(settings.VIDEO_MAX_SECONDS),
            "-movflags", "+faststart", str(mp4),
        ],
        heartbeat=heartbeat,
        what="Encoding the MP4",
    )  # fmt: skip
    _ffmpeg(
        [
            "-i", str(mp4),
            "-filter_complex", f"[0:v]scale={low.width}:{low.height}[low]",
            "-map", "0:v", "-map", "0:a", "-map", "[low]", "-map", "0:a",
            "-c:v:0", "copy", *_x264(low.max_kbps, "v:1"),
            "-c:a", "copy",
            "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_playlist_type", "vod",
            "-hls_flags", "independent_segments",
            "-hls_segment_filename", str(out_dir / "hls" / "%v" / "seg_%03d.ts"),
            "-master_pl_name", "master.m3u8",
            "-var_stream_map", f"v:0,a:0,name:{top.name} v:1,a:1,name:{low.name}",
            str(out_dir / "hls" / "%v" / "index.m3u8"),
        ],
        heartbeat=heartbeat,
        what="Cutting the HLS renditions",
    )  # fmt: skip
    _write_master(out_dir / "hls", (top, low))
    poster = out_dir / "poster.jpg"
    # The chosen frame, kept inside the clip (a moment past the end gives no frame).
    at_ms = max(0, min(cover_offset_ms, info.duration_ms - 250))
    _ffmpeg(
        ["-ss", f"{at_ms / 1000:.3f}", "-i", str(mp4), "-frames:v", "1", "-q:v", "3", str(poster)],
        heartbeat=heartbeat,
        what="Taking the poster frame",
    )
    if not poster.exists() or poster.stat().st_size == 0:
        raise TranscodeError("Taking the poster frame gave no picture")
    files = tuple(sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file()))
    return Output(
        mp4="video.mp4",
        hls_master=HLS_MASTER,
        poster="poster.jpg",
        files=files,
        renditions=(top, low),
    )


def _bandwidths(playlist: Path) -> tuple[int, int]:
    """(peak, average) bits per second of a VOD variant playlist, from its segments' sizes."""
    peak = total_bits = 0
    total_seconds = 0.0
    seconds = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            seconds = float(line[len("#EXTINF:") :].split(",")[0] or 0)
        elif line and not line.startswith("#"):
            bits = (playlist.parent / line).stat().st_size * 8
            if seconds > 0:
                peak = max(peak, round(bits / seconds))
            total_bits += bits
            total_seconds += seconds
    return peak or 1, round(total_bits / total_seconds) if total_seconds else 1


def _write_master(hls_dir: Path, renditions: tuple[Rendition, ...]) -> None:
    """The master playlist with each rendition's measured bandwidth, best first (ffmpeg's
    guesses a copied stream's bandwidth from nothing, and players choose by these)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for r in renditions:
        peak, average = _bandwidths(hls_dir / r.name / "index.m3u8")
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={r.width}x{r.height}"
        )
        lines.append(f"{r.name}/index.m3u8")
    (hls_dir / "master.m3u8").write_text("\n".join(lines) + "\n")


def remove_tree(path: Path) -> None:
    """Delete a local working directory we made."""
    shutil.rmtree(path, ignore_errors=True)
