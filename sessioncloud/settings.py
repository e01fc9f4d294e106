"""Django settings, read from the environment (see README: Configuration)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dj_database_url
import dj_email_url

from sessioncloud.lib.envconfig import (
    ConfigError,
    env_bool,
    env_int,
    env_list,
    env_str,
    random_secret_key,
    read_secret,
    secret_or_generated,
)
from sessioncloud.lib.secretbox import SecretBox, SecretBoxError, generate_key

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(env_str("SESSIONCLOUD_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = env_bool("SESSIONCLOUD_PRODUCTION", False)
DEBUG = env_bool("SESSIONCLOUD_DEBUG", False)

SECRET_KEY = secret_or_generated("SECRET_KEY", DATA_DIR, PRODUCTION, random_secret_key)
SESSIONCLOUD_ENCRYPTION_KEYS = [
    key.strip()
    for key in secret_or_generated("SESSIONCLOUD_ENCRYPTION_KEYS", DATA_DIR, PRODUCTION, generate_key).split(
        ","
    )
    if key.strip()
]
try:
    SecretBox(SESSIONCLOUD_ENCRYPTION_KEYS)
except SecretBoxError as error:
    raise ConfigError(f"SESSIONCLOUD_ENCRYPTION_KEYS: {error}") from None

PUBLIC_URL = env_str("SESSIONCLOUD_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
_public_host = PUBLIC_URL.split("://", 1)[-1].split("/")[0].rsplit(":", 1)[0]
ALLOWED_HOSTS = env_list("SESSIONCLOUD_ALLOWED_HOSTS") or (["*"] if not PRODUCTION else [_public_host])
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]


def _allowed_nets() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(
            ipaddress.ip_network(net, strict=False) for net in env_list("SESSIONCLOUD_OUTBOUND_ALLOW_NETS")
        )
    except ValueError as error:
        raise ConfigError(f"SESSIONCLOUD_OUTBOUND_ALLOW_NETS: {error}.") from None


OUTBOUND_ALLOW_NETS = _allowed_nets()
OUTBOUND_ALLOW_HTTP = env_bool("SESSIONCLOUD_OUTBOUND_ALLOW_HTTP", False)
RATE_LIMITS = env_str("SESSIONCLOUD_RATE_LIMITS", "")
# What a Prometheus scraper shows (Authorization: Bearer <token>) to read /metrics.
METRICS_TOKEN = read_secret("SESSIONCLOUD_METRICS_TOKEN") or ""
# How many calls to one App's provisioning service each app process lets wait at once (an App
# may have its own bound, set by the operator); docs/performance.md says how it was sized.
PROVIDER_CALLS_PER_APP = max(1, env_int("SESSIONCLOUD_PROVIDER_CALLS_PER_APP", 2000))
# How many reverse proxies (load balancers) stand in front and append to X-Forwarded-For.
TRUSTED_PROXY_COUNT = env_int("SESSIONCLOUD_TRUSTED_PROXY_COUNT", 0)
# The portal's login limits count per client address too; behind a proxy that is in XFF.
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT

INSTALLED_APPS = [
    "sessioncloud.accounts.apps.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "ninja",
    "sessioncloud.accounts",
    "sessioncloud.providers",
    "sessioncloud.portal",
    "sessioncloud.onboarding",
]

MIDDLEWARE = [
    "sessioncloud.api.metrics.MetricsMiddleware",
    "sessioncloud.api.errors.ApiErrorShapeMiddleware",
    "sessioncloud.api.edge.RefuseBadInputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sessioncloud.portal.timezones.BrowserTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "sessioncloud.urls"
WSGI_APPLICATION = "sessioncloud.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Before the apps' own templates, so the portal's look overrides allauth's.
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sessioncloud.portal.context.portal",
            ],
        },
    },
]


# SQLite: each thread of a server's fixed pools keeps its connection. Opening one (WAL and
# its pragmas) costs about 2 ms, forty times the query a phone request makes.
_SQLITE_CONN_MAX_AGE = None


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "sessioncloud.sqlite3",
            "CONN_MAX_AGE": _SQLITE_CONN_MAX_AGE,
            # A file, not memory: tests start real server processes that share the test database.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
            "OPTIONS": {
                # Writers take the lock up front instead of failing half-way on upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    config["CONN_HEALTH_CHECKS"] = True
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = _SQLITE_CONN_MAX_AGE
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    if config["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # Only the driver's own cursor prepares (providers/statements.py: the few fixed
        # statements of a provisioning call); Django's cursor binds on the client and never
        # does. Prepared, PostgreSQL plans the App-and-device lookup and the ledger write once
        # per connection instead of on every call: half of its CPU per provisioning call.
        # Behind a pooler that does not keep them, a process stops preparing by itself.
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "prepare_threshold": 0}
    pool_size = env_int("DATABASE_POOL_SIZE", 0)
    if pool_size > 0 and config["ENGINE"] == "django.db.backends.postgresql":
        # One pool per process, shared by its threads, for deployments with more threads than
        # PostgreSQL may have connections (docs/deployment.md). By default each thread keeps its own.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            **config.get("OPTIONS", {}),
            "pool": {"min_size": 1, "max_size": pool_size, "timeout": 10},
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # One client per pool (lib/rediscache.py); clear() also empties every process's
            # in-memory copies of phone configs (providers/cachebackend.py).
            "BACKEND": "sessioncloud.providers.cachebackend.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("SESSIONCLOUD_CACHE_PREFIX", "sc"),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            # clear() also forgets the phone configs this process keeps (providers/cachebackend.py).
            "BACKEND": "sessioncloud.providers.cachebackend.LocMemCache",
            "LOCATION": "sessioncloud",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# With Redis, each app process may also answer phone configs from its own memory, under a lease
# with acknowledged invalidation (lib/leases.py): every save waits until no process can still
# answer the old config, at most about one lease. `sessioncloud serve` turns it on for its
# workers unless this is set; other processes (commands, tests) only take part in invalidation.
CONFIG_LOCAL_TIER = bool(REDIS_URL) and env_bool("SESSIONCLOUD_CONFIG_LOCAL_TIER", False)
CONFIG_LEASE_MS = max(200, env_int("SESSIONCLOUD_CONFIG_LEASE_MS", 2000))

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
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
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = False

DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
LOGO_MAX_BYTES = 1024 * 1024
LOGO_MAX_DIMENSION = 4096

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
# Without EMAIL_URL (the zero-configuration default), e-mails are kept as files in the data
# directory: readable by whoever runs the service, never sent and never written to the log.
OUTBOX_BACKEND = "sessioncloud.accounts.outbox.OutboxBackend"
EMAIL_OUTBOX_DIR = DATA_DIR / "outbox"


def _email_url() -> dict:
    url = env_str("EMAIL_URL")
    if not url:
        if PRODUCTION:
            raise ConfigError(
                "EMAIL_URL is not set. In production mode password resets, invitations and setup "
                "e-mails go through a real mail server: set EMAIL_URL, for example "
                "submission://user:password@mail.example.com:587."
            )
        return {"EMAIL_BACKEND": OUTBOX_BACKEND}
    parsed = dj_email_url.parse(url)
    backend = parsed.get("EMAIL_BACKEND")
    if backend is None:
        raise ConfigError(f"EMAIL_URL: use one of the schemes {', '.join(sorted(dj_email_url.SCHEMES))}.")
    if backend.endswith("console.EmailBackend"):
        # The console writes whole messages, reset and invitation links included, to the log.
        raise ConfigError(
            "EMAIL_URL=console: would write e-mails, with their password-reset and invitation "
            "links, to the log. Leave EMAIL_URL unset to keep them as files in the data "
            "directory, or name a mail server."
        )
    if PRODUCTION and backend != SMTP_BACKEND:
        raise ConfigError("EMAIL_URL: production mode needs a real mail server (smtp:// or submission://).")
    return parsed


_email = _email_url()
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or str(EMAIL_OUTBOX_DIR)
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or read_secret("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("SESSIONCLOUD_FROM_EMAIL", "SessionCloud <noreply@sessioncloud.invalid>")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PUBLIC_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SESSIONCLOUD_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SESSIONCLOUD_HSTS_PRELOAD", False)
    # The proxy in front must set (and never pass on a client's) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SESSIONCLOUD_SSL_REDIRECT", True)
    # Load balancers probe these over plain HTTP, inside the private network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
# Preloading HSTS commits the whole registrable domain; its owner opts in with
# SESSIONCLOUD_HSTS_PRELOAD, an application default cannot.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# The portal serves its own scripts and styles only; no inline script anywhere. Inline style
# attributes carry per-App theme colours (CSS custom properties), hence style-src-attr.
CONTENT_SECURITY_POLICY = {
    # Swagger UI (ninja's bundled copy) builds its page with inline styles; it shows no tenant data.
    "EXCLUDE_URL_PREFIXES": ["/api/v1/docs"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

NINJA_PAGINATION_PER_PAGE = 100

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"redact": {"()": "sessioncloud.lib.jsonlog.RedactSecrets"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"]},
    },
    "root": {"handlers": ["stderr"], "level": env_str("SESSIONCLOUD_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's request logger repeats full URLs and tracebacks: our own access log says enough.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        # The HTTP client logs every request URL, and a provider URL carries the password.
        "httpx2": {"level": "WARNING"},
        "httpcore2": {"level": "WARNING"},
    },
}

ACCOUNT_ADAPTER = "sessioncloud.accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"signup": "sessioncloud.accounts.forms.SignupForm"}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[SessionCloud] "
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_RATE_LIMITS = {
    "login": "20/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "signup": "20/m/ip",
}
LOGIN_REDIRECT_URL = "/portal/"
LOGIN_URL = "/accounts/login/"
MFA_ADAPTER = "sessioncloud.accounts.adapters.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "SessionCloud"
