"""voice profiles: people, their voiceprints, and each transcript speaker's embedding and match

Revision ID: 0009_people
Revises: 0003_sessions
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_people"
down_revision = "0004_speakers"  # chained at merge (written from 0003_sessions)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_people_owner_id", "people", ["owner_id"])
    op.create_table(
        "voiceprints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
        sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=False),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("speaker_label", sa.String(length=32), nullable=True),
        sa.Column("source_title", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_voiceprints_person_id", "voiceprints", ["person_id"])
    op.add_column("speakers", sa.Column("embedding", postgresql.ARRAY(sa.REAL()), nullable=True))
    op.add_column("speakers", sa.Column("person_id", sa.Integer(), nullable=True))
    op.create_foreign_key("fk_speakers_person_id", "speakers", "people", ["person_id"], ["id"], ondelete="SET NULL")
    op.create_index("ix_speakers_person_id", "speakers", ["person_id"])
    op.add_column("speakers", sa.Column("match", sa.String(length=16), nullable=True))
    op.add_column("speakers", sa.Column("similarity", sa.Float(), nullable=True))
    op.add_column("speakers", sa.Column("rejected", postgresql.ARRAY(sa.Integer()), nullable=True))


def downgrade() -> None:
    for col in ("rejected", "similarity", "match"):
        op.drop_column("speakers", col)
    op.drop_index("ix_speakers_person_id", table_name="speakers")
    op.drop_constraint("fk_speakers_person_id", "speakers", type_="foreignkey")
    op.drop_column("speakers", "person_id")
    op.drop_column("speakers", "embedding")
    op.drop_index("ix_voiceprints_person_id", table_name="voiceprints")
    op.drop_table("voiceprints")
    op.drop_index("ix_people_owner_id", table_name="people")
    op.drop_table("people")
