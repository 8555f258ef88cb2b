"""media safety: bytes kept only for probed audio/video; filename and source per transcript

- ``media.storage_key`` becomes nullable: an upload that is not audio or video keeps its media row (its content
  hash, so the same bytes get the same answer) and its failed transcript, but no stored bytes.
- ``media.mime`` now comes from probing the content. Rows from before carry a type guessed from the uploader's
  filename: a type that is not audio/* or video/* is dropped (NULL: never served), except for media a worker
  transcribed (it decoded, so it is media), which are served as ``application/octet-stream`` attachments.
- ``transcripts.original_name`` and ``transcripts.source``: the name and way each person's upload arrived, so a
  second person uploading the same bytes never sees the first person's filename. Backfilled from media.

Revision ID: 0003_media
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_media"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("media", "storage_key", existing_type=sa.String(length=255), nullable=True)
    op.add_column("transcripts", sa.Column("original_name", sa.String(length=255), nullable=True))
    op.add_column("transcripts", sa.Column("source", sa.String(length=16), nullable=True))
    op.execute("UPDATE transcripts t SET original_name = m.original_name, source = m.source "
               "FROM media m WHERE m.id = t.media_id")
    op.alter_column("transcripts", "original_name", existing_type=sa.String(length=255), nullable=False)
    op.alter_column("transcripts", "source", existing_type=sa.String(length=16), nullable=False,
                    server_default="upload")
    op.execute("""
        UPDATE media m SET mime = CASE
            WHEN EXISTS (SELECT 1 FROM transcripts t WHERE t.media_id = m.id AND t.status = 'done')
            THEN 'application/octet-stream' ELSE NULL END
        WHERE m.mime IS NULL OR NOT (m.mime LIKE 'audio/%' OR m.mime LIKE 'video/%')
    """)


def downgrade() -> None:
    op.drop_column("transcripts", "source")
    op.drop_column("transcripts", "original_name")
    op.execute("UPDATE media SET storage_key = 'media/' || substr(sha256, 1, 2) || '/' || sha256 "
               "WHERE storage_key IS NULL")
    op.alter_column("media", "storage_key", existing_type=sa.String(length=255), nullable=False)
