"""What merchants tell the desk about articles: their "这篇文章有帮助吗？" votes (one per visitor per
article, with an optional comment) and how often each article is read.

The articles themselves are in the node's knowledge index, not here: `most_viewed` gives slugs, and
the caller looks them up (and skips any the knowledge base no longer shows)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from triage.redact import mask_card_numbers
from webapp.desk.schema import article_views, article_votes
from webapp.desk.storage import Desk, insert_or_ignore, insert_or_update

COMMENT_MAX_CHARS = 500


@dataclass(frozen=True)
class VoteSummary:
    """How merchants rated one article."""

    helpful: int
    unhelpful: int

    @property
    def total(self) -> int:
        """All votes cast."""
        return self.helpful + self.unhelpful


def has_voted(desk: Desk, slug: str, visitor: str | None) -> bool:
    """True when this visitor already voted on this article."""
    if not visitor:
        return False
    query = select(article_votes.c.slug).where(article_votes.c.slug == slug, article_votes.c.visitor == visitor)
    with desk.read() as conn:
        return conn.execute(query).first() is not None


def record_vote(desk: Desk, slug: str, visitor: str, helpful: bool, comment: str = "") -> bool:
    """Store a vote; False (and nothing changed) when this visitor already voted on the article."""
    comment = mask_card_numbers((comment or "").strip()[:COMMENT_MAX_CHARS])
    row = {
        "slug": slug,
        "visitor": visitor,
        "helpful": int(helpful),
        "comment": comment,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with desk.write() as conn:
        return insert_or_ignore(conn, article_votes, row, ("slug", "visitor"))


def vote_summary(desk: Desk, slug: str) -> VoteSummary:
    """Count the helpful and unhelpful votes on an article."""
    query = select(
        func.coalesce(func.sum(article_votes.c.helpful), 0), func.coalesce(func.sum(1 - article_votes.c.helpful), 0)
    ).where(article_votes.c.slug == slug)
    with desk.read() as conn:
        helpful, unhelpful = conn.execute(query).one()
    # sum() of integers is a Decimal on PostgreSQL.
    return VoteSummary(helpful=int(helpful), unhelpful=int(unhelpful))


def recent_comments(desk: Desk, slug: str, limit: int = 5) -> list[tuple[bool, str, str]]:
    """The latest non-empty comments on an article as (helpful, comment, created), newest first."""
    query = (
        select(article_votes.c.helpful, article_votes.c.comment, article_votes.c.created)
        .where(article_votes.c.slug == slug, article_votes.c.comment != "")
        .order_by(article_votes.c.created.desc())
        .limit(limit)
    )
    with desk.read() as conn:
        rows = conn.execute(query).all()
    return [(bool(h), c, t) for h, c, t in rows]


def record_views(desk: Desk, counts: dict[str, int]) -> None:
    """Add a batch of reads ({slug: views}) to the articles' view counts, in one write transaction."""
    rows = [(slug, n) for slug, n in counts.items() if n > 0]
    if not rows:
        return
    with desk.write() as conn:
        for slug, n in sorted(rows):  # one order for every writer: no deadlock between two batches (PostgreSQL)
            insert_or_update(
                conn, article_views, {"slug": slug, "views": n}, ("slug",), {"views": article_views.c.views + n}
            )


def most_viewed(desk: Desk, limit: int = 6) -> list[str]:
    """The slugs of the `limit` most-read articles, most views first (ties by slug); articles never
    read are not among them. Any article may be: the caller keeps those its readers may see."""
    slug = article_views.c.slug
    if desk.backend == "postgresql":
        slug = slug.collate("C")  # byte order, as on SQLite, whatever the database's collation
    query = select(article_views.c.slug).where(article_views.c.views > 0).order_by(article_views.c.views.desc(), slug)
    with desk.read() as conn:
        return list(conn.execute(query.limit(limit)).scalars())
