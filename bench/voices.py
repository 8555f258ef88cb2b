"""Voice recognition on real voices: enrol people from one recording, recognise them in others; look-back speed.

    nice -n 5 env PYTHONPATH=. .venv/bin/python bench/voices.py          # the real set (below) + look-back timing
    nice -n 5 env PYTHONPATH=. .venv/bin/python bench/voices.py pairs    # also print every similarity pair
    nice -n 5 env PYTHONPATH=. .venv/bin/python bench/voices.py floors 16 12 10 8 6  # the diarizer's MIN_CLUSTER

Needs (Debian, root):

    apt-get install asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 \
        asterisk-core-sounds-ru-g722 asterisk-prompt-it-menardi-wav asterisk-prompt-es-co asterisk-prompt-fr-armelle

Real voices (nothing synthetic), each a different person:
- allison  Allison Smith, US English (asterisk-core-sounds-en-g722, CC-BY-SA-3.0, 16 kHz). The es-g722 package is
           Allison again (Mexican Spanish), so it is not another voice; it is used once, as "allison" speaking
           another language (a separate row).
- june     June Wallack, Canadian French (asterisk-core-sounds-fr-g722, CC-BY-SA-3.0, 16 kHz)
- carlo    Carlo, Italian, male (asterisk-core-sounds-it-g722, CC-BY-SA-3.0, 16 kHz)
- ivr-ru   the IVR Voice Russian voice, female (asterisk-core-sounds-ru-g722, CC-BY-SA-3.0, 16 kHz)
- paola    Paola Dal Zot, Italian (asterisk-prompt-it-menardi-wav, CC-BY-SA-3.0, 8 kHz telephone band)
- july     July E. Jimenez, Colombian Spanish (asterisk-prompt-es-co, GPL-2, 8 kHz GSM)
- armelle  Armelle Desjardins, French (asterisk-prompt-fr-armelle, BSD-style, 8 kHz GSM)
- speaker90 / speaker91: the two voices of pyannote.audio's real 30 s sample.wav (with its reference RTTM).

Each asterisk voice's prompts (1.5-8 s after trimming silence) are shuffled with a fixed seed and split in two
disjoint pools: enrolling clips and recognising clips. Recordings are assembled from whole prompts with 0.4 s
gaps, so the reference (who spoke when) is exact:
- enrolling recordings: a conversation of the voice with one other voice, the voice speaking >= 10 s ("long") or
  3-5.5 s ("short", the curve below 10 s; once with the count left to the diarizer, once told 2); pyannote's voices
  enrol from the first 15 s of sample.wav (6.3 s and 2.4 s).
- recognising recordings: conversations of three voices from the recognising clips (each voice in three of them,
  ~10 s per voice each), and the last 15 s of sample.wav.
Every recording goes through the real diarizer with the count left to it (worker.diarize.offline_diarization, as
the pipeline does) and each found speaker's print is worker.voiceprints.speaker_embeddings over its diarized turns
(the pipeline uses the words' speakers, which come from those turns; no speech recognition here). A person is
enrolled from the found speaker that holds most of their talk in the enrolling recording (what a user naming it
does), and only when that found speaker is mostly them. ``worker.recognise.recognise`` then names the found
speakers of each recognising recording. The threshold is calibrated on the whole set: the same-voice and
different-voice similarity distributions, and leave-one-voice-out (what the other voices would choose, and whether
the left-out voice then goes above it). Figures and the choice: docs/benchmarks.md, "Voice recognition".

Talk time is scored per reference speaker: time inside a found speaker named as that person = correct; named as
someone else = wrong ("wrong: recognition" when the found speaker's main voice is not the person named, "wrong:
diarization" when it is, and the time is another voice the diarizer merged into it); suggested; unnamed (also
speech the diarizer left out). "Never enrolled" re-runs recognition with each voice in turn removed from the people,
so every second of that voice named at all is wrong.
"""
from __future__ import annotations

import functools
import hashlib
import pickle
import random
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker import voiceprints  # noqa: E402
from worker.recognise import Thresholds, recognise  # noqa: E402

