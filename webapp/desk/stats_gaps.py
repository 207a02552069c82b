"""Content gaps, "write this article next": searches that found nothing or were not clicked, tickets the
triage called out of scope that agents put in a cause category, and clusters of low-confidence tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select

from triage.prediction import OUT_OF_SCOPE
from webapp.desk import stats_clusters
from webapp.desk.schema import tickets
from webapp.desk.stats import StatsRange
from webapp.desk.stats_funnel import Searches, searches
from webapp.desk.storage import Desk

EXAMPLES = 3


@dataclass(frozen=True)
class Example:
    """A ticket shown as an example: its id and the masked preview the queue shows."""

    id: int
    preview: str


@dataclass(frozen=True)
class OffTopic:
    """Tickets the triage called out of scope that agents put in `category` (a cause category)."""

    category: str
    count: int
    examples: list[Example]


@dataclass(frozen=True)
class Gaps:
    """Every content gap of the range (see each part)."""

    searches: Searches
    off_topic_total: int
    off_topic: list[OffTopic]
    clusters: stats_clusters.Clustering


def off_topic(desk: Desk, span: StatsRange) -> list[OffTopic]:
    """Out of scope by the triage but on topic by an agent, per agent category, most first."""
    condition = (
        tickets.c.created >= span.since,
        tickets.c.created < span.until,
        tickets.c.predicted_category == OUT_OF_SCOPE,
        tickets.c.category_by.is_not(None),
        tickets.c.category.is_not(None),
        tickets.c.category != OUT_OF_SCOPE,
    )
    query = select(tickets.c.category, func.count()).where(*condition).group_by(tickets.c.category)
    out = []
    with desk.read() as conn:
        for category, n in sorted(conn.execute(query).all(), key=lambda r: (-r[1], r[0])):
            rows = conn.execute(
                select(tickets.c.id, tickets.c.preview)
                .where(*condition, tickets.c.category == category)
                .order_by(tickets.c.id.desc())
                .limit(EXAMPLES)
            ).all()
            out.append(OffTopic(category, n, [Example(i, p or "") for i, p in rows]))
    return out


def _scoped(found: Searches, triager) -> Searches:
    """The searches with each no-result query marked in or out of scope (a question about something
    else, 违章查询 say, found nothing as it should: no article is missing)."""
    from triage.model import Triager
    from triage.relevance import about_pos_acquiring

    if not isinstance(triager, Triager):  # no model yet (or a test's stand-in): search had no scope check
        return found

    marked = [replace(q, in_scope=about_pos_acquiring(triager, q.query)) for q in found.no_result]
    return replace(found, no_result=marked)


def gaps(desk: Desk, span: StatsRange, triager=None, cluster_tickets: int = stats_clusters.MAX_TICKETS) -> Gaps:
    """The range's content gaps; clusters over at most `cluster_tickets` recent low-confidence tickets."""
    found = off_topic(desk, span)
    return Gaps(
        searches=_scoped(searches(desk, span), triager),
        off_topic_total=sum(o.count for o in found),
        off_topic=found,
        clusters=stats_clusters.clusters(desk, span, triager, cluster_tickets),
    )
