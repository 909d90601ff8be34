"""ShopFeed settings: one module, read from the environment, with embedded defaults.

With no environment at all this runs on SQLite, an in-memory channel layer, local-memory
cache, a filesystem Celery broker and local media (DESIGN.md section 6). `DATABASE_URL`
and `REDIS_URL` switch to PostgreSQL and Redis; `DJANGO_ENV=production` turns on the
hardening that `manage.py check --deploy` asks for and refuses to start without secrets.
"""

import os
import sys
from datetime import timedelta
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
    "shopfeed.feed",
    "orders",
    "gifts",
    "live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the session or a form: a NUL would reach PostgreSQL as a 500.
    "shopfeed.middleware.RejectNulMiddleware",
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
# Which server this process is: shopfeed/asgi.py says "asgi" before settings load (so does
# `runserver`, daphne's ASGI server); gunicorn, Celery and commands are "wsgi".
SERVER = env.str("SHOPFEED_SERVER", default="") or (
    "asgi" if sys.argv[1:2] == ["runserver"] else "wsgi"
)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # Names this process's connections in pg_stat_activity.
    _app_name = env.str("DB_APPLICATION_NAME", default="") or f"shopfeed-{SERVER}"
    _options["application_name"] = _app_name
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if SERVER == "asgi":
        # Persistent connections belong to a thread, and ASGI runs each sync view in a thread
        # that then goes away: 20 concurrent requests held 29 connections that outlived the
        # load. A pool per process bounds them and keeps them warm (it needs CONN_MAX_AGE=0).
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        _options["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            # A request waits this long for a free connection, then fails.
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
            # Connections above min_size close after idling this long (one per period).
            "max_idle": env.float("DB_POOL_MAX_IDLE", default=60.0),
        }
    else:
        # WSGI workers keep their threads: persistent connections were worth ~2.9x on a list
        # endpoint (DESIGN.md section 6).
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
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
# Uploads are other people's bytes: in production serve them from another origin (a CDN or the
# bucket's domain, e.g. https://media.example-cdn.com/), so nothing stored can act on our pages.
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
if not MEDIA_URL.endswith("/"):
    MEDIA_URL += "/"
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
    if "://" in MEDIA_URL:
        # django-storages builds file URLs from the custom domain, not from MEDIA_URL.
        _media_scheme, _, AWS_S3_CUSTOM_DOMAIN = MEDIA_URL.rstrip("/").partition("://")
        AWS_S3_URL_PROTOCOL = f"{_media_scheme}:"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: channel layer, cache and Celery broker when REDIS_URL is set.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL.rpartition("/")[2].isdigit() and env.str("PYTEST_XDIST_WORKER", default=""):
    # Parallel test workers each get a Redis database of their own (their PostgreSQL test
    # databases differ too, so equal row ids would otherwise share room keys and counters).
    # Children they start see the chosen URL and no PYTEST_ variables (shopfeed.testing).
    _worker = int(env.str("PYTEST_XDIST_WORKER").removeprefix("gw") or 0)
    _base, _, _db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_base}/{(int(_db) + _worker) % 16}"
    os.environ["REDIS_URL"] = REDIS_URL

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
elif CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    # RabbitMQ (production's broker of choice): a message a dead worker held goes back to the
    # queue as soon as its connection drops; publishing waits for the broker's confirmation.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
else:
    # Redis gives a dead worker's message back only after this timeout, and a countdown longer
    # than it runs twice (DESIGN.md section 9); the payment sweep does not wait for it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
