"""Support tickets: filing them, triage results, the agents' actions with their history, the
categories agents confirmed or corrected (given back to training), and the ticket-word index
behind similar tickets.

Raw rows stay in here; callers get `Ticket` and `TicketEvent` values. The queue's listings are in
`webapp.desk.listing`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, and_, case, delete, func, insert, literal, select, update

from kb import text
from triage.dataset import LabelledTicket
from triage.prediction import OUT_OF_SCOPE, Prediction
from triage.redact import mask_card_numbers, mask_mobile_numbers, mask_personal
from webapp.desk import outbox
from webapp.desk.schema import ticket_events, ticket_requests, ticket_terms, tickets
from webapp.desk.storage import Desk, insert_or_ignore, now

PRIORITIES = ("low", "normal", "high", "urgent")  # 低 / 普通 / 高 / 紧急
# new: 已受理, open: 处理中, pending: 等待商户 (a reply asked for information), resolved: 已解决, closed: 已关闭.
STATUSES = ("new", "open", "pending", "resolved", "closed")
STATUS_KEY_BYTES = 24  # the private status link's key: 192 random bits
TEXT_MAX_CHARS = 2000
FIELD_MAX_CHARS = 64
NOTE_MAX_CHARS = 2000
SIMILAR_QUERY_TERMS = 16
SIMILAR_CANDIDATES = 4  # similar tickets fetch this many times their limit, to put the same category first
SYSTEM_ACTOR = "posdesk"
PREVIEW_CHARS = 200
TRIAGE_BATCH = 200
REQUEST_KEY_DAYS = 7
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class TicketError(ValueError):
    """A ticket operation refused: bad input (empty or too long text, unknown status or category).
    `str(e)` is English (the API's `error`); `message`, when given, is Chinese for a person."""

    def __init__(self, text: str, message: str | None = None) -> None:
        super().__init__(text)
        self.message = message or text


class RequestKeyReused(TicketError):
    """An idempotency key came back with a different request than the one it filed."""


@dataclass(frozen=True)
class RequestKey:
    """A client's idempotency key for filing one ticket, with a fingerprint of the request it came with."""

    scope: str
    key: str
    fingerprint: str


class Classifier(Protocol):
    """What triage needs from a model (`triage.model.Triager` is one)."""

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
    status_key: str = ""
    email: str = ""
    rating: int | None = None
    rating_comment: str = ""
    rated_at: str = ""
    assignee: str | None = None
    team: str | None = None
    priority: str = "normal"
    first_response_due: str | None = None
    resolution_due: str | None = None
    first_responded_at: str | None = None
    duplicate_of: int | None = None

    @property
    def number(self) -> str:
        """The ticket number a merchant quotes ("PD000042")."""
        return f"PD{self.id:06d}"

    @property
    def triage_status(self) -> str:
        """`done` once a model triaged the ticket, `pending` until then (a job triages it)."""
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
                "email": self.email,
            },
            "category": self.category,
            "category_confirmed_by": self.category_by,
            "category_confirmed_at": self.category_at,
            "needs_review": self.needs_review,
            "answer_article": self.answer_article,
            "triage_status": self.triage_status,
            "triage": self.prediction.to_dict() if self.prediction else None,
            "rating": (
                {"score": self.rating, "comment": self.rating_comment, "at": self.rated_at or None}
                if self.rating
                else None
            ),
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


def _display_columns(masked_text: str, phone: str) -> dict:
    """What lists show of a ticket, masked once when it is stored: never re-masked on each page view."""
    # A number in the first PREVIEW_CHARS characters lies whole in the twice-as-long prefix masked.
    preview = mask_personal(masked_text[: PREVIEW_CHARS * 2])[:PREVIEW_CHARS]
    return {"preview": preview, "masked_phone": mask_mobile_numbers(phone)}


def utc(moment: dt.datetime) -> str:
    """An aware datetime as stored."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_encodable(value: str, label: str) -> None:
    """TicketError when value holds a lone surrogate (it cannot be stored as UTF-8)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TicketError(f"{label} holds a character that is not valid Unicode (a lone surrogate)") from e


def required_text(value: object, field: str, name: str, max_chars: int) -> str:
    """`value` stripped: text that is not empty, at most `max_chars` characters and storable as UTF-8.
    TicketError otherwise, naming `field` in English and `name` (回复内容, 模板名称) in Chinese."""
    if not isinstance(value, str):
        raise TicketError(f"{field} must be a string")
    value = value.strip()
    if not value:
        raise TicketError(f"{field} is empty", f"{name}不能为空。")
    if len(value) > max_chars:
        raise TicketError(f"{field} is longer than {max_chars} characters", f"{name}不能超过 {max_chars} 个字。")
    check_encodable(value, field)
    return value


