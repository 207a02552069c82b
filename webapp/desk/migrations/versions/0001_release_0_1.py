"""Release 0.1's desk tables, as its SQLite files hold them (the baseline a 0.1 file is stamped at).

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        *(
            sa.Column(name, sa.Text)
            for name in (
                "created", "updated", "source", "text", "terms", "name", "phone", "merchant_no", "terminal_no",
                "status", "prediction", "predicted_category", "model_version", "category", "category_by",
                "category_at",
            )
        ),
        sa.Column("needs_review", sa.Integer),
        sa.Column("answer_article", sa.Text),
        sa.Column("preview", sa.Text),
        sa.Column("masked_phone", sa.Text),
    )  # fmt: skip
    op.create_index("idx_tickets_created", "tickets", ["created"])
    op.create_index("idx_tickets_status", "tickets", ["status"])
    op.create_index("idx_tickets_category", "tickets", ["category"])
    op.create_index(
        "tickets_untriaged",
        "tickets",
        ["id"],
        sqlite_where=sa.text("prediction IS NULL"),
        postgresql_where=sa.text("prediction IS NULL"),
    )
    op.create_table(
        "ticket_requests",
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text),
        sa.Column("ticket_id", RowId),
        sa.Column("created", sa.Text),
    )
    op.create_index("idx_ticket_requests_created", "ticket_requests", ["created"])
    op.create_table(
        "ticket_events",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", RowId, sa.ForeignKey("tickets.id")),
        *(sa.Column(name, sa.Text) for name in ("at", "actor", "action", "old", "new")),
    )
    op.create_index("idx_ticket_events_ticket_id", "ticket_events", ["ticket_id"])
    op.create_table(
        "users",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("username", sa.Text),
        sa.Column("password_hash", sa.Text),
        sa.Column("role", sa.Text),
        sa.Column("active", sa.Integer),
        sa.Column("created", sa.Text),
    )
    op.create_index("idx_users_username", "users", ["username"], unique=True)
    op.create_table(
        "api_tokens",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        *(
            sa.Column(name, sa.Text)
            for name in ("name", "token_hash", "prefix", "created", "created_by", "last_used", "revoked")
        ),
    )
    op.create_index("idx_api_tokens_token_hash", "api_tokens", ["token_hash"], unique=True)
    op.create_table(
        "desk_sessions",
        sa.Column("session_hash", sa.Text, primary_key=True),
        sa.Column("user_id", RowId, sa.ForeignKey("users.id")),
        sa.Column("created", sa.Text),
    )
    op.create_index("idx_desk_sessions_user_id", "desk_sessions", ["user_id"])
    op.create_table(
        "login_failures",
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("address", sa.Text, primary_key=True),
        sa.Column("failures", sa.Integer),
        sa.Column("last_failed", sa.Text),
        sa.Column("last_success", sa.Text),
    )
    op.create_table(
        "article_votes",
        sa.Column("slug", sa.Text, primary_key=True),
        sa.Column("visitor", sa.Text, primary_key=True),
        sa.Column("helpful", sa.Integer),
        sa.Column("comment", sa.Text),
        sa.Column("created", sa.Text),
    )
    op.create_table("article_views", sa.Column("slug", sa.Text, primary_key=True), sa.Column("views", sa.Integer))


def downgrade() -> None:
    for table in (
        "article_views", "article_votes", "login_failures", "desk_sessions", "api_tokens", "users",
        "ticket_events", "ticket_requests", "tickets",
    ):  # fmt: skip
        op.drop_table(table)
