"""One typed settings object, read from the environment.

Two modes:

* **production** — any of ``DATABASE_URL``, ``REDIS_URL`` or ``S3_ENDPOINT`` is set. Then every setting the
  service needs must be given explicitly; a missing or malformed one is a start-up error that names it. There is
  no default secret.
* **embedded** — none of them is set (``scriptorium up`` on a laptop). Safe local defaults are filled in: the
  embedded PostgreSQL and Redis on loopback, media in a local directory, a secret key generated once and kept
  in the data directory.
"""
from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

EMBEDDED_PG_PORT = 54329
EMBEDDED_REDIS_PORT = 63799


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    mode: str  # "production" | "embedded"
    data_dir: Path
    database_url: str
    redis_url: str
    secret_key: str = field(repr=False)  # secrets stay out of logs and tracebacks that print the settings
    s3_endpoint: str | None = None
    s3_access_key: str | None = None
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_bucket: str = "scriptorium"
    s3_secure: bool = False
    watch_dir: Path | None = None
    whisper_model: str = "auto"  # the best installed model for the hardware (webapp.model_auto)
    whisper_device: str = "auto"
    whisper_compute_type: str = "int8"
    diarization_model: Path | None = None  # a local pyannote pipeline folder (SCRIPTORIUM_DIARIZATION_MODEL)
    max_upload_mb: int = 4096
    max_duration_minutes: int = 600  # longer recordings are refused with that reason (10 h of audio is ~2.3 GB decoded)
    minio_webhook_token: str | None = field(default=None, repr=False)
    job_attempts: int = 3
    job_stale_after: float = 30.0  # seconds without a heartbeat before a running job counts as abandoned
    session_max_age_days: int = 14  # a sign-in older than this is refused, however active (SESSION_MAX_AGE_DAYS)
    trusted_proxies: int = 0  # reverse proxies in front of the web app whose X-Forwarded-* headers are believed
    # ingestion (ingest/): the watched folder, results handed back beside it, bucket events
    watch_polling: bool = False
    watch_settle_seconds: float = 2.0
    watch_output: str = "off"  # "off" | "beside" | an absolute directory
    watch_output_formats: tuple[str, ...] = ("srt", "vtt", "txt")
    watch_move_done: bool = False
    watch_rescan_seconds: float = 300.0
    ingest_threads: int = 4
    ingest_speakers: bool = True  # folder and bucket arrivals: tell speakers apart, count detected (INGEST_SPEAKERS)
    minio_inbox_bucket: str | None = None  # None: the media bucket (S3_BUCKET)
    minio_inbox_prefix: str = "inbox/"
    minio_redis_url: str | None = None
    minio_redis_key: str = "scriptorium-events"
    minio_listen: bool = False
    # the web role: every place that starts gunicorn builds the same command line from these (scriptorium/web.py)
    web_bind: str = "0.0.0.0:8000"
    web_workers: int = 2
    # speech: where models live, the wav2vec2 aligner to use, the Hugging Face token for gated pipelines
    models_dir: Path = field(default_factory=lambda: default_models_dir({}))
    align_model: str | None = None
    hf_token: str | None = field(default=None, repr=False)
    # sign-in throttling: failures per address or account name within the window
    signin_max_failures: int = 10
    signin_window_s: int = 600
    # embedded mode's first admin, (re)applied at every `scriptorium up` (for automation)
    admin_password: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    # models a worker may load (issue 12 item 5): names from the registry, plus folders an admin allows
    whisper_model_paths: tuple[str, ...] = ()  # WHISPER_MODEL_PATHS: model folders, or folders of them (os.pathsep)
    worker_max_models: int = 2  # WORKER_MAX_MODELS: models a worker keeps loaded, least recently used unloaded
    # completion webhooks and Prometheus metrics (issue 15; README "Webhooks", "Metrics")
    webhook_allow_private: bool = False  # WEBHOOK_ALLOW_PRIVATE: deliver to loopback/private/link-local targets
    metrics_token: str | None = field(default=None, repr=False)  # METRICS_TOKEN: /metrics is off (404) without it
    public_url: str | None = None  # PUBLIC_URL: how people reach the web app (absolute links in webhook bodies)
    metrics_port: int | None = None  # METRICS_PORT: the worker's and ingester's own /metrics port (off if unset)
    # long recordings (issue 11): split into parts of about CHUNK_MINUTES that any worker takes; CPU threads per worker
    chunk_minutes: float = 15.0  # CHUNK_MINUTES: recordings longer than this are split at pauses (see docs/benchmarks.md)
    worker_threads: int = 0  # WORKER_THREADS: CPU threads of one worker's model; 0 = one per core (`up --workers N`: cores // N)
    extra: dict = field(default_factory=dict)

    @property
    def storage_backend(self) -> str:
        return "s3" if self.s3_endpoint else "local"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def production(self) -> bool:
        return self.mode == "production"

    @property
    def inbox_bucket(self) -> str:
        """The bucket whose object-created events are ingested (MINIO_INBOX_BUCKET, else S3_BUCKET)."""
        return self.minio_inbox_bucket or self.s3_bucket


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in {"1", "true", "yes", "on"}:
        return True
    if low in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < 86400:
        raise SettingsError(f"{name} must be between 0 and 86400 seconds, got {raw!r}")
    return value