def _clean_field(value: str | None, label: str) -> str:
    value = (value or "").strip()
    if len(value) > FIELD_MAX_CHARS:
        raise TicketError(f"{label} is longer than {FIELD_MAX_CHARS} characters")
    check_encodable(value, label)
    return value


def _prediction(raw: str | None) -> Prediction | None:
    if not raw:
        return None
    return Prediction.from_dict(json.loads(raw))


def ticket_from_row(row) -> Ticket:
    """A `Ticket` from a row of the tickets table (a SQLAlchemy Row or mapping)."""
    row = row._mapping if hasattr(row, "_mapping") else row
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
        preview=row["preview"] or "",
        masked_phone=row["masked_phone"] or "",
        status_key=row["status_key"] or "",
        email=row["email"] or "",
        rating=row["rating"],
        rating_comment=row["rating_comment"] or "",
        rated_at=row["rated_at"] or "",
        assignee=row["assignee"],
        team=row["team"],
        priority=row["priority"] or "normal",
        first_response_due=row["first_response_due"],
        resolution_due=row["resolution_due"],
        first_responded_at=row["first_responded_at"],
        duplicate_of=row["duplicate_of"],
    )


def _triage_columns(prediction: Prediction) -> dict:
    return {
        "prediction": json.dumps(prediction.to_dict(), ensure_ascii=False),
        "predicted_category": prediction.category,
        "model_version": prediction.model_version,
        "needs_review": int(prediction.needs_review),
    }


def _record(conn: Connection, ticket_id: int, actor: str, action: str, old=None, new=None, at=None) -> None:
    conn.execute(
        insert(ticket_events).values(ticket_id=ticket_id, at=at or now(), actor=actor, action=action, old=old, new=new)
    )


def _index_words(conn: Connection, ticket_id: int, terms: list[str]) -> None:
    counts = Counter(terms)
    if counts:
        conn.execute(insert(ticket_terms), [{"term": t, "ticket_id": ticket_id, "tf": n} for t, n in counts.items()])


def _event_view(conn: Connection, ticket_id: int) -> dict:
    """What an event says of a ticket: number, status, category, source, times; never the merchant's
    text or contact details (a receiver that needs them reads the ticket through the API)."""
    row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
    ticket = ticket_from_row(row)
    return {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "category": ticket.category,
        "source": ticket.source,
        "created": ticket.created,
        "updated": ticket.updated,
    }


def validate_text(value: object) -> str:
    """Return the ticket text stripped, or raise TicketError when it is missing, empty or too long."""
    if not isinstance(value, str):
        raise TicketError("text must be a string")
    value = value.strip()
    if not value:
        raise TicketError("text is empty")
    if len(value) > TEXT_MAX_CHARS:
        raise TicketError(f"text is longer than {TEXT_MAX_CHARS} characters")
    check_encodable(value, "text")
    return value


def file_ticket(desk: Desk, ticket_text: str, **details) -> Ticket:
    """Store a new ticket with card numbers masked, triaged at once when a model is given, else
    pending (`details` are `file_ticket_once`'s keyword arguments: contact fields, source, actor,
    triager)."""
    return file_ticket_once(desk, None, ticket_text, **details)[0]


