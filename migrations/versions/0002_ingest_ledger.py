"""ingest ledger: what the watched folder and bucket events have taken, so each file is taken once

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("transcript_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("delivered_to", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["transcript_id"], ["transcripts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "location", "size", "version", name="uq_ingest_ledger_file_version"),
    )
    op.create_index("ix_ingest_ledger_status", "ingest_ledger", ["status"], unique=False)
    op.create_index(op.f("ix_ingest_ledger_transcript_id"), "ingest_ledger", ["transcript_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ingest_ledger_transcript_id"), table_name="ingest_ledger")
    op.drop_index("ix_ingest_ledger_status", table_name="ingest_ledger")
    op.drop_table("ingest_ledger")
