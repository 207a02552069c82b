"""The merchant loop (issue 11): status links, public replies both ways, ratings, photo attachments,
reply templates, and the outboxes of webhook events and emails.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("status_key", sa.Text))  # the private status link's key (≥ 128 bits)
        batch.add_column(sa.Column("email", sa.Text))
        batch.add_column(sa.Column("rating", sa.Integer))
        batch.add_column(sa.Column("rating_comment", sa.Text))
        batch.add_column(sa.Column("rated_at", sa.Text))
    # Tickets filed before status links existed get a key each (192 random bits, as new ones do).
    bind = op.get_bind()
    for (ticket_id,) in bind.execute(sa.text("SELECT id FROM tickets WHERE status_key IS NULL")).fetchall():
        bind.execute(
            sa.text("UPDATE tickets SET status_key = :key WHERE id = :id"),
            {"key": secrets.token_urlsafe(24), "id": ticket_id},
        )
    op.create_index("idx_tickets_status_key", "tickets", ["status_key"], unique=True)
    op.create_table(
        "ticket_replies",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", RowId, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("author_kind", sa.Text, nullable=False),  # "agent" or "merchant"
        sa.Column("author", sa.Text, nullable=False),  # the agent's username, or "merchant"
        sa.Column("display_name", sa.Text, nullable=False),  # what the merchant sees
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("article", sa.Text),  # an inserted article's slug
        sa.Column("asks_info", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("idx_ticket_replies_ticket", "ticket_replies", ["ticket_id"])
    op.create_table(
        "ticket_attachments",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", RowId, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("reply_id", RowId, sa.ForeignKey("ticket_replies.id")),  # None: filed with the ticket
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("uploaded_by", sa.Text, nullable=False),
        sa.Column("stored_name", sa.Text, nullable=False),  # random file name in the instance folder
        sa.Column("thumb_name", sa.Text, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),  # bytes as stored (re-encoded)
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
    )
    op.create_index("idx_ticket_attachments_ticket", "ticket_attachments", ["ticket_id"])
    op.create_table(
        "reply_templates",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("category", sa.Text),  # None: for every category
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("active", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
    )
    op.create_table(
        "webhook_events",  # the outbox: written in the transaction of the change it reports
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("ticket_id", RowId),
        sa.Column("payload", sa.Text, nullable=False),  # the JSON body, exactly as signed and sent
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Text, nullable=False, unique=True),
        sa.Column("event_id", RowId, sa.ForeignKey("webhook_events.id"), nullable=False),
        sa.Column("webhook_id", RowId, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),  # pending, delivered, failed (gave up)
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.Text, nullable=False),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered", sa.Text),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_index("idx_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt"])
    op.create_table(
        "email_outbox",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("to_address", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("ticket_id", RowId),
        sa.Column("status", sa.Text, nullable=False),  # pending, sent, failed (gave up)
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent", sa.Text),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_index("idx_email_outbox_due", "email_outbox", ["status", "next_attempt"])


def downgrade() -> None:
    for table in (
        "email_outbox", "webhook_deliveries", "webhook_events", "webhooks", "reply_templates",
        "ticket_attachments", "ticket_replies",
    ):  # fmt: skip
        op.drop_table(table)
    op.drop_index("idx_tickets_status_key", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in ("rated_at", "rating_comment", "rating", "email", "status_key"):
            batch.drop_column(column)
