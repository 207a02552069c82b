"""Insight and control (issue 13): article revisions and desk edits of knowledge sources, model
versions and training runs, site events for the deflection funnel and content gaps, notices.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("knowledge_files") as batch:
        batch.add_column(sa.Column("edited_by", sa.Text))  # NULL: as data/ has it
    op.create_table(
        "article_revisions",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),  # seed, save, revert, publish, unpublish
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("note", sa.Text),
        sa.UniqueConstraint("path", "number", name="uq_article_revisions_path_number"),
    )
    op.create_table(
        "model_versions",
        sa.Column("version", sa.Text, primary_key=True),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("trained_by", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # candidate, current, refused, retired
        sa.Column("metrics", sa.Text),
        sa.Column("reason", sa.Text),
        sa.Column("promoted_by", sa.Text),
        sa.Column("promoted_at", sa.Text),
    )
    op.create_index("idx_model_versions_status", "model_versions", ["status"])
    op.create_table(
        "training_runs",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("requested_at", sa.Text, nullable=False),
        sa.Column("started", sa.Text),
        sa.Column("finished", sa.Text),
        sa.Column("status", sa.Text, nullable=False),  # queued, running, done, failed
        sa.Column("stage", sa.Text),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("version", sa.Text),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "site_events",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("visitor", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),  # search, suggest, article, ticket
        sa.Column("query", sa.Text),
        sa.Column("results", sa.Integer),
        sa.Column("slug", sa.Text),
        sa.Column("ticket_id", RowId),
    )
    op.create_index("idx_site_events_at", "site_events", ["at"])
    op.create_index("idx_site_events_visitor", "site_events", ["visitor", "at"])
    op.create_table(
        "notices",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("starts", sa.Text, nullable=False),
        sa.Column("ends", sa.Text, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("withdrawn", sa.Text),
    )
    op.create_index("idx_notices_ends", "notices", ["ends"])


def downgrade() -> None:
    op.drop_index("idx_notices_ends", "notices")
    op.drop_table("notices")
    op.drop_index("idx_site_events_visitor", "site_events")
    op.drop_index("idx_site_events_at", "site_events")
    op.drop_table("site_events")
    op.drop_table("training_runs")
    op.drop_index("idx_model_versions_status", "model_versions")
    op.drop_table("model_versions")
    op.drop_table("article_revisions")
    with op.batch_alter_table("knowledge_files") as batch:
        batch.drop_column("edited_by")
