"""``scriptorium submit``: send files to a running Scriptorium and bring the transcripts back.

A client of the public JSON API only (``POST /api/v1/transcripts``, ``GET /api/v1/transcripts/<id>`` and
``.../export.<fmt>``), spoken over HTTP with ``requests``: it runs on a laptop with nothing else of Scriptorium
configured. The server keeps one transcript per (owner, content, options), so sending a file again answers with the
transcript that already exists, and an interrupted run picks up where it stopped.
"""
from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import click
import requests
from requests.adapters import HTTPAdapter
from urllib3.fields import format_multipart_header_param
from urllib3.util.retry import Retry

from scriptorium import batch
from scriptorium.progress import Reporter, seconds

FINISHED = ("done", "failed", "cancelled")
QUEUED_POLL_EVERY = 5  # a queued transcript is asked about every 5th round; running ones every round
CHUNK = 1 << 20
TOKEN_HINT = "create one on the server with `scriptorium users create NAME`, then pass --token or SCRIPTORIUM_TOKEN"


class Unreachable(click.ClickException):
    """The server cannot be reached at all: nothing else can succeed, so the run stops (exit 1)."""


class ApiError(Exception):
    """The server refused one request; the message is its own ``error`` text."""


class Upload:
    """A multipart/form-data body streamed from the file (never read whole into memory), with a known length
    so no chunked encoding is needed, calling ``on_sent(fraction)`` as it goes."""

    def __init__(self, path: Path, fields: dict[str, str], on_sent: Callable[[float], None]):
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; {format_multipart_header_param('name', k)}"
                 f"\r\n\r\n{v}\r\n" for k, v in fields.items()]
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"{format_multipart_header_param('filename', path.name)}\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n")
        self.head = "".join(parts).encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.path, self.size, self.on_sent = path, path.stat().st_size, on_sent

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sent = 0
        with self.path.open("rb") as f:
            while chunk := f.read(CHUNK):
                sent += len(chunk)
                self.on_sent(sent / self.size if self.size else 1.0)
                yield chunk
        yield self.tail


