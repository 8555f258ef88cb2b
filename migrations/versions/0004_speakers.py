"""speakers: how the speakers were found -- the estimated count and whether the count was given

Revision ID: 0004_speakers
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_speakers"
down_revision = "0007_webhooks"  # chained at merge (written from 0002)
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transcripts", sa.Column("speaker_count", sa.Integer(), nullable=True))
    op.add_column("transcripts", sa.Column("speaker_count_given", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("transcripts", "speaker_count_given")
    op.drop_column("transcripts", "speaker_count")
