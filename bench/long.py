"""Long recordings through real worker processes (issue 11): one job vs. parts on 1 and 2 workers.

    nice .venv/bin/python bench/long.py --minutes 8 --chunk 2                   # the figures in docs/benchmarks.md
    nice .venv/bin/python bench/long.py --minutes 120 --workers 1,2 --out long-2h.jsonl
    nice .venv/bin/python bench/long.py --minutes 600 --workers 2 --no-single --out long-10h.jsonl
    nice .venv/bin/python bench/long.py --minutes 120 --chunk 15 --workers 2 --no-single --kill-after 150  # kill -9
    nice .venv/bin/python bench/long.py --minutes 120 --chunk 15 --workers 2 --no-single --kill-after 150 --kill-into 60
    nice .venv/bin/python bench/long.py --threshold                             # the voiceprint distance on real speech

The recording: pyannote's real two-speaker sample.wav (30 s) repeated, with a short espeak-ng sentence between
copies (a different one each time, so repeats are not identical), 16 kHz WAV written as it is built. A throwaway
embedded PostgreSQL and Redis and local media storage; `scriptorium worker` processes (what `scriptorium up
--workers N` starts). Runs: (a) the single-job path (CHUNK_MINUTES above the length, 1 worker, WORKER_THREADS=2
or --single-threads, no speakers) as the reference, unless --no-single; (b) parts with speakers on each N of
--workers (WORKER_THREADS
= cores / N each). Each reports wall time (submit -> done), every worker's peak RSS (VmHWM), the parts, and
against (a): WER, and words lost or duplicated within 3 s of a seam, speakers found. With --out every run and the
comparison are appended there as JSON lines as soon as they are measured.

--kill-after S repeats each parts run with a failure: S seconds after submitting, the first worker is killed with
SIGKILL while it runs a part (with --kill-into T, once it has run that part T seconds), and a new worker process is started 1 s later (what `scriptorium up` does for a
worker that dies after its first minute). It reports how long the killed part had been running, when the part was
taken again, the extra wall time against the run without the kill, and the killed run's words against that run's
(WER, lost or duplicated words at the seams).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import wave
from contextlib import ExitStack
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from services import throwaway  # noqa: E402  (bench/services.py)

LINES = ["The next speaker is from the harbour committee.", "We will now hear about the railway budget.",
         "Thank you, please keep your remarks brief.", "The chair calls the next item on the agenda.",
         "Let us move on to questions from the floor.", "The minutes will record that objection."]


def sample_wav() -> Path:
    import pyannote.audio

    return Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"


def build(minutes: float, out: Path) -> Path:
    """Written piece by piece: a 10-hour recording is 1.2 GB of WAV, never held in memory."""
    from worker.audio import SAMPLE_RATE, load_audio

    real = (load_audio(sample_wav()) * 32767).astype("<i2").tobytes()
    total, i = 0, 0
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(SAMPLE_RATE)
        while total < minutes * 60 * SAMPLE_RATE:
            tts = out.parent / f"line-{i % len(LINES)}.wav"
            if not tts.exists():
                subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(tts), LINES[i % len(LINES)]], check=True)
            line = (load_audio(tts) * 32767).astype("<i2").tobytes()
            for x in (real, bytes(SAMPLE_RATE), line, bytes(2 * SAMPLE_RATE)):  # 0.5 s and 1 s of silence
                w.writeframes(x)
                total += len(x) // 2
            i += 1
    return out


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def levenshtein(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)]


def wer(ref: list[str], hyp: list[str]) -> float:
    """Word error rate: word-level Levenshtein distance over the reference length."""
    return levenshtein(ref, hyp) / max(1, len(ref))


def timed_wer(ref: list[tuple[str, float]], hyp: list[tuple[str, float]], window: float = 60.0) -> tuple[float, int]:
    """WER of two timed word lists on one clock, summed over windows of about ``window`` seconds cut where neither
    has a word within 0.5 s (an hour is ~10,000 words: one Levenshtein table over ten hours would not fit).
    Exact unless a word moved across a cut. Returns (WER, edits)."""
    times = sorted(t for _, t in ref + hyp)
    cuts, last = [], 0.0
    for a, b in zip(times, times[1:]):
        if b - a > 1.0 and (a + b) / 2 - last >= window:
            last = (a + b) / 2
            cuts.append(last)
    from bisect import bisect_left

    rt, ht = [t for _, t in ref], [t for _, t in hyp]
    edits, bounds = 0, [-1e9, *cuts, 1e12]
    for lo, hi in zip(bounds, bounds[1:]):
        r = ref[bisect_left(rt, lo):bisect_left(rt, hi)]
        h = hyp[bisect_left(ht, lo):bisect_left(ht, hi)]
        edits += levenshtein([w for w, _ in r], [w for w, _ in h])
    return edits / max(1, len(ref)), edits


def seam_errors(ref: list[tuple[str, float]], hyp: list[tuple[str, float]], seams: list[float]) -> tuple[int, int]:
    """(lost, duplicated) words within 3 s of a seam: counts of each word there, reference vs merged."""
    lost = dup = 0
    for s in seams:
        a = sorted(w for w, t in ref if abs(t - s) <= 3)
        b = sorted(w for w, t in hyp if abs(t - s) <= 3)
        for word in set(a) | set(b):
            d = b.count(word) - a.count(word)
            lost += max(0, -d)
            dup += max(0, d)
    return lost, dup


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak RSS; None once it has exited (a zombie has no memory figures)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def threshold() -> None:
    """Cosine distances between voiceprints of pyannote's two real speakers, per half of sample.wav."""
    from worker import voiceprints
    from worker.audio import load_audio
    from worker.result import Segment, TranscriptResult

    wav = load_audio(sample_wav())
    turns = []
    for line in (sample_wav().with_suffix(".rttm")).read_text().splitlines():
        f = line.split()
        turns.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    prints = {}
    for half, (lo, hi) in enumerate([(0, 15), (15, 30)]):
        segs = [Segment(max(a, lo), min(b, hi), "", spk) for a, b, spk in turns if min(b, hi) - max(a, lo) > 0.5]
        res = TranscriptResult("en", 30.0, segs, "x", speakers=sorted({s.speaker for s in segs}))
        for spk, v in voiceprints.speaker_embeddings(wav, res).items():
            prints[(spk, half)] = np.array(v)
    keys = sorted(prints)
    for i, a in enumerate(keys):
        for b in keys[i + 1:]:
            kind = "same speaker" if a[0] == b[0] else "different"
            print(f"{a} vs {b}: cosine distance {1 - float(prints[a] @ prints[b]):.3f} ({kind})")


