"""The harness every test uses: real PostgreSQL, Redis and an S3 endpoint over HTTP, started once per session.

Set TEST_DATABASE_URL / TEST_REDIS_URL / TEST_S3_ENDPOINT (+ TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY) to use
servers you already run instead. Every test starts from empty tables, an empty Redis database and an empty bucket.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

TEST_MODEL = "tiny.en"


@pytest.fixture(scope="session")
def scratch_dir():
    """A session temp dir that the unprivileged PostgreSQL user can traverse."""
    path = Path(tempfile.mkdtemp(prefix="scriptorium-test-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(scratch_dir):
    """The embedded PostgreSQL (None when TEST_DATABASE_URL points elsewhere); fault tests restart it."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    from scriptorium.embedded import EmbeddedPostgres, free_port

    pg = EmbeddedPostgres(scratch_dir / "pg", free_port(), database="scriptorium_test", fast_unsafe=True)
    pg.start()
    yield pg
    pg.stop("immediate")


@pytest.fixture(scope="session")
def pg_url(pg_server):
    return pg_server.url if pg_server else os.environ["TEST_DATABASE_URL"]


@pytest.fixture(scope="session")
def redis_url(scratch_dir):
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    from scriptorium.embedded import EmbeddedRedis, free_port

    server = EmbeddedRedis(scratch_dir / "redis", free_port(), appendonly=False)
    server.start()
    yield server.url.rsplit("/", 1)[0] + "/1"  # a dedicated database, flushed per test
    server.stop()


class MotoS3:
    """moto's S3 server on a fixed port, which fault tests can take down (connections refused) and bring back
    with its buckets and objects intact (moto keeps them in this process)."""

    def __init__(self, port: int):
        self.port = port
        self.server = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.server._server.server_close()  # close the listening socket: clients get "connection refused"


@pytest.fixture(scope="session")
def s3_server():
    if os.environ.get("TEST_S3_ENDPOINT"):
        yield None
        return
    from scriptorium.embedded import free_port

    server = MotoS3(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_endpoint(s3_server):
    """(endpoint, access key, secret key): moto's S3 server, spoken to over real HTTP."""
    if s3_server is None:
        return (os.environ["TEST_S3_ENDPOINT"], os.environ.get("TEST_S3_ACCESS_KEY", "minioadmin"),
                os.environ.get("TEST_S3_SECRET_KEY", "minioadmin"))
    return (f"http://127.0.0.1:{s3_server.port}", "testing-access", "testing-secret")


@pytest.fixture(scope="session")
def test_env(pg_url, redis_url, s3_endpoint, scratch_dir) -> dict[str, str]:
    endpoint, access, secret = s3_endpoint
    return {
        "DATABASE_URL": pg_url, "REDIS_URL": redis_url, "S3_ENDPOINT": endpoint, "S3_ACCESS_KEY": access,
        "S3_SECRET_KEY": secret, "S3_BUCKET": "scriptorium-test", "SECRET_KEY": "test-secret-key-not-for-production",
        "SCRIPTORIUM_DATA_DIR": str(scratch_dir / "data"), "WHISPER_MODEL": TEST_MODEL, "WHISPER_DEVICE": "cpu",
    }


@pytest.fixture(scope="session")
def settings(test_env):
    from webapp import settings as settings_mod

    return settings_mod.load(test_env)


@pytest.fixture(scope="session")
def _schema(settings):
    from webapp import migrate

    migrate.upgrade(settings.database_url)


@pytest.fixture(scope="session")
def _session_app(settings, _schema):
    from webapp import create_app
    from webapp.storage import from_settings

    app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": False}, settings=settings)
    from_settings(settings).ensure_bucket()
    return app


@pytest.fixture
def app(_session_app):
    """The app, with every table, the Redis database and the bucket emptied before the test."""
    from sqlalchemy import text

    from webapp import queue
    from webapp.extensions import db
    from webapp.storage import from_settings

    app = _session_app
    with app.app_context():
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()
        queue.connection().flushdb()
        store = from_settings(app.config["SCRIPTORIUM"])
        for obj in store.client.list_objects(store.bucket, recursive=True):
            store.client.remove_object(store.bucket, obj.object_name)
    yield app
    with app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# password -> a real scrypt hash of it (werkzeug's, as User.set_password makes it). Each hash costs ~0.1-0.4 s of
# CPU and a few hundred tests make users with the same few passwords: each password is hashed once per session.
# Signing in still checks the password against that hash with the real scrypt.
_PASSWORD_HASHES: dict[str, str] = {}


@pytest.fixture
def user_factory(app):
    """make_user(name, admin=False, password=None) -> (user id, API token)."""
    from webapp.extensions import db
    from webapp.services.accounts import create_user

    def make(name: str = "alice", admin: bool = False, password: str | None = None) -> tuple[int, str]:
        with app.app_context():
            user, token = create_user(name, admin=admin)
            if password:
                if password not in _PASSWORD_HASHES:
                    user.set_password(password)
                    _PASSWORD_HASHES[password] = user.password_hash
                user.password_hash = _PASSWORD_HASHES[password]
                db.session.commit()
            return user.id, token

    return make


@pytest.fixture
def auth(user_factory):
    """Headers for an admin's API token."""
    _, token = user_factory("admin", admin=True, password="admin-password")
    return {"Authorization": f"Bearer {token}"}


def burst_worker(app):
    """A real RQ worker for ``app`` (worker.runner.make_worker), to run in this process with ``work(burst=True)``.

    RQ stops its command channel's listener (a thread waiting up to 60 s for a message) after unsubscribing; the
    "unsubscribed" reply wakes the thread before it is told to stop, so it waits again and RQ's join gives up
    after 1 s: every burst run took a second longer than its jobs. Told to stop first, the reply ends it at once.
    """
    from worker.runner import make_worker

    worker = make_worker(app)
    rq_unsubscribe = worker.unsubscribe

    def unsubscribe() -> None:
        if worker.pubsub_thread:
            worker.pubsub_thread.stop()
        rq_unsubscribe()

    worker.unsubscribe = unsubscribe
    return worker


@pytest.fixture
def run_jobs(app):
    """run_jobs(target_app=None): run every queued job in a real RQ worker, in this process, until the queue is
    empty (the queue of ``app``, or of ``target_app``)."""

    def run(target_app=None) -> None:
        burst_worker(target_app or app).work(burst=True, with_scheduler=False)

    return run


@pytest.fixture(scope="session")
def speech(scratch_dir):
    """speech(text, voice='en-us', name=None) -> path of a WAV that espeak-ng speaks (cached per session)."""
    if not shutil.which("espeak-ng"):
        pytest.fail("espeak-ng is not installed (make system-deps installs it)")
    out_dir = scratch_dir / "speech"
    out_dir.mkdir(exist_ok=True)
    made: dict[tuple[str, str], Path] = {}

    def make(text: str, voice: str = "en-us", name: str | None = None) -> Path:
        key = (text, voice)
        if key not in made:
            path = out_dir / (name or f"clip{len(made)}.wav")
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
            made[key] = path
        return made[key]

    return make