# The payment sweep runs this often and looks at what is older than PAYMENT_SWEEP_AFTER_SECONDS
# (younger events are the webhook's and its task's to handle).
PAYMENT_SWEEP_SECONDS = env.int("PAYMENT_SWEEP_SECONDS", default=15)
PAYMENT_SWEEP_AFTER_SECONDS = env.int("PAYMENT_SWEEP_AFTER_SECONDS", default=30)
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
    # A paid checkout whose webhook or task was lost in a crash settles within a minute.
    "sweep-payments": {
        "task": "orders.payments.tasks.sweep_payments_task",
        "schedule": float(PAYMENT_SWEEP_SECONDS),
        "options": {"expires": float(PAYMENT_SWEEP_SECONDS)},
    },
    "release-payables": {
        "task": "orders.payout_tasks.release_payables_task",
        "schedule": 900.0,
    },
    "create-payouts": {
        "task": "orders.payout_tasks.create_payouts_task",
        "schedule": 3600.0,
    },
    # Creators' diamonds from sends past the payout hold become payable money (before the
    # hourly payout run gathers it).
    "convert-diamonds": {
        "task": "gifts.tasks.convert_diamonds_task",
        "schedule": 900.0,
    },
    # Hot ledger accounts (creator diamonds, platform coins) take entries without a row lock;
    # this folds them into the cached balances.
    "fold-ledger-balances": {
        "task": "gifts.tasks.fold_ledger_balances_task",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Delivered orders whose hold has passed become completed.
    "complete-delivered-orders": {
        "task": "orders.fulfilment.tasks.complete_delivered_orders_task",
        "schedule": 900.0,
    },
    # Claims already stop at a deal's end; this marks it ended and tells the room.
    "end-expired-deals": {
        "task": "live.tasks.end_expired_deals_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},  # a missed run is the next run's work, not a backlog
    },
    # The flash writer process writes reservations as they come; this sweep writes what a dead
    # writer left and brings Redis's counts back to PostgreSQL's (DESIGN.md section 4).
    "reconcile-flash-sales": {
        "task": "orders.flash.tasks.reconcile_flash_task",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    # The gift writer process writes room sends as they come; this sweep writes what a dead
    # writer left (DESIGN.md section 5a).
    "write-gift-sends": {
        "task": "gifts.tasks.write_gift_sends_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},
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
# Chat past what a screen can show (live/chat/batching.py): at most one chat frame per socket
# per tick; at most SHOWN_PER_SECOND messages a second per viewer (BURST saved up), above which
# each of SAMPLE_GROUPS groups of viewers sees its own sample. Other events are never held.
LIVE_CHAT_TICK_SECONDS = env.float("LIVE_CHAT_TICK_SECONDS", default=0.1)
LIVE_CHAT_SHOWN_PER_SECOND = env.float("LIVE_CHAT_SHOWN_PER_SECOND", default=60.0)
LIVE_CHAT_SHOWN_BURST = env.float("LIVE_CHAT_SHOWN_BURST", default=2 * LIVE_CHAT_SHOWN_PER_SECOND)
LIVE_CHAT_SAMPLE_GROUPS = env.int("LIVE_CHAT_SAMPLE_GROUPS", default=8)
# A process reloads a room's cached state (session, restrictions, blocked words) this often;
# the room's own events keep it current in between.
LIVE_ROOM_STATE_SECONDS = env.float("LIVE_ROOM_STATE_SECONDS", default=30.0)
# A room's hello snapshot is rebuilt at least this often (stock sold outside the live).
LIVE_SNAPSHOT_SECONDS = env.float("LIVE_SNAPSHOT_SECONDS", default=2.0)
# Gifts in the room (live/gifting): sends per user per LIVE_GIFT_RATE_WINDOW seconds (a token
# bucket: a burst of LIVE_GIFT_RATE, refilled evenly).
LIVE_GIFT_RATE = env.int("LIVE_GIFT_RATE", default=10)
LIVE_GIFT_RATE_WINDOW = env.float("LIVE_GIFT_RATE_WINDOW", default=2.0)
# Sends of a combo-able gift by one sender this close together are one streak; the streak ends
# (a "gift.end" event) this long after its last send.
LIVE_GIFT_COMBO_SECONDS = env.float("LIVE_GIFT_COMBO_SECONDS", default=3.0)
# A streak's running count reaches viewers at most this often.
LIVE_GIFT_COMBO_UPDATE_SECONDS = env.float("LIVE_GIFT_COMBO_UPDATE_SECONDS", default=1.0)
# ...and all the room's streaks together at most this many starts and running counts a second
# (a start past it is shown by a later sweep or with its end; ends and big gifts always go out).
LIVE_GIFT_ROOM_UPDATES = env.int("LIVE_GIFT_ROOM_UPDATES", default=10)
# Database threads a web process gives gift debits (apart from every other action's thread),
# and how many sends may wait for them before a sender is told to try again. Each holds a
# connection: keep it below DB_POOL_MAX_SIZE (the room's own threads need a few). Measured in
# the gift storm bench (busy machine): 16 threads committed twice what 4 did.
LIVE_GIFT_THREADS = env.int("LIVE_GIFT_THREADS", default=6)
LIVE_GIFT_QUEUE = env.int("LIVE_GIFT_QUEUE", default=400)
# Gifts worth at least this many coins play the long animation.
LIVE_GIFT_BIG_COINS = env.int("LIVE_GIFT_BIG_COINS", default=1000)
# Top gifters shown in the room.
LIVE_GIFT_TOP = env.int("LIVE_GIFT_TOP", default=5)

# Money
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="USD")
# Unpaid checkouts give their stock back after this long.
CHECKOUT_RESERVATION_MINUTES = env.int("CHECKOUT_RESERVATION_MINUTES", default=15)
# The shopping tab API is served from the cache behind a version per shop (shops/tab_cache.py):
# pages live this long at most; a handle's shop is looked up again after the second figure.
SHOPPING_TAB_CACHE_PREFIX = env.str("SHOPPING_TAB_CACHE_PREFIX", default="tab")
SHOPPING_TAB_CACHE_SECONDS = env.int("SHOPPING_TAB_CACHE_SECONDS", default=300)
SHOPPING_TAB_HANDLE_SECONDS = env.int("SHOPPING_TAB_HANDLE_SECONDS", default=60)
# Rendered tab pages each web process also keeps (served while the shop's version holds).
SHOPPING_TAB_LOCAL_PAGES = env.int("SHOPPING_TAB_LOCAL_PAGES", default=256)
# A creator profile's head (name, bio, follower count, live sessions) is cached this long; the
# shop's cards and status under the shop version, like the tab.
PROFILE_HEAD_SECONDS = env.int("PROFILE_HEAD_SECONDS", default=10)
# Flash sales (orders.flash, DESIGN.md section 4): units of a flash-sale variant or a live deal
# are reserved in Redis and written to PostgreSQL in batches by `manage.py flash_writer` (or
# the beat task below). Without Redis every purchase takes the plain path.
FLASH_REDIS_URL = env.str("FLASH_REDIS_URL", default=REDIS_URL)
FLASH_KEY_PREFIX = env.str("FLASH_KEY_PREFIX", default="flash:")
FLASH_REDIS_MAX_CONNECTIONS = env.int("FLASH_REDIS_MAX_CONNECTIONS", default=400)
FLASH_LIMIT_PER_BUYER = env.int("FLASH_LIMIT_PER_BUYER", default=5)
FLASH_WRITER_BATCH = env.int("FLASH_WRITER_BATCH", default=500)
# Writer processes `manage.py flash_writer` runs (sharing the stream) unless --processes says.
FLASH_WRITER_PROCESSES = env.int("FLASH_WRITER_PROCESSES", default=1)
# A reservation another writer read and never acknowledged is taken over after this long.
FLASH_WRITER_RECLAIM_MS = env.int("FLASH_WRITER_RECLAIM_MS", default=5000)
# Without a writer process: the buyer's request writes the batch holding its reservation
# itself, right after reserving (slower under a crowd; the test suite's default, like eager
# Celery, so that tests of other features get their checkout at once).
FLASH_WRITE_INLINE = env.bool("FLASH_WRITE_INLINE", default=False)
# How long the buyer's request waits for its checkout before showing the "reserved" page.
FLASH_WAIT_SECONDS = env.float("FLASH_WAIT_SECONDS", default=1.0)
FLASH_OUTCOME_TTL_SECONDS = env.int("FLASH_OUTCOME_TTL_SECONDS", default=600)
# A process keeps what the hot path checks (on sale, owner, limit) this long (the writer
# checks the rows again).
FLASH_FACTS_SECONDS = env.float("FLASH_FACTS_SECONDS", default=1.0)
# The platform's fee on each sale, in basis points (1000 = 10%).
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
# A seller's payable becomes withdrawable this long after delivery.
PAYOUT_HOLD_DAYS = env.int("PAYOUT_HOLD_DAYS", default=7)
# Balances below this (minor units) wait for the next payout run.
PAYOUT_MINIMUM_AMOUNT = env.int("PAYOUT_MINIMUM_AMOUNT", default=1000)
# Refused transfers are retried this many times before the payout fails and staff are told.
PAYOUT_MAX_ATTEMPTS = env.int("PAYOUT_MAX_ATTEMPTS", default=5)
# Gifts (DESIGN.md section 5a). Coins are whole numbers of the COIN currency in the ledger.
# A user's own daily cap may only be lower than this platform default.
GIFTS_DAILY_COIN_CAP = env.int("GIFTS_DAILY_COIN_CAP", default=100_000)
# The creator's share of a gift's coins, as diamonds (the platform keeps the rest).
GIFTS_CREATOR_SHARE_PERCENT = env.int("GIFTS_CREATOR_SHARE_PERCENT", default=50)
# What 100 coins are worth in each currency (minor units), for showing money beside coins.
GIFTS_COIN_VALUE_PER_100 = env.dict(
    "GIFTS_COIN_VALUE_PER_100", cast={"value": int}, default={"USD": 129, "EUR": 119}
)
# What one diamond pays a creator (minor units per diamond), per currency.
GIFTS_DIAMOND_VALUE = env.dict(
    "GIFTS_DIAMOND_VALUE", cast={"value": int}, default={"USD": 1, "EUR": 1}
)
# Senders and hosts must be at least this old.
GIFTS_MINIMUM_AGE = env.int("GIFTS_MINIMUM_AGE", default=18)
# Coin purchases (gifts.coins). An exact-amount purchase is priced at the coin's stated value
# (GIFTS_COIN_VALUE_PER_100) and may be no smaller than a card payment can be (minor units).
GIFTS_COIN_PURCHASE_MIN_AMOUNT = env.int("GIFTS_COIN_PURCHASE_MIN_AMOUNT", default=50)
GIFTS_COIN_PURCHASE_MAX_COINS = env.int("GIFTS_COIN_PURCHASE_MAX_COINS", default=100_000)
# Unused coins of a purchase can be refunded for this many days after it was paid.
GIFTS_COIN_REFUND_DAYS = env.int("GIFTS_COIN_REFUND_DAYS", default=14)
# An unpaid purchase is cancelled (its PaymentIntent too) after this long.
GIFTS_COIN_PURCHASE_EXPIRY_MINUTES = env.int("GIFTS_COIN_PURCHASE_EXPIRY_MINUTES", default=60)
# At most this many unpaid purchases per buyer at a time (each makes a PaymentIntent).
GIFTS_COIN_PENDING_LIMIT = env.int("GIFTS_COIN_PENDING_LIMIT", default=10)

# Gift sends in the room (gifts.sending.store, DESIGN.md section 5a): with Redis, a send is
# checked and debited against a Redis mirror of the sender's wallet by one script and written
# to PostgreSQL in batches by `manage.py gift_writer` (or the beat sweep below); the sender's
# ack waits for that commit. Without Redis every send takes the PostgreSQL path.
GIFTS_REDIS_URL = env.str("GIFTS_REDIS_URL", default=REDIS_URL)
GIFTS_KEY_PREFIX = env.str("GIFTS_KEY_PREFIX", default="gifts:")
GIFTS_WRITER_BATCH = env.int("GIFTS_WRITER_BATCH", default=500)
# A send another writer read and never wrote (it died) is taken over after this long.
GIFTS_WRITER_RECLAIM_MS = env.int("GIFTS_WRITER_RECLAIM_MS", default=3000)
# A wallet mirror is rebuilt from PostgreSQL at least this often (writes that change a wallet
# also mark it stale at once; this bounds what a lost invalidation could cost).
GIFTS_MIRROR_SECONDS = env.int("GIFTS_MIRROR_SECONDS", default=300)
# How long a sender waits for the writer's commit before being told the gift is queued.
GIFTS_ACK_WAIT_SECONDS = env.float("GIFTS_ACK_WAIT_SECONDS", default=10.0)
# A client token's first answer is kept this long in Redis (PostgreSQL's unique (sender,
# token) keeps it for ever).
GIFTS_TOKEN_SECONDS = env.int("GIFTS_TOKEN_SECONDS", default=2 * 24 * 3600)

# Payments still unpaid this long after checkout are asked about at Stripe.
RECONCILE_AFTER_MINUTES = env.int("RECONCILE_AFTER_MINUTES", default=10)

# Uploads: size is checked before Pillow decodes; Pillow's own bomb limit stays on.
IMAGE_UPLOAD_MAX_BYTES = env.int("IMAGE_UPLOAD_MAX_BYTES", default=5 * 1024 * 1024)
IMAGE_MAX_PIXELS = env.int("IMAGE_MAX_PIXELS", default=40_000_000)
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
THUMBNAIL_SIZE = (400, 400)
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024
# Largest JSON body the API reads (a product with 100 variants is well under 100 KB).
API_JSON_MAX_BYTES = env.int("API_JSON_MAX_BYTES", default=1024 * 1024)

# --- Short videos (shopfeed.feed) ----------------------------------------------------------------
# Uploads arrive in chunks over tus (resumable); bytes so far are spooled in VIDEO_UPLOAD_DIR on
# the web server's disk (with several web hosts, a shared volume or routing
# /api/v1/feed/uploads/ to one host), and the finished file goes to the storage backend.
VIDEO_UPLOAD_MAX_BYTES = env.int("VIDEO_UPLOAD_MAX_BYTES", default=250 * 1024 * 1024)
VIDEO_UPLOAD_DIR = Path(env.str("VIDEO_UPLOAD_DIR", default=str(BASE_DIR / "var" / "uploads")))
# The dashboard sends a file in chunks of this size (each one a request that can be retried).
VIDEO_UPLOAD_CHUNK_BYTES = env.int("VIDEO_UPLOAD_CHUNK_BYTES", default=5 * 1024 * 1024)
# An unfinished upload is forgotten (row and bytes) this long after it was started.
VIDEO_UPLOAD_EXPIRE_HOURS = env.int("VIDEO_UPLOAD_EXPIRE_HOURS", default=24)
# A PATCH holds its upload this long past its last progress (a crashed server lets go).
VIDEO_UPLOAD_WRITE_LEASE_SECONDS = env.int("VIDEO_UPLOAD_WRITE_LEASE_SECONDS", default=120)
VIDEO_MIN_SECONDS = env.int("VIDEO_MIN_SECONDS", default=3)
VIDEO_MAX_SECONDS = env.int("VIDEO_MAX_SECONDS", default=600)
VIDEO_MIN_SIDE = env.int("VIDEO_MIN_SIDE", default=360)
VIDEO_MAX_SIDE = env.int("VIDEO_MAX_SIDE", default=4096)
FFMPEG_BIN = env.str("FFMPEG_BIN", default="ffmpeg")
FFPROBE_BIN = env.str("FFPROBE_BIN", default="ffprobe")
VIDEO_X264_PRESET = env.str("VIDEO_X264_PRESET", default="veryfast")
VIDEO_TRANSCODE_TIMEOUT_SECONDS = env.int("VIDEO_TRANSCODE_TIMEOUT_SECONDS", default=1800)
# A worker holds a video it processes this long, renewed every VIDEO_HEARTBEAT_SECONDS while
# ffmpeg runs; a video whose lease ran out (its worker died) is queued again by the sweep, up
# to VIDEO_PROCESSING_MAX_ATTEMPTS times.
VIDEO_PROCESSING_LEASE_SECONDS = env.int("VIDEO_PROCESSING_LEASE_SECONDS", default=300)
VIDEO_HEARTBEAT_SECONDS = env.int("VIDEO_HEARTBEAT_SECONDS", default=30)
VIDEO_PROCESSING_MAX_ATTEMPTS = env.int("VIDEO_PROCESSING_MAX_ATTEMPTS", default=3)
# Words refused in every caption (comma-separated), besides the creator's own shop's list.
BLOCKED_WORDS = env.list("BLOCKED_WORDS", default=[])
CELERY_BEAT_SCHEDULE["sweep-videos"] = {
    "task": "shopfeed.feed.tasks.sweep_videos_task",
    "schedule": 60.0,
    "options": {"expires": 60.0},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "shopfeed.pagination.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # NUL-free, depth- and size-bounded (a 4xx rather than a RecursionError or a DataError).
    "DEFAULT_PARSER_CLASSES": [
        "shopfeed.parsers.JSONParser",
        "shopfeed.parsers.FormParser",
        "shopfeed.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "shopfeed.schema.AutoSchema",
    "EXCEPTION_HANDLER": "shopfeed.api.exception_handler",
    # Classes and rates: see "Abuse limits" below.
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ShopFeed API",
    "DESCRIPTION": "Creator shops, shopping tabs, products and search.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models' `status` choices, named apart in the schema.
    "ENUM_NAME_OVERRIDES": {
        "CoinPurchaseStatusEnum": "gifts.coins.models.CoinPurchase.Status",
        "CoinRefundStatusEnum": "gifts.coins.models.CoinRefund.Status",
    },
}

# --- Abuse limits: API throttles, login lockout, WebSocket connects ---------------------------
# Rates are "N/period" (period s, min, hour or day), per client address (anonymous, login,
# WebSocket connects) or per user. Counts live in the `ratelimit` cache: Redis when REDIS_URL
# is set, so all processes share them. Every refusal over HTTP is a 429 with Retry-After.
# Behind a proxy, set NUM_PROXIES to how many proxies append to X-Forwarded-For; until then the
# header is ignored (a client could send any address in it). Uvicorn's --proxy-headers
# --forwarded-allow-ips does the same for WebSockets.
REST_FRAMEWORK["NUM_PROXIES"] = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "shopfeed.throttling.AnonThrottle",
    "shopfeed.throttling.UserThrottle",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env.str("THROTTLE_ANON_RATE", default="600/min"),
    "user": env.str("THROTTLE_USER_RATE", default="1200/min"),
    # Password attempts per address, on the token endpoint and the login form.
    "login": env.str("THROTTLE_LOGIN_RATE", default="10/min"),
}
RATE_LIMIT_CACHE = "ratelimit"
CACHES[RATE_LIMIT_CACHE] = {
    **CACHES["default"],
    "KEY_PREFIX": f"{CACHES['default'].get('KEY_PREFIX', 'shopfeed')}-ratelimit",
}
# django-axes: after LOGIN_FAILURE_LIMIT wrong passwords for one username (from anywhere) or
# from one address (any usernames), logins are refused for LOGIN_LOCKOUT_MINUTES, then allowed
# again; a good login forgets earlier mistakes. The answer never says whether the account exists.
INSTALLED_APPS += ["axes"]
# Axes turns a lockout noticed during authentication into the response: last, so outermost.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# Attempts made while locked out do not extend the lockout: it always ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "shopfeed.throttling.lockout_response"
AXES_CLIENT_IP_CALLABLE = "shopfeed.throttling.client_ip"
AXES_DISABLE_ACCESS_LOG = True
# Shared counts need a shared cache; without Redis (make run) the database keeps them.
AXES_HANDLER = (
    "shopfeed.throttling.AxesCacheHandler"  # axes' own, on the `ratelimit` cache
    if REDIS_URL
    else "axes.handlers.database.AxesDatabaseHandler"
)
# New WebSocket connections per client address.
WS_CONNECT_RATE = env.str("WS_CONNECT_RATE", default="60/min")
# How long a WebSocket ticket (POST /api/v1/live/ws-ticket/, single use) stays valid.
WS_TICKET_SECONDS = env.int("WS_TICKET_SECONDS", default=30)
# How long the socket server trusts a signed-in user's cached summary (shopfeed/ws_identity.py)
# for what no signal announces (a session row deleted by hand, a queryset update of users);
# logouts, user saves and deleted tokens void it at once.
WS_AUTH_CACHE_SECONDS = env.int("WS_AUTH_CACHE_SECONDS", default=60)

# --- Content-Security-Policy (django-csp) -------------------------------------------------------
# Scripts and styles from our own origin only: templates carry no inline <script>, <style>,
# style="" or on*="" (data goes through data- attributes and json_script), and htmx runs without
# eval. shopfeed/csp.py adds what depends on the request or on other settings: ws:/wss: to the
# page's own host, Stripe.js (STRIPE_JS_URL) with its API and frames, the HLS server.
# MEDIA_ORIGINS: where images and videos come from when not from this site (a CDN, a bucket).
INSTALLED_APPS += ["csp", "drf_spectacular_sidecar"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "shopfeed.csp.CSPMiddleware")  # fmt: skip
MEDIA_ORIGINS = env.list("MEDIA_ORIGINS", default=[])
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    MEDIA_ORIGINS.append(
        env.str("AWS_S3_ENDPOINT_URL", default="")
        or f"https://{env.str('AWS_STORAGE_BUCKET_NAME')}.s3.amazonaws.com"
    )
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:", *MEDIA_ORIGINS],
        # hls.js plays through a MediaSource (blob:) and runs its demuxer in a blob: worker.
        "media-src": ["'self'", "blob:", *MEDIA_ORIGINS],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# The API docs load Swagger UI from our own static files, not a CDN.
SPECTACULAR_SETTINGS.update(
    SWAGGER_UI_DIST="SIDECAR",
    SWAGGER_UI_FAVICON_HREF="SIDECAR",
    REDOC_DIST="SIDECAR",
    # Swagger UI would otherwise fetch a badge from validator.swagger.io.
    SWAGGER_UI_SETTINGS={"deepLinking": True, "validatorUrl": None},
)

# The site's own address, for links that leave it (emails). Required in production.
SITE_URL = env.str("SITE_URL", default="" if PRODUCTION else "http://127.0.0.1:8000")
if PRODUCTION and not SITE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("SITE_URL (e.g. https://shop.example.com) is required.")

EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ShopFeed <no-reply@shopfeed.local>")

# --- The feed: watching, engagement and ranking (shopfeed.feed; DESIGN.md section 5b) -------
# Comments follow live chat's rules: length, blocked words (the platform's BLOCKED_WORDS and the
# creator's shop's), and at most FEED_COMMENT_RATE per FEED_COMMENT_RATE_WINDOW seconds a user.
FEED_COMMENT_MAX_LENGTH = env.int("FEED_COMMENT_MAX_LENGTH", default=300)
FEED_COMMENT_RATE = env.int("FEED_COMMENT_RATE", default=5)
FEED_COMMENT_RATE_WINDOW = env.int("FEED_COMMENT_RATE_WINDOW", default=30)
# "Popular in your region" for viewers whose region is neither set nor sent by the browser.
FEED_DEFAULT_REGION = env.str("FEED_DEFAULT_REGION", default="US")
# Precomputed For You: items kept per user, refill when fewer remain, users count as active
# this long after their last For You page (the beat job refreshes only those).
FEED_FOR_YOU_SIZE = env.int("FEED_FOR_YOU_SIZE", default=200)
FEED_FOR_YOU_TOP_UP_BELOW = env.int("FEED_FOR_YOU_TOP_UP_BELOW", default=30)
FEED_ACTIVE_HOURS = env.int("FEED_ACTIVE_HOURS", default=24)
# A video served or watched is not shown again in For You for this many hours.
FEED_SEEN_HOURS = env.int("FEED_SEEN_HOURS", default=72)
# The non-personalised list of a region is recomputed at most this often.
FEED_POPULAR_CACHE_SECONDS = env.int("FEED_POPULAR_CACHE_SECONDS", default=120)
# An anonymous visitor's For You page (the same for everyone in a region) is kept this long.
FEED_ANONYMOUS_PAGE_SECONDS = env.int("FEED_ANONYMOUS_PAGE_SECONDS", default=10)
CELERY_BEAT_SCHEDULE["refresh-active-feeds"] = {
    "task": "shopfeed.feed.ranking.tasks.refresh_active_feeds_task",
    "schedule": 600.0,
    "options": {"expires": 600.0},
}
# "Download my data" archives stay downloadable this many days, then file and row are deleted.
DATA_EXPORT_DAYS = env.int("DATA_EXPORT_DAYS", default=7)
CELERY_BEAT_SCHEDULE["expire-data-exports"] = {
    "task": "shopfeed.accounts.privacy.tasks.expire_data_exports_task",
    "schedule": 3600.0,
    "options": {"expires": 3600.0},
}
# Watch-event batches (the page's beacons) a client may send, per user or address.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["feed_watch"] = env.str(
    "THROTTLE_FEED_WATCH_RATE", default="30/min"
)

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