def file_ticket_once(
    desk: Desk,
    request_key: RequestKey | None,
    ticket_text: str,
    *,
    name: str = "",
    phone: str = "",
    merchant_no: str = "",
    terminal_no: str = "",
    email: str = "",
    source: str = "web",
    actor: str = "merchant",
    triager: Classifier | None = None,
    analysis: text.Analysis | None = None,
) -> tuple[Ticket, bool]:
    """File a ticket once per idempotency key: (the ticket, True) the first time, (the same ticket,
    False) when the key comes again with the same request; RequestKeyReused with another request.

    Every free-text field is masked here, once; the ticket row, its words and its history rows are
    one transaction. Without a triager the ticket waits for a triage job (`triage_pending`): filing
    never waits for a model. `analysis` is the masked text's analysis when the caller already made it.
    """
    masked = mask_card_numbers(validate_text(ticket_text))
    fields = {"name": name, "phone": phone, "merchant_no": merchant_no, "terminal_no": terminal_no}
    contact = {field: mask_card_numbers(_clean_field(value, field)) for field, value in fields.items()}
    email = _clean_field(email, "email")
    if email and not EMAIL.fullmatch(email):
        raise TicketError("email is not an email address")
    if request_key and (earlier := ticket_for_request(desk, request_key)):
        return earlier, False
    if analysis is None or analysis.normalised != text.normalise(masked):
        analysis = text.analyse(masked)
    prediction = triager.classify(analysis) if triager else None
    stamp = now()
    row = {
        "created": stamp,
        "updated": stamp,
        "source": source,
        "text": masked,
        "terms": " ".join(analysis.terms),
        **contact,
        **_display_columns(masked, contact["phone"]),
        "status": "new",
        "status_key": secrets.token_urlsafe(STATUS_KEY_BYTES),
        "email": email or None,
        "prediction": None,
        "category": prediction.category if prediction else None,
        "needs_review": 1,
    }
    if prediction:
        row.update(_triage_columns(prediction))
    try:
        with desk.write() as conn:
            if request_key and (earlier := ticket_for_request(desk, request_key)):
                return earlier, False  # the same request, filed by a concurrent retry meanwhile
            ticket_id = conn.execute(insert(tickets).values(**row).returning(tickets.c.id)).scalar_one()
            _index_words(conn, ticket_id, list(analysis.terms))
            _record(conn, ticket_id, actor, "created", new=source, at=stamp)
            if prediction:
                _record(conn, ticket_id, SYSTEM_ACTOR, "triaged", new=prediction.category, at=stamp)
            _priority_rules(conn, ticket_id)
            if request_key and not _remember_request(conn, request_key, ticket_id, stamp):
                raise _FiledElsewhere  # rolls this ticket back
            outbox.emit(conn, "ticket.created", ticket_id, {"ticket": _event_view(conn, ticket_id)})
    except _FiledElsewhere:
        # Another node filed the same key between our check and our insert (PostgreSQL lets both
        # transactions run): theirs is the ticket.
        return ticket_for_request(desk, request_key), False
    return get_ticket(desk, ticket_id), True


class _FiledElsewhere(Exception):
    """The idempotency key was taken by a concurrent transaction."""


def ticket_for_request(desk: Desk, request_key: RequestKey) -> Ticket | None:
    """The ticket an idempotency key already filed, or None; RequestKeyReused when it came with another request."""
    with desk.read() as conn:
        row = conn.execute(
            select(ticket_requests.c.fingerprint, ticket_requests.c.ticket_id).where(
                ticket_requests.c.scope == request_key.scope, ticket_requests.c.key == request_key.key
            )
        ).first()
    if row is None:
        return None
    if row[0] != request_key.fingerprint:
        raise RequestKeyReused("this Idempotency-Key was already used for a different request")
    return get_ticket(desk, row[1])


def _remember_request(conn: Connection, request_key: RequestKey, ticket_id: int, stamp: str) -> bool:
    expired = utc(dt.datetime.now(dt.UTC) - dt.timedelta(days=REQUEST_KEY_DAYS))
    conn.execute(delete(ticket_requests).where(ticket_requests.c.created < expired))
    values = {
        "scope": request_key.scope,
        "key": request_key.key,
        "fingerprint": request_key.fingerprint,
        "ticket_id": ticket_id,
        "created": stamp,
    }
    return insert_or_ignore(conn, ticket_requests, values, ("scope", "key"))


def get_ticket(desk: Desk, ticket_id: int) -> Ticket | None:
    """Return one ticket, or None."""
    with desk.read() as conn:
        row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
    return ticket_from_row(row) if row else None


