"""Switchyard's Django settings, read from the environment (see README, "Configuration")."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dj_database_url

import switchyard
from console.env import env_bool, env_float, env_int, env_list, env_str
from switchyard import paths

BASE_DIR = Path(__file__).resolve().parent.parent
# templates/ and static/: the checkout's, or the installed package's copy (switchyard/paths.py).
ASSETS_DIR = paths.assets_dir(BASE_DIR)


def _data_dir() -> Path:
    """The checkout (``make run``), or ``$XDG_DATA_HOME/switchyard`` for an installed package."""
    return paths.data_dir(BASE_DIR)


def _secret_key() -> str:
    configured = env_str("SECRET_KEY")
    if configured:
        return configured
    # A key generated once per checkout or per user data directory; production sets SECRET_KEY.
    return paths.generated_secret_key(_data_dir() / ".secret_key")


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static files, never a CDN
    "django_htmx",
    "axes",
    "template_partials",
    "messaging",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "servestatic.middleware.ServeStaticMiddleware",
    "console.security.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.auth.LoginRequiredMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login rate limit: after AXES_FAILURE_LIMIT failures for one username from one address, that
# pair is locked out for AXES_COOLOFF_TIME hours (django-axes).
AXES_FAILURE_LIMIT = env_int("SWITCHYARD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_float("SWITCHYARD_LOGIN_COOLOFF_MINUTES", 15.0, minimum=0.1) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "errors/locked_out.html"
AXES_VERBOSE = False

ROOT_URLCONF = "console.urls"
ASGI_APPLICATION = "console.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ASSETS_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context.navigation",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{_data_dir() / 'db.sqlite3'}",
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the API read while the monitor writes; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # Connections are kept (conn_max_age above), as for PostgreSQL: requests run on pooled
    # threads (console/request_threads.py), and opening and closing a SQLite connection per
    # request was a third of an API request's time under load.
    # Tests use a file too: an in-memory test database is shared-cache SQLite, whose table locks
    # fail readers at once while the monitor, alert evaluation or webhook threads write; a file
    # in WAL mode lets them read and makes writers wait their turn, as in production.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"switchyard-test-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
# Channel names and groups in Redis start with this: two consoles sharing one Redis need two prefixes.
SWITCHYARD_CHANNEL_PREFIX = env_str("SWITCHYARD_CHANNEL_PREFIX", "switchyard")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 500, "expiry": 30, "prefix": SWITCHYARD_CHANNEL_PREFIX},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 500}}}
# Short-lived coordination between web processes (one message browse at a time per user): shared
# through the channel layer's Redis when there is one, else per process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": SWITCHYARD_CHANNEL_PREFIX,
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [ASSETS_DIR / "static"]
STATIC_ROOT = env_str("STATIC_ROOT")  # only for collectstatic behind a separate web server
# Static files come straight from static/ (no collectstatic step for `make run`); ServeStatic (the
# ASGI-native WhiteNoise) adds caching headers and compression and streams files asynchronously.
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG

# Security defaults: cookies are HttpOnly; Secure follows the request scheme behind TLS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "console.api.authentication.TokenAuthentication",
        "console.api.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.api.permissions.IsViewer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "console.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies are checked for size and nesting before they are decoded (console/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "console.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
CSRF_FAILURE_VIEW = "console.pages.errors.csrf_failure"

SPECTACULAR_SETTINGS = {
    "TITLE": "Switchyard API",
    "DESCRIPTION": "Queues, workers, tasks, operator actions, alerts and audit of Celery/Kombu brokers.",
    "VERSION": switchyard.__version__,  # the console's version; the API's is the v1 in its paths
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["console.api.permissions.IsViewer"],
    # Choice sets that share a field name get names of their own instead of hashed ones.
    "ENUM_NAME_OVERRIDES": {
        "ActionStateEnum": ["pending", "running", "succeeded", "failed", "cancelled"],
        "AlertStateEnum": ["pending", "firing", "resolved"],
        "AlertStateFilterEnum": ["pending", "firing", "resolved", "open"],
        "BrokerStatusEnum": ["up", "down", "unknown"],
        "HealthStatusEnum": ["ok", "error"],
        "ActionKindEnum": ["requeue", "move", "delete", "purge"],
        "QueueKindEnum": ["queue", "topic", "consumer-group"],
        "ConsumerGroupStatusEnum": ["ok", "growing", "stalled", "stopped", "no members"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.api.schema.add_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "console.logging.RedactSecretsFilter"},
        "refusal": {"()": "console.logging.RefusalWithoutTracebackFilter"},
    },
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusal", "redact"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}},
}

# Switchyard's own settings.
SWITCHYARD_SAMPLE_INTERVAL = env_float("SWITCHYARD_SAMPLE_INTERVAL", 2.0, minimum=0.1)
SWITCHYARD_HISTORY_RAW_HOURS = env_float("SWITCHYARD_HISTORY_RAW_HOURS", 24.0, minimum=0.01)
SWITCHYARD_HISTORY_ROLLUP_DAYS = env_float("SWITCHYARD_HISTORY_ROLLUP_DAYS", 30.0, minimum=0.01)
SWITCHYARD_STREAM_FLUSH_INTERVAL = env_float("SWITCHYARD_STREAM_FLUSH_INTERVAL", 0.25, minimum=0.01)
# Largest JSON request body the API decodes (bytes); larger ones are refused with 400.
SWITCHYARD_MAX_JSON_BODY_BYTES = env_int("SWITCHYARD_MAX_JSON_BODY_BYTES", 2_621_440, minimum=1024)
SWITCHYARD_STREAM_CLIENT_BUFFER = env_int("SWITCHYARD_STREAM_CLIENT_BUFFER", 1000, minimum=10)
# WebSocket keepalive: a ping every interval; no pong within the timeout and the client is closed
# (reset if the close frame has not left 1 s later), so a client that stops reading is gone within
# interval + timeout + 1 s (console/stream/protocol.py).
SWITCHYARD_WS_PING_INTERVAL = env_float("SWITCHYARD_WS_PING_INTERVAL", 20.0, minimum=0.1)
SWITCHYARD_WS_PING_TIMEOUT = env_float("SWITCHYARD_WS_PING_TIMEOUT", 20.0, minimum=0.1)
# WebSocket connections per server process: in total, and per user (one more is closed with
# 1013 or 4429 right after the handshake).
SWITCHYARD_STREAM_MAX_CONNECTIONS = env_int("SWITCHYARD_STREAM_MAX_CONNECTIONS", 1000, minimum=1)
SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER = env_int("SWITCHYARD_STREAM_MAX_CONNECTIONS_PER_USER", 50, minimum=1)
SWITCHYARD_TASK_RETENTION_COUNT = env_int("SWITCHYARD_TASK_RETENTION_COUNT", 1_000_000, minimum=100)
# Leader election of the monitor (several `monitor`/`serve` processes, one active): the lock lives in
# this Redis (default REDIS_URL; unset both and every monitor samples unconditionally).
SWITCHYARD_LEADER_REDIS_URL = env_str("SWITCHYARD_LEADER_REDIS_URL")
SWITCHYARD_LEADER_KEY = env_str("SWITCHYARD_LEADER_KEY", "switchyard:monitor-leader")
SWITCHYARD_LEADER_TTL = env_float("SWITCHYARD_LEADER_TTL", 10.0, minimum=0.5)
SWITCHYARD_TASK_RETENTION_HOURS = env_float("SWITCHYARD_TASK_RETENTION_HOURS", 72.0, minimum=0.01)
# Alerts.
SWITCHYARD_EXTERNAL_URL = env_str("SWITCHYARD_EXTERNAL_URL", "http://127.0.0.1:8000")
SWITCHYARD_WEBHOOK_TIMEOUT_S = env_float("SWITCHYARD_WEBHOOK_TIMEOUT_S", 10.0, minimum=0.1)
SWITCHYARD_WEBHOOK_BACKOFF_S = env_float("SWITCHYARD_WEBHOOK_BACKOFF_S", 5.0, minimum=0.01)
SWITCHYARD_WEBHOOK_MAX_ATTEMPTS = env_int("SWITCHYARD_WEBHOOK_MAX_ATTEMPTS", 10, minimum=1)
SWITCHYARD_ALERT_RETENTION_DAYS = env_float("SWITCHYARD_ALERT_RETENTION_DAYS", 30.0, minimum=0.01)
SWITCHYARD_ALERT_HISTORY_MAX = env_int("SWITCHYARD_ALERT_HISTORY_MAX", 10_000, minimum=10)
# Operator actions: a running action whose heartbeat is older than this is interrupted (resumable).
SWITCHYARD_ACTION_STALE_S = env_float("SWITCHYARD_ACTION_STALE_S", 30.0, minimum=1.0)
# A message that has died this many times is poison: flagged, and left out of "requeue all" unless
# included explicitly (messaging/poison.py); 0 turns poison detection off.
SWITCHYARD_POISON_DEATHS = env_int("SWITCHYARD_POISON_DEATHS", 3, minimum=0)
# Messages in Kombu's unacked hash held longer than this are listed as stuck in flight (Redis).
SWITCHYARD_STUCK_AFTER_S = env_float("SWITCHYARD_STUCK_AFTER_S", 300.0, minimum=1.0)
# Run pending operator actions in this process (the monitor always does; off: only `manage.py runaction`).
SWITCHYARD_ACTION_RUNNER = env_bool("SWITCHYARD_ACTION_RUNNER", True)
# Operator actions as tasks of Switchyard's own Celery app (`manage.py worker`): set the broker to
# enqueue actions on SWITCHYARD_TASK_QUEUE instead of running them in the web/monitor processes.
SWITCHYARD_TASK_BROKER_URL = env_str("SWITCHYARD_TASK_BROKER_URL")
SWITCHYARD_TASK_QUEUE = env_str("SWITCHYARD_TASK_QUEUE", "switchyard.actions")
SWITCHYARD_TASK_CONCURRENCY = env_int("SWITCHYARD_TASK_CONCURRENCY", 2, minimum=1)
SWITCHYARD_TASK_BROKER_KEYPREFIX = env_str("SWITCHYARD_TASK_BROKER_KEYPREFIX", "")  # Redis task broker only
# Celery events: the writer's queue (events beyond it are dropped and counted), how many task
# states stay in memory, and how often workers are inspected.
SWITCHYARD_EVENT_QUEUE_SIZE = env_int("SWITCHYARD_EVENT_QUEUE_SIZE", 50_000, minimum=100)
SWITCHYARD_TASK_MEMORY = env_int("SWITCHYARD_TASK_MEMORY", 10_000, minimum=100)
SWITCHYARD_INSPECT_INTERVAL = env_float("SWITCHYARD_INSPECT_INTERVAL", 10.0, minimum=0.5)
