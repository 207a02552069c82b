"""Merchants' "这篇文章有帮助吗？" votes: one per visitor per article, with an optional comment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlite_utils

from kb.db import write
from triage.redact import mask_card_numbers

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


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the votes table if it does not exist yet."""
    db["article_votes"].create(
        {"slug": str, "visitor": str, "helpful": int, "comment": str, "created": str},
        pk=("slug", "visitor"),
        if_not_exists=True,
    )


def has_voted(db: sqlite_utils.Database, slug: str, visitor: str | None) -> bool:
    """True when this visitor already voted on this article."""
    if not visitor:
        return False
    return (
        db.execute("SELECT 1 FROM article_votes WHERE slug = ? AND visitor = ?", [slug, visitor]).fetchone() is not None
    )


def record_vote(db: sqlite_utils.Database, slug: str, visitor: str, helpful: bool, comment: str = "") -> bool:
    """Store a vote; False (and nothing changed) when this visitor already voted on the article."""
    comment = mask_card_numbers((comment or "").strip()[:COMMENT_MAX_CHARS])
    with write(db):
        cursor = db.execute(
            "INSERT OR IGNORE INTO article_votes (slug, visitor, helpful, comment, created) VALUES (?, ?, ?, ?, ?)",
            [slug, visitor, int(helpful), comment, dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")],
        )
    return cursor.rowcount == 1


def vote_summary(db: sqlite_utils.Database, slug: str) -> VoteSummary:
    """Count the helpful and unhelpful votes on an article."""
    row = db.execute(
        "SELECT coalesce(sum(helpful), 0), coalesce(sum(1 - helpful), 0) FROM article_votes WHERE slug = ?", [slug]
    ).fetchone()
    return VoteSummary(helpful=row[0], unhelpful=row[1])


def recent_comments(db: sqlite_utils.Database, slug: str, limit: int = 5) -> list[tuple[bool, str, str]]:
    """The latest non-empty comments on an article as (helpful, comment, created), newest first."""
    rows = db.execute(
        "SELECT helpful, comment, created FROM article_votes WHERE slug = ? AND comment != '' "
        "ORDER BY created DESC LIMIT ?",
        [slug, limit],
    ).fetchall()
    return [(bool(h), c, t) for h, c, t in rows]