SR = 16000
SOUNDS = Path("/usr/share/asterisk/sounds")
VOICES = {  # name: (directory under SOUNDS, file extension)
    "allison": ("en_US_f_Allison", "g722"), "june": ("fr_CA_f_June", "g722"), "carlo": ("it_IT_m_Carlo", "g722"),
    "ivr-ru": ("ru_RU_f_IvrvoiceRU", "g722"), "paola": ("it_IT_f_Menardi", "wav"), "july": ("es", "gsm"),
    "armelle": ("fr", "gsm"),
}
ALLISON_ES = ("es_MX_f_Allison", "g722")
GAP_S = 0.4
SPLIT_S = 15.0  # pyannote's sample: enrol from before, recognise after
NOT_ENROLLED = "NOT enrolled (no found speaker is mostly this voice)"
GRID = (0.70, 0.75, 0.80, 0.82, 0.84, 0.85, 0.86, 0.88, 0.90)


def decode(path: Path) -> np.ndarray:
    from worker.audio import ffmpeg_exe

    raw = ["-f", "gsm"] if path.suffix == ".gsm" else []  # bare GSM frames: no header to probe
    out = subprocess.run([ffmpeg_exe(), "-v", "error", *raw, "-i", str(path), "-ac", "1", "-ar", str(SR), "-f",
                          "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(out, dtype="<i2").astype(np.float32) / 32768.0


def trim(x: np.ndarray, floor: float = 0.01) -> np.ndarray:
    frames = np.abs(x[: len(x) // 320 * 320]).reshape(-1, 320).max(axis=1)
    loud = np.flatnonzero(frames > floor)
    return x[loud[0] * 320:(loud[-1] + 1) * 320] if len(loud) else x[:0]


CACHE = Path("/tmp/scriptorium-bench-voices.pkl")  # decoded clips and diarized recordings, for `score` re-runs
_cache: dict = {}


def cached(key: str, make):
    if not _cache and CACHE.exists() and "fresh" not in sys.argv[1:]:
        _cache.update(pickle.loads(CACHE.read_bytes()))
    if key not in _cache:
        _cache[key] = make()
        CACHE.write_bytes(pickle.dumps(_cache))
    return _cache[key]


@functools.cache
def clips(voice: str, limit: int = 90) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return cached(f"clips:{voice}:{limit}", lambda: _clips(voice, limit))


def _clips(voice: str, limit: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(enrolling clips, recognising clips): disjoint, 1.5-8 s each, fixed shuffle."""
    d, ext = ALLISON_ES if voice == "allison-es" else VOICES[voice]
    files = sorted((SOUNDS / d).glob(f"*.{ext}"))
    random.Random(voice).shuffle(files)
    out = []
    for f in files:
        x = trim(decode(f))
        if 1.5 * SR <= len(x) <= 8 * SR:
            out.append(x)
        if len(out) >= limit:
            break
    return out[0::2], out[1::2]


@functools.cache
def sample() -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    import pyannote.audio

    d = Path(pyannote.audio.__file__).parent / "sample"
    ref = []
    for line in (d / "sample.rttm").read_text().splitlines():
        f = line.split()
        ref.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    return decode(d / "sample.wav"), ref


def sample_half(first: bool):
    wav, ref = sample()
    cut = int(SPLIT_S * SR)
    if first:
        return wav[:cut], [(a, min(b, SPLIT_S), w) for a, b, w in ref if a < SPLIT_S]
    return wav[cut:], [(max(a, SPLIT_S) - SPLIT_S, b - SPLIT_S, w) for a, b, w in ref if b > SPLIT_S]


def conversation(wants: dict[str, tuple[list[np.ndarray], float, int]], seed: int):
    """{voice: (clips, seconds wanted, first clip)} -> (wav, reference turns); voices take turns at random, never
    twice in a row while another still has talk to give."""
    rng = random.Random(seed)
    said = {v: 0.0 for v in wants}
    nxt = {v: first for v, (_, _, first) in wants.items()}
    wav, ref, t, last = [], [], 0.0, None
    while True:
        left = [v for v in wants if said[v] < wants[v][1]]
        if not left:
            break
        v = rng.choice([x for x in left if x != last] or left)
        pool = wants[v][0]
        x = pool[nxt[v] % len(pool)]
        nxt[v] += 1
        wav += [x, np.zeros(int(GAP_S * SR), np.float32)]
        ref.append((t, t + len(x) / SR, v))
        said[v] += len(x) / SR
        t += len(x) / SR + GAP_S
        last = v
    return np.concatenate(wav), ref


def overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def found_speakers(wav: np.ndarray, ref, num_speakers: int | None = None):
    """Diarize (the count left to the diarizer unless given); {label: print}, {label: {voice: seconds}},
    {voice: talk seconds}."""
    key = hashlib.sha1(wav.tobytes() + repr(ref).encode()).hexdigest() + (f":{num_speakers}" if num_speakers else "")
    return cached(f"found:{key}", lambda: _found_speakers(wav, ref, num_speakers))


def _found_speakers(wav: np.ndarray, ref, num_speakers: int | None):
    from worker.diarize import offline_diarization
    from worker.result import Options

    d = offline_diarization(wav, Options(num_speakers=num_speakers))
    result = SimpleNamespace(segments=[SimpleNamespace(words=[], speaker=f"SPEAKER_{k:02d}", start=s, end=e)
                                       for s, e, k in d.turns])
    prints = voiceprints.speaker_embeddings(wav, result)
    share: dict[str, dict[str, float]] = {}
    for s, e, k in d.turns:
        for a, b, v in ref:
            o = overlap(s, e, a, b)
            if o > 0:
                share.setdefault(f"SPEAKER_{k:02d}", {}).setdefault(v, 0.0)
                share[f"SPEAKER_{k:02d}"][v] += o
    talk: dict[str, float] = {}
    for a, b, v in ref:
        talk[v] = talk.get(v, 0.0) + b - a
    return prints, share, talk


def enrol(wav, ref, voice, num_speakers: int | None = None):
    """The print of the found speaker holding most of ``voice``'s talk, and the voice's talk seconds."""
    prints, share, talk = found_speakers(wav, ref, num_speakers)
    best = max((lab for lab in share if lab in prints), key=lambda lab: share[lab].get(voice, 0.0), default=None)
    if best is None or max(share[best], key=share[best].get) != voice:
        return None, talk[voice], len(prints)  # the diarizer merged the voice into another: nothing to name
    return prints[best], talk[voice], len(prints)


def score(recordings, people: dict[str, list], th: Thresholds) -> dict[str, float]:
    tot = dict(correct=0.0, wrong_rec=0.0, wrong_dia=0.0, suggested=0.0, unnamed=0.0)
    for prints, share, talk in recordings:
        got = recognise(prints, people, th)
        covered = {v: 0.0 for v in talk}
        for lab, voices in share.items():
            main = max(voices, key=voices.get)
            m = got.get(lab)
            for v, secs in voices.items():
                secs = min(secs, talk[v] - covered[v])
                covered[v] += secs
                if m is None:
                    tot["unnamed"] += secs
                elif m.match == "suggested":
                    tot["suggested"] += secs
                elif m.person_id == v:
                    tot["correct"] += secs
                elif m.person_id == main:
                    tot["wrong_dia"] += secs
                else:
                    tot["wrong_rec"] += secs
        for v in talk:
            tot["unnamed"] += talk[v] - covered[v]
    return tot


def row(label: str, tot: dict[str, float]) -> str:
    total = sum(tot.values()) or 1.0
    pct = lambda k: f"{100 * tot[k] / total:.0f}%"
    return (f"| {label} | {pct('correct')} | {pct('wrong_rec')} | {pct('wrong_dia')} | {pct('suggested')} "
            f"| {pct('unnamed')} | {total:.0f} s |")


def real_set(show_pairs: bool) -> None:
    voices = list(VOICES)
    print(f"voices: {', '.join(voices)}, speaker90, speaker91")
    people_long, people_short, people_told, enrol_secs = {}, {}, {}, {}
    for i, v in enumerate(voices):
        partner = voices[(i + 1) % len(voices)]
        short_clips = [c for c in clips(v)[0] if len(c) <= 3.5 * SR]
        for kind, pool, secs, people, told in (("long", clips(v)[0], 12.0, people_long, None),
                                               ("short", short_clips, 3.0, people_short, None),
                                               ("short, told 2", short_clips, 3.0, people_told, 2)):
            wav, ref = conversation({v: (pool, secs, 0), partner: (clips(partner)[0], 8.0, 20)}, seed=i)
            vec, said, found = enrol(wav, ref, v, told)
            if vec is not None:
                people[v] = [vec]
            enrol_secs[(v, kind)] = said
            print(f"enrol {v:8s} {kind:5s}: {said:4.1f} s of its speech in a {len(wav) / SR:4.1f} s recording with "
                  f"{partner}; diarizer found {found}; "
                  f"{'enrolled' if vec is not None else NOT_ENROLLED}", flush=True)
    wav, ref = sample_half(True)
    prints, share, talk = found_speakers(wav, ref)
    pyannote_told_people = {k: v for k, v in people_long.items()}
    for told, people_sets in ((None, (people_long, people_short, people_told)), (2, (pyannote_told_people,))):
        prints, share, talk = found_speakers(wav, ref, told)
        for spk in ("speaker90", "speaker91"):
            best = max((lab for lab in share if lab in prints), key=lambda lab: share[lab].get(spk, 0.0))
            ok = max(share[best], key=share[best].get) == spk
            for people in people_sets:
                if ok:
                    people[spk] = [prints[best]]
            print(f"enrol {spk}{', told 2' if told else ''}: {talk[spk]:.1f} s in sample.wav [0, {SPLIT_S}) s; "
                  f"diarizer found {len(prints)}; {'enrolled' if ok else NOT_ENROLLED}", flush=True)

    recs, names = [], []
    n = len(voices)
    for i in range(n):
        trio = [voices[i], voices[(i + 2) % n], voices[(i + 3) % n]]
        wav, ref = conversation({v: (clips(v)[1], 10.0, 8 * ((i - voices.index(v)) % n)) for v in trio},
                                seed=100 + i)
        recs.append(found_speakers(wav, ref))
        names.append("+".join(trio))
        print(f"recognise {names[-1]}: {len(wav) / SR:.1f} s, found {len(recs[-1][0])} speakers", flush=True)
    pyannote_rec = found_speakers(*sample_half(False))
    pyannote_told = found_speakers(*sample_half(False), 2)
    print(f"recognise sample.wav [{SPLIT_S}, 30) s: found {len(pyannote_rec[0])} speakers", flush=True)
    wav, ref = conversation({"allison-es": (clips("allison-es")[1], 10.0, 0), "carlo": (clips("carlo")[1], 10.0, 30),
                             "paola": (clips("paola")[1], 10.0, 30)}, seed=999)
    ref = [(a, b, "allison" if w == "allison-es" else w) for a, b, w in ref]
    es_rec = found_speakers(wav, ref)
    print(f"recognise allison(es)+carlo+paola: {len(wav) / SR:.1f} s, found {len(es_rec[0])} speakers", flush=True)

    # calibration: every (found speaker, person) similarity, same voice vs other voice (found speakers whose main
    # voice holds >= 80% of their talk; long enrolment; asterisk recordings and pyannote's)
    from worker.recognise import similarities

    same, other = [], []  # (similarity, person, main voice)
    for prints, share, _ in recs + [pyannote_rec, es_rec]:
        sims = similarities(prints, people_long)
        for lab, voices_in in share.items():
            main = max(voices_in, key=voices_in.get)
            if lab not in prints or voices_in[main] < 0.8 * sum(voices_in.values()):
                continue
            for person in people_long:
                s = sims[(lab, person)]
                (same if person == main else other).append((s, person, main))
    same.sort()
    other.sort(reverse=True)
    for title, (prints, share, _), known in (("sample.wav second half", pyannote_rec, people_long),
                                             ("allison(es)+carlo+paola", es_rec, people_long),
                                             ("sample.wav second half, told 2", pyannote_told, pyannote_told_people)):
        sims = similarities(prints, known)
        for lab, voices_in in sorted(share.items()):
            top = sorted(((sims.get((lab, p), -1), p) for p in known), reverse=True)[:2]
            print(f"  {title} {lab}: " + ", ".join(f"{v} {s:.1f} s" for v, s in voices_in.items())
                  + " | closest: " + ", ".join(f"{p} {s:.3f}" for s, p in top))
    print()
    print(f"same voice  : n={len(same)} min={same[0][0]:.3f} mean={np.mean([s for s, *_ in same]):.3f} "
          f"sd={np.std([s for s, *_ in same]):.3f} sd without the lowest={np.std([s for s, *_ in same[1:]]):.3f}  "
          f"lowest: {', '.join(f'{p} {s:.3f}' for s, p, _ in same[:4])}")
    print(f"other voice : n={len(other)} max={other[0][0]:.3f} mean={np.mean([s for s, *_ in other]):.3f}  "
          f"highest: {', '.join(f'{m} as {p} {s:.3f}' for s, p, m in other[:4])}")
    if show_pairs:
        for s, p, m in other[:20]:
            print(f"  other {m:9s} vs {p:9s} {s:.3f}")
    # leave one voice out: the threshold the other voices would choose (just above their highest other-voice
    # similarity), and whether the left-out voice would then be named wrongly or missed
    print()
    print("| left out | threshold from the others | its highest other-voice sim | its lowest same-voice sim |")
    print("| --- | --- | --- | --- |")
    for v in list(VOICES) + ["speaker90", "speaker91"]:
        rest = [s for s, p, m in other if v not in (p, m)]
        th = np.ceil((max(rest) + 1e-9) * 100) / 100
        mine = [s for s, p, m in other if v in (p, m)]
        mine_same = [s for s, p, m in same if p == v]
        flag = " (would name wrongly)" if mine and max(mine) >= th else ""
        print(f"| {v} | {th:.2f} | {max(mine) if mine else float('nan'):.3f}{flag} | "
              f"{min(mine_same) if mine_same else float('nan'):.3f} |")
    chosen = float(np.ceil((other[0][0] + 1e-9) * 100) / 100)
    print(f"\nwhole set: highest other-voice similarity {other[0][0]:.3f} -> recognise at {chosen:.2f}")

    print()
    head = ("| recognise at | suggest at | named correctly | wrong: recognition | wrong: diarization | suggested | "
            "unnamed | talk |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for title, people, rs in (
            ("asterisk voices, enrolled >= 10 s (long)", people_long, recs),
            ("asterisk voices, enrolled 3-5 s (short)", people_short, recs),
            ("asterisk voices, enrolled 3-5 s with the count told (2) in the enrolling recording", people_told, recs),
            ("pyannote sample, enrolled from its first 15 s (2-6 s each)", people_long, [pyannote_rec]),
            ("pyannote sample, both halves with the count told (2)", pyannote_told_people, [pyannote_told]),
            ("Allison in Spanish (enrolled in English, long) with carlo and paola", people_long, [es_rec])):
        print(f"{title}:\n{head}")
        for rec in sorted(set(GRID) | {chosen}):
            print(row(f"{rec:.2f} | {rec - 0.1:.2f}", score(rs, people, Thresholds(rec, rec - 0.1))))
        print()
    print(f"never enrolled (each voice removed from the people in turn; every second named is wrong):\n{head}")
    for rec in sorted(set(GRID) | {chosen}):
        tot = dict(correct=0.0, wrong_rec=0.0, wrong_dia=0.0, suggested=0.0, unnamed=0.0)
        for v in VOICES:
            people = {p: x for p, x in people_long.items() if p != v}
            for rec_ in recs:
                prints, share, talk = rec_
                if v not in talk:
                    continue
                got = recognise(prints, people, Thresholds(rec, rec - 0.1))
                for lab, voices_in in share.items():
                    secs = voices_in.get(v, 0.0)
                    m = got.get(lab)
                    key = ("unnamed" if m is None else "suggested" if m.match == "suggested"
                           else "wrong_rec" if max(voices_in, key=voices_in.get) == v else "wrong_dia")
                    tot[key] += secs
        print(row(f"{rec:.2f} | {rec - 0.1:.2f}", tot))
    print()
    for kind in ("long", "short", "short, told 2"):
        said = [enrol_secs[(v, kind)] for v in VOICES]
        print(f"enrolling talk ({kind}): {min(said):.1f}-{max(said):.1f} s")
    print("recognising recordings: " + "; ".join(names))


def recordings_of_the_set() -> list[tuple[str, np.ndarray, list]]:
    """Every recording of the set: the recognising ones, Allison in Spanish, the enrolling ones, pyannote's."""
    voices, out = list(VOICES), []
    n = len(voices)
    for i in range(n):
        trio = [voices[i], voices[(i + 2) % n], voices[(i + 3) % n]]
        out.append(("+".join(trio), *conversation({v: (clips(v)[1], 10.0, 8 * ((i - voices.index(v)) % n))
                                                   for v in trio}, seed=100 + i)))
    out.append(("allison(es)+carlo+paola", *conversation(
        {"allison-es": (clips("allison-es")[1], 10.0, 0), "carlo": (clips("carlo")[1], 10.0, 30),
         "paola": (clips("paola")[1], 10.0, 30)}, seed=999)))
    for i, v in enumerate(voices):
        partner = voices[(i + 1) % n]
        short = [c for c in clips(v)[0] if len(c) <= 3.5 * SR]
        for kind, pool, secs in (("long", clips(v)[0], 12.0), ("short", short, 3.0)):
            out.append((f"enrol {v} {kind}", *conversation({v: (pool, secs, 0), partner: (clips(partner)[0], 8.0, 20)},
                                                           seed=i)))
    out += [("sample.wav first half", *sample_half(True)), ("sample.wav second half", *sample_half(False)),
            ("sample.wav", *sample())]
    return out


def floors(values: list[int]) -> None:
    """The speaker count the diarizer finds on every recording of the set with its MIN_CLUSTER floor set to each of
    ``values`` (windows embedded once per recording)."""
    import worker.clustering as clustering
    from worker.diarize import embed, offline_diarization
    from worker.result import Options

    embedded = [(name, wav, ref, embed(wav)) for name, wav, ref in recordings_of_the_set()]
    saved = clustering.MIN_CLUSTER
    try:
        for floor in values:
            clustering.MIN_CLUSTER = floor
            wrong = []
            for name, wav, ref, windows in embedded:
                found = len({k for *_, k in offline_diarization(wav, Options(), windows=windows).turns})
                if found != len({v for *_, v in ref}):
                    wrong.append(f"{name} {found}/{len({v for *_, v in ref})}")
            print(f"MIN_CLUSTER={floor}: count right on {len(embedded) - len(wrong)} of {len(embedded)}; "
                  f"wrong (found/true): {'; '.join(wrong) or 'none'}", flush=True)
    finally:
        clustering.MIN_CLUSTER = saved


def look_back_timing() -> None:
    rng = np.random.default_rng(0)
    unit = lambda n: (lambda m: m / np.linalg.norm(m, axis=1, keepdims=True))(rng.random((n, 256)))
    people = {i: list(unit(2)) for i in range(20)}
    stored = [dict(zip(("A", "B", "C"), unit(3))) for _ in range(1000)]
    t0 = time.perf_counter()
    for spk in stored:
        recognise(spk, people, Thresholds())
    print(f"look-back matching over 1,000 transcripts x 3 speakers vs 20 people x 2 voiceprints: "
          f"{time.perf_counter() - t0:.3f} s (pure matching, no database)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["floors"]:
        floors([int(x) for x in sys.argv[2:]] or [16])
        sys.exit()
    t0 = time.perf_counter()
    real_set("pairs" in sys.argv[1:])
    print(f"\nreal set: {time.perf_counter() - t0:.0f} s")
    look_back_timing()
