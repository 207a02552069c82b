"""Arranging a desk for the stats tests: tickets with chosen times, triage and agent decisions, and
merchant-page events, written as the desk would have stored them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, update

from triage.prediction import OUT_OF_SCOPE, Alternative, Prediction
from webapp.desk.schema import site_events, ticket_events, tickets
from webapp.desk.tickets import file_ticket

CHINA = dt.timezone(dt.timedelta(hours=8))


def stamp(moment: dt.datetime) -> str:
    """An aware datetime as the desk stores it."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def china(day: str, time: str = "10:00") -> dt.datetime:
    """A moment in China time."""
    return dt.datetime.fromisoformat(f"{day}T{time}:00").replace(tzinfo=CHINA)


class Stub:
    """A triager that says what it is told."""

    def __init__(self, category, confidence=0.9, needs_review=False, in_scope=True, version="v1", codes=()):
        self.version = version
        self.prediction = Prediction(
            category=category if in_scope else OUT_OF_SCOPE,
            confidence=confidence,
            alternatives=(Alternative(category, confidence),),
            codes=tuple(codes),
            articles=(),
            needs_review=needs_review,
            explanation=(),
            model_version=version,
            in_scope=in_scope,
        )

    def classify(self, text):
        return self.prediction

    def classify_many(self, texts, explain=False):
        return [self.prediction for _ in texts]


def add_ticket(
    desk,
    created: dt.datetime,
    predicted: str | None = "settlement",
    *,
    text: str = "商户反映结算款今天没有到账，请帮忙查询",
    agent: str | None = None,
    status: str | None = None,
    responded: dt.datetime | None = None,
    resolved: dt.datetime | None = None,
    first_due: dt.datetime | None = None,
    resolution_due: dt.datetime | None = None,
    **triage,
) -> int:
    """File a ticket triaged as `predicted` (None: untriaged) at `created`, with an agent's category,
    a first response, a resolution and due times as given; return its id."""
    ticket = file_ticket(desk, text, triager=Stub(predicted, **triage) if predicted else None, name="王女士")
    values = {"created": stamp(created), "updated": stamp(created)}
    if agent:
        values |= {"category": agent, "category_by": "lina", "category_at": stamp(created)}
    if responded:
        values["first_responded_at"] = stamp(responded)
    if first_due:
        values["first_response_due"] = stamp(first_due)
    if resolution_due:
        values["resolution_due"] = stamp(resolution_due)
    if status or resolved:
        values["status"] = status or "resolved"
    with desk.write() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
        if resolved:
            conn.execute(
                insert(ticket_events).values(
                    ticket_id=ticket.id, at=stamp(resolved), actor="lina", action="status", old="open", new="resolved"
                )
            )
    return ticket.id


def add_event(desk, at: dt.datetime, kind: str, visitor: str | None = "v1", **fields) -> None:
    """One row of site_events as the merchant pages note them."""
    with desk.write() as conn:
        conn.execute(insert(site_events).values(at=stamp(at), visitor=visitor, kind=kind, **fields))