def _require(desk: Desk, ticket_id: int) -> Ticket:
    ticket = get_ticket(desk, ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket {ticket_id}")
    return ticket


def pending_count(desk: Desk) -> int:
    """How many tickets wait for a model to triage them."""
    with desk.read() as conn:
        return conn.execute(select(func.count()).select_from(tickets).where(tickets.c.prediction.is_(None))).scalar()


def triage_pending(desk: Desk, triager: Classifier, batch_size: int = TRIAGE_BATCH, up_to: int | None = None) -> int:
    """Triage every ticket that has no triage yet (or only those with id ≤ `up_to`), a batch per
    transaction; return how many were triaged.

    Classifying happens outside the transactions, so filing and agents' actions wait for one batch's
    updates at most. Safe to run on several workers at once: a ticket is triaged once.
    """
    done, after = 0, 0
    while True:
        query = select(tickets.c.id, tickets.c.text).where(tickets.c.prediction.is_(None), tickets.c.id > after)
        if up_to is not None:
            query = query.where(tickets.c.id <= up_to)
        with desk.read() as conn:
            rows = conn.execute(query.order_by(tickets.c.id).limit(batch_size)).all()
        if not rows:
            return done
        after = rows[-1].id
        predictions = triager.classify_many([r.text for r in rows], explain=True)
        stamp = now()
        with desk.write() as conn:
            for row, prediction in zip(rows, predictions, strict=True):
                columns = _triage_columns(prediction)
                agent_decided = tickets.c.category_by.is_not(None)
                # Another worker may have triaged it meanwhile; an agent's category is never overwritten.
                result = conn.execute(
                    update(tickets)
                    .where(tickets.c.id == row.id, tickets.c.prediction.is_(None))
                    .values(
                        prediction=columns["prediction"],
                        predicted_category=columns["predicted_category"],
                        model_version=columns["model_version"],
                        updated=stamp,
                        category=_unless(agent_decided, tickets.c.category, columns["predicted_category"]),
                        needs_review=_unless(agent_decided, 0, columns["needs_review"]),
                    )
                    .returning(tickets.c.id)
                )
                if result.first() is not None:
                    done += 1
                    _record(conn, row.id, SYSTEM_ACTOR, "triaged", new=prediction.category, at=stamp)
                    _priority_rules(conn, row.id)


def _due_times(conn: Connection, ticket_id: int) -> None:
    """The due times the ticket's category and priority call for (`webapp.desk.sla`), in the caller's
    transaction."""
    from webapp.desk.sla import recompute  # it builds on this module: imported when used

    recompute(conn, ticket_id)


def _priority_rules(conn: Connection, ticket_id: int) -> None:
    """The priority rules and due times (`webapp.desk.priority`), in the filing or triage transaction."""
    from webapp.desk.priority import apply_rules  # it builds on this module: imported when used

    apply_rules(conn, ticket_id)


def _unless(condition, then, otherwise):
    then = then if hasattr(then, "compile") else literal(then)
    return case((condition, then), else_=literal(otherwise))


def set_category(desk: Desk, ticket_id: int, category: str, actor: str, known: set[str] | None = None) -> Ticket:
    """Record an agent's category: `confirmed` when it is the predicted one, else `corrected`.

    `known` is the knowledge base's category slugs (TicketError for another one); `OUT_OF_SCOPE`
    ("不是POS问题/其他") is an outcome too: such tickets train the scope check as text that is not
    about POS acquiring, never a cause category. LookupError for an unknown ticket.
    """
    if category != OUT_OF_SCOPE and known is not None and category not in known:
        raise TicketError(f"unknown category {category!r}", "没有这个分类。")
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        predicted = ticket.prediction.category if ticket.prediction else None
        action = "category_confirmed" if category == predicted else "category_corrected"
        conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id)
            .values(category=category, category_by=actor, category_at=stamp, needs_review=0, updated=stamp)
        )
        _record(conn, ticket_id, actor, action, old=ticket.category, new=category, at=stamp)
        _due_times(conn, ticket_id)  # the category's policy applies from now on
    return _require(desk, ticket_id)


def set_status(desk: Desk, ticket_id: int, status: str, actor: str) -> Ticket:
    """Move a ticket to another status (new, open, pending, resolved)."""
    if status not in STATUSES:
        _require(desk, ticket_id)
        raise TicketError(f"unknown status {status!r}", "没有这个状态。")
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        if status != ticket.status:
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(status=status, updated=stamp))
            _record(conn, ticket_id, actor, "status", old=ticket.status, new=status, at=stamp)
            change = {"old": ticket.status, "new": status, "actor": actor}
            outbox.emit(conn, "ticket.status", ticket_id, {"ticket": _event_view(conn, ticket_id), "status": change})
    return _require(desk, ticket_id)


def add_note(desk: Desk, ticket_id: int, note: str, actor: str) -> Ticket:
    """Add an internal note (never shown to the merchant); card numbers in it are masked, once, here."""
    _require(desk, ticket_id)
    note = (note or "").strip()
    if not note:
        raise TicketError("note is empty", "备注不能为空。")
    if len(note) > NOTE_MAX_CHARS:
        raise TicketError(f"note is longer than {NOTE_MAX_CHARS} characters", f"备注不能超过 {NOTE_MAX_CHARS} 个字。")
    check_encodable(note, "note")
    masked = mask_card_numbers(note)
    stamp = now()
    with desk.write() as conn:
        _require(desk, ticket_id)
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated=stamp))
        _record(conn, ticket_id, actor, "note", new=masked, at=stamp)
    return _require(desk, ticket_id)


