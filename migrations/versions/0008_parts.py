"""transcript parts: a long recording split into spans, each its own RQ job, merged at the end (issue 11)

Revision ID: 0008_parts
Revises: 0003_sessions
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_parts"
down_revision = "0009_people"  # chained at merge (written from 0003_sessions)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transcript_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcript_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("rq_job_id", sa.String(length=64), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("result", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("transcript_id", "idx", name="uq_transcript_part_idx"),
    )
    op.create_index(op.f("ix_transcript_parts_transcript_id"), "transcript_parts", ["transcript_id"])
    op.create_index(op.f("ix_transcript_parts_status"), "transcript_parts", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transcript_parts_status"), table_name="transcript_parts")
    op.drop_index(op.f("ix_transcript_parts_transcript_id"), table_name="transcript_parts")
    op.drop_table("transcript_parts")
