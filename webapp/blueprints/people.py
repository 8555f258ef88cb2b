"""Voice profiles: the /people page, the reader's "Remember this voice as..." and accept / reject, and the API
(GET/POST /api/v1/people, DELETE /api/v1/people/<id>, POST /api/v1/transcripts/<id>/speakers/<label>/person)."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, request, url_for

from webapp.blueprints import api, auth
from webapp.blueprints.auth import current_user, login_required
from webapp.errors import Invalid, NotFound
from webapp.extensions import htmx
from webapp.services import people, transcripts

bp = Blueprint("people", __name__)
api_bp = Blueprint("people_api", __name__, url_prefix="/api/v1")
api_bp.before_request(api._require_token)
auth.CSRF_EXEMPT.add(api_bp.name)  # bearer-token authenticated, like the rest of /api/v1


def _body() -> dict:
    return request.get_json(silent=True) or request.form.to_dict()


# --- API ---------------------------------------------------------------------------------------------------------
@api_bp.get("/people")
def api_list():
    return {"items": [people.as_dict(p) for p in people.list_for(g.user)]}


@api_bp.post("/people")
def api_create():
    return people.as_dict(people.create(g.user, _body().get("name"))), 201


@api_bp.get("/people/<int:id>")
def api_get(id: int):  # noqa: A002 (the spec names the path parameter "id")
    p = people.get_for(g.user, id)
    return {**people.as_dict(p), "appearances": people.appearances(p)}


@api_bp.delete("/people/<int:id>")
def api_delete(id: int):  # noqa: A002
    people.delete_person(g.user, id)
    return "", 204


@api_bp.post("/people/look-back")
def api_look_back():
    person_id = _body().get("person_id")
    if person_id is not None:
        people.get_for(g.user, int(person_id))
    return {"job_id": people.enqueue_look_back(g.user.id, int(person_id) if person_id is not None else None)}, 202


@api_bp.get("/people/look-back/<job_id>")
def api_look_back_progress(job_id: str):
    return people.look_back_progress(g.user, job_id)


@api_bp.post("/transcripts/<int:transcript_id>/speakers/<label>/person")
def api_enrol(transcript_id: int, label: str):
    t = transcripts.for_edit(g.user, transcript_id)
    body = _body()
    if body.get("person_id") is None and not body.get("name"):
        raise Invalid('send {"person_id": <id>} or {"name": "<new person>"}')
    s = people.enrol(g.user, t, label, person_id=body.get("person_id"), name=body.get("name"))
    return people.speaker_dict(s)


# --- the reader's Speakers panel ---------------------------------------------------------------------------------
@bp.app_template_global("people_of")
def people_of(owner_id: int):
    """The transcript owner's people, for the Speakers panel's "Remember this voice as..." menu."""
    return people.list_for_owner(owner_id)


def _panel(t):
    from webapp.blueprints.edits import _ctx

    return render_template("pages/_speakers.html", **_ctx(t))


@bp.post("/transcripts/<int:transcript_id>/speakers/<label>/remember")
@login_required
def remember(transcript_id: int, label: str):
    t = transcripts.for_edit(current_user(), transcript_id)
    choice = request.form.get("person_id") or ""
    people.enrol(current_user(), t, label, person_id=int(choice) if choice.isdigit() else None,
                 name=request.form.get("name"))
    if not htmx:
        return redirect(url_for("pages.transcript", transcript_id=t.id))
    resp = _panel(t)
    return resp, 200, {"HX-Trigger": "speakersChanged"}


def _verdict(transcript_id: int, label: str, decide):
    t = transcripts.for_edit(current_user(), transcript_id)
    decide(t, label)
    if not htmx:
        return redirect(url_for("pages.transcript", transcript_id=t.id))
    return _panel(t)


@bp.post("/transcripts/<int:transcript_id>/speakers/<label>/accept")
@login_required
def accept(transcript_id: int, label: str):
    """Take the suggested person's name."""
    return _verdict(transcript_id, label, people.accept)


@bp.post("/transcripts/<int:transcript_id>/speakers/<label>/reject")
@login_required
def reject(transcript_id: int, label: str):
    """Refuse the suggestion (or a recognition); remembered for this speaker."""
    return _verdict(transcript_id, label, people.reject)


# --- the People page ---------------------------------------------------------------------------------------------
@bp.get("/people")
@login_required
def index():
    rows = [(p, people.appearances(p)) for p in people.list_for(current_user())]
    job_id = request.args.get("look_back")
    progress = None
    if job_id:
        try:
            progress = people.look_back_progress(current_user(), job_id)
        except NotFound:
            job_id = None
    return render_template("people/index.html", rows=rows, look_back=job_id, progress=progress)


@bp.post("/people")
@login_required
def create():
    people.create(current_user(), request.form.get("name"))
    return redirect(url_for("people.index"))


@bp.post("/people/<int:person_id>/rename")
@login_required
def rename(person_id: int):
    people.rename(current_user(), person_id, request.form.get("name"))
    return redirect(url_for("people.index"))


@bp.post("/people/<int:person_id>/merge")
@login_required
def merge(person_id: int):
    """Merge the chosen other person into this one."""
    people.merge(current_user(), person_id, int(request.form.get("other_id") or 0))
    return redirect(url_for("people.index"))


@bp.post("/people/<int:person_id>/delete")
@login_required
def delete(person_id: int):
    people.delete_person(current_user(), person_id)
    return redirect(url_for("people.index"))


@bp.post("/people/<int:person_id>/look-back")
@login_required
def look_back(person_id: int):
    """Find this person in the owner's earlier recordings (an RQ job); the page shows its progress."""
    person = people.get_for(current_user(), person_id)
    return redirect(url_for("people.index", look_back=people.enqueue_look_back(person.owner_id, person_id)))


@bp.get("/people/look-back/<job_id>")
@login_required
def look_back_progress(job_id: str):
    """The look-back's progress line; htmx polls it until the job ends (then 286 stops the polling)."""
    progress = people.look_back_progress(current_user(), job_id)
    body = render_template("people/_look_back.html", job_id=job_id, p=progress)
    return body, 286 if progress["status"] in ("finished", "failed", "stopped", "canceled") else 200


@bp.post("/voiceprints/<int:voiceprint_id>/delete")
@login_required
def remove_voiceprint(voiceprint_id: int):
    people.remove_voiceprint(current_user(), voiceprint_id)
    return redirect(url_for("people.index"))