class Api:
    """The few calls the client makes, with errors turned into words."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.base = url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {token}", "User-Agent": "scriptorium-submit"})
        # A kept-alive connection the server has since closed fails the next request on it: questions (GETs)
        # are asked again on a fresh one; a refused server still fails fast (three quick tries).
        retry = Retry(total=3, connect=2, read=2, status=0, backoff_factor=0.2, allowed_methods={"GET"},
                      raise_on_status=False)
        self.http.mount("http://", HTTPAdapter(max_retries=retry))
        self.http.mount("https://", HTTPAdapter(max_retries=retry))

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            resp = self.http.request(method, self.base + path, timeout=timeout or self.timeout, **kwargs)
        except requests.ConnectionError:
            raise Unreachable(f"cannot reach {self.base}: is `scriptorium up` running? "
                              "(give the server's address with --url or SCRIPTORIUM_URL)") from None
        except requests.Timeout:
            raise Unreachable(f"{self.base} did not answer within {timeout or self.timeout:.0f} s") from None
        if resp.status_code == 401:
            raise click.ClickException(f"{self.base} refused the API token: {TOKEN_HINT}")
        if resp.status_code >= 400:
            raise ApiError(_error_text(resp))
        return resp

    def create(self, path: Path, fields: dict[str, str], on_sent: Callable[[float], None]) -> dict[str, Any]:
        body = Upload(path, fields, on_sent)
        try:
            # Uploads get longer: the server stores the bytes and probes them before it answers.
            # Its own connection, closed after: a server that refuses a body early closes the connection anyway.
            resp = self._call("POST", "/api/v1/transcripts", data=body, timeout=max(self.timeout, 300),
                              headers={"Content-Type": body.content_type, "Connection": "close"})
        except Unreachable:
            if not self.reachable():
                raise
            # A server that refuses a body (too large) may answer early and close while we are still sending.
            raise ApiError("the server closed the connection during the upload; the file may be larger than "
                           "its upload limit (MAX_UPLOAD_MB)") from None
        return _json(resp)

    def reachable(self) -> bool:
        try:
            self.http.get(self.base + "/healthz", timeout=self.timeout)
            return True
        except requests.RequestException:
            return False

    def transcript(self, transcript_id: int) -> dict[str, Any]:
        return _json(self._call("GET", f"/api/v1/transcripts/{transcript_id}"))

    def export(self, transcript_id: int, fmt: str) -> bytes:
        return self._call("GET", f"/api/v1/transcripts/{transcript_id}/export.{fmt}").content


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        return resp.json()
    except ValueError:
        raise ApiError(f"the server answered {resp.status_code} with something that is not JSON; is "
                       f"{resp.url} a Scriptorium server?") from None


def _error_text(resp: requests.Response) -> str:
    try:
        message = resp.json().get("error")
    except (ValueError, AttributeError):
        message = None
    if resp.status_code == 404 and not message:
        message = "not found (deleted on the server, or this is not a Scriptorium server)"
    return f"{message or resp.reason} (HTTP {resp.status_code})"


def form_fields(model, language, task, diarize, num_speakers, min_speakers, max_speakers, initial_prompt, hotwords,
                suppress_numerals) -> dict[str, str]:
    """The options as the upload form names them; unset ones are left out so the server's defaults apply (and
    the same file with the same options finds its transcript again)."""
    fields = {"model": model, "language": language, "task": task if task != "transcribe" else None,
              "diarize": "true" if diarize else None, "num_speakers": num_speakers,
              "min_speakers": min_speakers, "max_speakers": max_speakers, "initial_prompt": initial_prompt,
              "hotwords": hotwords, "suppress_numerals": "true" if suppress_numerals else None}
    return {k: str(v) for k, v in fields.items() if v is not None}


@dataclass
class Job:
    item: batch.Item
    missing: dict[str, Path]
    started: float = field(default_factory=time.perf_counter)
    id: int | None = None
    status: str = "queued"


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--url", envvar="SCRIPTORIUM_URL", default="http://127.0.0.1:8000", show_default=True,
              help="The server (default: SCRIPTORIUM_URL).")
@click.option("--token", envvar="SCRIPTORIUM_TOKEN", default=None,
              help="API token (default: SCRIPTORIUM_TOKEN); `scriptorium users create NAME` prints one.")
@batch.speech_options("Model name on the server (default: the server's).")
@click.option("--no-wait", is_flag=True, help="Only upload; print one transcript id per file and stop.")
@click.option("--poll-interval", type=click.FloatRange(0.1, 60), default=1.0, show_default=True,
              help="Seconds between progress questions to the server.")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=30.0, show_default=True,
              help="Seconds to wait for any one answer from the server.")
def submit(files, url, token, model, language, task, diarize, num_speakers, min_speakers, max_speakers,
           initial_prompt, hotwords, suppress_numerals, formats, output_dir, overwrite, recursive, progress_mode,
           quiet, no_wait, poll_interval, timeout) -> None:
    """Send FILES (files, directories, globs) to a running Scriptorium; write the transcripts beside them."""
    if not token:
        raise click.UsageError(f"an API token is needed: {TOKEN_HINT}")
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("give the server's address as http://HOST:PORT or https://...", param_hint="--url")
    diarize = batch.check_speakers(diarize, num_speakers, min_speakers, max_speakers)
    fields = form_fields(model, language, task, diarize, num_speakers, min_speakers, max_speakers, initial_prompt,
                         hotwords, suppress_numerals)
    items, clashes = batch.plan(files, formats, output_dir, recursive)
    api = Api(url, token, timeout)
    with Reporter(progress_mode, quiet) as reporter:
        if not items and not clashes:
            reporter.note(f"no media files in {', '.join(files)}")
        for source, reason in clashes:
            reporter.failed(str(source), reason)
        jobs = []
        for item in items:
            missing = item.missing(overwrite)
            if missing or no_wait:
                jobs.append(Job(item, missing))
            else:
                reporter.skipped(item.name, "its outputs exist (--overwrite to redo)",
                                 outputs=[str(p) for p in item.outputs.values()])
        try:
            jobs = [job for n, job in enumerate(jobs, 1) if _upload(api, reporter, job, fields, n, len(jobs))]
            if no_wait:
                for job in jobs:
                    click.echo(job.id)
            else:
                _wait(api, reporter, jobs, poll_interval)
        except KeyboardInterrupt:
            reporter.note("stopped; the server goes on with what it has. Run the same command again to collect "
                          "the results (the same files find their transcripts).")
            sys.exit(130)
        reporter.tally(len(items) + len(clashes))
    if reporter.failures:
        sys.exit(1)


def _upload(api: Api, reporter: Reporter, job: Job, fields: dict[str, str], n: int, total: int) -> bool:
    """Send one file; False (reported) when the server refuses it or has already failed it."""
    file = job.item.name
    job.started = time.perf_counter()
    reporter.begin(file, f"[{n}/{total}] {job.item.source.name}" if total > 1 else job.item.source.name)
    try:
        body = api.create(job.item.source, fields, lambda f: reporter.update(file, "upload", f * 100, f))
    except (ApiError, OSError) as exc:
        reporter.failed(file, str(exc))
        return False
    job.id, job.status = body["id"], body["status"]
    if job.status == "failed":  # refused at the door: not media, no audio, too long
        reporter.failed(file, body.get("error") or "failed on the server", id=job.id)
        return False
    reporter.restart(file)
    return True


def _wait(api: Api, reporter: Reporter, jobs: list[Job], interval: float) -> None:
    """Follow each transcript's progress on the server until it ends; write the outputs of those done."""
    pending = list(jobs)
    rounds = 0
    while pending:
        for job in list(pending):
            if job.status == "queued" and rounds % QUEUED_POLL_EVERY and rounds > 0:
                continue
            try:
                t = api.transcript(job.id)
            except ApiError as exc:
                reporter.failed(job.item.name, str(exc), id=job.id)
                pending.remove(job)
                continue
            job.status = t["status"]
            if job.status in FINISHED:
                pending.remove(job)
                _finish(api, reporter, job, t)
            else:
                stage = t.get("stage") or job.status
                parts = t.get("parts") or {}
                note = f"part {parts.get('done', 0)}/{parts['total']}" if parts.get("total") else ""
                reporter.update(job.item.name, stage, t.get("progress") or 0, None, audio=note, id=job.id)
        rounds += 1
        if pending:
            time.sleep(interval)


