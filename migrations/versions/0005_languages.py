"""segments.language / language_probability; search indexes each segment in its own language's configuration

Revision ID: 0005_languages
Revises: 0003_sessions

Each segment carries the language it was transcribed in. The generated tsvector now uses the text-search
configuration of that language (PostgreSQL's snowball stemmers; 'simple' for others), and stands every CJK
character apart so a query of two characters finds Chinese or Japanese text. Existing segments take their
transcript's language. Needs PostgreSQL 16 or newer (catalan, basque, armenian, hindi, serbian, yiddish).
The expression is a copy of webapp.models.transcript.TSV_SQL as of this revision.
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_languages"
down_revision = "0003_sessions"
branch_labels = None
depends_on = None

TSV_SQL = "to_tsvector((CASE language WHEN 'ar' THEN 'arabic'::regconfig WHEN 'ca' THEN 'catalan'::regconfig WHEN 'da' THEN 'danish'::regconfig WHEN 'de' THEN 'german'::regconfig WHEN 'el' THEN 'greek'::regconfig WHEN 'en' THEN 'english'::regconfig WHEN 'es' THEN 'spanish'::regconfig WHEN 'eu' THEN 'basque'::regconfig WHEN 'fi' THEN 'finnish'::regconfig WHEN 'fr' THEN 'french'::regconfig WHEN 'ga' THEN 'irish'::regconfig WHEN 'hi' THEN 'hindi'::regconfig WHEN 'hu' THEN 'hungarian'::regconfig WHEN 'hy' THEN 'armenian'::regconfig WHEN 'id' THEN 'indonesian'::regconfig WHEN 'it' THEN 'italian'::regconfig WHEN 'lt' THEN 'lithuanian'::regconfig WHEN 'ne' THEN 'nepali'::regconfig WHEN 'nl' THEN 'dutch'::regconfig WHEN 'nn' THEN 'norwegian'::regconfig WHEN 'no' THEN 'norwegian'::regconfig WHEN 'pt' THEN 'portuguese'::regconfig WHEN 'ro' THEN 'romanian'::regconfig WHEN 'ru' THEN 'russian'::regconfig WHEN 'sr' THEN 'serbian'::regconfig WHEN 'sv' THEN 'swedish'::regconfig WHEN 'ta' THEN 'tamil'::regconfig WHEN 'tr' THEN 'turkish'::regconfig WHEN 'yi' THEN 'yiddish'::regconfig ELSE 'simple'::regconfig END), regexp_replace(text, '([\u3040-ヿ㐀-䶿一-鿿豈-\ufaffｦ-ﾟ])', ' \\1 ', 'g'))"


def upgrade() -> None:
    op.add_column("segments", sa.Column("language", sa.String(length=16), nullable=True))
    op.add_column("segments", sa.Column("language_probability", sa.Float(), nullable=True))
    op.execute("UPDATE segments s SET language = t.language FROM transcripts t "
               "WHERE t.id = s.transcript_id AND t.language IS NOT NULL")
    op.drop_index("ix_segments_tsv", table_name="segments", postgresql_using="gin")
    op.drop_column("segments", "tsv")
    op.execute(f"ALTER TABLE segments ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({TSV_SQL}) STORED")
    op.create_index("ix_segments_tsv", "segments", ["tsv"], unique=False, postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_segments_tsv", table_name="segments", postgresql_using="gin")
    op.drop_column("segments", "tsv")
    op.execute("ALTER TABLE segments ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED")
    op.create_index("ix_segments_tsv", "segments", ["tsv"], unique=False, postgresql_using="gin")
    op.drop_column("segments", "language_probability")
    op.drop_column("segments", "language")
