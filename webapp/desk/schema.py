"""Every desk table, once, for both backends (SQLite and PostgreSQL).

Times are stored as ISO 8601 UTC text ("2026-12-01T08:30:00Z"), as release 0.1 stored them: they
sort and compare as text on both backends. The migrations in `migrations/versions` create these
tables; this module is what the code reads and writes through.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, Table, Text, UniqueConstraint, text

metadata = MetaData()

# A 64-bit key that stays SQLite's rowid alias (INTEGER PRIMARY KEY) there: ticket numbers may grow past 2**31.
RowId = BigInteger().with_variant(Integer(), "sqlite")

tickets = Table(
    "tickets",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("created", Text),
    Column("updated", Text),
    Column("source", Text),
    Column("text", Text),
    Column("terms", Text),  # the analysed terms, space-separated, as indexed in ticket_terms
    Column("name", Text),
    Column("phone", Text),
    Column("merchant_no", Text),
    Column("terminal_no", Text),
    Column("status", Text),
    Column("prediction", Text),  # the triage's JSON, or NULL until a model triaged the ticket
    Column("predicted_category", Text),
    Column("model_version", Text),
    Column("category", Text),
    Column("category_by", Text),
    Column("category_at", Text),
    Column("needs_review", Integer),
    Column("answer_article", Text),
    Column("preview", Text),
    Column("masked_phone", Text),
    Column("status_key", Text),  # the key of the merchant's private status link (≥ 128 bits)
    Column("email", Text),  # where status notices go, when the merchant gave an address
    Column("rating", Integer),  # the merchant's 1-5 for the answer, once solved
    Column("rating_comment", Text),
    Column("rated_at", Text),
    Column("assignee", Text),  # a username, or None: unassigned
    Column("team", Text),
    Column("priority", Text, nullable=False, server_default="normal"),  # low, normal, high, urgent
    Column("first_response_due", Text),
    Column("resolution_due", Text),
    Column("first_responded_at", Text),
    Column("duplicate_of", RowId),  # the surviving ticket this one duplicates
    Index("idx_tickets_created", "created"),
    Index("idx_tickets_status_key", "status_key", unique=True),
    *(Index(f"idx_tickets_{c}", c) for c in ("assignee", "priority", "merchant_no", "terminal_no", "phone")),
    *(Index(f"idx_tickets_{c}", c) for c in ("updated", "duplicate_of")),
    Index("idx_tickets_status", "status"),
    Index("idx_tickets_category", "category"),
    Index(
        "tickets_untriaged",
        "id",
        sqlite_where=text("prediction IS NULL"),
        postgresql_where=text("prediction IS NULL"),
    ),
)

# An inverted index of ticket words, the same on both backends (similar tickets, ticket search).
ticket_terms = Table(
    "ticket_terms",
    metadata,
    Column("term", Text, primary_key=True),
    Column("ticket_id", RowId, ForeignKey("tickets.id"), primary_key=True),
    Column("tf", Integer, nullable=False),
    Index("idx_ticket_terms_ticket", "ticket_id"),
)

ticket_requests = Table(
    "ticket_requests",
    metadata,
    Column("scope", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text),
    Column("ticket_id", RowId),
    Column("created", Text),
    Index("idx_ticket_requests_created", "created"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("ticket_id", RowId, ForeignKey("tickets.id")),
    Column("at", Text),
    Column("actor", Text),
    Column("action", Text),
    Column("old", Text),
    Column("new", Text),
    Index("idx_ticket_events_ticket_id", "ticket_id"),
)

users = Table(
    "users",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("username", Text),
    Column("password_hash", Text),
    Column("role", Text),
    Column("active", Integer),
    Column("created", Text),
    Index("idx_users_username", "username", unique=True),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("name", Text),
    Column("token_hash", Text),
    Column("prefix", Text),
    Column("created", Text),
    Column("created_by", Text),
    Column("last_used", Text),
    Column("revoked", Text),
    Index("idx_api_tokens_token_hash", "token_hash", unique=True),
)

desk_sessions = Table(
    "desk_sessions",
    metadata,
    Column("session_hash", Text, primary_key=True),
    Column("user_id", RowId, ForeignKey("users.id")),
    Column("created", Text),
    Index("idx_desk_sessions_user_id", "user_id"),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("username", Text, primary_key=True),
    Column("address", Text, primary_key=True),
    Column("failures", Integer),
    Column("last_failed", Text),
    Column("last_success", Text),
)

article_votes = Table(
    "article_votes",
    metadata,
    Column("slug", Text, primary_key=True),
    Column("visitor", Text, primary_key=True),
    Column("helpful", Integer),
    Column("comment", Text),
    Column("created", Text),
)

article_views = Table(
    "article_views",
    metadata,
    Column("slug", Text, primary_key=True),
    Column("views", Integer),
)

# The knowledge base's sources as `posdesk init` read them from data/ (path relative to data/):
# the one source of truth every node builds its local search index from.
knowledge_files = Table(
    "knowledge_files",
    metadata,
    Column("path", Text, primary_key=True),
    Column("content", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("updated", Text, nullable=False),
    Column("edited_by", Text),  # None: as data/ has it; a username: edited in the desk, kept by `init`
)

# Small shared settings: the knowledge generation, a generated secret key.
desk_meta = Table(
    "desk_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text),
)

# Public replies, both ways (internal notes stay in ticket_events).
ticket_replies = Table(
    "ticket_replies",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("ticket_id", RowId, ForeignKey("tickets.id"), nullable=False),
    Column("at", Text, nullable=False),
    Column("author_kind", Text, nullable=False),  # "agent" or "merchant"
    Column("author", Text, nullable=False),  # the agent's username, or "merchant"
    Column("display_name", Text, nullable=False),  # what the merchant sees
    Column("body", Text, nullable=False),
    Column("article", Text),  # an inserted article's slug
    Column("asks_info", Integer, nullable=False, server_default="0"),
    Index("idx_ticket_replies_ticket", "ticket_id"),
)

# Photos of a slip or a screen, re-encoded, stored under random names in the instance folder.
ticket_attachments = Table(
    "ticket_attachments",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("ticket_id", RowId, ForeignKey("tickets.id"), nullable=False),
    Column("reply_id", RowId, ForeignKey("ticket_replies.id")),  # None: filed with the ticket
    Column("at", Text, nullable=False),
    Column("uploaded_by", Text, nullable=False),
    Column("stored_name", Text, nullable=False),
    Column("thumb_name", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("size", Integer, nullable=False),  # bytes as stored
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Index("idx_ticket_attachments_ticket", "ticket_id"),
)

reply_templates = Table(
    "reply_templates",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("category", Text),  # None: for every category
    Column("name", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("active", Integer, nullable=False, server_default="1"),
    Column("created", Text, nullable=False),
    Column("created_by", Text, nullable=False),
)

# The outbox: each event is written in the transaction of the change it reports, delivered later.
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("type", Text, nullable=False),
    Column("ticket_id", RowId),
    Column("payload", Text, nullable=False),  # the JSON body, exactly as signed and sent
    Column("created", Text, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("delivery_id", Text, nullable=False, unique=True),
    Column("event_id", RowId, ForeignKey("webhook_events.id"), nullable=False),
    Column("webhook_id", RowId, ForeignKey("webhooks.id"), nullable=False),
    Column("status", Text, nullable=False),  # pending, delivered, failed (gave up)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Text, nullable=False),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered", Text),
    Column("created", Text, nullable=False),
    Index("idx_webhook_deliveries_due", "status", "next_attempt"),
)

email_outbox = Table(
    "email_outbox",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("to_address", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("ticket_id", RowId),
    Column("status", Text, nullable=False),  # pending, sent, failed (gave up)
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Text, nullable=False),
    Column("last_error", Text),
    Column("sent", Text),
    Column("created", Text, nullable=False),
    Index("idx_email_outbox_due", "status", "next_attempt"),
)

# Due times per category and priority (category None: the default for every category).
sla_policies = Table(
    "sla_policies",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("category", Text),
    Column("priority", Text, nullable=False),
    Column("first_response_minutes", Integer, nullable=False),
    Column("resolution_minutes", Integer, nullable=False),
    Column("updated", Text, nullable=False),
    Column("updated_by", Text, nullable=False),
    UniqueConstraint("category", "priority", name="uq_sla_policies_category_priority"),
)

# Append-only: agents' and admins' actions beyond ticket history (logins, accounts, tokens, bulk
# actions, settings). The app inserts and reads; nothing in it updates or deletes.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("actor", Text, nullable=False),  # a username, "api:<token name>", "cli" or "anonymous"
    Column("action", Text, nullable=False),  # login.success, user.create, ticket.bulk, ...
    Column("target", Text),  # "user:lina", "ticket:12", "token:crm"
    Column("detail", Text),  # JSON
    Column("address", Text),  # the client's address over HTTP
    Index("idx_audit_log_at", "at"),
    Index("idx_audit_log_actor", "actor"),
    Index("idx_audit_log_action", "action"),
)

# Every saved state of a knowledge source edited in the desk (issue 13): who, when, what, and the full
# source text, so any revision can be diffed against the previous one or restored.
article_revisions = Table(
    "article_revisions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),  # as in knowledge_files: "articles/<slug>.md"
    Column("number", Integer, nullable=False),  # 1, 2, ... per path
    Column("at", Text, nullable=False),
    Column("author", Text, nullable=False),  # a username, or "data/" for the seed copy
    Column("action", Text, nullable=False),  # seed, save, revert, publish, unpublish
    Column("content", Text, nullable=False),  # the whole source, front matter (with `published`) included
    Column("note", Text),
    UniqueConstraint("path", "number", name="uq_article_revisions_path_number"),
)

# Trained models: every one is a candidate until it earns promotion; one at a time is current.
model_versions = Table(
    "model_versions",
    metadata,
    Column("version", Text, primary_key=True),
    Column("created", Text, nullable=False),
    Column("trained_by", Text, nullable=False),  # a username or "cli"
    Column("status", Text, nullable=False),  # candidate, current, refused, retired
    Column("metrics", Text),  # JSON: the candidate's evaluation beside the model it was compared with
    Column("reason", Text),  # why it was promoted or refused, in the desk's language
    Column("promoted_by", Text),
    Column("promoted_at", Text),
    Index("idx_model_versions_status", "status"),
)

# Retraining runs as jobs, with progress a browser can poll.
training_runs = Table(
    "training_runs",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("requested_by", Text, nullable=False),
    Column("requested_at", Text, nullable=False),
    Column("started", Text),
    Column("finished", Text),
    Column("status", Text, nullable=False),  # queued, running, done, failed
    Column("stage", Text),
    Column("progress", Integer, nullable=False, server_default="0"),  # percent
    Column("version", Text),  # the model version it produced
    Column("error", Text),
)

# What visitors do on the merchant pages, for the deflection funnel and content gaps: searches and
# their result counts, suggestions shown, articles opened, tickets filed. Noted in memory and written
# in batches (webapp.deferred), never inside a request. `visitor` is a random cookie id.
site_events = Table(
    "site_events",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("visitor", Text),
    Column("kind", Text, nullable=False),  # search, suggest, article, ticket
    Column("query", Text),
    Column("results", Integer),
    Column("slug", Text),
    Column("ticket_id", RowId),
    Index("idx_site_events_at", "at"),
    Index("idx_site_events_visitor", "visitor", "at"),
)

# Banners an admin publishes on the merchant pages ("部分终端签到失败，正在处理") until their end time.
notices = Table(
    "notices",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("starts", Text, nullable=False),
    Column("ends", Text, nullable=False),
    Column("created", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("withdrawn", Text),
    Index("idx_notices_ends", "ends"),
)
