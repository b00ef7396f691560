"""Settings for the AutoML Studio.

Every value comes from the environment through the typed readers in ``studio.env``; the defaults run the
embedded setup (SQLite in WAL mode plus a filesystem Celery broker under one data directory). Every
variable is listed with a one-line comment in ``.env.example``.
"""
import secrets
from pathlib import Path

import dj_database_url

from studio.env import env_bool, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("STUDIO_DATA_DIR", BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Read SECRET_KEY from the environment, or generate one once and keep it in the data directory."""
    from_env = env_str("SECRET_KEY")
    if from_env:
        return from_env
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "studio.jobs",
    "studio.accounts",
    "studio.datasets",
    "studio.experiments",
    "studio.registry",
    "studio.serving",
    "studio.codefirst",
    "studio.pipelines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "studio.security.RejectNulMiddleware",
    "studio.security.ChunkedBodyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "studio.accounts.middleware.FirstRunMiddleware",
    "studio.accounts.middleware.WorkspaceMiddleware",
]

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

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
                "studio.accounts.context_processors.workspaces",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------
# DATABASE_URL switches to Postgres (postgres://user:pass@host:5432/name). Without it the embedded SQLite
# database runs in WAL mode with a busy timeout so that the web process and the worker can both write.
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'studio.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so that a worker subprocess in the tests sees the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_studio.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "staticfiles")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env_path("STUDIO_STORAGE_DIR", DATA_DIR / "storage")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads above this size are streamed to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
STUDIO_MAX_UPLOAD_BYTES = env_int("STUDIO_MAX_UPLOAD_BYTES", 2 * 1024**3, minimum=1)
STUDIO_MAX_COLUMNS = env_int("STUDIO_MAX_COLUMNS", 2000, minimum=1)
# Limits checked while an upload is read: bytes after decompression (a small gzip can expand a thousandfold),
# rows, and bytes of one value.
STUDIO_MAX_DATA_BYTES = env_int("STUDIO_MAX_DATA_BYTES", STUDIO_MAX_UPLOAD_BYTES, minimum=1)
STUDIO_MAX_ROWS = env_int("STUDIO_MAX_ROWS", 50_000_000, minimum=1)
STUDIO_MAX_FIELD_BYTES = env_int("STUDIO_MAX_FIELD_BYTES", 1024 * 1024, minimum=1024)
# A dataset version whose stored Parquet copy is larger than this is profiled partition by partition (row
# batches, two passes, bounded memory; quantiles and very large distinct counts become estimates, labelled as
# such) instead of one whole column at a time.
STUDIO_PROFILE_PARTITION_BYTES = env_int("STUDIO_PROFILE_PARTITION_BYTES", 512 * 1024**2, minimum=0)
# Threads one scoring prediction may use. One: each gunicorn worker is a process, so the workers already use
# the cores, and more threads per prediction only oversubscribe them.
STUDIO_SERVING_PREDICT_THREADS = env_int("STUDIO_SERVING_PREDICT_THREADS", 1, minimum=1)

# --- Security ---------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_HTTPS_PROXY else None
# Served over HTTPS (behind a TLS proxy) means cookies travel only over HTTPS, unless said otherwise.
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", BEHIND_HTTPS_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind the HTTPS proxy, browsers are told to use HTTPS only for a year (SecurityMiddleware sends HSTS on
# secure requests only, so a plain-HTTP embedded setup never locks itself out).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if BEHIND_HTTPS_PROXY else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy: scripts, fonts, images and XHR from the studio itself only (every asset is
# vendored under static/), no inline script and no plugin or frame. Styles allow inline attributes because
# templates size bars with style="width: ..." and Plotly and htmx insert <style> rules; scripts, the
# dangerous half, do not.
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {"DIRECTIVES": {
    "default-src": [SELF], "script-src": [SELF], "style-src": [SELF, UNSAFE_INLINE],
    "img-src": [SELF, "data:", "blob:"], "font-src": [SELF, "data:"], "connect-src": [SELF],
    "object-src": [NONE], "base-uri": [SELF], "form-action": [SELF], "frame-ancestors": [NONE],
}}

# --- REST API ---------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that a script without valid credentials gets 401 with a WWW-Authenticate header.
        "studio.accounts.authentication.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "studio.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AutoML Studio API",
    "DESCRIPTION": "Datasets, automated-ML experiments, model registry and scoring endpoints. "
    "Authenticate with a session or `Authorization: Token <key>`; requests act in your current "
    "workspace unless `?workspace=<id>` names another one you belong to.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Scripts authenticate with a token; the browser's session works too but is not an API client's scheme,
    # and listing both as alternatives made every operation look as if it ignored a bad credential.
    "AUTHENTICATION_WHITELIST": ["studio.accounts.authentication.ThrottledTokenAuthentication"],
    # Served from static/, never a CDN: the studio works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The scoring route is a plain Django view; this hook describes it in the schema.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "studio.serving.openapi.add_scoring_route", "studio.api.add_error_responses"],
}

# --- Celery ------------------------------------------------------------------------------------------------
# Without CELERY_BROKER_URL the broker is kombu's filesystem transport under the data directory: no server.
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # kombu's default is relative to the working directory
        "store_processed": False,
        # kombu lists the queue folder once a second by default, which is up to a second before a profile or a
        # run starts; a listing of a small folder five times a second costs nothing.
        "polling_interval": 0.2,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "studio")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
REDIS_URL = env_str("REDIS_URL")

# --- Distributed training (Dask) ----------------------------------------------------------------------------
# A running Dask scheduler (tcp://host:8786) for runs with training_mode="distributed"; unset, each such run
# starts a LocalCluster of max_nodes worker processes on its Celery worker, DASK_WORKER_MEMORY_LIMIT each.
DASK_SCHEDULER_ADDRESS = env_str("DASK_SCHEDULER_ADDRESS")
DASK_WORKER_MEMORY_LIMIT = env_str("DASK_WORKER_MEMORY_LIMIT", "2GiB")
# Batch scoring runs on the Dask cluster for models trained there and for files of at least this many bytes;
# without a scheduler it starts DASK_BATCH_WORKERS local workers.
STUDIO_BATCH_CLUSTER_BYTES = env_int("STUDIO_BATCH_CLUSTER_BYTES", 1024**3, minimum=0)
DASK_BATCH_WORKERS = env_int("DASK_BATCH_WORKERS", 2, minimum=1)

# --- Throttling -------------------------------------------------------------------------------------------
# Failed secrets per window: sign-ins per account and per client address, API tokens and scoring keys per
# address. Past the limit even the right secret is refused until the window ends.
STUDIO_THROTTLE_WINDOW_SECONDS = env_int("STUDIO_THROTTLE_WINDOW_SECONDS", 900, minimum=1)
STUDIO_LOGIN_FAILURES_PER_USER = env_int("STUDIO_LOGIN_FAILURES_PER_USER", 5, minimum=1)
STUDIO_LOGIN_FAILURES_PER_IP = env_int("STUDIO_LOGIN_FAILURES_PER_IP", 20, minimum=1)
STUDIO_AUTH_FAILURES_PER_IP = env_int("STUDIO_AUTH_FAILURES_PER_IP", 30, minimum=1)
# The counters are shared by every web process: Redis when the studio has it, else files in the data folder.
_CACHE_REDIS = REDIS_URL or (CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _CACHE_REDIS,
                      "KEY_PREFIX": "studio"} if _CACHE_REDIS else
          {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "cache")}}

# A publish to a broker that is down gives up within about a second: the job row is committed and the
# dispatcher sends it again, so a request never hangs on an outage.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}

# --- Background jobs (studio.jobs) -------------------------------------------------------------------------
# A job beats its heartbeat at most this often while it makes progress; one without a beat for
# STUDIO_STALE_AFTER_SECONDS is stale: the reaper requeues it (profiles, importance, batch scoring) up to
# STUDIO_JOB_MAX_ATTEMPTS claims, or fails it with a reason (runs, trials).
STUDIO_HEARTBEAT_SECONDS = env_int("STUDIO_HEARTBEAT_SECONDS", 10, minimum=1)
STUDIO_STALE_AFTER_SECONDS = env_int("STUDIO_STALE_AFTER_SECONDS", 60, minimum=3)
STUDIO_JOB_MAX_ATTEMPTS = env_int("STUDIO_JOB_MAX_ATTEMPTS", 3, minimum=1)
# Queued jobs whose message is older than this are sent again (the broker lost it or was down).
STUDIO_REDISPATCH_SECONDS = env_int("STUDIO_REDISPATCH_SECONDS", 60, minimum=1)
# How often Celery beat runs the reaper and the dispatcher on the control queue.
STUDIO_CHORES_SECONDS = env_int("STUDIO_CHORES_SECONDS", 10, minimum=1)
# Celery soft time limits: profiles, importance and batch jobs; runs and their trials (the engine keeps
# each run's own timeout_minutes; this is the backstop for a hung one).
STUDIO_JOB_TIME_LIMIT_SECONDS = env_int("STUDIO_JOB_TIME_LIMIT_SECONDS", 3600, minimum=10)
STUDIO_RUN_TIME_LIMIT_SECONDS = env_int("STUDIO_RUN_TIME_LIMIT_SECONDS", 24 * 3600, minimum=10)
# How long a failing job keeps trying to record its failure while the database is unreachable.
STUDIO_DB_RETRY_SECONDS = env_int("STUDIO_DB_RETRY_SECONDS", 60, minimum=0)
# The reaper and the dispatcher run on a queue of their own, served by a small worker of its own.
CELERY_CONTROL_QUEUE = env_str("CELERY_CONTROL_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-control")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Celery beat sends the lifecycle's chores to the control queue (see studio/jobs/tasks.py).
CELERY_BEAT_SCHEDULE = {
    "jobs-reap-stale": {"task": "jobs.reap_stale", "schedule": float(STUDIO_CHORES_SECONDS),
                        "options": {"queue": CELERY_CONTROL_QUEUE, "expires": 60}},
    "jobs-dispatch-queued": {"task": "jobs.dispatch_queued", "schedule": float(STUDIO_CHORES_SECONDS),
                             "options": {"queue": CELERY_CONTROL_QUEUE, "expires": 60}},
    "datasets-sweep-orphans": {"task": "datasets.sweep_orphans", "schedule": 600.0,
                               "options": {"queue": CELERY_CONTROL_QUEUE, "expires": 600}},
}
# Files a killed upload left behind (no row points to them) are deleted once this old, in seconds.
STUDIO_ORPHAN_AGE_SECONDS = env_int("STUDIO_ORPHAN_AGE_SECONDS", 6 * 3600, minimum=60)

# --- Pipelines (issue 15) ------------------------------------------------------------------------------------
# Celery beat looks for due pipeline schedules this often (a schedule fires at most once per look).
STUDIO_SCHEDULE_TICK_SECONDS = env_int("STUDIO_SCHEDULE_TICK_SECONDS", 30, minimum=5)
# Most a pipeline's command step (a user script) may use; a step's own limits may only be lower.
STUDIO_COMMAND_CPU_SECONDS = env_int("STUDIO_COMMAND_CPU_SECONDS", 600, minimum=1)
STUDIO_COMMAND_MEMORY_MB = env_int("STUDIO_COMMAND_MEMORY_MB", 2048, minimum=64)
STUDIO_COMMAND_WALL_SECONDS = env_int("STUDIO_COMMAND_WALL_SECONDS", 1800, minimum=1)
# Both chores run on the control queue, so that they go on while every ordinary worker trains a run: the
# advance of unfinished pipelines keeps their AutoML steps beating and catches up on lost advance messages.
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "pipelines-fire-due-schedules": {"task": "pipelines.fire_due_schedules",
                                     "schedule": float(STUDIO_SCHEDULE_TICK_SECONDS),
                                     "options": {"queue": CELERY_CONTROL_QUEUE, "expires": 60}},
    "pipelines-advance-running": {"task": "pipelines.advance_running", "schedule": float(STUDIO_CHORES_SECONDS),
                                  "options": {"queue": CELERY_CONTROL_QUEUE, "expires": 60}},
}

# --- Datasets -------------------------------------------------------------------------------------------------
# The wizard's schema step and the schema editor post four fields per column; allow the widest table we accept.
DATA_UPLOAD_MAX_NUMBER_FIELDS = max(1000, 4 * STUDIO_MAX_COLUMNS + 100)
