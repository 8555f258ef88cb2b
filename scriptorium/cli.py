"""The ``scriptorium`` command: run the whole service or one role, manage users, transcribe files alone."""
from __future__ import annotations

import os
import sys

import click

from webapp.settings import SettingsError


def _settings(services: bool = True):
    """The one read of the environment (``services=False``: a command that uses no database, queue or storage)."""
    from webapp import settings

    try:
        return settings.load(services=services)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _app():
    from webapp import create_app

    return create_app(settings=_settings())


@click.group()
def main() -> None:
    """Scriptorium: self-hosted transcription."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not start a transcription worker.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Transcription workers; each gets cores // N CPU threads unless WORKER_THREADS is set.")
def up(host: str, port: int, no_worker: bool, workers: int) -> None:
    """Everything on one machine, embedded PostgreSQL and Redis, no configuration."""
    from scriptorium.supervisor import up as run_up

    settings = _settings()  # fail early on a bad environment
    sys.exit(run_up(host=host, port=port, with_worker=not no_worker, settings=settings, workers=workers))


@main.command()
@click.option("--bind", default=None, help="Address to listen on  [default: BIND or 0.0.0.0:8000]")
@click.option("--workers", default=None, type=int, help="gunicorn processes  [default: WEB_WORKERS or 2]")
def web(bind: str | None, workers: int | None) -> None:
    """The web role (gunicorn serving wsgi:app): the one command line every deployment uses."""
    from scriptorium.web import gunicorn_argv

    settings = _settings()
    argv = gunicorn_argv(bind or settings.web_bind, workers or settings.web_workers)
    os.execvp(argv[0], argv)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """The worker role: loads its model once and runs transcription jobs."""
    from worker import runner

    runner.run(_app(), burst=burst)


@main.command()
def ingest() -> None:
    """The ingest role: watches WATCH_DIR (and bucket events) and submits new files."""
    try:
        from ingest import watcher
    except ImportError:
        raise click.ClickException("this build has no ingester yet") from None
    watcher.main(_app())


@main.group()
def db() -> None:
    """Database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    from webapp import migrate

    migrate.upgrade(_settings().database_url)
    click.echo("database is up to date")


@main.group()
def users() -> None:
    """User accounts."""


@users.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see and manage every transcript.")
@click.option("--password", default=None, help="Password for the web pages (default: none; token only).")
def users_create(name: str, admin: bool, password: str | None) -> None:
    """Create a user and print its API token."""
    from sqlalchemy.exc import IntegrityError

    from webapp.services.accounts import create_user

    with _app().app_context():
        try:
            _, token = create_user(name, admin=admin, password=password)
        except IntegrityError:
            raise click.ClickException(f"a user named {name!r} already exists") from None
    click.echo(token)


from scriptorium.client import submit  # noqa: E402  (the commands live in their own modules)
from scriptorium.transcribe import transcribe  # noqa: E402

main.add_command(transcribe)
main.add_command(submit)


main.add_command(__import__("scriptorium.models_cmd").models_cmd.models)  # scriptorium models ...


if __name__ == "__main__":
    main()
