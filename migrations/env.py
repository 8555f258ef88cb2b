"""Alembic environment: the URL comes from webapp.migrate.config, the metadata from webapp.models."""
from alembic import context
from sqlalchemy import create_engine, pool

import webapp.models  # noqa: F401  (registers every table)
from webapp.extensions import db

config = context.config
target_metadata = db.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        # One upgrade at a time, even when web and worker start together.
        connection.exec_driver_sql("SELECT pg_advisory_lock(727274)")
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.exec_driver_sql("SELECT pg_advisory_unlock(727274)")
        connection.commit()


run_migrations_online()
