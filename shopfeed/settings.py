"""ShopFeed settings: one module, read from the environment, with embedded defaults.

With no environment at all this runs on SQLite, an in-memory channel layer, local-memory
cache, a filesystem Celery broker and local media (DESIGN.md section 6). `DATABASE_URL`
and `REDIS_URL` switch to PostgreSQL and Redis; `DJANGO_ENV=production` turns on the
hardening that `manage.py check --deploy` asks for and refuses to start without secrets.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False) if (BASE_DIR / ".env").exists() else None

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY (50+ random characters) is required in production.")
else:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="dev-insecure-shopfeed-key-not-for-production-use-0123"
    )

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_htmx",
    "channels",
    "shopfeed.accounts",
    "shops",
    "orders",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "shopfeed.urls"
WSGI_APPLICATION = "shopfeed.wsgi.application"
ASGI_APPLICATION = "shopfeed.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite by default, PostgreSQL (or anything dj-database-url style) via DATABASE_URL.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections were worth ~2.9x on a list endpoint (DESIGN.md section 6).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "TEST_DATABASE_NAME", default=f"test_{DATABASES['default']['NAME']}"
    )

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shops:home"
LOGOUT_REDIRECT_URL = "shops:home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Django serves media itself only in development; production puts object storage in front.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=not PRODUCTION)

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_QUERYSTRING_AUTH = False

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: channel layer, cache and Celery broker when REDIS_URL is set.
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="shopfeed"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery: Redis broker in production/CI; a filesystem broker by default so `make run` has a
# real worker on a bare machine (kombu's filesystem transport: one machine, no server).
CELERY_DATA_DIR = BASE_DIR / "var" / "celery"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "out"),
        "data_folder_out": str(CELERY_DATA_DIR / "out"),
        "processed_folder": str(CELERY_DATA_DIR / "processed"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
    # kombu's filesystem transport needs its folders to exist.
    for _folder in ("out", "processed", "control"):
        (CELERY_DATA_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    # A countdown longer than the visibility timeout runs twice (DESIGN.md section 9).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# Long delays live here, never in countdowns (a countdown past the visibility timeout runs
# twice on Redis; DESIGN.md section 9).
CELERY_BEAT_SCHEDULE = {
    "release-expired-checkouts": {
        "task": "orders.payment_tasks.release_expired_checkouts_task",
        "schedule": 60.0,
    },
    "reconcile-payments": {
        "task": "orders.payment_tasks.reconcile_payments_task",
        "schedule": 300.0,
    },
    "release-payables": {
        "task": "orders.payout_tasks.release_payables_task",
        "schedule": 900.0,
    },
    "create-payouts": {
        "task": "orders.payout_tasks.create_payouts_task",
        "schedule": 3600.0,
    },
    # Claims already stop at a deal's end; this marks it ended and tells the room.
    "end-expired-deals": {
        "task": "live.tasks.end_expired_deals_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},  # a missed run is the next run's work, not a backlog
    },
    # Web processes store their rooms' chat every second; this catches the logs of rooms no
    # process serves any more (its last process died after acknowledging messages).
    "flush-chat-logs": {
        "task": "live.tasks.flush_chat_logs_task",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
}

# Stripe (used from the checkout issue on): localstripe on loopback by default.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="" if PRODUCTION else "http://127.0.0.1:8420")
STRIPE_SECRET_KEY = env.str(
    "STRIPE_SECRET_KEY", default="" if PRODUCTION else "sk_test_localstripe"
)
STRIPE_PUBLISHABLE_KEY = env.str(
    "STRIPE_PUBLISHABLE_KEY", default="" if PRODUCTION else "pk_test_localstripe"
)
STRIPE_WEBHOOK_SECRET = env.str(
    "STRIPE_WEBHOOK_SECRET", default="" if PRODUCTION else "whsec_localstripe_dev"
)
# Where the checkout page loads Stripe.js from: localstripe serves its own copy.
STRIPE_JS_URL = env.str(
    "STRIPE_JS_URL",
    default="https://js.stripe.com/v3/" if PRODUCTION else f"{STRIPE_API_BASE}/js.stripe.com/v3/",
)
if PRODUCTION and not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET):
    raise ImproperlyConfigured("STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are required.")

# Live: any RTMP/HLS media server can sit in front (nginx-rtmp style callbacks).
LIVE_RTMP_URL = env.str("LIVE_RTMP_URL", default="rtmp://127.0.0.1:1935/live")
LIVE_HLS_URL = env.str("LIVE_HLS_URL", default="http://127.0.0.1:8080/hls")
# Media-server callbacks must carry ?secret=<this>. Empty: only a direct loopback caller may
# call them, and in production nobody (behind a local proxy every caller looks like loopback).
LIVE_HOOK_SECRET = env.str("LIVE_HOOK_SECRET", default="")
# A static file the live page plays when no media server answers (make run); empty in production.
LIVE_DEMO_VIDEO = env.str("LIVE_DEMO_VIDEO", default="" if PRODUCTION else "video/demo-live.mp4")
# How many recent events a reconnecting client can ask for, per session.
LIVE_REPLAY_WINDOW = env.int("LIVE_REPLAY_WINDOW", default=500)
LIVE_CHAT_MAX_LENGTH = env.int("LIVE_CHAT_MAX_LENGTH", default=300)
# Chat messages a user may send per LIVE_CHAT_RATE_WINDOW seconds.
LIVE_CHAT_RATE = env.int("LIVE_CHAT_RATE", default=5)
LIVE_CHAT_RATE_WINDOW = env.int("LIVE_CHAT_RATE_WINDOW", default=10)
# The room hub's Redis pub/sub connection is pinged after this many quiet seconds and given up
# (then reconnected, and what it missed fetched from the replay window) when it stays silent.
LIVE_PUBSUB_PING_SECONDS = env.float("LIVE_PUBSUB_PING_SECONDS", default=15.0)
# An emptied room keeps its subscription this long (a reconnect storm finds it ready).
LIVE_ROOM_LINGER_SECONDS = env.float("LIVE_ROOM_LINGER_SECONDS", default=10.0)
# A process's viewers stop counting this long after its last heartbeat (a process that died).
LIVE_PRESENCE_TTL_SECONDS = env.float("LIVE_PRESENCE_TTL_SECONDS", default=5.0)
# How often distinct and peak viewers are written to the session row (one UPDATE per session).
LIVE_VIEWERS_PERSIST_SECONDS = env.float("LIVE_VIEWERS_PERSIST_SECONDS", default=5.0)
# How often each web process stores the chat messages waiting in its rooms' Redis chat logs.
LIVE_CHAT_FLUSH_SECONDS = env.float("LIVE_CHAT_FLUSH_SECONDS", default=1.0)
# A process reloads a room's cached state (session, restrictions, blocked words) this often;
# the room's own events keep it current in between.
LIVE_ROOM_STATE_SECONDS = env.float("LIVE_ROOM_STATE_SECONDS", default=30.0)
# A room's hello snapshot is rebuilt at least this often (stock sold outside the live).
LIVE_SNAPSHOT_SECONDS = env.float("LIVE_SNAPSHOT_SECONDS", default=2.0)

# Money
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
# Unpaid checkouts give their stock back after this long.
CHECKOUT_RESERVATION_MINUTES = env.int("CHECKOUT_RESERVATION_MINUTES", default=15)
# The platform's fee on each sale, in basis points (1000 = 10%).
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# A seller's payable becomes withdrawable this long after delivery.
PAYOUT_HOLD_DAYS = env.int("PAYOUT_HOLD_DAYS", default=7)
# Balances below this (minor units) wait for the next payout run.
PAYOUT_MINIMUM_AMOUNT = env.int("PAYOUT_MINIMUM_AMOUNT", default=1000)
# Refused transfers are retried this many times before the payout fails and staff are told.
PAYOUT_MAX_ATTEMPTS = env.int("PAYOUT_MAX_ATTEMPTS", default=5)
# Payments still unpaid this long after checkout are asked about at Stripe.
RECONCILE_AFTER_MINUTES = env.int("RECONCILE_AFTER_MINUTES", default=10)

# Uploads: size is checked before Pillow decodes; Pillow's own bomb limit stays on.
IMAGE_UPLOAD_MAX_BYTES = env.int("IMAGE_UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_SIZE = (400, 400)
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "shopfeed.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"anon": "600/min", "user": "1200/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ShopFeed API",
    "DESCRIPTION": "Creator shops, shopping tabs, products and search.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ShopFeed <no-reply@shopfeed.local>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS is required in production.")