def _watch_output(raw: str) -> str:
    """WATCH_OUTPUT: off, beside, or an absolute directory for the subtitle files."""
    low = raw.strip().lower()
    if low in {"", "off", "no", "false", "0"}:
        return "off"
    if low == "beside":
        return "beside"
    if not raw.startswith("/"):
        raise SettingsError(f"WATCH_OUTPUT must be off, beside or an absolute directory, got {raw!r}")
    return str(Path(raw).resolve())


def _formats(raw: str) -> tuple[str, ...]:
    formats = tuple(dict.fromkeys(f.strip().lower() for f in raw.split(",") if f.strip()))
    bad = [f for f in formats if f not in {"srt", "vtt", "txt", "json"}]
    if bad or not formats:
        raise SettingsError(f"WATCH_OUTPUT_FORMATS must list some of srt, vtt, txt, json; got {raw!r}")
    return formats


def _models(env: Mapping[str, str]) -> dict:
    """Which model folders jobs may name, and how many models a worker keeps loaded."""
    paths = tuple(p.strip() for p in (env.get("WHISPER_MODEL_PATHS") or "").split(os.pathsep) if p.strip())
    for p in paths:
        if not os.path.isabs(os.path.expanduser(p)):
            raise SettingsError(f"WHISPER_MODEL_PATHS must list absolute folders, got {p!r}")
    return dict(whisper_model_paths=paths,
                worker_max_models=_int("WORKER_MAX_MODELS", env.get("WORKER_MAX_MODELS") or "2"),
                chunk_minutes=_chunk_minutes(env.get("CHUNK_MINUTES") or "15"),
                worker_threads=_int("WORKER_THREADS", env.get("WORKER_THREADS") or "0", minimum=0))


def _chunk_minutes(raw: str) -> float:
    """CHUNK_MINUTES: a positive number of minutes (fractions allowed, for tests)."""
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise SettingsError(f"CHUNK_MINUTES must be a positive number of minutes, got {raw!r}")
    return value


def _ingest(env: Mapping[str, str]) -> dict:
    """The settings of ``scriptorium ingest`` (all optional; see the README's ingestion section)."""
    redis_url = env.get("MINIO_REDIS_URL") or None
    prefix = env.get("MINIO_INBOX_PREFIX", "inbox/").lstrip("/")
    return dict(
        watch_polling=_bool("WATCH_POLLING", env.get("WATCH_POLLING", "false")),
        watch_settle_seconds=_seconds("WATCH_SETTLE_SECONDS", env.get("WATCH_SETTLE_SECONDS") or "2"),
        watch_output=_watch_output(env.get("WATCH_OUTPUT", "off")),
        watch_output_formats=_formats(env.get("WATCH_OUTPUT_FORMATS") or "srt,vtt,txt"),
        watch_move_done=_bool("WATCH_MOVE_DONE", env.get("WATCH_MOVE_DONE", "false")),
        watch_rescan_seconds=_seconds("WATCH_RESCAN_SECONDS", env.get("WATCH_RESCAN_SECONDS") or "300"),
        ingest_threads=_int("INGEST_THREADS", env.get("INGEST_THREADS") or "4"),
        ingest_speakers=_bool("INGEST_SPEAKERS", env.get("INGEST_SPEAKERS", "true")),
        minio_inbox_bucket=env.get("MINIO_INBOX_BUCKET") or None,
        minio_inbox_prefix=prefix,
        minio_redis_url=_url("MINIO_REDIS_URL", redis_url, ("redis", "rediss", "unix")) if redis_url else None,
        minio_redis_key=env.get("MINIO_REDIS_KEY") or "scriptorium-events",
        minio_listen=_bool("MINIO_LISTEN", env.get("MINIO_LISTEN", "false")),
    )