def _finish(api: Api, reporter: Reporter, job: Job, t: dict[str, Any]) -> None:
    file = job.item.name
    if job.status != "done":
        reason = t.get("error") or ("cancelled on the server" if job.status == "cancelled" else "failed on the server")
        reporter.failed(file, reason, id=job.id)
        return
    written = []
    try:
        for fmt, path in job.missing.items():
            batch.write_atomic(path, api.export(job.id, fmt))
            written.append(str(path))
    except ApiError as exc:
        reporter.failed(file, f"cannot download its {fmt}: {exc}", id=job.id)
        return
    except OSError as exc:
        reporter.failed(file, f"cannot write {path}: {exc.strerror or exc}", id=job.id)
        return
    speakers = len(t.get("speakers") or []) or None
    elapsed = time.perf_counter() - job.started
    summary = f"{file}: transcript {job.id}, {seconds(t.get('duration'))} of audio in {seconds(elapsed)}"
    summary += f", {speakers} speaker{'s' * (speakers != 1)}" if speakers else ""
    summary += f" -> {', '.join(written)}" if written else ""
    reporter.update(file, "done", 100, 1.0, id=job.id)
    reporter.done(file, summary, id=job.id, duration=t.get("duration"), elapsed=round(elapsed, 3),
                  speakers=speakers, language=t.get("language"), outputs=written)
