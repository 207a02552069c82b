"""Support tickets: filing and triaging them, the agents' actions with their history, similar past
tickets and the categories agents confirmed or corrected, given back to training.

Raw rows stay in here; callers get `Ticket`, `TicketEvent` and `TicketPage` values.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Protocol

import sqlite_utils

from kb import text
from kb.articles import Article
from kb.db import write
from kb.search import search
from kb.store import get_article, get_articles, get_category
from triage.dataset import LabelledTicket
from triage.prediction import OUT_OF_SCOPE, Prediction
from triage.redact import mask_card_numbers, mask_mobile_numbers, mask_personal

STATUSES = ("new", "open", "pending", "resolved")
TEXT_MAX_CHARS = 2000
FIELD_MAX_CHARS = 64
NOTE_MAX_CHARS = 2000
SIMILAR_QUERY_TERMS = 32
SYSTEM_ACTOR = "posdesk"
PREVIEW_CHARS = 200
TRIAGE_BATCH = 200
REQUEST_KEY_DAYS = 7


class TicketError(ValueError):
    """A ticket operation refused: bad input (empty or too long text, unknown status or category)."""


class RequestKeyReused(TicketError):
    """An idempotency key came back with a different request than the one it filed."""


@dataclass(frozen=True)
class RequestKey:
    """A client's idempotency key for filing one ticket, with a fingerprint of the request it came with."""

    scope: str
    key: str
    fingerprint: str


class Classifier(Protocol):
    """What filing needs from a triage model (`triage.model.Triager` is one)."""

    version: str

    def classify(self, ticket: str | text.Analysis) -> Prediction: ...

    def classify_many(self, texts: list[str], explain: bool = False) -> list[Prediction]: ...


@dataclass(frozen=True)
class Ticket:
    """One merchant ticket: what was asked, by whom, its triage and where agents took it."""

    id: int
    created: str
    updated: str
    source: str
    text: str
    name: str
    phone: str
    merchant_no: str
    terminal_no: str
    status: str
    prediction: Prediction | None
    category: str | None
    category_by: str | None
    category_at: str | None
    needs_review: bool
    answer_article: str | None
    preview: str = ""
    masked_phone: str = ""

    @property
    def number(self) -> str:
        """The ticket number a merchant quotes ("PD000042")."""
        return f"PD{self.id:06d}"

    @property
    def triage_status(self) -> str:
        """`done` once a model triaged the ticket, `pending` until a model exists."""
        return "done" if self.prediction else "pending"

    def to_dict(self) -> dict:
        """A JSON-ready dict, as the API returns it."""
        return {
            "id": self.id,
            "number": self.number,
            "created": self.created,
            "updated": self.updated,
            "source": self.source,
            "status": self.status,
            "text": self.text,
            "contact": {
                "name": self.name,
                "phone": self.phone,
                "merchant_no": self.merchant_no,
                "terminal_no": self.terminal_no,
            },
            "category": self.category,
            "category_confirmed_by": self.category_by,
            "category_confirmed_at": self.category_at,
            "needs_review": self.needs_review,
            "answer_article": self.answer_article,
            "triage_status": self.triage_status,
            "triage": self.prediction.to_dict() if self.prediction else None,
        }


