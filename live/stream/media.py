"""The door to the media server (CONVENTIONS.md: outside systems behind one door).

Any RTMP ingest / HLS playback server can sit in front; the URLs come from settings. The
creator's encoder publishes to `LIVE_RTMP_URL` with the session's secret stream key as the
stream name. The media server asks us (nginx-rtmp style `on_publish`, a form POST with
`name=<key>`) whether that key may publish; we answer with a 3xx whose Location is the
session's public name, so the stream is renamed and viewers only ever learn
`<LIVE_HLS_URL>/session-<id>.m3u8`, never the key.

nginx-rtmp renames the stream on a 3xx, but its HLS writer in the same application keeps the
old name (arut/nginx-rtmp-module#713, #1705), so the ingest application pushes the renamed
stream to a second, loopback-only application that writes the HLS files:
`nginx_rtmp_config()` writes that configuration (operators: `manage.py live_nginx_conf`).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from django.conf import settings
from django.templatetags.static import static


def public_name(session) -> str:
    """The stream's name once the media server has accepted it: safe to show anyone."""
    return f"session-{session.pk}"


def ingest_server_url() -> str:
    """Where the creator's encoder (OBS, ffmpeg) connects: "Server" in OBS."""
    return settings.LIVE_RTMP_URL.rstrip("/")


def ingest_url(session) -> str:
    """Server + stream key in one URL, for ffmpeg. Secret: show it to the host only."""
    return f"{ingest_server_url()}/{session.stream_key}"


def playback_url(session) -> str:
    """The HLS playlist viewers load; named by session id, never by the key."""
    return f"{settings.LIVE_HLS_URL.rstrip('/')}/{public_name(session)}.m3u8"


def demo_video_url() -> str:
    """A local sample video played when no media server answers (make run); "" if none."""
    path = settings.LIVE_DEMO_VIDEO
    return static(path) if path else ""


# --- callbacks -----------------------------------------------------------------------------


def hook_request_allowed(*, remote_addr: str, secret: str, proxied: bool = False) -> bool:
    """With LIVE_HOOK_SECRET set the caller must present it. Without it only a direct loopback
    caller may (not in production: behind a local proxy everyone looks like loopback)."""
    expected = settings.LIVE_HOOK_SECRET
    if expected:
        return hmac.compare_digest(secret.encode(), expected.encode())
    if settings.PRODUCTION or proxied:
        return False
    try:
        return ipaddress.ip_address(remote_addr).is_loopback
    except ValueError:
        return False


# --- nginx-rtmp ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NginxPlan:
    """What an nginx (with libnginx-mod-rtmp) in front of ShopFeed needs to know."""

    rtmp_port: int  # ingest: LIVE_RTMP_URL's port
    http_port: int  # HLS: LIVE_HLS_URL's port
    hls_path: str  # a directory nginx may write
    hooks_base_url: str  # where ShopFeed answers, e.g. http://127.0.0.1:8000
    prefix: str = ""  # a directory for logs, pid, temp files ("" = nginx's defaults)
    bind: str = "127.0.0.1"  # production ingest: "0.0.0.0"
    module_path: str = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    hook_secret: str = ""
    single_process: bool = False  # tests: no master/worker split, no user switch
    fragment_seconds: int = 1
    playlist_seconds: int = 6


def _hook_url(plan: NginxPlan, route: str) -> str:
    from django.urls import reverse

    url = plan.hooks_base_url.rstrip("/") + reverse(route)
    return f"{url}?secret={plan.hook_secret}" if plan.hook_secret else url


def nginx_rtmp_config(plan: NginxPlan) -> str:
    """An nginx.conf: RTMP ingest checked by our hooks, HLS named by session, served over HTTP."""
    prefix = plan.prefix.rstrip("/")
    process = "daemon off;\nmaster_process off;\n" if plan.single_process else ""
    files = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/error.log info;\n" if prefix else ""
    temp = (
        "".join(
            f"    {name}_temp_path {prefix}/temp-{name};\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    access_log {prefix}/access.log;\n"
        if prefix
        else ""
    )
    return f"""# ShopFeed live: written by live.stream.media.nginx_rtmp_config().
load_module {plan.module_path};
{process}{files}events {{ worker_connections 256; }}

rtmp {{
    server {{
        listen {plan.bind}:{plan.rtmp_port};
        chunk_size 4096;

        # Encoders publish here with the stream key as the name. on_publish refuses a wrong
        # key (403) or renames the stream to session-<id> (3xx), and the renamed stream is
        # pushed to the hls application: viewers never see the key.
        application live {{
            live on;
            deny play all;
            notify_method post;
            on_publish {_hook_url(plan, "live:hook-publish")};
            on_publish_done {_hook_url(plan, "live:hook-publish-done")};
            push rtmp://127.0.0.1:{plan.rtmp_port}/hls;
        }}

        application hls {{
            live on;
            allow publish 127.0.0.1;
            deny publish all;
            deny play all;
            hls on;
            hls_path {plan.hls_path};
            hls_fragment {plan.fragment_seconds}s;
            hls_playlist_length {plan.playlist_seconds}s;
            hls_cleanup on;
        }}
    }}
}}

http {{
{temp}    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }}
    server {{
        listen {plan.bind}:{plan.http_port};
        location /hls/ {{
            alias {plan.hls_path.rstrip("/")}/;
            add_header Cache-Control no-cache;
            add_header Access-Control-Allow-Origin *;
        }}
    }}
}}
"""
