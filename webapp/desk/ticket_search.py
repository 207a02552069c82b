"""Finding tickets from the desk's one search box: what a query is (a ticket number, a contact's
phone, 商户号 or 终端号, or words), the tickets whose stored contact columns hold that number, and the
tickets whose text matches the words, ranked by tf × idf over the ticket-word index.

Contact numbers are matched on the stored values (indexed columns), never on what lists display
masked; words go through `kb.text.analyse`, as the knowledge base's search and ticket filing do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select

from kb import text
from kb.search import snippet
from triage.redact import mask_personal
from webapp.desk.following import parse_number
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk
from webapp.desk.tickets import Ticket, rank_by_words, ticket_from_row

SEARCH_QUERY_TERMS = 8  # the rarest words of a query that count: bounds the postings read
SEARCH_LIMIT = 50
SNIPPET_CHARS = 120
MAX_ROW_ID = 2**63 - 1
# What an agent pastes: spaces, dashes, brackets between digit groups; a mobile's +86.
_NOISE = re.compile(r"[\s\-()（）]")
_TICKET_NUMBER = re.compile(r"(?:PD\d{1,18}|\d{1,7})", re.IGNORECASE)
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
_MERCHANT_NO = re.compile(r"\d{15}")
_TERMINAL_NO = re.compile(r"\d{8}")
_IDENTIFIER = re.compile(r"(?=[0-9A-Za-z]*\d)[0-9A-Za-z]{6,20}")  # any stored 商户号/终端号 shape with a digit
CONTACT_COLUMNS = ("phone", "merchant_no", "terminal_no")


@dataclass(frozen=True)
class Query:
    """What a desk search query is: `kind` is `number` (a ticket id in `ticket_id`), `contact` (a
    normalised number in `value`, with the column it most likely is in `field`, or None when it could
    be any) or `text` (words, with their analysed `terms`)."""

    raw: str
    kind: str
    ticket_id: int | None = None
    value: str = ""
    field: str | None = None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketHit:
    """One ticket found: the ticket, how it matched (a contact column, or `text`) and, for text, the
    masked text's window richest in the query's words with them in <mark> (HTML-escaped)."""

    ticket: Ticket
    matched: str
    snippet: str = ""


def parse_query(raw: str) -> Query:
    """Tell what the agent typed: a ticket number (PD000001, 1), a mobile (11 digits), a 商户号 (15
    digits), a 终端号 (8 digits), another 6-20 character identifier, or words."""
    raw = (raw or "").strip()
    bare = _NOISE.sub("", raw)
    if _TICKET_NUMBER.fullmatch(bare) and (ticket_id := parse_number(bare)) is not None and ticket_id <= MAX_ROW_ID:
        return Query(raw, "number", ticket_id=ticket_id)
    if mobile := _MOBILE.fullmatch(bare):
        return Query(raw, "contact", value=mobile.group(1), field="phone")
    if _MERCHANT_NO.fullmatch(bare):
        return Query(raw, "contact", value=bare, field="merchant_no")
    if _TERMINAL_NO.fullmatch(bare):
        return Query(raw, "contact", value=bare, field="terminal_no")
    if _IDENTIFIER.fullmatch(bare):
        return Query(raw, "contact", value=bare)
    return Query(raw, "text", terms=tuple(t for t in text.analyse(raw).terms if any(ch.isalnum() for ch in t)))


@dataclass(frozen=True)
class Found:
    """A desk search's answer: the ticket to open (a number that exists), else the tickets found."""

    query: Query
    ticket_id: int | None = None
    hits: tuple[TicketHit, ...] = ()


def find_tickets(desk: Desk, raw: str, limit: int = SEARCH_LIMIT) -> Found:
    """Answer the desk's search box: open a ticket by number; list a contact's tickets by phone, 商户号
    or 终端号; else rank tickets by their words. A short number that is no ticket may still be a
    6-7 character 商户号 or 终端号."""
    query = parse_query(raw)
    if query.kind == "number":
        if _exists(desk, query.ticket_id):
            return Found(query, ticket_id=query.ticket_id)
        bare = _NOISE.sub("", query.raw)
        return Found(
            query,
            hits=tuple(find_by_contact(desk, bare, None, limit, query.raw)) if _IDENTIFIER.fullmatch(bare) else (),
        )
    if query.kind == "contact":
        return Found(query, hits=tuple(find_by_contact(desk, query.value, query.field, limit, query.raw)))
    return Found(query, hits=tuple(search_text(desk, query.terms, limit)))


def _exists(desk: Desk, ticket_id: int) -> bool:
    with desk.read() as conn:
        return conn.execute(select(tickets.c.id).where(tickets.c.id == ticket_id)).first() is not None


def _stored_forms(value: str, field: str, typed: str = "") -> list[str]:
    """The ways a number may have been typed into a contact field, as stored (trimmed, unchanged):
    looked up with IN so that the column's index answers. `typed` is the query as the agent typed it
    (a landline's own separators)."""
    forms = {value, value.upper(), value.lower()} | ({typed.strip()} if typed.strip() else set())
    if field == "phone" and _MOBILE.fullmatch(value):
        a, b, c = value[:3], value[3:7], value[7:]
        for sep in ("-", " "):
            forms.add(sep.join((a, b, c)))
        for prefix in ("+86", "86", "+86 ", "+86-", "86-", "86 "):
            forms.update({prefix + value, prefix + f"{a}-{b}-{c}", prefix + f"{a} {b} {c}"})
    return sorted(forms)


def find_by_contact(
    desk: Desk, value: str, field: str | None = None, limit: int = SEARCH_LIMIT, typed: str = ""
) -> list[TicketHit]:
    """The tickets whose stored phone, 商户号 or 终端号 is this number (only `field` when given), newest first."""
    fields = (field,) if field else CONTACT_COLUMNS
    forms = {f: _stored_forms(value, f, typed) for f in fields}
    conditions = [tickets.c[f].in_(forms[f]) for f in fields]
    with desk.read() as conn:
        rows = conn.execute(select(tickets).where(or_(*conditions)).order_by(tickets.c.id.desc()).limit(limit)).all()
    found = [ticket_from_row(r) for r in rows]
    return [TicketHit(t, next(f for f in fields if getattr(t, f) in forms[f])) for t in found]


def search_text(desk: Desk, terms: tuple[str, ...] | list[str], limit: int = SEARCH_LIMIT) -> list[TicketHit]:
    """The tickets whose words match the query's analysed terms, best first: the sum over shared words of
    tf × idf, using the query's SEARCH_QUERY_TERMS rarest words that some ticket holds."""
    words = list(dict.fromkeys(terms))
    if not words:
        return []
    with desk.read() as conn:
        rows = rank_by_words(conn, words, SEARCH_QUERY_TERMS, limit)
    return [
        TicketHit(t, "text", snippet(mask_personal(t.text), words, SNIPPET_CHARS)) for t in map(ticket_from_row, rows)
    ]
