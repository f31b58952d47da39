"""Mailgate settings, read from the environment (see .env.example for every variable)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

from .env import env_bool, env_int, env_list, env_str
from .logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MAILGATE_VAR_DIR", str(BASE_DIR / "var")))

# --- Django core -------------------------------------------------------------------------
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-dev-key-change-me-" + "x" * 24)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "mailgate",
    "relay",
    "policies",
    "securemailbox",
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
]

ROOT_URLCONF = "mailgate.urls"
WSGI_APPLICATION = "mailgate.wsgi.application"

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'mailgate.sqlite3'}"),
        # Persistent connections: the smtpd's threads and the worker processes would
        # otherwise open (and set up) a new connection for every message and every task.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let smtpd, worker and web share one SQLite file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not :memory:, so that the end-to-end tests' smtpd, worker and beat processes
    # share the test database with the test process.
    DATABASES["default"]["TEST"] = {
        # One file per test run, so that two runs on one machine never share it.
        "NAME": env_str("MAILGATE_TEST_DB", str(VAR_DIR / f"test-{os.getpid()}.sqlite3"))
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TZ", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Celery (the doorbell; the database is the queue) ---------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_INTERVAL = env_int("MAILGATE_BEAT_INTERVAL", 15)

# --- Mailgate ------------------------------------------------------------------------------
MAILGATE_HOSTNAME = env_str("MAILGATE_HOSTNAME", "mailgate.localdomain")
MAILGATE_SMTP_HOST = env_str("MAILGATE_SMTP_HOST", "127.0.0.1")
MAILGATE_SMTP_PORT = env_int("MAILGATE_SMTP_PORT", 2525)
MAILGATE_DELIVERY_PORT = env_int("MAILGATE_DELIVERY_PORT", 25)
MAILGATE_DNS_NAMESERVERS = env_list("MAILGATE_DNS_NAMESERVERS", "")
MAILGATE_DNS_TIMEOUT = float(env_str("MAILGATE_DNS_TIMEOUT", "5"))
MAILGATE_RELAY_NETWORKS = env_list("MAILGATE_RELAY_NETWORKS", "127.0.0.0/8,::1/128")
MAILGATE_LOCAL_DOMAINS = env_list("MAILGATE_LOCAL_DOMAINS", "")
MAILGATE_BASE_URL = env_str("MAILGATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Cookies and the reverse proxy (portal-attacks.md C-4) -----------------------------------
# Session and CSRF cookies go over HTTPS only when the public URL is https (or when
# MAILGATE_SECURE_COOKIES says so). HttpOnly sessions; SameSite=Lax, not Strict: a reader
# who opens the pURL from a webmail (a cross-site top-level GET) keeps the session the
# verification gave, while cross-site POSTs carry no cookie.
MAILGATE_SECURE_COOKIES = env_bool(
    "MAILGATE_SECURE_COOKIES", MAILGATE_BASE_URL.lower().startswith("https://")
)
SESSION_COOKIE_SECURE = MAILGATE_SECURE_COOKIES
CSRF_COOKIE_SECURE = MAILGATE_SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the cookie holds no secret of its own; forms carry the token
CSRF_COOKIE_SAMESITE = "Lax"
# Only behind a proxy that sets (and overwrites) X-Forwarded-Proto: otherwise a client
# could claim HTTPS for a plain request.
if env_bool("MAILGATE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed for the client's
# address (the portal's rate limits count per client); empty: REMOTE_ADDR is the client.
MAILGATE_TRUSTED_PROXIES = env_list("MAILGATE_TRUSTED_PROXIES", "")
MAILGATE_SPOOL_DIR = Path(env_str("MAILGATE_SPOOL_DIR", str(VAR_DIR / "spool")))
MAILGATE_SECURE_STORE_DIR = Path(
    env_str("MAILGATE_SECURE_STORE_DIR", str(VAR_DIR / "securemailbox"))
)
MAILGATE_TLS_CERT = env_str("MAILGATE_TLS_CERT", "")
MAILGATE_TLS_KEY = env_str("MAILGATE_TLS_KEY", "")
MAILGATE_MAX_MESSAGE_SIZE = env_int("MAILGATE_MAX_MESSAGE_SIZE", 50 * 1024 * 1024)
MAILGATE_MAX_RECIPIENTS = env_int("MAILGATE_MAX_RECIPIENTS", 1000)
MAILGATE_METRICS_TOKEN = env_str("MAILGATE_METRICS_TOKEN", "")  # empty: /metrics is open
MAILGATE_HEALTH_SMTP_HOST = env_str("MAILGATE_HEALTH_SMTP_HOST", "")  # compose: "smtpd"
MAILGATE_SMTP_TIMEOUT = env_int("MAILGATE_SMTP_TIMEOUT", 120)
MAILGATE_SMTP_MAX_CONNECTIONS_PER_IP = env_int("MAILGATE_SMTP_MAX_CONNECTIONS_PER_IP", 20)
# Processes sharing the smtpd's listening socket (relay/smtpd.py); the per-IP limit is per
# process.
MAILGATE_SMTPD_PROCESSES = env_int("MAILGATE_SMTPD_PROCESSES", 1)
MAILGATE_MAX_HOPS = env_int("MAILGATE_MAX_HOPS", 30)
MAILGATE_MAX_QUEUE_LIFETIME = env_int("MAILGATE_MAX_QUEUE_LIFETIME", 5 * 24 * 3600)
MAILGATE_RETRY_BASE = env_int("MAILGATE_RETRY_BASE", 300)
MAILGATE_RETRY_MAX = env_int("MAILGATE_RETRY_MAX", 4 * 3600)
MAILGATE_LEASE_SECONDS = env_int("MAILGATE_LEASE_SECONDS", 300)
MAILGATE_CONNECTION_CACHE_IDLE = env_int("MAILGATE_CONNECTION_CACHE_IDLE", 5)
# Key for the Secure Mailbox store (Fernet, urlsafe base64 of 32 bytes); derived from
# SECRET_KEY when unset, which is fine for one machine but must be set for scale-out.
MAILGATE_STORAGE_KEY = env_str("MAILGATE_STORAGE_KEY", "")
MAILGATE_PURL_SECRET = env_str("MAILGATE_PURL_SECRET", "")
MAILGATE_SECURE_EXPIRY_DAYS = env_int("MAILGATE_SECURE_EXPIRY_DAYS", 14)
MAILGATE_RECORD_RETENTION_DAYS = env_int("MAILGATE_RECORD_RETENTION_DAYS", 30)

# Structured logs (mailgate/logging.py): key=value lines ("kv"), "json" or "plain", each line
# about a message with its queue_id; bodies and secrets are never logged.
LOGGING = logging_config(
    fmt=env_str("MAILGATE_LOG_FORMAT", "kv"),
    level=env_str("MAILGATE_LOG_LEVEL", "INFO"),
    # aiosmtpd logs every command with its addresses at INFO: too much, and personal data.
    overrides={"mail.log": env_str("MAILGATE_SMTP_LOG_LEVEL", "WARNING")},
)
# The worker and beat log through LOGGING too, instead of Celery's own root-logger setup.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Beat rings the doorbell for whatever the database says is due (names are stable).
CELERY_BEAT_SCHEDULE = {
    "queue-sweep": {"task": "relay.tasks.queue_sweep", "schedule": CELERY_BEAT_INTERVAL},
    "records-prune": {"task": "relay.tasks.records_prune", "schedule": 3600.0},
    "securemailbox-expire": {
        "task": "securemailbox.tasks.securemessage_expire",
        "schedule": 600.0,
    },
}