@dataclass(frozen=True)
class TicketEvent:
    """One entry of a ticket's history: who did what, when, from which value to which."""

    id: int
    ticket_id: int
    at: str
    actor: str
    action: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class TicketFilter:
    """What the agent queue shows: all criteria optional; times are aware datetimes."""

    category: str | None = None
    status: str | None = None
    needs_review: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class TicketPage:
    """One page of the queue, newest first."""

    tickets: tuple[Ticket, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the whole result has (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the ticket tables and their search index if they do not exist yet."""
    tickets = db["tickets"]
    if not tickets.exists():
        tickets.create(
            {
                "id": int,
                "created": str,
                "updated": str,
                "source": str,
                "text": str,
                "terms": str,
                "name": str,
                "phone": str,
                "merchant_no": str,
                "terminal_no": str,
                "status": str,
                "prediction": str,
                "predicted_category": str,
                "model_version": str,
                "category": str,
                "category_by": str,
                "category_at": str,
                "needs_review": int,
                "answer_article": str,
            },
            pk="id",
        )
        tickets.create_index(["created"])
        tickets.create_index(["status"])
        tickets.create_index(["category"])
        tickets.enable_fts(["terms"], fts_version="FTS5", create_triggers=True, tokenize="unicode61")
    if "preview" not in tickets.columns_dict:
        _add_display_columns(db)
    db.execute("CREATE INDEX IF NOT EXISTS tickets_untriaged ON tickets (id) WHERE prediction IS NULL")
    db["ticket_requests"].create(
        {"scope": str, "key": str, "fingerprint": str, "ticket_id": int, "created": str},
        pk=("scope", "key"),
        if_not_exists=True,
    )
    db["ticket_requests"].create_index(["created"], if_not_exists=True)
    db["ticket_events"].create(
        {"id": int, "ticket_id": int, "at": str, "actor": str, "action": str, "old": str, "new": str},
        pk="id",
        foreign_keys=[("ticket_id", "tickets", "id")],
        if_not_exists=True,
    )
    db["ticket_events"].create_index(["ticket_id"], if_not_exists=True)


def _add_display_columns(db: sqlite_utils.Database) -> None:
    """Tickets filed before display forms were stored get theirs now (once, when the schema is upgraded)."""
    with write(db):
        db["tickets"].add_column("preview", str)
        db["tickets"].add_column("masked_phone", str)
        for row in list(db.query("SELECT id, text, phone FROM tickets")):
            db["tickets"].update(row["id"], _display_columns(row["text"], row["phone"] or ""))


def _display_columns(masked_text: str, phone: str) -> dict:
    """What lists show of a ticket, masked once when it is stored: never re-masked on each page view."""
    # A number in the first PREVIEW_CHARS characters lies whole in the twice-as-long prefix masked.
    preview = mask_personal(masked_text[: PREVIEW_CHARS * 2])[:PREVIEW_CHARS]
    return {"preview": preview, "masked_phone": mask_mobile_numbers(phone)}


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_encodable(value: str, label: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TicketError(f"{label} holds a character that is not valid Unicode (a lone surrogate)") from e


def _clean_field(value: str | None, label: str) -> str:
    value = (value or "").strip()
    if len(value) > FIELD_MAX_CHARS:
        raise TicketError(f"{label} is longer than {FIELD_MAX_CHARS} characters")
    _check_encodable(value, label)
    return value


def _prediction_json(prediction: Prediction) -> str:
    return json.dumps(prediction.to_dict(), ensure_ascii=False)


def _prediction(raw: str | None) -> Prediction | None:
    if not raw:
        return None
    return Prediction.from_dict(json.loads(raw))


def _ticket(row: dict) -> Ticket:
    return Ticket(
        id=row["id"],
        created=row["created"],
        updated=row["updated"],
        source=row["source"],
        text=row["text"],
        name=row["name"] or "",
        phone=row["phone"] or "",
        merchant_no=row["merchant_no"] or "",
        terminal_no=row["terminal_no"] or "",
        status=row["status"],
        prediction=_prediction(row["prediction"]),
        category=row["category"],
        category_by=row["category_by"],
        category_at=row["category_at"],
        needs_review=bool(row["needs_review"]),
        answer_article=row["answer_article"],
        preview=row.get("preview") or "",
        masked_phone=row.get("masked_phone") or "",
    )


def _triage_columns(prediction: Prediction) -> dict:
    return {
        "prediction": _prediction_json(prediction),
        "predicted_category": prediction.category,
        "model_version": prediction.model_version,
        "needs_review": int(prediction.needs_review),
    }


def _record(db: sqlite_utils.Database, ticket_id: int, actor: str, action: str, old=None, new=None, at=None) -> None:
    db["ticket_events"].insert(
        {"ticket_id": ticket_id, "at": at or _now(), "actor": actor, "action": action, "old": old, "new": new}
    )


def validate_text(value: object) -> str:
    """Return the ticket text stripped, or raise TicketError when it is missing, empty or too long."""
    if not isinstance(value, str):
        raise TicketError("text must be a string")
    value = value.strip()
    if not value:
        raise TicketError("text is empty")
    if len(value) > TEXT_MAX_CHARS:
        raise TicketError(f"text is longer than {TEXT_MAX_CHARS} characters")
    _check_encodable(value, "text")
    return value


def file_ticket(db: sqlite_utils.Database, ticket_text: str, **details) -> Ticket:
    """Store a new ticket with card numbers masked, triaged now when a model is given, else pending
    (`details` are `file_ticket_once`'s keyword arguments: contact fields, source, actor, triager)."""
    return file_ticket_once(db, None, ticket_text, **details)[0]


def file_ticket_once(
    db: sqlite_utils.Database,
    request_key: RequestKey | None,
    ticket_text: str,
    *,
    name: str = "",
    phone: str = "",
    merchant_no: str = "",
    terminal_no: str = "",
    source: str = "web",
    actor: str = "merchant",
    triager: Classifier | None = None,
) -> tuple[Ticket, bool]:
    """File a ticket once per idempotency key: (the ticket, True) the first time, (the same ticket,
    False) when the key comes again with the same request; RequestKeyReused with another request.

    Every free-text field is masked here, once; the ticket row and its history rows are one
    transaction. Triage runs before the transaction, so the write lock is held for the inserts only.
    """
    masked = mask_card_numbers(validate_text(ticket_text))
    fields = {"name": name, "phone": phone, "merchant_no": merchant_no, "terminal_no": terminal_no}
    contact = {field: mask_card_numbers(_clean_field(value, field)) for field, value in fields.items()}
    if request_key and (earlier := ticket_for_request(db, request_key)):
        return earlier, False
    analysis = text.analyse(masked)
    prediction = triager.classify(analysis) if triager else None
    now = _now()
    row = {
        "created": now,
        "updated": now,
        "source": source,
        "text": masked,
        "terms": " ".join(analysis.terms),
        **contact,
        **_display_columns(masked, contact["phone"]),
        "status": "new",
        "prediction": None,
        "category": prediction.category if prediction else None,
        "needs_review": 1,
    }
    if prediction:
        row.update(_triage_columns(prediction))
    with write(db):
        if request_key and (earlier := ticket_for_request(db, request_key)):
            return earlier, False  # the same request, filed by a concurrent retry meanwhile
        ticket_id = db["tickets"].insert(row).last_pk
        _record(db, ticket_id, actor, "created", new=source, at=now)
        if prediction:
            _record(db, ticket_id, SYSTEM_ACTOR, "triaged", new=prediction.category, at=now)
        if request_key:
            _remember_request(db, request_key, ticket_id, now)
    return get_ticket(db, ticket_id), True


def ticket_for_request(db: sqlite_utils.Database, request_key: RequestKey) -> Ticket | None:
    """The ticket an idempotency key already filed, or None; RequestKeyReused when it came with another request."""
    row = db.execute(
        "SELECT fingerprint, ticket_id FROM ticket_requests WHERE scope = ? AND key = ?",
        [request_key.scope, request_key.key],
    ).fetchone()
    if row is None:
        return None
    if row[0] != request_key.fingerprint:
        raise RequestKeyReused("this Idempotency-Key was already used for a different request")
    return get_ticket(db, row[1])


def _remember_request(db: sqlite_utils.Database, request_key: RequestKey, ticket_id: int, now: str) -> None:
    expired = _utc(dt.datetime.now(dt.UTC) - dt.timedelta(days=REQUEST_KEY_DAYS))
    db.execute("DELETE FROM ticket_requests WHERE created < ?", [expired])
    db["ticket_requests"].insert(
        {
            "scope": request_key.scope,
            "key": request_key.key,
            "fingerprint": request_key.fingerprint,
            "ticket_id": ticket_id,
            "created": now,
        }
    )


def get_ticket(db: sqlite_utils.Database, ticket_id: int) -> Ticket | None:
    """Return one ticket, or None."""
    rows = list(db.query("SELECT * FROM tickets WHERE id = ?", [ticket_id]))
    return _ticket(rows[0]) if rows else None


def _require(db: sqlite_utils.Database, ticket_id: int) -> Ticket:
    ticket = get_ticket(db, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    return ticket


def list_tickets(
    db: sqlite_utils.Database, where: TicketFilter | None = None, page: int = 1, per_page: int = 20
) -> TicketPage:
    """Return one page of tickets matching the filter, newest first."""
    where = where or TicketFilter()
    clauses, params = ["1 = 1"], []
    if where.category:
        clauses.append("category = ?")
        params.append(where.category)
    if where.status:
        clauses.append("status = ?")
        params.append(where.status)
    if where.needs_review is not None:
        clauses.append("needs_review = ?")
        params.append(int(where.needs_review))
    if where.since:
        clauses.append("created >= ?")
        params.append(_utc(where.since))
    if where.until:
        clauses.append("created < ?")
        params.append(_utc(where.until))
    condition = " AND ".join(clauses)
    total = db.execute(f"SELECT count(*) FROM tickets WHERE {condition}", params).fetchone()[0]
    page = min(max(1, page), max(1, math.ceil(total / per_page)))  # page 10**18 is the last page, not an overflow
    sql = f"SELECT * FROM tickets WHERE {condition} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?"
    rows = db.query(sql, [*params, per_page, (page - 1) * per_page])
    return TicketPage(tuple(_ticket(r) for r in rows), total, page, per_page)


def pending_count(db: sqlite_utils.Database) -> int:
    """How many tickets wait for a model to triage them."""
    return db.execute("SELECT count(*) FROM tickets WHERE prediction IS NULL").fetchone()[0]


def triage_pending(db: sqlite_utils.Database, triager: Classifier, batch_size: int = TRIAGE_BATCH) -> int:
    """Triage every ticket stored while no model existed, a batch per transaction; return how many were triaged.

    Classifying happens outside the transactions, so filing and agents' actions wait for one batch's
    updates at most.
    """
    done, after = 0, 0
    while True:
        rows = list(
            db.query(
                "SELECT id, text FROM tickets WHERE prediction IS NULL AND id > ? ORDER BY id LIMIT ?",
                [after, batch_size],
            )
        )
        if not rows:
            return done
        after = rows[-1]["id"]
        predictions = triager.classify_many([r["text"] for r in rows], explain=True)
        now = _now()
        with write(db):
            for row, prediction in zip(rows, predictions, strict=True):
                columns = _triage_columns(prediction)
                # Another worker may have triaged it meanwhile; an agent's category is never overwritten.
                cursor = db.execute(
                    """UPDATE tickets SET prediction = :prediction, predicted_category = :predicted_category,
                           model_version = :model_version, updated = :now,
                           category = CASE WHEN category_by IS NULL THEN :predicted_category ELSE category END,
                           needs_review = CASE WHEN category_by IS NULL THEN :needs_review ELSE 0 END
                       WHERE id = :id AND prediction IS NULL""",
                    {**columns, "id": row["id"], "now": now},
                )
                if cursor.rowcount:
                    done += 1
                    _record(db, row["id"], SYSTEM_ACTOR, "triaged", new=prediction.category, at=now)


def set_category(db: sqlite_utils.Database, ticket_id: int, category: str, actor: str) -> Ticket:
    """Record an agent's category: `confirmed` when it is the predicted one, else `corrected`.

    `OUT_OF_SCOPE` ("不是POS问题/其他") is an outcome too: such tickets train the scope check as
    text that is not about POS acquiring, never a cause category.
    """
    if category != OUT_OF_SCOPE and get_category(db, category) is None:
        raise TicketError(f"unknown category {category!r}")
    now = _now()
    with write(db):
        ticket = _require(db, ticket_id)
        predicted = ticket.prediction.category if ticket.prediction else None
        action = "category_confirmed" if category == predicted else "category_corrected"
        db["tickets"].update(
            ticket_id,
            {"category": category, "category_by": actor, "category_at": now, "needs_review": 0, "updated": now},
        )
        _record(db, ticket_id, actor, action, old=ticket.category, new=category, at=now)
    return _require(db, ticket_id)


def set_status(db: sqlite_utils.Database, ticket_id: int, status: str, actor: str) -> Ticket:
    """Move a ticket to another status (new, open, pending, resolved)."""
    if status not in STATUSES:
        _require(db, ticket_id)
        raise TicketError(f"unknown status {status!r}")
    now = _now()
    with write(db):
        ticket = _require(db, ticket_id)
        if status != ticket.status:
            db["tickets"].update(ticket_id, {"status": status, "updated": now})
            _record(db, ticket_id, actor, "status", old=ticket.status, new=status, at=now)
    return _require(db, ticket_id)


def add_note(db: sqlite_utils.Database, ticket_id: int, note: str, actor: str) -> Ticket:
    """Add an internal note (never shown to the merchant); card numbers in it are masked, once, here."""
    _require(db, ticket_id)
    note = (note or "").strip()
    if not note:
        raise TicketError("note is empty")
    if len(note) > NOTE_MAX_CHARS:
        raise TicketError(f"note is longer than {NOTE_MAX_CHARS} characters")
    _check_encodable(note, "note")
    masked = mask_card_numbers(note)
    now = _now()
    with write(db):
        _require(db, ticket_id)
        db["tickets"].update(ticket_id, {"updated": now})
        _record(db, ticket_id, actor, "note", new=masked, at=now)
    return _require(db, ticket_id)


def mark_answer(db: sqlite_utils.Database, ticket_id: int, slug: str, actor: str) -> Ticket:
    """Mark a knowledge-base article as the answer to the ticket."""
    _require(db, ticket_id)
    if get_article(db, slug, audience="agent") is None:
        raise TicketError(f"unknown article {slug!r}")
    now = _now()
    with write(db):
        ticket = _require(db, ticket_id)
        db["tickets"].update(ticket_id, {"answer_article": slug, "updated": now})
        _record(db, ticket_id, actor, "answer", old=ticket.answer_article, new=slug, at=now)
    return _require(db, ticket_id)


def history(db: sqlite_utils.Database, ticket_id: int) -> list[TicketEvent]:
    """Every recorded action on a ticket, oldest first."""
    rows = db.query("SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY id", [ticket_id])
    return [TicketEvent(**row) for row in rows]


def similar_tickets(db: sqlite_utils.Database, ticket: Ticket, limit: int = 5) -> list[Ticket]:
    """Other tickets worded most like this one (bm25 over the words stored when it was filed), best first."""
    row = db.execute("SELECT terms FROM tickets WHERE id = ?", [ticket.id]).fetchone()
    terms = [t for t in dict.fromkeys((row[0] or "").split() if row else ()) if any(ch.isalnum() for ch in t)]
    if not terms:
        return []
    match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms[:SIMILAR_QUERY_TERMS])
    sql = """
        SELECT t.* FROM tickets_fts JOIN tickets t ON t.rowid = tickets_fts.rowid
        WHERE tickets_fts MATCH ? AND t.id != ? ORDER BY bm25(tickets_fts) LIMIT ?
    """
    return [_ticket(r) for r in db.query(sql, [match, ticket.id, limit])]


def suggested_articles(
    db: sqlite_utils.Database,
    ticket_text: str,
    prediction: Prediction | None,
    audience: str = "merchant",
    limit: int = 5,
) -> list[Article]:
    """Articles that may answer a ticket: the triage's suggestions first, then search results."""
    slugs = list(prediction.articles) if prediction else []
    slugs += [hit.slug for hit in search(db, ticket_text, audience, limit)]
    return get_articles(db, list(dict.fromkeys(slugs)), audience)[:limit]


def agent_labels(db: sqlite_utils.Database) -> list[LabelledTicket]:
    """Tickets whose category an agent confirmed or corrected (the latest decision), for training."""
    rows = db.query("SELECT id, text, category, answer_article FROM tickets WHERE category_by IS NOT NULL ORDER BY id")
    return [
        LabelledTicket(
            id=f"desk-{row['id']:06d}",
            text=row["text"],
            category=row["category"],
            articles=(row["answer_article"],) if row["answer_article"] else (),
        )
        for row in rows
    ]
