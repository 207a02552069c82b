"""Shared desk state: a portable ticket-word index instead of SQLite's FTS5, the knowledge base's
sources and shared settings in the desk, and the derived knowledge tables out of it.

Release 0.1 kept the search index and the desk in one SQLite file; the index now lives in a
node-local file (`knowledge.db`) rebuilt from `knowledge_files`, so its tables are dropped here.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Release 0.1's derived tables in the SQLite file, views and virtual tables included (children first).
_OLD_KNOWLEDGE = (
    "article_index_vocab", "article_index_fts", "article_index", "search_terms", "article_codes", "articles",
    "categories", "response_codes", "meta", "tickets_fts",
)  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("tickets_ai", "tickets_ad", "tickets_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for table in _OLD_KNOWLEDGE:
            op.execute(f"DROP TABLE IF EXISTS {table}")
    op.create_table(
        "ticket_terms",
        sa.Column("term", sa.Text, primary_key=True),
        sa.Column("ticket_id", RowId, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("tf", sa.Integer, nullable=False),
    )
    op.create_index("idx_ticket_terms_ticket", "ticket_terms", ["ticket_id"])
    terms = sa.table("ticket_terms", sa.column("term"), sa.column("ticket_id"), sa.column("tf"))
    rows = bind.execute(sa.text("SELECT id, terms FROM tickets WHERE terms IS NOT NULL AND terms != ''"))
    batch: list[dict] = []
    for ticket_id, words in rows.fetchall():
        batch += [{"term": t, "ticket_id": ticket_id, "tf": n} for t, n in Counter(words.split()).items()]
        if len(batch) >= 5000:
            op.bulk_insert(terms, batch)
            batch = []
    if batch:
        op.bulk_insert(terms, batch)
    op.create_table(
        "knowledge_files",
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
    )
    op.create_table("desk_meta", sa.Column("key", sa.Text, primary_key=True), sa.Column("value", sa.Text))


def downgrade() -> None:
    op.drop_table("desk_meta")
    op.drop_table("knowledge_files")
    op.drop_index("idx_ticket_terms_ticket", "ticket_terms")
    op.drop_table("ticket_terms")