def run(app, env: dict, root: Path, path: Path, n_workers: int, threads: int, chunk: float, tag: str,
        diarize: bool, timeout: float, kill_after: float | None = None, kill_into: float = 0.0) -> dict:
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Transcript, TranscriptPart, Word
    from webapp.services.submit import submit_media

    proc_env = dict(os.environ, **env, CHUNK_MINUTES=str(chunk), WORKER_THREADS=str(threads), PYTHONUNBUFFERED="1",
                    HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYANNOTE_METRICS_ENABLED="false")
    def start(n: int) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "scriptorium.cli", "worker"], cwd=ROOT, env=proc_env,
                                stdout=open(root / f"{tag}-{n}.log", "w"), stderr=subprocess.STDOUT)

    procs = [start(n) for n in range(n_workers)]
    killed: dict = {}
    seen: dict[tuple[int, int], list[float | None]] = {}  # (part, attempt) -> [first seen running, seen done]
    host = socket.gethostname()
    with app.app_context():
        from webapp.models import User

        owner = db.session.scalar(select(User))
        with open(path, "rb") as fh:
            tid = submit_media(fh, f"{tag}.wav", "upload", {"diarize": diarize, "language": "en"},
                               owner=owner).transcript.id
        db.session.remove()
    t0 = time.monotonic()
    try:
        while True:
            with app.app_context():
                t = db.session.get(Transcript, tid)
                status = t.status
                now = time.monotonic() - t0
                running_on = {}
                for p in db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == tid)):
                    if p.status == "running":
                        seen.setdefault((p.idx, p.attempts), [now, None])
                        running_on[p.worker] = p
                    elif p.status == "done" and (p.idx, p.attempts) in seen and seen[(p.idx, p.attempts)][1] is None:
                        seen[(p.idx, p.attempts)][1] = now
                victim = running_on.get(f"{host}:{procs[0].pid}")
                if (kill_after is not None and not killed and now >= kill_after and victim is not None
                        and now - seen[(victim.idx, victim.attempts)][0] >= kill_into):
                    rss_then = peak_rss_mb(procs[0].pid)
                    os.kill(procs[0].pid, signal.SIGKILL)
                    procs[0].wait()
                    killed = dict(at=round(now, 1), part=victim.idx, attempt=victim.attempts,
                                  part_running_s=round(now - seen[(victim.idx, victim.attempts)][0], 1),
                                  rss_mb=None if rss_then is None else round(rss_then))
                    print(f"{tag}: killed worker {procs[0].pid} at {now:.0f} s, {killed['part_running_s']:.0f} s "
                          f"into part {victim.idx}", flush=True)
                    time.sleep(1.0)
                    procs[0] = start(n_workers)  # the supervisor's restart (its own log)
                db.session.remove()
            if status not in ("queued", "running"):
                break
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"{tag}: not done after {timeout:.0f} s")
            time.sleep(0.5)
        wall = time.monotonic() - t0
        rss = [peak_rss_mb(p.pid) if p.poll() is None else None for p in procs]
        exits = [p.poll() for p in procs]
        if any(code is not None for code in exits):  # a worker stopped before the end: keep its log to read
            for n in range(n_workers):
                keep = Path(os.environ.get("LONG_BENCH_LOGS", "/tmp")) / f"long-bench-{tag}-{n}.log"
                keep.write_bytes((root / f"{tag}-{n}.log").read_bytes())
            print(f"{tag}: worker exit codes before the end {exits}; logs kept in {keep.parent}", flush=True)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    with app.app_context():
        t = db.session.get(Transcript, tid)
        ws = [(w.word, w.start, w.speaker) for w in db.session.scalars(
            select(Word).where(Word.transcript_id == tid).order_by(Word.start, Word.id))]
        parts = db.session.scalars(select(TranscriptPart).where(TranscriptPart.transcript_id == tid)
                                   .order_by(TranscriptPart.idx)).all()
        out = dict(tag=tag, workers=n_workers, threads=threads, chunk_minutes=chunk, status=t.status, error=t.error,
                   wall=round(wall, 1), rss_mb=[None if r is None else round(r) for r in rss], words=ws,
                   worker_exits=exits, killed=killed or None,
                   part_times=sorted([i, a, round(b, 1), None if e is None else round(e, 1)]
                                     for (i, a), (b, e) in seen.items()),
                   seams=[p.start for p in parts[1:]], parts=len(parts),
                   attempts=[p.attempts for p in parts], speakers=len({s for *_, s in ws if s}), duration=t.duration)
        db.session.remove()
    print(f"{tag}: {out['status']} in {wall:.1f} s, {len(parts)} parts, workers' peak RSS "
          f"{', '.join('exited' if r is None else f'{r:.0f} MB' for r in rss)}, {len(ws)} words, {out['speakers']} speakers", flush=True)
    return out


