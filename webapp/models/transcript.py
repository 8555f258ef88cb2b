"""A transcript is both the job (status, stage, progress) and its result (segments, words, speakers)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON, Boolean, Computed, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
)
from sqlalchemy import text as sql_text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REAL, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.extensions import db
from webapp.models.media import Media
from webapp.models.user import User, utcnow

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
STAGES = ("fetch", "decode", "transcribe", "align", "diarize", "store")
JSONType = JSON().with_variant(JSONB(), "postgresql")
RTL_LANGUAGES = frozenset({"ar", "dv", "fa", "he", "ps", "sd", "ug", "ur", "yi"})  # written right to left
LOW_CONFIDENCE = 0.5  # a detected language less sure than this is flagged in the reader, not silently trusted

# Search (issue 14): each segment is indexed with the text-search configuration of its own language (PostgreSQL's
# built-in snowball stemmers, 16 or newer); a language without one is indexed word for word ('simple').
TS_CONFIGS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "hy": "armenian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "nl": "dutch", "nn": "norwegian", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
# Scripts written without spaces between words: each character is indexed as a word of its own, so a query of a
# few characters finds them as a phrase (index-backed, and with no extension such as pg_trgm needed).
CJK_CLASS = "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"  # kana and CJK ideographs


def ts_config_sql(column: str = "language") -> str:
    """SQL: the regconfig for a language code column (immutable, so a generated column may use it)."""
    whens = " ".join(f"WHEN '{code}' THEN '{cfg}'::regconfig" for code, cfg in sorted(TS_CONFIGS.items()))
    return f"(CASE {column} {whens} ELSE 'simple'::regconfig END)"


def ts_text_sql(column: str = "text") -> str:
    """SQL: the text as indexed, every CJK character standing apart."""
    return f"regexp_replace({column}, '({CJK_CLASS})', ' \\1 ', 'g')"


TSV_SQL = f"to_tsvector({ts_config_sql('language')}, {ts_text_sql('text')})"


def ts_config_name_sql(column: str = "language") -> str:
    """SQL: the name of a language code column's configuration, as text ('german'; 'simple' for the rest)."""
    whens = " ".join(f"WHEN '{code}' THEN '{cfg}'" for code, cfg in sorted(TS_CONFIGS.items()))
    return f"(CASE {column} {whens} ELSE 'simple' END)"


def search_key_sql(table: str = "") -> str:
    """SQL: the segment's tsvector with every lexeme qualified by its configuration ('german:haus'), positions
    kept. The GIN index is on this expression, so a query's German reading is looked up among German segments
    only: the index itself answers "this segment's own language's reading matches", with no per-row check and
    no marker lexeme shared by every segment of a language (whose long posting list slows every lookup).
    A lexeme never contains a space, so " '" starts one in the text form."""
    prefix = f"{table}." if table else ""
    name = ts_config_name_sql(f"{prefix}language")
    return f"(regexp_replace({prefix}tsv::text, '(^| )''', '\\1''' || {name} || ':', 'g')::tsvector)"


def _title_as_name(context) -> str:
    """A row made without a filename (a test factory, a script) shows its title as the name."""
    return context.get_current_parameters()["title"]


class Transcript(db.Model):
    __tablename__ = "transcripts"
    __table_args__ = (UniqueConstraint("owner_id", "media_id", "options_key", name="uq_transcript_per_options"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(255))
    # this person's filename and how their upload arrived (media rows are shared by content)
    original_name: Mapped[str] = mapped_column(String(255), default=_title_as_name)
    source: Mapped[str] = mapped_column(String(16), default="upload", server_default="upload")
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    stage: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    duration: Mapped[float | None] = mapped_column(Float)
    word_timing: Mapped[str | None] = mapped_column(String(16))
    diarization: Mapped[str | None] = mapped_column(String(16))
    speaker_count: Mapped[int | None] = mapped_column(Integer)  # speakers found (estimated unless given)
    speaker_count_given: Mapped[bool | None] = mapped_column(Boolean)  # True: the user said how many
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    options_key: Mapped[str] = mapped_column(String(64))
    timings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    rq_job_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    owner: Mapped[User] = relationship()
    media: Mapped[Media] = relationship()
    segments: Mapped[list["Segment"]] = relationship(
        back_populates="transcript", order_by="Segment.idx", cascade="all, delete-orphan", passive_deletes=True
    )
    speakers: Mapped[list["Speaker"]] = relationship(
        back_populates="transcript", order_by="Speaker.label", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def language_uncertain(self) -> bool:
        """The language was detected, with low confidence (a given language is never uncertain)."""
        return self.language_probability is not None and self.language_probability < LOW_CONFIDENCE

    def speaker_names(self) -> dict[str, str]:
        return {s.label: s.display_name or s.label for s in self.speakers}


class Speaker(db.Model):
    __tablename__ = "speakers"
    __table_args__ = (UniqueConstraint("transcript_id", "label", name="uq_speaker_label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(120))
    # voice profiles: the speaker's GE2E embedding (biometric: never exported), and who it is or may be
    embedding: Mapped[list[float] | None] = mapped_column(ARRAY(REAL))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    match: Mapped[str | None] = mapped_column(String(16))  # "enrolled" | "recognised" | "suggested" | None
    similarity: Mapped[float | None] = mapped_column(Float)
    rejected: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))  # people rejected for this speaker

    transcript: Mapped[Transcript] = relationship(back_populates="speakers")


class Segment(db.Model):
    __tablename__ = "segments"
    __table_args__ = (
        Index("ix_segments_transcript_idx", "transcript_id", "idx"),
        Index("ix_segments_search", sql_text(search_key_sql()), postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    # the language this stretch was transcribed in, and how sure its detection was (None: given, or older rows)
    language: Mapped[str | None] = mapped_column(String(16))
    language_probability: Mapped[float | None] = mapped_column(Float)
    # Full-text search: PostgreSQL keeps this column in step with `text` and `language` by itself.
    tsv = mapped_column(TSVECTOR, Computed(TSV_SQL, persisted=True))

    transcript: Mapped[Transcript] = relationship(back_populates="segments")
    words: Mapped[list["Word"]] = relationship(
        back_populates="segment", order_by="Word.idx", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def rtl(self) -> bool:
        return self.language in RTL_LANGUAGES

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start, "end": self.end, "speaker": self.speaker, "text": self.text,
            "language": self.language, "language_probability": self.language_probability,
            "words": [w.as_dict() for w in self.words],
        }


class Word(db.Model):
    __tablename__ = "words"
    __table_args__ = (Index("ix_words_segment_idx", "segment_id", "idx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    transcript_id: Mapped[int] = mapped_column(ForeignKey("transcripts.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    word: Mapped[str] = mapped_column(String(255))
    score: Mapped[float | None] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(32))

    segment: Mapped[Segment] = relationship(back_populates="words")

    def as_dict(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "score": self.score, "speaker": self.speaker}


class SearchConfig(db.Model):
    """The text-search configurations the library's segments are indexed with: search reads a query in these
    only. Kept by triggers on segments (migration 0010_search_langs), so a segment written in a new language
    adds its configuration in the same transaction and the list is never stale; a language whose segments are
    all gone stays listed, which costs a search one more reading and changes no result."""
    __tablename__ = "search_configs"

    config: Mapped[str] = mapped_column(String(32), primary_key=True)