def _observability(env: Mapping[str, str], embedded: bool) -> dict:
    """Webhook targets and metrics. Embedded mode (one machine, a person's own network) may deliver to private
    addresses by default; production must opt in, so the server cannot be made a proxy into its own network."""
    port = env.get("METRICS_PORT")
    return dict(
        webhook_allow_private=_bool("WEBHOOK_ALLOW_PRIVATE",
                                    env.get("WEBHOOK_ALLOW_PRIVATE") or ("true" if embedded else "false")),
        metrics_token=env.get("METRICS_TOKEN") or None,
        metrics_port=_int("METRICS_PORT", port) if port else None,
        public_url=_url("PUBLIC_URL", env["PUBLIC_URL"], ("http", "https")).rstrip("/") if env.get("PUBLIC_URL")
        else None,
    )


def default_models_dir(env: Mapping[str, str] | None = None) -> Path:
    """SCRIPTORIUM_MODELS_DIR, else ``<sys.prefix>/share/scriptorium/models`` (one sub-folder per model).

    Readable on its own because ``scriptorium models install`` runs at image build time, where loading the whole
    settings would write embedded secrets into the image.
    """
    env = os.environ if env is None else env
    raw = env.get("SCRIPTORIUM_MODELS_DIR")
    return Path(raw) if raw else Path(sys.prefix) / "share" / "scriptorium" / "models"


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not (parsed.hostname or parsed.path):
        raise SettingsError(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, got {raw!r}")
    return raw


def normalise_database_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def embedded_secret_key(data_dir: Path) -> str:
    """The embedded mode's secret key: generated once, kept (0600) in the data directory."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def embedded_db_password(data_dir: Path) -> str:
    path = data_dir / "postgres_password"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    pw = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(pw)
    return pw


def is_production(env: Mapping[str, str]) -> bool:
    return any(env.get(k) for k in ("DATABASE_URL", "REDIS_URL", "S3_ENDPOINT"))


def load(env: Mapping[str, str] | None = None, *, services: bool = True) -> Settings:
    """Read settings from ``env`` (default: the process environment).

    ``services=False`` is for commands that use no database, queue or storage (``scriptorium transcribe``,
    ``models``): embedded mode then leaves the data directory alone (no generated secret or database password)
    and the service URLs and secret key are empty.
    """
    env = os.environ if env is None else env
    data_dir = Path(env.get("SCRIPTORIUM_DATA_DIR") or "./scriptorium-data").resolve()
    common = dict(
        data_dir=data_dir,
        whisper_model=env.get("WHISPER_MODEL") or "auto",
        whisper_device=env.get("WHISPER_DEVICE") or "auto",
        whisper_compute_type=env.get("WHISPER_COMPUTE_TYPE") or "int8",
        diarization_model=(Path(env["SCRIPTORIUM_DIARIZATION_MODEL"]).expanduser()
                           if env.get("SCRIPTORIUM_DIARIZATION_MODEL") else None),
        max_upload_mb=_int("MAX_UPLOAD_MB", env["MAX_UPLOAD_MB"]) if env.get("MAX_UPLOAD_MB") else 4096,
        max_duration_minutes=(_int("MAX_DURATION_MINUTES", env["MAX_DURATION_MINUTES"])
                              if env.get("MAX_DURATION_MINUTES") else 600),
        job_attempts=_int("JOB_ATTEMPTS", env["JOB_ATTEMPTS"]) if env.get("JOB_ATTEMPTS") else 3,
        job_stale_after=float(_int("JOB_STALE_AFTER", env["JOB_STALE_AFTER"])) if env.get("JOB_STALE_AFTER") else 30.0,
        minio_webhook_token=env.get("MINIO_WEBHOOK_TOKEN") or None,
        session_max_age_days=(_int("SESSION_MAX_AGE_DAYS", env["SESSION_MAX_AGE_DAYS"])
                              if env.get("SESSION_MAX_AGE_DAYS") else 14),
        trusted_proxies=_int("TRUSTED_PROXIES", env["TRUSTED_PROXIES"]) if env.get("TRUSTED_PROXIES") else 0,
        s3_bucket=env.get("S3_BUCKET") or "scriptorium",
        web_bind=env.get("BIND") or "0.0.0.0:8000",
        web_workers=_int("WEB_WORKERS", env["WEB_WORKERS"]) if env.get("WEB_WORKERS") else 2,
        models_dir=default_models_dir(env),
        align_model=env.get("SCRIPTORIUM_ALIGN_MODEL") or None,
        hf_token=env.get("HF_TOKEN") or None,
        signin_max_failures=(_int("SIGNIN_MAX_FAILURES", env["SIGNIN_MAX_FAILURES"])
                             if env.get("SIGNIN_MAX_FAILURES") else 10),
        signin_window_s=_int("SIGNIN_WINDOW_S", env["SIGNIN_WINDOW_S"]) if env.get("SIGNIN_WINDOW_S") else 600,
        admin_password=env.get("SCRIPTORIUM_ADMIN_PASSWORD") or None,
        admin_token=env.get("SCRIPTORIUM_ADMIN_TOKEN") or None,
        **_ingest(env),
        **_models(env),
        **_observability(env, embedded=not is_production(env)),
    )
    if common["whisper_device"] not in {"auto", "cpu", "cuda"}:
        raise SettingsError(f"WHISPER_DEVICE must be auto, cpu or cuda, got {common['whisper_device']!r}")

    if not services:
        return Settings(mode="production" if is_production(env) else "embedded", database_url="", redis_url="",
                        secret_key="", **common)
    if not is_production(env):
        watch = env.get("WATCH_DIR")
        pg_port = _int("SCRIPTORIUM_PG_PORT", env.get("SCRIPTORIUM_PG_PORT") or str(EMBEDDED_PG_PORT))
        redis_port = _int("SCRIPTORIUM_REDIS_PORT", env.get("SCRIPTORIUM_REDIS_PORT") or str(EMBEDDED_REDIS_PORT))
        return Settings(
            mode="embedded",
            database_url=normalise_database_url(
                f"postgresql://scriptorium:{embedded_db_password(data_dir)}@127.0.0.1:{pg_port}/scriptorium"
            ),
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            secret_key=env.get("SECRET_KEY") or embedded_secret_key(data_dir),
            watch_dir=Path(watch).resolve() if watch else data_dir / "inbox",
            **common,
        )

    missing = [k for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY") if not env.get(k)]
    if env.get("S3_ENDPOINT"):
        missing += [k for k in ("S3_ACCESS_KEY", "S3_SECRET_KEY") if not env.get(k)]
    if missing:
        raise SettingsError(
            "production mode (DATABASE_URL, REDIS_URL or S3_ENDPOINT is set) needs these settings too: "
            + ", ".join(missing)
        )
    if len(env["SECRET_KEY"]) < 16:
        raise SettingsError("SECRET_KEY must be at least 16 characters long")
    endpoint = env.get("S3_ENDPOINT") or None
    if endpoint and ("/" in endpoint.split("://", 1)[-1].rstrip("/") or not endpoint.strip()):
        raise SettingsError(f"S3_ENDPOINT must be host:port (optionally with http:// or https://), got {endpoint!r}")
    watch = env.get("WATCH_DIR")
    return Settings(
        mode="production",
        database_url=normalise_database_url(
            _url("DATABASE_URL", env["DATABASE_URL"], ("postgres", "postgresql", "postgresql+psycopg"))
        ),
        redis_url=_url("REDIS_URL", env["REDIS_URL"], ("redis", "rediss", "unix")),
        secret_key=env["SECRET_KEY"],
        s3_endpoint=endpoint,
        s3_access_key=env.get("S3_ACCESS_KEY") or None,
        s3_secret_key=env.get("S3_SECRET_KEY") or None,
        s3_secure=_bool("S3_SECURE", env.get("S3_SECURE", "false")) if endpoint else False,
        watch_dir=Path(watch).resolve() if watch else None,
        **common,
    )