def compare(ref: dict, r: dict) -> dict:
    """The merged transcript against the single job's: WER, and words lost or duplicated around the seams."""
    rw = [(w, t) for word, t, _ in ref["words"] for w in words(word)]
    hw = [(w, t) for word, t, _ in r["words"] for w in words(word)]
    rate, edits = timed_wer(rw, hw)
    lost, dup = seam_errors(rw, hw, r["seams"])
    return dict(tag=r["tag"], vs=ref["tag"], wer=round(100 * rate, 2), edits=edits, words=len(hw), ref_words=len(rw),
                seams=len(r["seams"]), seam_lost=lost, seam_duplicated=dup, speakers=r["speakers"],
                wall=r["wall"], ref_wall=ref["wall"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=20)
    ap.add_argument("--chunk", type=float, default=5, help="CHUNK_MINUTES for the parts runs")
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--threshold", action="store_true", help="only measure voiceprint distances on sample.wav")
    ap.add_argument("--workers", default="1,2", help="parts runs: how many workers each (comma-separated)")
    ap.add_argument("--no-single", action="store_true", help="skip the single-job reference (and so the WER)")
    ap.add_argument("--no-speakers", action="store_true", help="parts runs without speaker detection")
    ap.add_argument("--single-threads", type=int, default=None,
                    help="WORKER_THREADS of the single job (default min(2, cores)); the thread count alone changes "
                         "tiny.en's int8 words a little (1.07%% on 8 min, 1 vs 2 threads), so match the parts run "
                         "you compare with")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds per run (default: 15 min, or 3x the recording's length when longer)")
    ap.add_argument("--out", type=Path, help="append each run and comparison here as JSON lines")
    ap.add_argument("--kill-after", type=float, default=None,
                    help="also repeat each parts run with its first worker killed (SIGKILL) this many seconds in")
    ap.add_argument("--kill-into", type=float, default=0.0,
                    help="with --kill-after: wait until the first worker has run its part this many seconds")
    args = ap.parse_args()
    if args.threshold:
        return threshold()

    from webapp import create_app, migrate
    from webapp import settings as settings_mod

    cores = os.cpu_count() or 1
    timeout = args.timeout or max(900.0, 3 * args.minutes * 60)

    def emit(record: dict) -> None:
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(json.dumps(record) + "\n")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # `timeout` still stops the workers and databases
    with ExitStack() as stack:
        root, pg, redis = stack.enter_context(throwaway("scriptorium-long-", database="long"))
        migrate.upgrade(pg.url)
        env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "SECRET_KEY": "long-bench-secret-0123456789",
               "SCRIPTORIUM_DATA_DIR": str(root / "data"), "WHISPER_MODEL": args.model, "WHISPER_DEVICE": "cpu",
               "MAX_DURATION_MINUTES": str(max(700, int(args.minutes) + 10))}
        app = create_app(settings=settings_mod.load(env))
        with app.app_context():
            from webapp.services.accounts import create_user

            create_user("bench", admin=True)
        path = build(args.minutes, root / "long.wav")
        print(f"recording: {args.minutes:.0f} min ({path.stat().st_size / 1e6:.0f} MB WAV), model {args.model}, "
              f"CHUNK_MINUTES={args.chunk}, {cores} cores, load {os.getloadavg()[0]:.1f}", flush=True)
        emit(dict(recording_minutes=args.minutes, chunk_minutes=args.chunk, model=args.model, cores=cores,
                  load=os.getloadavg()[0], started=time.strftime("%Y-%m-%dT%H:%M:%S")))
        single_threads = args.single_threads or min(2, cores)
        plans = ([] if args.no_single else [("single", 1, single_threads, 100000.0, False)]) + [
            (f"parts{n}", n, max(1, cores // n), args.chunk, not args.no_speakers)
            for n in map(int, args.workers.split(","))]
        if args.kill_after is not None:  # each parts run again, with its first worker killed mid-part
            plans = [p for plan in plans for p in ([plan] if plan[0] == "single" else
                                                   [plan, (plan[0] + "-killed", *plan[1:])])]
        ref, plain = None, None
        for tag, n, threads, chunk, diarize in plans:
            kill = args.kill_after if tag.endswith("-killed") else None
            r = run(app, env, root, path, n, threads, chunk, tag, diarize, timeout, kill_after=kill,
                    kill_into=args.kill_into)
            emit({k: v for k, v in r.items() if k != "words"} | {"load": os.getloadavg()[0]})
            if tag == "single":
                ref = r
            elif kill is None:
                plain = r
            for base in ([ref] if ref is not None and tag != "single" else []) + ([plain] if kill else []):
                c = compare(base, r)
                emit(c)
                print(f"{tag} vs {base['tag']}: WER {c['wer']:.2f}% ({c['words']} vs {c['ref_words']} words); at "
                      f"{c['seams']} seams: {c['seam_lost']} lost, {c['seam_duplicated']} duplicated; speakers "
                      f"{c['speakers']}; wall {c['wall']:.1f} s vs {c['ref_wall']:.1f} s", flush=True)
            if kill and plain is not None and r["killed"]:
                k = r["killed"]
                again = [a for a in r["part_times"] if a[0] == k["part"] and a[1] > k["attempt"]]
                plain_part = [a for a in plain["part_times"] if a[0] == k["part"] and a[3] is not None]
                cost = dict(tag=tag, killed_part=k["part"], killed_after_s=k["part_running_s"],
                            retaken_after_s=round(again[0][2] - k["at"], 1) if again else None,
                            part_time_plain_s=round(plain_part[0][3] - plain_part[0][2], 1) if plain_part else None,
                            extra_wall_s=round(r["wall"] - plain["wall"], 1), attempts=r["attempts"])
                emit(cost)
                print(f"{tag}: part {cost['killed_part']} killed {cost['killed_after_s']} s in, taken again "
                      f"{cost['retaken_after_s']} s later; that part took {cost['part_time_plain_s']} s without the "
                      f"kill; the run took {cost['extra_wall_s']} s longer", flush=True)
            with app.app_context():  # the next run submits the same bytes with the same options: free the slot
                from sqlalchemy import delete

                from webapp.extensions import db
                from webapp.models import Transcript

                db.session.execute(delete(Transcript))
                db.session.commit()
                db.session.remove()

if __name__ == "__main__":
    main()
