"""Who is this voice? Compare a transcript's speaker embeddings with the owner's people (pure numpy), and the
look-back job that does the same over the owner's earlier transcripts without re-running speech recognition.

Thresholds are cosine similarities between unit-norm GE2E embeddings, calibrated with ``bench/voices.py`` (see
docs/benchmarks.md): at or above RECOGNISE the speaker takes the person's name ("recognised"); from SUGGEST up to
it the reader asks ("suggested", accept / reject). Each person names at most one speaker of a transcript: pairs are
assigned best first, so two speakers are never named as the same person without someone's say-so.

A match above RECOGNISE is only suggested when it has a rival: another speaker of the transcript whose own closest
person is the same one, or another person whose own closest speaker is the same one, also above RECOGNISE and less
than MARGIN below the match. One person is one voice, so when two want the same one and are about as close, the
bar has not told them apart, and the reader asks rather than guesses. MARGIN is two standard deviations of one
voice's similarity across recordings on the calibration set (0.025, bench/voices.py). Measured (docs/benchmarks.md):
Allison's Spanish voice came out 0.886 to Paola's print while Paola herself, in the same recording, was 0.852 (0.034
apart: asked); pyannote's speaker91 is 0.854 to speaker90's print beside speaker90's own 0.937 (0.083: named).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

log = logging.getLogger("scriptorium.worker")


@dataclass(frozen=True)
class Thresholds:
    recognise: float = 0.85  # above every other-voice pair measured (max 0.828)
    suggest: float = 0.75
    margin: float = 0.05  # a rival this close to a match makes it a question (2 sd of one voice's similarity)


@dataclass(frozen=True)
class Match:
    label: str
    person_id: int
    match: str  # "recognised" | "suggested"
    similarity: float


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1, norms)


def similarities(speaker_embeddings: Mapping[str, Sequence[float]],
                 people_voiceprints: Mapping[int, Iterable[Sequence[float]]]) -> dict[tuple[str, int], float]:
    """(label, person) -> the best cosine similarity between the speaker and any of the person's voiceprints."""
    labels = list(speaker_embeddings)
    owners, prints = [], []
    for person_id, rows in people_voiceprints.items():
        for p in rows:
            if p is not None and len(p):
                owners.append(person_id)
                prints.append(p)
    if not labels or not prints:
        return {}
    spk = _unit(np.asarray([speaker_embeddings[l] for l in labels], dtype=np.float64))
    sims = spk @ _unit(np.asarray(prints, dtype=np.float64)).T  # one product for every voiceprint
    out: dict[tuple[str, int], float] = {}
    for j, person_id in enumerate(owners):
        for i, label in enumerate(labels):
            key = (label, person_id)
            out[key] = max(out.get(key, -1.0), float(sims[i, j]))
    return out


def recognise(speaker_embeddings: Mapping[str, Sequence[float]],
              people_voiceprints: Mapping[int, Iterable[Sequence[float]]],
              thresholds: Thresholds = Thresholds(),
              rejected: Mapping[str, Iterable[int]] | None = None,
              taken: Iterable[int] = ()) -> dict[str, Match]:
    """{label: Match} for the speakers that resemble a person at least ``thresholds.suggest``.

    Greedy one-to-one: the most similar (speaker, person) pair first; a person already named in this transcript
    (``taken``) or rejected for a speaker (``rejected``) is never proposed for it again. A pair above
    ``thresholds.recognise`` is only suggested when it has a rival above it and within ``thresholds.margin`` of it:
    another speaker whose closest person is this person, or another person whose closest speaker is this speaker."""
    rejected = {k: set(v) for k, v in (rejected or {}).items()}
    used_people, out = set(taken), {}
    pairs = sorted(((sim, label, pid) for (label, pid), sim in similarities(speaker_embeddings,
                                                                             people_voiceprints).items()
                    if sim >= thresholds.suggest and pid not in rejected.get(label, ()) and pid not in used_people),
                   reverse=True)
    best_person: dict[str, tuple[int, float]] = {}  # above the bar: each speaker's closest person, and the reverse
    best_speaker: dict[int, tuple[str, float]] = {}
    for sim, label, pid in pairs:  # best first
        if sim >= thresholds.recognise:
            best_person.setdefault(label, (pid, sim))
            best_speaker.setdefault(pid, (label, sim))
    for sim, label, pid in pairs:
        if label in out or pid in used_people:
            continue
        close = sim - thresholds.margin
        rivals = (any(other != label and p == pid and s > close for other, (p, s) in best_person.items())
                  or any(p != pid and other == label and s > close for p, (other, s) in best_speaker.items()))
        kind = "recognised" if sim >= thresholds.recognise and not rivals else "suggested"
        out[label] = Match(label, pid, kind, round(sim, 4))
        used_people.add(pid)
    return out


def look_back(owner_id: int, person_id: int | None = None) -> dict:
    """RQ job: compare the stored speaker embeddings of the owner's transcripts with their people, and name
    (or suggest) the unnamed speakers. Progress goes to the job's meta (``done``/``total``)."""
    from rq import get_current_job

    from worker.tasks import get_app
    from webapp.extensions import db
    from webapp.services import people as people_svc

    job = get_current_job()
    with get_app().app_context():
        try:
            def progress(done: int, total: int) -> None:
                if job is not None:
                    job.meta.update({"done": done, "total": total})
                    job.save_meta()

            return people_svc.look_back(owner_id, recognise, Thresholds(), person_id=person_id, progress=progress)
        finally:
            db.session.remove()
