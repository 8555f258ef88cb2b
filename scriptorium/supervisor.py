"""``scriptorium up``: the whole service on one machine, with embedded PostgreSQL and Redis.

Starts the databases, applies migrations, makes sure an admin exists, then runs the web, worker and ingest roles
as child processes, restarting any that dies, and stops everything cleanly on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from webapp import settings as settings_mod
from scriptorium.embedded import EmbeddedPostgres, EmbeddedRedis


@dataclass
class Role:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)
    env: dict[str, str] = field(default_factory=dict)  # this role's own settings over the shared ones

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(self.argv, env={**env, **self.env}, start_new_session=True)
        self.started_at = time.monotonic()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def _say(msg: str) -> None:
    print(f"scriptorium: {msg}", flush=True)


def worker_threads(workers: int, cores: int | None = None) -> int:
    """CPU threads per worker so that N workers on one machine share its cores without oversubscribing them:
    cores // N, at least 1 (WORKER_THREADS, when set, wins)."""
    return max(1, (cores or os.cpu_count() or 1) // max(1, workers))


def up(host: str = "127.0.0.1", port: int = 8000, with_worker: bool = True, with_ingest: bool = True,
       web_workers: int | None = None, settings: settings_mod.Settings | None = None, workers: int = 1) -> int:
    """Run everything until interrupted (``workers`` transcription workers). Returns the exit code."""
    env = dict(os.environ)  # what the roles inherit (each reads its own Settings from it)
    if with_worker and not env.get("WORKER_THREADS"):
        env["WORKER_THREADS"] = str(worker_threads(workers))
    settings = settings or settings_mod.load(env)
    pg = redis = None
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    roles: list[Role] = []
    try:
        if not settings.production:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            pg_port = int(settings.database_url.rsplit(":", 1)[1].split("/")[0])
            redis_port = int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
            for name, p in (("PostgreSQL", pg_port), ("Redis", redis_port), ("the web server", port)):
                if not _port_free(p):
                    _say(f"port {p} for {name} is already in use (is another `scriptorium up` running?)")
                    return 1
            pg = EmbeddedPostgres(settings.data_dir / "postgres", pg_port,
                                  password=settings_mod.embedded_db_password(settings.data_dir))
            _say(f"starting PostgreSQL on 127.0.0.1:{pg_port} (data in {pg.data_dir})")
            pg.start()
            redis = EmbeddedRedis(settings.data_dir / "redis", redis_port, appendonly=True)
            _say(f"starting Redis on 127.0.0.1:{redis_port}")
            redis.start()
            env.setdefault("SCRIPTORIUM_DATA_DIR", str(settings.data_dir))
        admin_info = _prepare(settings)
        exe = [sys.executable, "-m", "scriptorium.cli"]
        # the same gunicorn command line as every other deployment (scriptorium/web.py)
        roles.append(Role("web", exe + ["web", "--bind", f"{host}:{port}",
                                        "--workers", str(web_workers or settings.web_workers)]))
        if with_worker:
            for n in range(max(1, workers)):  # any of them takes any job or part (issue 11)
                # each worker serves its own metrics: worker N on METRICS_PORT + N - 1 (one port cannot serve two)
                own = {"METRICS_PORT": str(settings.metrics_port + n)} if settings.metrics_port and n else {}
                roles.append(Role("worker" if workers <= 1 else f"worker-{n + 1}", exe + ["worker"], env=own))
        ingest_wanted = (settings.watch_dir is not None or settings.minio_redis_url or settings.minio_listen
                         or settings.minio_webhook_token)  # the hook only queues events; ingest handles them
        if with_ingest and ingest_wanted and _ingest_available():
            # the ingester serves its metrics after the workers' ports (one port cannot serve two processes)
            after = max(1, workers) if with_worker else 0
            own = {"METRICS_PORT": str(settings.metrics_port + after)} if settings.metrics_port and after else {}
            roles.append(Role("ingest", exe + ["ingest"], env=own))
        # The roles import wsgi.py and the packages from the project root, wherever `up` was started.
        root = str(Path(__file__).resolve().parent.parent)
        cwd_env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])))
        for role in roles:
            role.start(cwd_env)
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"
        _wait_healthy(url + "healthz", roles[0])
        _say(f"ready at {url}")
        for line in admin_info:
            _say(line)
        if any(role.name == "ingest" for role in roles) and settings.watch_dir is not None:
            _say(f"drop recordings into {settings.watch_dir} to have them transcribed")
        _say("press Ctrl-C to stop")
        while not stopping:
            time.sleep(0.5)
            for role in roles:
                if role.proc.poll() is not None and not stopping:
                    now = time.monotonic()
                    if role.next_start == 0.0:
                        delay = min(30.0, 2 ** min(role.restarts, 5)) if now - role.started_at < 60 else 1.0
                        role.next_start = now + delay
                        _say(f"{role.name} exited with {role.proc.returncode}; restarting in {delay:.0f} s")
                    elif now >= role.next_start:
                        role.restarts += 1
                        role.next_start = 0.0
                        role.start(cwd_env)
        return 0
    finally:
        _say("stopping")
        for role in reversed(roles):
            role.stop()
        if redis:
            redis.stop()
        if pg:
            pg.stop()
        _say("stopped")


def _wait_healthy(url: str, web: Role, timeout: float = 90.0) -> None:
    """Wait until the web role answers /healthz with 200 (its port alone opens before the app loads)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise RuntimeError(f"the web server exited with {web.proc.returncode} while starting")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s")


def _ingest_available() -> bool:
    try:
        import ingest.watcher  # noqa: F401
    except ImportError:
        return False
    return True


def _prepare(settings: settings_mod.Settings) -> list[str]:
    """Migrations and the admin account; returns the lines that tell a person how to sign in."""
    from webapp import create_app, migrate
    from webapp.services.accounts import ensure_admin

    migrate.upgrade(settings.database_url)
    app = create_app(settings=settings)
    with app.app_context():
        if settings.storage_backend == "s3":
            from webapp import storage

            storage.get().ensure_bucket()
        else:
            settings.media_dir.mkdir(parents=True, exist_ok=True)
        _, password, token = ensure_admin(settings.admin_password, settings.admin_token)
    lines = []
    if password:
        lines.append(f"sign in as 'admin' with password: {password}  (shown once; keep it)")
    else:
        lines.append("sign in as 'admin' with your password (SCRIPTORIUM_ADMIN_PASSWORD, or the one printed at "
                     "first start)")
    if token:
        lines.append(f"API token for admin: {token}  (shown once; `scriptorium users create NAME` makes more)")
    return lines
