"""Merchants' feedback in the desk: one vote per visitor per article, comments masked and newest
first, reads added up in batches, and the home page's most-read articles (the counts from the desk,
the articles from the node's knowledge index)."""

from __future__ import annotations

import re

import pytest

from webapp.deferred import DeferredWrites
from webapp.desk import accounts
from webapp.desk.feedback import (
    COMMENT_MAX_CHARS,
    has_voted,
    most_viewed,
    recent_comments,
    record_views,
    record_vote,
    vote_summary,
)


def test_a_visitor_votes_once_per_article(desk):
    assert not has_voted(desk, "printer-issue", "v1") and not has_voted(desk, "printer-issue", None)
    assert record_vote(desk, "printer-issue", "v1", True, "很清楚")
    assert not record_vote(desk, "printer-issue", "v1", False, "改主意了")
    assert record_vote(desk, "printer-issue", "v2", False)
    assert record_vote(desk, "wifi-setup", "v1", False)
    assert has_voted(desk, "printer-issue", "v1") and not has_voted(desk, "printer-issue", "V1")
    summary = vote_summary(desk, "printer-issue")
    assert (summary.helpful, summary.unhelpful, summary.total) == (1, 1, 2)
    assert type(summary.helpful) is int and type(summary.unhelpful) is int  # not PostgreSQL's Decimal
    assert vote_summary(desk, "no-votes-yet").total == 0
    assert [(h, c) for h, c, _ in recent_comments(desk, "printer-issue")] == [(True, "很清楚")]  # none for v2


def test_comments_are_cut_masked_and_newest_first(desk):
    record_vote(desk, "printer-issue", "v1", True, "卡号 6222 0212 3456 7890 123 刷不了" + "长" * 600)
    stored = recent_comments(desk, "printer-issue")[0][1]
    assert "6222 0212 3456 7890 123" not in stored and len(stored) <= COMMENT_MAX_CHARS
    from sqlalchemy import update

    from webapp.desk.schema import article_votes

    for n in range(2, 8):
        record_vote(desk, "printer-issue", f"v{n}", n % 2 == 0, f"评论{n}")
        with desk.write() as conn:  # distinct times without sleeping
            conn.execute(
                update(article_votes)
                .where(article_votes.c.visitor == f"v{n}")
                .values(created=f"2030-01-01T00:00:0{n}Z")
            )
    comments = recent_comments(desk, "printer-issue", 3)
    assert [c for _, c, _ in comments] == ["评论7", "评论6", "评论5"]
    assert [h for h, _, _ in comments] == [False, True, False]


def test_reads_add_up_and_rank_by_views_then_slug(desk):
    assert most_viewed(desk, 5) == []
    record_views(desk, {"wifi-setup": 2, "printer-issue": 1, "never": 0})
    record_views(desk, {"printer-issue": 2, "a-z": 1, "a_b": 1, "a-b": 1, "B": 1})
    assert most_viewed(desk, 2) == ["printer-issue", "wifi-setup"]
    # Ties by slug in byte order, whatever the database's collation.
    assert most_viewed(desk, 10) == ["printer-issue", "wifi-setup", "B", "a-b", "a-z", "a_b"]
    record_views(desk, {})


def test_views_and_token_uses_are_written_in_one_transaction(desk, monkeypatch):
    token, _ = accounts.create_token(desk, "flush", "pytest")
    writes = DeferredWrites(flush_count=100)
    writes.count_view("printer-issue")
    writes.count_view("printer-issue")
    writes.note_token_use(token.id, "2030-01-01T00:00:00Z")

    def fail(*args):
        raise RuntimeError("the desk went away")

    monkeypatch.setattr("webapp.deferred.record_token_uses", fail)
    with pytest.raises(RuntimeError):
        writes.flush(desk)
    assert most_viewed(desk, 5) == [], "the views written before the failure were rolled back"
    assert writes.pending() == ({"printer-issue": 2}, {token.id: "2030-01-01T00:00:00Z"}, [])
    monkeypatch.undo()
    assert writes.flush(desk) == 2
    assert most_viewed(desk, 5) == ["printer-issue"]
    assert accounts.list_tokens(desk)[0].last_used == "2030-01-01T00:00:00Z"
    assert writes.pending() == ({}, {}, [])


def _popular(client) -> list[str]:
    page = client.get("/").get_data(as_text=True)
    popular = page[page.index("大家都在看") :]
    popular = popular[: popular.index("</ol>")]
    return re.findall(r'<li><a href="/articles/([^"]+)"', popular)


def test_the_home_page_shows_the_most_read_public_articles_then_others_by_slug(app):
    from kb.store import list_articles
    from webapp.db import get_desk, get_kb

    with app.app_context():
        public = [a.slug for a in list_articles(get_kb())]
        # Internal articles and ones no longer in the knowledge base are read too, but never shown.
        record_views(
            get_desk(),
            {"agent-risk-review": 50, "removed-article": 40, "wifi-setup": 3, "printer-issue": 3, "network-failure": 9},
        )
    shown = _popular(app.test_client())
    expected = ["network-failure", "printer-issue", "wifi-setup"]
    expected += [s for s in public if s not in expected][: 8 - len(expected)]
    assert shown == expected


def test_the_home_page_skips_many_hidden_reads(app):
    from webapp.db import get_desk

    with app.app_context():
        # More hidden articles read than the home page shows: the ranking is asked for again, longer.
        record_views(get_desk(), {f"gone-{n:02}": 100 + n for n in range(20)} | {"wifi-setup": 1})
    assert _popular(app.test_client())[0] == "wifi-setup"
