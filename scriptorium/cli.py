"""The ``scriptorium`` command: run the whole service or one role, manage users, transcribe files alone."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from webapp.settings import SettingsError


def _settings():
    from webapp import settings

    try:
        return settings.load()
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
def up(host: str, port: int, no_worker: bool) -> None:
    """Everything on one machine, embedded PostgreSQL and Redis, no configuration."""
    from scriptorium.supervisor import up as run_up

    _settings()  # fail early on a bad environment
    sys.exit(run_up(host=host, port=port, with_worker=not no_worker))


@main.command()
@click.option("--bind", default=os.environ.get("BIND", "0.0.0.0:8000"), show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def web(bind: str, workers: int) -> None:
    """The web role (gunicorn serving wsgi:app)."""
    _settings()
    os.execvp(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers),
                               "--threads", "4", "--no-control-socket", "--access-logfile", "-", "wsgi:app"])


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


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="Model name or path (default: WHISPER_MODEL or base).")
@click.option("--language", default=None, help="Language code; detected when omitted.")
@click.option("--task", type=click.Choice(["transcribe", "translate"]), default="transcribe")
@click.option("--diarize/--no-diarize", default=False, help="Label speakers.")
@click.option("--num-speakers", type=int, default=None)
@click.option("--initial-prompt", default=None, help="Text that sets style and vocabulary (names, jargon).")
@click.option("--hotwords", default=None, help="Words to favour, space-separated.")
@click.option("--suppress-numerals", is_flag=True, help="Write numbers as words.")
@click.option("--format", "fmt", type=click.Choice(["txt", "srt", "vtt", "json"]), default="txt")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def transcribe(files, model, language, task, diarize, num_speakers, initial_prompt, hotwords, suppress_numerals,
               fmt, output_dir) -> None:
    """Transcribe FILE(s) with the speech pipeline alone (no services). One model load for all files."""
    from webapp import exports
    from worker import pipeline
    from worker.errors import MediaError, ModelNotAvailable
    from worker.result import Options

    opts = Options(model=model, language=language, task=task, diarize=diarize, num_speakers=num_speakers,
                   initial_prompt=initial_prompt, hotwords=hotwords, suppress_numerals=suppress_numerals)
    to_stdout = len(files) == 1 and output_dir is None
    failed = 0
    for path in files:
        try:
            result = pipeline.transcribe(path, opts, default_model=os.environ.get("WHISPER_MODEL") or "base",
                                         device=os.environ.get("WHISPER_DEVICE") or "auto",
                                         compute_type=os.environ.get("WHISPER_COMPUTE_TYPE") or "int8")
        except (MediaError, ModelNotAvailable) as exc:
            click.echo(f"{path}: {exc}", err=True)
            failed += 1
            continue
        data = result.to_dict()
        body = exports.export(fmt, data["segments"], title=path.stem, language=result.language,
                              duration=result.duration)
        if to_stdout:
            click.echo(body, nl=not body.endswith("\n"))
        else:
            out_dir = output_dir or Path.cwd()
            out_dir.mkdir(parents=True, exist_ok=True)
            out = out_dir / f"{path.stem}.{fmt}"
            out.write_text(body, encoding="utf-8")
            click.echo(f"{path} -> {out}", err=True)
    if failed:
        sys.exit(1)


main.add_command(__import__("scriptorium.models_cmd").models_cmd.models)  # scriptorium models ...


if __name__ == "__main__":
    main()
