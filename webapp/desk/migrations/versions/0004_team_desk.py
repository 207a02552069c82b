"""The team desk (issue 12): ownership, priority and due times, duplicates, SLA policies and an
append-only audit log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("assignee", sa.Text))  # a username, or NULL: unassigned
        batch.add_column(sa.Column("team", sa.Text))
        batch.add_column(sa.Column("priority", sa.Text, nullable=False, server_default="normal"))
        batch.add_column(sa.Column("first_response_due", sa.Text))
        batch.add_column(sa.Column("resolution_due", sa.Text))
        batch.add_column(sa.Column("first_responded_at", sa.Text))
        batch.add_column(sa.Column("duplicate_of", RowId))
    for column in ("assignee", "priority", "merchant_no", "terminal_no", "phone", "updated", "duplicate_of"):
        op.create_index(f"idx_tickets_{column}", "tickets", [column])
    op.create_table(
        "sla_policies",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("category", sa.Text),  # None: every category without a policy of its own
        sa.Column("priority", sa.Text, nullable=False),
        sa.Column("first_response_minutes", sa.Integer, nullable=False),
        sa.Column("resolution_minutes", sa.Integer, nullable=False),
        sa.Column("updated", sa.Text, nullable=False),
        sa.Column("updated_by", sa.Text, nullable=False),
        sa.UniqueConstraint("category", "priority", name="uq_sla_policies_category_priority"),
    )
    op.create_table(
        "audit_log",  # append-only: the app inserts and reads, never updates or deletes
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),  # a username, "api:<token name>", "cli" or "anonymous"
        sa.Column("action", sa.Text, nullable=False),  # e.g. login.success, user.create, ticket.bulk
        sa.Column("target", sa.Text),  # what it acted on: "user:lina", "ticket:12", "token:crm"
        sa.Column("detail", sa.Text),  # JSON
        sa.Column("address", sa.Text),  # the client's address, when it came over HTTP
    )
    op.create_index("idx_audit_log_at", "audit_log", ["at"])
    op.create_index("idx_audit_log_actor", "audit_log", ["actor"])
    op.create_index("idx_audit_log_action", "audit_log", ["action"])


def downgrade() -> None:
    for index in ("idx_audit_log_action", "idx_audit_log_actor", "idx_audit_log_at"):
        op.drop_index(index, "audit_log")
    op.drop_table("audit_log")
    op.drop_table("sla_policies")
    for column in ("assignee", "priority", "merchant_no", "terminal_no", "phone", "updated", "duplicate_of"):
        op.drop_index(f"idx_tickets_{column}", "tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in (
            "duplicate_of", "first_responded_at", "resolution_due", "first_response_due", "priority", "team",
            "assignee",
        ):  # fmt: skip
            batch.drop_column(column)
