"""Settings for `make bench`: the production shape of HTTP (DEBUG off, persistent database
connections, no static-file finders) on a PostgreSQL database of the bench's own, with a
URLconf that adds the bare comparison endpoint (bench/urls.py) beside the real ones."""

import warnings

from django.core.exceptions import ImproperlyConfigured

from shopfeed.settings import *  # noqa: F403
from shopfeed.settings import REST_FRAMEWORK, env

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"

DATABASES = {
    "default": env.db(
        "BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/shopfeed_bench"
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("BENCH_DATABASE_URL must be a postgres:// URL.")
# Persistent connections, as in production (DESIGN.md section 6: worth ~2.9x on a list).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("BENCH_CONN_MAX_AGE", default=600)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Production serves static files from the collected manifest, never by searching finders.
WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
SERVE_MEDIA = False
# The bench does not run collectstatic; no page it loads needs a static file.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

# All load comes from one address, where production's comes from many: a per-IP limit
# would turn the measurement into a count of 429s. The throttle code still runs.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}),
        "anon": "100000000/min",
        "user": "100000000/min",
    },
}
# The fan-out bench opens thousands of sockets from one address too.
WS_CONNECT_RATE = "100000000/min"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
