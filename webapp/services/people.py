"""People (named voices) of an account: enrol a transcript speaker, apply recognition matches, look back.

A voiceprint is biometric data: people and voiceprints belong to the account that made them (an admin sees
everyone's), are deleted completely with the person, and never appear in exports. Recognition itself (the numpy
comparison) lives in worker/recognise.py; this module only reads and writes rows, so the web process stays light.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from sqlalchemy import delete, func, select, update

from webapp.errors import Invalid, NotFound
from webapp.extensions import db
from webapp.models import Person, Segment, Speaker, Transcript, User, Voiceprint


def _clean(name: Any) -> str:
    name = str(name or "").replace("\x00", "").strip()
    if not name:
        raise Invalid("a person needs a name")
    if len(name) > 120:
        raise Invalid("a name has at most 120 characters")
    return name


def list_for(user: User) -> list[Person]:
    q = select(Person).order_by(func.lower(Person.name), Person.id)
    if not user.is_admin:
        q = q.where(Person.owner_id == user.id)
    return list(db.session.scalars(q))


def get_for(user: User, person_id: int) -> Person:
    p = db.session.get(Person, person_id)
    if p is None or (p.owner_id != user.id and not user.is_admin):
        raise NotFound("no such person")
    return p


def create(user: User, name: Any) -> Person:
    p = Person(owner_id=user.id, name=_clean(name))
    db.session.add(p)
    db.session.commit()
    return p


def as_dict(p: Person) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "voiceprints": len(p.voiceprints),
            "created_at": p.created_at.isoformat() if p.created_at else None}


def speaker_dict(s: Speaker) -> dict[str, Any]:
    return {"label": s.label, "name": s.display_name or s.label, "person_id": s.person_id, "match": s.match,
            "similarity": s.similarity}


def _speaker(t: Transcript, label: str) -> Speaker:
    s = next((s for s in t.speakers if s.label == label), None)
    if s is None:
        raise NotFound(f"there is no speaker {label!r} in this transcript")
    return s


def enrol(user: User, t: Transcript, label: str, *, person_id: int | None = None, name: Any = None) -> Speaker:
    """Name speaker ``label`` of ``t`` as a person (an existing one of the transcript owner's, or a new one) and
    keep the speaker's embedding as that person's voiceprint. Another speaker of the same transcript named as that
    person loses the name (one person, one speaker per transcript, unless edited by hand)."""
    if t.owner_id != user.id and not user.is_admin:
        raise NotFound("only the transcript's owner can remember voices from it")
    s = _speaker(t, label)
    if person_id is not None:
        person = get_for(user, int(person_id))
        if person.owner_id != t.owner_id:
            raise NotFound("no such person")
    else:
        person = Person(owner_id=t.owner_id, name=_clean(name))
        db.session.add(person)
        db.session.flush()
    for other in t.speakers:
        if other is not s and other.person_id == person.id:
            other.person_id, other.match, other.similarity = None, None, None
    if s.embedding:
        db.session.add(Voiceprint(person_id=person.id, embedding=list(s.embedding), transcript_id=t.id,
                                  speaker_label=label, source_title=t.title[:255]))
    s.person_id, s.display_name, s.match, s.similarity = person.id, person.name, "enrolled", None
    db.session.commit()
    return s


def accept(t: Transcript, label: str) -> Speaker:
    s = _speaker(t, label)
    if s.match != "suggested" or s.person_id is None:
        raise Invalid("this speaker has no suggestion to accept")
    s.match = "recognised"
    db.session.commit()
    return s


def reject(t: Transcript, label: str) -> Speaker:
    """Refuse the suggestion; it is remembered, so that person is never proposed for this speaker again."""
    s = _speaker(t, label)
    if s.person_id is not None and s.match in ("suggested", "recognised"):
        s.rejected = sorted(set(s.rejected or []) | {s.person_id})
        if s.display_name and s.match == "recognised":
            s.display_name = None
        s.person_id, s.match, s.similarity = None, None, None
    db.session.commit()
    return s


def rename(user: User, person_id: int, name: Any) -> Person:
    p = get_for(user, person_id)
    p.name = _clean(name)
    db.session.execute(update(Speaker).where(Speaker.person_id == p.id, Speaker.match != "suggested")
                       .values(display_name=p.name))
    db.session.commit()
    return p


def merge(user: User, keep_id: int, other_id: int) -> Person:
    """Move ``other``'s voiceprints and speakers to ``keep`` and delete ``other``."""
    keep, other = get_for(user, keep_id), get_for(user, other_id)
    if keep.id == other.id or keep.owner_id != other.owner_id:
        raise Invalid("choose two different people of the same account")
    db.session.execute(update(Voiceprint).where(Voiceprint.person_id == other.id).values(person_id=keep.id))
    db.session.execute(update(Speaker).where(Speaker.person_id == other.id)
                       .values(person_id=keep.id, display_name=keep.name))
    db.session.delete(other)
    db.session.commit()
    return keep


def remove_voiceprint(user: User, voiceprint_id: int) -> None:
    vp = db.session.get(Voiceprint, voiceprint_id)
    if vp is None:
        raise NotFound("no such voiceprint")
    get_for(user, vp.person_id)
    db.session.delete(vp)
    db.session.commit()


def delete_person(user: User, person_id: int) -> None:
    """Delete the person and every voiceprint; transcripts keep the name as plain text, suggestions go."""
    p = get_for(user, person_id)
    db.session.execute(update(Speaker).where(Speaker.person_id == p.id, Speaker.match == "suggested")
                       .values(display_name=None))
    db.session.execute(update(Speaker).where(Speaker.person_id == p.id)
                       .values(person_id=None, match=None, similarity=None))
    db.session.execute(delete(Voiceprint).where(Voiceprint.person_id == p.id))
    db.session.delete(p)
    db.session.commit()


def appearances(p: Person) -> list[dict[str, Any]]:
    """The recordings the person speaks in (named, not merely suggested), with their talk time in seconds."""
    talk = func.coalesce(func.sum(Segment.end - Segment.start), 0.0)
    rows = db.session.execute(
        select(Transcript.id, Transcript.title, Speaker.match, talk)
        .join(Speaker, Speaker.transcript_id == Transcript.id)
        .outerjoin(Segment, (Segment.transcript_id == Transcript.id) & (Segment.speaker == Speaker.label))
        .where(Speaker.person_id == p.id, Speaker.match != "suggested")
        .group_by(Transcript.id, Transcript.title, Speaker.match).order_by(Transcript.id.desc())
    ).all()
    return [{"transcript_id": r[0], "title": r[1], "match": r[2], "talk_s": round(float(r[3]), 1)} for r in rows]


def voiceprints_of(owner_id: int) -> dict[int, list[list[float]]]:
    """{person id: [embedding, ...]} for one account: what recognition compares against."""
    out: dict[int, list[list[float]]] = {}
    rows = db.session.execute(select(Voiceprint.person_id, Voiceprint.embedding).join(Person)
                              .where(Person.owner_id == owner_id))
    for pid, emb in rows:
        out.setdefault(pid, []).append(list(emb))
    return out


def apply_matches(t: Transcript, matches: Mapping[str, Any]) -> int:
    """Write recognition ``matches`` ({label: Match(person_id, match, similarity)}) onto ``t``'s unnamed speakers;
    the caller commits. A speaker someone named by hand keeps its name. Returns how many speakers changed."""
    names = dict(db.session.execute(select(Person.id, Person.name).where(Person.owner_id == t.owner_id)).all())
    changed = 0
    for s in t.speakers:
        m = matches.get(s.label)
        if m is None or s.person_id is not None or s.display_name or m.person_id not in names:
            continue
        s.person_id, s.match, s.similarity = m.person_id, m.match, m.similarity
        if m.match == "recognised":
            s.display_name = names[m.person_id]
        changed += 1
    return changed


def match_transcript(t: Transcript, recognise: Callable, thresholds: Any,
                     prints: Mapping[int, list] | None = None) -> int:
    """Recognise ``t``'s speakers that have an embedding and no person yet; the caller commits."""
    prints = voiceprints_of(t.owner_id) if prints is None else prints
    if not prints:
        return 0
    spk = {s.label: list(s.embedding) for s in t.speakers if s.embedding and s.person_id is None}
    if not spk:
        return 0
    taken = {s.person_id for s in t.speakers if s.person_id is not None}
    rejected = {s.label: s.rejected or [] for s in t.speakers}
    return apply_matches(t, recognise(spk, prints, thresholds, rejected=rejected, taken=taken))


def look_back(owner_id: int, recognise: Callable, thresholds: Any, *, person_id: int | None = None,
              progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Run recognition over the owner's finished transcripts' stored speaker embeddings (no speech recognition
    again). ``person_id``: compare with that person only. Commits every 100 transcripts."""
    prints = voiceprints_of(owner_id)
    if person_id is not None:
        prints = {k: v for k, v in prints.items() if k == person_id}
    ids = list(db.session.scalars(
        select(Transcript.id).where(Transcript.owner_id == owner_id, Transcript.status == "done",
                                    Transcript.id.in_(select(Speaker.transcript_id)
                                                      .where(Speaker.embedding.is_not(None))))
        .order_by(Transcript.id)))
    changed = 0
    if progress:
        progress(0, len(ids))
    for i, tid in enumerate(ids, 1):
        t = db.session.get(Transcript, tid)
        changed += match_transcript(t, recognise, thresholds, prints)
        if i % 100 == 0 or i == len(ids):
            db.session.commit()
            if progress:
                progress(i, len(ids))
    db.session.commit()
    return {"transcripts": len(ids), "speakers_named": changed}


def enqueue_look_back(owner_id: int, person_id: int | None = None) -> str:
    from webapp.queue import get_queue

    job = get_queue().enqueue("worker.recognise.look_back", owner_id, person_id, job_timeout=3600,
                              meta={"owner_id": owner_id, "done": 0, "total": None})
    return job.id


def look_back_progress(user: User, job_id: str) -> dict[str, Any]:
    """{"status", "done", "total", "result"} of a look-back job the user started (404 for anyone else's)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from webapp.queue import connection

    try:
        job = Job.fetch(str(job_id)[:64], connection=connection())
    except (NoSuchJobError, ValueError):  # ValueError: not even the shape of an RQ job id
        raise NotFound("no such look-back job") from None
    if job.func_name != "worker.recognise.look_back" or (
            job.meta.get("owner_id") != user.id and not user.is_admin):
        raise NotFound("no such look-back job")
    status = job.get_status()
    return {"status": getattr(status, "value", str(status)), "done": job.meta.get("done", 0),
            "total": job.meta.get("total"), "result": job.return_value() if status == "finished" else None}


def list_for_owner(owner_id: int) -> list[Person]:
    """The people a transcript's speakers may be named as: its owner's."""
    return list(db.session.scalars(select(Person).where(Person.owner_id == owner_id)
                                   .order_by(func.lower(Person.name), Person.id)))
