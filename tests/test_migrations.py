"""Migrations: several processes upgrading a fresh database at once (web and workers starting together) all
succeed, and the schema is applied exactly once."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from webapp import migrate

MIGRATORS = 4
ROUNDS = 3  # the old race (lock released before COMMIT) failed about one round in three


def _fresh_database(pg_url: str) -> str:
    """A new, empty database on the test server; returns its URL."""
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(pg_url).set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_upgrades_of_a_fresh_database_apply_the_schema_once(pg_url, round_):
    url = _fresh_database(pg_url)
    script = "import sys; from webapp.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", script, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(MIGRATORS)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * MIGRATORS, "\n".join(outputs)

    engine = create_engine(url)
    with engine.connect() as conn:
        versions = conn.scalars(text("SELECT version_num FROM alembic_version")).all()
        tables = set(conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
    engine.dispose()
    assert sorted(versions) == sorted(ScriptDirectory.from_config(migrate.config(url)).get_heads())
    assert {"transcripts", "media", "users", "segments", "words"} <= tables
