"""Alembic environment: the URL comes from webapp.migrate.config, the metadata from webapp.models."""
from alembic import context
from sqlalchemy import create_engine, pool

import webapp.models  # noqa: F401  (registers every table)
from webapp.extensions import db

config = context.config
target_metadata = db.metadata
LOCK_ID = 727274


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            # One upgrade at a time, even when web and worker start together. The lock is transaction-scoped:
            # it is released by the same COMMIT that publishes the new schema, so the next migrator (which reads
            # alembic_version only after it holds the lock) sees the upgrade as done. A session lock released
            # before the commit let a second migrator read the old version and run every migration again.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOCK_ID})")
            context.run_migrations()


run_migrations_online()
