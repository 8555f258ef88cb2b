"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json and rendered at /api/docs.

Written by hand, kept true by tests: every /api/v1 route must be described here (and nothing else), and
schemathesis checks the real responses against these schemas.
"""
from __future__ import annotations

from typing import Any

from webapp.model_registry import HUB_MODELS

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_NUM = {"type": ["number", "null"]}
# Form text the API stores: anything but NUL, which PostgreSQL text cannot hold (400 if sent).
TEXT = {"type": "string", "pattern": "^[^\\x00]*$"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Word": {
        "type": "object", "required": ["word", "start", "end"],
        "properties": {"word": {"type": "string"}, "start": {"type": "number"}, "end": {"type": "number"},
                       "score": NULLABLE_NUM, "speaker": NULLABLE_STR},
    },
    "Segment": {
        "type": "object", "required": ["start", "end", "text", "words"],
        "properties": {"start": {"type": "number"}, "end": {"type": "number"}, "speaker": NULLABLE_STR,
                       "text": {"type": "string"},
                       "language": {**NULLABLE_STR, "description": "the language this segment was transcribed in"},
                       "language_probability": {**NULLABLE_NUM, "description": "how sure the detection of this "
                                                "segment's language was (0-1); null when the language was given"},
                       "words": {"type": "array", "items": {"$ref": "#/components/schemas/Word"}}},
    },
    "Export": {
        "type": "object", "required": ["title", "language", "duration", "speakers", "segments"],
        "description": "export.json: the transcript with every segment's language and timed words",
        "properties": {
            "title": NULLABLE_STR, "language": NULLABLE_STR, "duration": NULLABLE_NUM,
            "speakers": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "speaker label -> the name shown"},
            "segments": {"type": "array", "items": {"$ref": "#/components/schemas/Segment"}},
        },
    },
    "TranscriptSummary": {
        "type": "object", "required": ["id", "status", "progress", "title"],
        "properties": {
            "id": {"type": "integer"}, "title": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]},
            "stage": NULLABLE_STR, "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "error": NULLABLE_STR, "language": NULLABLE_STR, "duration": NULLABLE_NUM, "model": NULLABLE_STR,
            "source": {"type": "string", "enum": ["upload", "folder", "bucket"]}, "filename": {"type": "string"},
            "attempts": {"type": "integer"}, "created_at": NULLABLE_STR, "finished_at": NULLABLE_STR,
            "created": {"type": "boolean", "description": "false when the same file and options were already here"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "your own tags on it"},
            "shared_by": {"type": ["string", "null"], "description": "its owner, when someone shared it with you"},
        },
    },
    "TranscriptDetail": {
        "allOf": [{"$ref": "#/components/schemas/TranscriptSummary"}, {
            "type": "object", "required": ["segments", "speakers"],
            "properties": {
                "language_probability": NULLABLE_NUM, "word_timing": NULLABLE_STR, "diarization": NULLABLE_STR,
                "can_edit": {"type": "boolean", "description": "you may correct its text and speakers"},
                "language_uncertain": {"type": "boolean", "description": "detected with low confidence"},
                "options": {"type": "object"}, "timings": {"type": ["object", "null"]},
                "speakers": {"type": "array", "items": {"$ref": "#/components/schemas/TranscriptSpeaker"}},
                "segments": {"type": "array", "items": {"$ref": "#/components/schemas/Segment"}},
            },
        }],
    },
    "TranscriptList": {
        "type": "object", "required": ["items"],
        "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/TranscriptSummary"}},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}},
    },
}


def _err(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


ID = {"name": "id", "in": "path", "required": True,
      "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}}
UNAUTH = _err("missing or invalid API token")
NOT_FOUND = _err("no such transcript, or not yours")

PATHS: dict[str, Any] = {
    "/transcripts": {
        "get": {
            "summary": "List your transcripts and those shared with you, newest first (admins: everyone's)",
            "operationId": "listTranscripts",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": [
                    "queued", "running", "done", "failed", "cancelled"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                {"name": "tag", "in": "query", "schema": {"type": "string"},
                 "description": "only transcripts carrying this tag of yours (any case)"},
            ],
            "responses": {"200": _json("TranscriptList", "transcripts"), "401": UNAUTH},
        },
        "post": {
            "summary": "Upload a recording to transcribe",
            "operationId": "createTranscript",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "minLength": 1,
                             "description": "audio or video; probed, whatever its name says"},
                    "language": {"type": "string", "description": "a code such as en or de; auto to detect",
                                 "pattern": "^(auto|[a-z]{2,3}(-[A-Za-z]{2,4})?)?$"},
                    "model": {"type": "string", "enum": sorted(HUB_MODELS), "description":
                              "a model name (installed ones are listed on the Models page), or a folder that "
                              "the admin allowed in WHISPER_MODEL_PATHS; anything else is refused (400)"},
                    "task": {"type": "string", "enum": ["transcribe", "translate"]},
                    "diarize": {"type": "boolean"}, "num_speakers": {"type": "integer", "minimum": 1, "maximum": 20},
                    "title": TEXT,
                    "initial_prompt": {**TEXT, "maxLength": 500},
                    "hotwords": {**TEXT, "maxLength": 500},
                    "suppress_numerals": {"type": "boolean"},
                }}}}},
            "responses": {
                "201": _json("TranscriptSummary", "queued (or failed at once when the file is not media)"),
                "200": _json("TranscriptSummary", "the same file with the same options was already here"),
                "400": _err("bad file or options"), "401": UNAUTH, "413": _err("larger than MAX_UPLOAD_MB"),
            },
        },
    },
    "/transcripts/{id}": {
        "get": {"summary": "Status, progress and (when done) the transcript", "operationId": "getTranscript",
                "parameters": [ID],
                "responses": {"200": _json("TranscriptDetail", "the transcript"), "401": UNAUTH, "404": NOT_FOUND}},
        "delete": {"summary": "Cancel if running, then remove the transcript and its stored media",
                   "operationId": "deleteTranscript", "parameters": [ID],
                   "responses": {"204": {"description": "deleted"}, "401": UNAUTH, "403": _err("shared with you, but only its owner can do this"), "404": NOT_FOUND}},
    },
    "/transcripts/{id}/export.{format}": {
        "get": {
            "summary": "Download as text, subtitles or JSON", "operationId": "exportTranscript",
            "parameters": [ID, {"name": "format", "in": "path", "required": True,
                                "schema": {"type": "string", "enum": ["txt", "srt", "vtt", "json"]}},
                           {"name": "speakers", "in": "query", "schema": {"type": "boolean"},
                            "description": "name the speakers (default: when there is more than one)"},
                           {"name": "timestamps", "in": "query", "schema": {"type": "boolean"},
                            "description": "txt: start each paragraph with its time"}],
            "responses": {
                "200": {"description": "the file", "content": {
                    "text/plain": {"schema": {"type": "string"}}, "application/x-subrip": {"schema": {"type": "string"}},
                    "text/vtt": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"$ref": "#/components/schemas/Export"}}}},
                "401": UNAUTH, "404": NOT_FOUND, "409": _err("not done yet"),
            },
        },
    },
    "/transcripts/{id}/retry": {
        "post": {"summary": "Run a failed or cancelled transcript again", "operationId": "retryTranscript",
                 "parameters": [ID],
                 "responses": {"202": _json("TranscriptSummary", "queued again"), "401": UNAUTH, "403": _err("shared with you, but only its owner can do this"), "404": NOT_FOUND,
                               "409": _err("still queued or running")}},
    },
    "/transcripts/{id}/cancel": {
        "post": {"summary": "Stop a queued or running job", "operationId": "cancelTranscript", "parameters": [ID],
                 "responses": {"200": _json("TranscriptSummary", "the transcript after cancelling"),
                               "401": UNAUTH, "403": _err("shared with you, but only its owner can do this"), "404": NOT_FOUND}},
    },
}

# Paths other modules add (search) register themselves here, so the spec and the URL map stay one list.
EXTRA_PATHS: dict[str, Any] = {}
EXTRA_SCHEMAS: dict[str, Any] = {}

# Voice profiles (webapp/blueprints/people.py). Voiceprints themselves never leave the server.
EXTRA_SCHEMAS.update({
    "TranscriptSpeaker": {
        "type": "object", "required": ["label", "name", "person_id", "match", "similarity"],
        "properties": {
            "label": {"type": "string"}, "name": {"type": "string", "description": "the name shown (the label if none)"},
            "person_id": {"type": ["integer", "null"], "description": "the person this speaker is, or may be"},
            "match": {"type": ["string", "null"], "enum": ["enrolled", "recognised", "suggested", None],
                      "description": "enrolled: named from this recording; recognised: named by voice; "
                                     "suggested: resembles person_id, waiting for accept / reject"},
            "similarity": {"type": ["number", "null"], "description": "cosine similarity of the voices (0..1)"},
        },
    },
    "Person": {
        "type": "object", "required": ["id", "name", "voiceprints"],
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                       "voiceprints": {"type": "integer", "description": "how many voiceprints are kept"},
                       "created_at": {"type": "string", "format": "date-time"}},
    },
    "PersonList": {"type": "object", "required": ["items"],
                   "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Person"}}}},
})
_NAME_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 120, "pattern": "\\S"}}}}}}
EXTRA_PATHS.update({
    "/people": {
        "get": {"summary": "Your people (named voices); an admin sees everyone's", "operationId": "listPeople",
                "responses": {"200": _json("PersonList", "people"), "401": UNAUTH}},
        "post": {"summary": "Add a person (a voiceprint comes when you name a speaker as them)",
                 "operationId": "createPerson", "requestBody": _NAME_BODY,
                 "responses": {"201": _json("Person", "made"), "400": _err("no name"), "401": UNAUTH}},
    },
    "/people/{id}": {
        "get": {"summary": "A person and the recordings they speak in, with talk time", "operationId": "getPerson",
                "parameters": [ID], "responses": {"200": _json("Person", "the person"), "401": UNAUTH,
                                                  "404": _err("no such person, or not yours")}},
        "delete": {"summary": "Delete a person and all their voiceprints (transcripts keep the name as text)",
                   "operationId": "deletePerson", "parameters": [ID],
                   "responses": {"204": {"description": "deleted"}, "401": UNAUTH,
                                 "404": _err("no such person, or not yours")}},
    },
    "/people/look-back": {
        "post": {"summary": "Find your people in your earlier recordings (a background job, no re-transcription)",
                 "operationId": "lookBack",
                 "requestBody": {"content": {"application/json": {"schema": {
                     "type": "object", "properties": {"person_id": {"type": "integer"}}}}}},
                 "responses": {"202": {"description": "queued; the RQ job id",
                                       "content": {"application/json": {"schema": {
                                           "type": "object", "properties": {"job_id": {"type": "string"}}}}}},
                               "401": UNAUTH, "404": _err("no such person, or not yours")}},
    },
    "/people/look-back/{job_id}": {
        "get": {"summary": "Progress of a look-back job", "operationId": "lookBackProgress",
                "parameters": [{"name": "job_id", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}],
                "responses": {"200": {"description": "status (queued, started, finished, failed), done and total "
                                                     "transcripts, and when finished the result",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "401": UNAUTH, "404": _err("no such job, or not yours")}},
    },
    "/transcripts/{id}/speakers/{label}/person": {
        "post": {"summary": "Name a speaker as a person and keep their voice (enrol)", "operationId": "enrolSpeaker",
                 "parameters": [ID, {"name": "label", "in": "path", "required": True, "schema": {"type": "string"}}],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "properties": {"person_id": {"type": "integer"},
                                                      "name": {"type": "string", "minLength": 1, "maxLength": 120,
                                                               "pattern": "\\S"}},
                     "description": "an existing person (person_id) or a new one (name)"}}}},
                 "responses": {"200": _json("TranscriptSpeaker", "the speaker, now named"),
                               "400": _err("neither person_id nor name"), "401": UNAUTH,
                               "403": _err("shared with you read-only"), "404": NOT_FOUND}},
    },
})


def spec(server_url: str = "/api/v1") -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Scriptorium API", "version": "1",
                 "description": "Self-hosted transcription. Authenticate with `Authorization: Bearer <token>` "
                                "(`scriptorium users create NAME` prints one; the account page makes more)."},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": {**SCHEMAS, **EXTRA_SCHEMAS}},
        "paths": {**PATHS, **EXTRA_PATHS},
    }
