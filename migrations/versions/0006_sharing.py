"""sharing: per-owner tags, collections, shares with other accounts (viewer/editor), read-only share links

Revision ID: 0006_sharing
Revises: 0003_sessions
"""
import sqlalchemy as sa
from alembic import op

revision = "0006_sharing"
down_revision = "0005_languages"  # chained at merge (written from 0003_sessions)
branch_labels = None
depends_on = None

NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_index("uq_tags_owner_lower_name", "tags", ["owner_id", sa.text("lower(name)")], unique=True)
    op.create_table(
        "transcript_tags",
        sa.Column("tag_id", sa.Integer(), sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_index("ix_transcript_tags_transcript", "transcript_tags", ["transcript_id"])
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("owner_id", "name", name="uq_collections_owner_name"),
    )
    op.create_index("ix_collections_owner_id", "collections", ["owner_id"])
    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer(), sa.ForeignKey("collections.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=True, server_default=NOW),
    )
    op.create_index("ix_collection_items_transcript", "collection_items", ["transcript_id"])
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"), nullable=True),
        sa.Column("collection_id", sa.Integer(), sa.ForeignKey("collections.id", ondelete="CASCADE"), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("(transcript_id IS NULL) <> (collection_id IS NULL)", name="ck_shares_one_target"),
        sa.CheckConstraint("role IN ('viewer', 'editor')", name="ck_shares_role"),
        sa.UniqueConstraint("transcript_id", "user_id", name="uq_shares_transcript_user"),
        sa.UniqueConstraint("collection_id", "user_id", name="uq_shares_collection_user"),
    )
    op.create_index("ix_shares_user_transcript", "shares", ["user_id", "transcript_id"])
    op.create_index("ix_shares_user_collection", "shares", ["user_id", "collection_id"])
    op.create_table(
        "share_links",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("transcript_id", sa.Integer(), sa.ForeignKey("transcripts.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_share_links_transcript_id", "share_links", ["transcript_id"])


def downgrade() -> None:
    op.drop_table("share_links")
    op.drop_table("shares")
    op.drop_table("collection_items")
    op.drop_table("collections")
    op.drop_table("transcript_tags")
    op.drop_table("tags")
