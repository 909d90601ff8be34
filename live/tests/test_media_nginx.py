"""A real media server in front of ShopFeed: nginx with Debian's libnginx-mod-rtmp on loopback,
configured by live.stream.media.nginx_rtmp_config (the same config operators get from
`manage.py live_nginx_conf`), calling the Django hooks of a live test server; ffmpeg pushes a
test pattern with the stream key."""

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import _missing
from live.models import LiveSession
from live.stream import media
from live.stream import services as sessions
from shopfeed.testing import Process, free_port, wait_for_port, wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
HOOK_SECRET = "nginx-test-secret"


@pytest.fixture
def nginx_rtmp(live_server, tmp_path, settings):
    """nginx (single process, in tmp) with RTMP ingest and HLS over HTTP, both on free ports."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else ""
    )
    if not nginx:
        _missing("needs nginx (apt-get install nginx libnginx-mod-rtmp ffmpeg; CI does)")
    if not os.path.exists(RTMP_MODULE):
        _missing(f"needs Debian's RTMP module at {RTMP_MODULE} (apt-get install libnginx-mod-rtmp)")
    if not shutil.which("ffmpeg"):
        _missing("needs ffmpeg to push a test stream (apt-get install ffmpeg)")
    plan = media.NginxPlan(
        rtmp_port=free_port(),
        http_port=free_port(),
        hls_path=str(tmp_path / "hls"),
        hooks_base_url=live_server.url,
        prefix=str(tmp_path),
        module_path=RTMP_MODULE,
        hook_secret=HOOK_SECRET,
        single_process=True,
    )
    settings.LIVE_HOOK_SECRET = HOOK_SECRET
    settings.LIVE_RTMP_URL = f"rtmp://127.0.0.1:{plan.rtmp_port}/live"
    settings.LIVE_HLS_URL = f"http://127.0.0.1:{plan.http_port}/hls"
    conf = tmp_path / "nginx.conf"
    conf.write_text(media.nginx_rtmp_config(plan))
    args = [nginx, "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log")]
    proc = Process(args, dict(os.environ), tmp_path / "nginx.out")
    try:
        wait_for_port(plan.rtmp_port, timeout=10)
        wait_for_port(plan.http_port, timeout=10)
    except RuntimeError:
        proc.stop()
        pytest.fail(f"nginx did not start:\n{proc.output()}\n{_log(tmp_path / 'error.log')}")
    yield plan
    proc.stop()


def _log(path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def push(stream_key: str, *, seconds: int) -> subprocess.Popen:
    """ffmpeg publishing a test pattern (H.264, a keyframe a second) as an encoder would."""
    args = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-re",
        "-f", "lavfi", "-i", f"testsrc=size=320x180:rate=25:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
        "-pix_fmt", "yuv420p", "-f", "flv", f"{media.ingest_server_url()}/{stream_key}",
    ]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def status_of(session) -> str:
    return LiveSession.objects.values_list("status", flat=True).get(pk=session.pk)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # loopback
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


@pytest.fixture
def session(shop):
    return sessions.schedule_session(
        host=shop.owner, title="Loopback live", scheduled_at=timezone.now() + timedelta(hours=1)
    )


def test_streaming_with_the_key_goes_live_serves_hls_by_session_id_and_ends(
    nginx_rtmp, session, tmp_path
):
    encoder = push(session.stream_key, seconds=30)
    try:
        wait_until(lambda: status_of(session) == "live", timeout=15, what="the session to go live")
        url = media.playback_url(session)
        assert url == f"http://127.0.0.1:{nginx_rtmp.http_port}/hls/session-{session.pk}.m3u8"
        _code, playlist = wait_until(
            lambda: (r := fetch(url))[0] == 200 and "#EXTINF" in r[1] and r,
            timeout=20,
            what=f"the HLS playlist at {url}",
        )
        assert playlist.startswith("#EXTM3U")
        # Viewers learn the session id, never the key: not in the playlist, not in any file name.
        assert session.stream_key not in playlist
        assert all(session.stream_key not in name for name in os.listdir(nginx_rtmp.hls_path))
        segment = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        seg_code, _ = fetch(url.rsplit("/", 1)[0] + "/" + segment)
        assert seg_code == 200
    finally:
        encoder.terminate()  # the encoder stops: nginx calls on_publish_done
        encoder.wait(10)
    wait_until(lambda: status_of(session) == "ended", timeout=15, what="the session to end")


def test_a_wrong_key_is_refused_and_never_goes_live(nginx_rtmp, session, tmp_path):
    encoder = push("not-" + session.stream_key, seconds=5)
    try:
        _, _err = encoder.communicate(timeout=20)
    finally:
        if encoder.poll() is None:
            encoder.kill()
    assert encoder.returncode != 0, "nginx accepted a stream with a wrong key"
    assert status_of(session) == "scheduled"
    assert not os.path.exists(nginx_rtmp.hls_path) or not os.listdir(nginx_rtmp.hls_path)
    assert "publish" in _log(tmp_path / "error.log")
