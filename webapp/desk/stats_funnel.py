"""Whether the FAQ deflects tickets, from the merchant pages' `site_events`: the deflection funnel per
visitor, searches that found nothing or were not followed by a click, and article votes.

Funnel, per visitor (visitor known) with events in the range: shown suggestions (a `suggest` row
with results > 0) -> opened an article from a search or suggestion (an `article` row with a query)
-> filed (a `ticket` row within WINDOW after their last suggest or article row) or abandoned (none
within WINDOW), or still open when WINDOW has not passed yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from kb.text import normalise
from webapp.desk.schema import article_votes, site_events
from webapp.desk.stats import StatsRange, parse_stamp, share
from webapp.desk.storage import Desk

WINDOW = dt.timedelta(minutes=30)
QUERY_ROWS = 20  # per list of searches
VOTE_ARTICLES = 20
VOTE_COMMENTS = 3


@dataclass(frozen=True)
class Outcome:
    """What became of a set of visitors: filed a ticket, abandoned (no ticket within 30 minutes),
    or still open (30 minutes have not passed since their last step)."""

    filed: int = 0
    abandoned: int = 0
    still_open: int = 0


@dataclass(frozen=True)
class Funnel:
    """The deflection funnel: `shown` visitors saw suggestions, `opened` of them opened an article
    from a search or suggestion; `outcome` of all shown visitors, `opened_outcome` of those who
    opened one; `deflection_rate` = abandoned / (filed + abandoned) of the shown."""

    shown: int
    opened: int
    outcome: Outcome
    opened_outcome: Outcome
    deflection_rate: float | None


@dataclass(frozen=True)
class QueryCount:
    """A normalised query, how often it was searched so, and when last."""

    query: str
    count: int
    last_seen: str
    in_scope: bool | None = None  # about POS acquiring, by the model's scope check (None: no model)


@dataclass(frozen=True)
class Searches:
    """Searches that found nothing (`no_result`) and searches with results no article was opened
    from by the same visitor within 30 minutes (`no_click`), the commonest first; `no_click_unknown`
    counts searches with results from visitors without an id (they cannot be followed)."""

    searches: int
    no_result_total: int
    no_result: list[QueryCount]
    no_click_total: int
    no_click: list[QueryCount]
    no_click_unknown: int


@dataclass(frozen=True)
class ArticleVotes:
    """Helpful and not-helpful votes cast on one article in the range, with its latest comments
    as (helpful, comment, created)."""

    slug: str
    helpful: int
    unhelpful: int
    comments: list[tuple[bool, str, str]]


def _rows(desk: Desk, span: StatsRange, kinds: tuple[str, ...], until: str):
    query = (
        select(site_events.c.visitor, site_events.c.at, site_events.c.kind, site_events.c.query, site_events.c.results)
        .where(site_events.c.at >= span.since, site_events.c.at < until, site_events.c.kind.in_(kinds))
        .order_by(site_events.c.visitor, site_events.c.at, site_events.c.id)
    )
    with desk.read() as conn:
        return conn.execute(query).all()


def _later(span: StatsRange) -> str:
    """The end of the range plus WINDOW: tickets and clicks just after the range still count."""
    return (parse_stamp(span.until) + WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")


def funnel(desk: Desk, span: StatsRange, at: str) -> Funnel:
    """The deflection funnel of the range's visitors (`at`: now, to tell abandoned from still open)."""
    moment = parse_stamp(at)
    rows = [r for r in _rows(desk, span, ("suggest", "article", "ticket"), _later(span)) if r.visitor]
    shown = opened = 0
    outcome = {"all": [0, 0, 0], "opened": [0, 0, 0]}
    start = 0
    while start < len(rows):  # one visitor's rows at a time, in time order
        end = start
        while end < len(rows) and rows[end].visitor == rows[start].visitor:
            end += 1
        own = [r for r in rows[start:end]]
        start = end
        steps = [r for r in own if r.kind in ("suggest", "article") and r.at < span.until]
        if not any(r.kind == "suggest" and (r.results or 0) > 0 for r in steps):
            continue
        shown += 1
        did_open = any(r.kind == "article" and r.query for r in steps)
        opened += did_open
        last = parse_stamp(steps[-1].at)
        filed = any(r.kind == "ticket" and last <= parse_stamp(r.at) <= last + WINDOW for r in own)
        which = 0 if filed else (1 if last + WINDOW <= moment else 2)
        outcome["all"][which] += 1
        if did_open:
            outcome["opened"][which] += 1
    every, of_opened = Outcome(*outcome["all"]), Outcome(*outcome["opened"])
    return Funnel(shown, opened, every, of_opened, share(every.abandoned, every.filed + every.abandoned))


def _top(counts: dict[str, list]) -> list[QueryCount]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))[:QUERY_ROWS]
    return [QueryCount(q, n, last) for q, (n, last) in ordered]


def searches(desk: Desk, span: StatsRange) -> Searches:
    """Searches with no result and searches with results but no click, grouped by normalised query."""
    rows = _rows(desk, span, ("search", "article"), _later(span))
    clicks: dict[tuple[str, str], list[dt.datetime]] = {}
    for r in rows:
        if r.kind == "article" and r.visitor and r.query:
            clicks.setdefault((r.visitor, normalise(r.query)), []).append(parse_stamp(r.at))
    total = unknown = 0
    no_result: dict[str, list] = {}
    no_click: dict[str, list] = {}
    for r in rows:
        if r.kind != "search" or r.at >= span.until:
            continue
        total += 1
        query = normalise(r.query or "")
        if not r.results:
            target = no_result
        elif not r.visitor:
            unknown += 1
            continue
        else:
            when = parse_stamp(r.at)
            if any(when <= c <= when + WINDOW for c in clicks.get((r.visitor, query), ())):
                continue
            target = no_click
        seen = target.setdefault(query, [0, r.at])
        seen[0] += 1
        seen[1] = max(seen[1], r.at)
    return Searches(
        searches=total,
        no_result_total=sum(n for n, _ in no_result.values()),
        no_result=_top(no_result),
        no_click_total=sum(n for n, _ in no_click.values()),
        no_click=_top(no_click),
        no_click_unknown=unknown,
    )


def votes(desk: Desk, span: StatsRange) -> list[ArticleVotes]:
    """The VOTE_ARTICLES articles with the most votes cast in the range, with their latest comments."""
    in_range = (article_votes.c.created >= span.since, article_votes.c.created < span.until)
    helpful = func.coalesce(func.sum(article_votes.c.helpful), 0)
    total = func.count()
    query = (
        select(article_votes.c.slug, helpful, total)
        .where(*in_range)
        .group_by(article_votes.c.slug)
        .order_by(total.desc(), article_votes.c.slug)
        .limit(VOTE_ARTICLES)
    )
    out = []
    with desk.read() as conn:
        for slug, yes, n in conn.execute(query).all():
            comments = conn.execute(
                select(article_votes.c.helpful, article_votes.c.comment, article_votes.c.created)
                .where(article_votes.c.slug == slug, article_votes.c.comment != "", *in_range)
                .order_by(article_votes.c.created.desc())
                .limit(VOTE_COMMENTS)
            ).all()
            out.append(ArticleVotes(slug, int(yes), int(n) - int(yes), [(bool(h), c, t) for h, c, t in comments]))
    return out