def mark_answer(desk: Desk, ticket_id: int, slug: str, actor: str, known: set[str] | None = None) -> Ticket:
    """Mark a knowledge-base article as the answer to the ticket (`known`: the article slugs there
    are; TicketError for another one, LookupError for an unknown ticket)."""
    _require(desk, ticket_id)
    if known is not None and slug not in known:
        raise TicketError(f"unknown article {slug!r}", "知识库中没有这篇文章。")
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(answer_article=slug, updated=stamp))
        _record(conn, ticket_id, actor, "answer", old=ticket.answer_article, new=slug, at=stamp)
    return _require(desk, ticket_id)


def history(desk: Desk, ticket_id: int) -> list[TicketEvent]:
    """Every recorded action on a ticket, oldest first."""
    with desk.read() as conn:
        rows = conn.execute(
            select(ticket_events).where(ticket_events.c.ticket_id == ticket_id).order_by(ticket_events.c.id)
        ).all()
    return [TicketEvent(**row._mapping) for row in rows]


def rank_by_words(
    conn: Connection,
    words: list[str],
    most_terms: int,
    limit: int,
    exclude: int | None = None,
    common: int | None = None,
) -> list:
    """Ticket rows ranked by the sum over shared words of tf × idf (idf = log(1 + N / df)), best first:
    the `most_terms` rarest of `words` that at least one ticket holds (more than one, and at most
    `common`, when `common` is given: a word in most tickets says nothing), which also bounds the
    postings read. `exclude` is a ticket id left out. Shared by similar tickets and the desk search."""
    total = conn.execute(select(func.count()).select_from(tickets)).scalar()
    frequencies = dict(
        conn.execute(
            select(ticket_terms.c.term, func.count())
            .where(ticket_terms.c.term.in_(words))
            .group_by(ticket_terms.c.term)
        ).all()
    )
    low = 1 if common is not None else 0
    high = common if common is not None else total
    useful = sorted((n, t) for t, n in frequencies.items() if low < n <= high)[:most_terms]
    if not useful:
        return []
    weights = {t: math.log(1 + total / n) for n, t in useful}
    weight = case(*((ticket_terms.c.term == t, w) for t, w in weights.items()), else_=0.0)
    score = func.sum(ticket_terms.c.tf * weight).label("score")
    matching = ticket_terms.c.term.in_(list(weights))
    if exclude is not None:
        matching = and_(matching, ticket_terms.c.ticket_id != exclude)
    best = (
        select(ticket_terms.c.ticket_id, score)
        .where(matching)
        .group_by(ticket_terms.c.ticket_id)
        .order_by(score.desc(), ticket_terms.c.ticket_id.desc())
        .limit(limit)
        .subquery()
    )
    return conn.execute(
        select(tickets).join(best, best.c.ticket_id == tickets.c.id).order_by(best.c.score.desc(), tickets.c.id.desc())
    ).all()


def similar_tickets(desk: Desk, ticket: Ticket, limit: int = 5) -> list[Ticket]:
    """Other tickets worded most like this one (`rank_by_words` over the ticket's SIMILAR_QUERY_TERMS
    rarest words, skipping words in more than half the tickets), those of the same category (the
    agent's, else the predicted one) first, then best first."""
    with desk.read() as conn:
        own = conn.execute(select(ticket_terms.c.term).where(ticket_terms.c.ticket_id == ticket.id)).scalars().all()
        words = [t for t in own if any(ch.isalnum() for ch in t)]
        if not words:
            return []
        total = conn.execute(select(func.count()).select_from(tickets)).scalar()
        common = max(2, total // 2)
        rows = rank_by_words(conn, words, SIMILAR_QUERY_TERMS, limit * SIMILAR_CANDIDATES, ticket.id, common)
    category = ticket.category or (ticket.prediction.category if ticket.prediction else None)
    # A stable sort keeps the score order within each group: same category first, then the rest.
    rows = sorted(rows, key=lambda r: not category or (r.category or r.predicted_category) != category)
    return [ticket_from_row(r) for r in rows[:limit]]


def agent_labels(desk: Desk, by_decision_time: bool = False) -> list[LabelledTicket]:
    """Tickets whose category an agent confirmed or corrected (the latest decision), for training; in
    ticket order, or with `by_decision_time` oldest decision first (the newest are held out to judge
    a retrained model)."""
    order = (tickets.c.category_at, tickets.c.id) if by_decision_time else (tickets.c.id,)
    with desk.read() as conn:
        rows = conn.execute(
            select(tickets.c.id, tickets.c.text, tickets.c.category, tickets.c.answer_article)
            .where(tickets.c.category_by.is_not(None))
            .order_by(*order)
        ).all()
    return [
        LabelledTicket(
            id=f"desk-{row.id:06d}",
            text=row.text,
            category=row.category,
            articles=(row.answer_article,) if row.answer_article else (),
        )
        for row in rows
    ]
