"""Whether the FAQ deflects tickets and what it lacks: the deflection funnel at the 30-minute edge,
searches with no result or no click, article votes, off-topic tickets agents kept, and clusters of
low-confidence tickets."""

import datetime as dt

from sqlalchemy import insert
from stats_helpers import add_event, add_ticket, china, stamp

from webapp.desk import stats, stats_clusters, stats_funnel, stats_gaps
from webapp.desk.schema import article_votes

DAY = stats.StatsRange(dt.date(2026, 11, 3), dt.date(2026, 11, 3))
T = china("2026-11-03", "10:00")


def minutes(n: float) -> dt.datetime:
    return T + dt.timedelta(minutes=n)


def test_funnel_tells_filed_from_abandoned_and_still_open_at_the_30_minute_edge(desk):
    # Filed: a ticket exactly 30 minutes after the last suggestion.
    add_event(desk, minutes(0), "suggest", "filed", query="签到失败", results=3)
    add_event(desk, minutes(30), "ticket", "filed", ticket_id=1)
    # Abandoned: opened an article from the suggestions, and no ticket within 30 minutes of that.
    add_event(desk, minutes(0), "suggest", "reader", query="退货", results=2)
    add_event(desk, minutes(2), "article", "reader", query="退货", slug="refund-void-permission")
    add_event(desk, minutes(33), "ticket", "reader", ticket_id=2)  # 31 minutes after the article: too late
    # Still open: their last step was 20 minutes before now.
    add_event(desk, minutes(40), "suggest", "typing", query="结算", results=1)
    # Not in the funnel: suggestions that showed nothing, an article opened from nowhere, no visitor id.
    add_event(desk, minutes(0), "suggest", "nothing", query="abc", results=0)
    add_event(desk, minutes(0), "article", "direct", slug="settlement-delay")
    add_event(desk, minutes(0), "suggest", None, query="签到", results=4)

    funnel = stats_funnel.funnel(desk, DAY, stamp(minutes(60)))

    assert (funnel.shown, funnel.opened) == (3, 1)
    assert funnel.outcome == stats_funnel.Outcome(filed=1, abandoned=1, still_open=1)
    assert funnel.opened_outcome == stats_funnel.Outcome(filed=0, abandoned=1, still_open=0)
    assert funnel.deflection_rate == 0.5
    later = stats_funnel.funnel(desk, DAY, stamp(minutes(70)))  # 30 minutes after "typing" stopped
    assert later.outcome == stats_funnel.Outcome(filed=1, abandoned=2, still_open=0)


def test_searches_with_no_result_and_with_no_click_are_grouped_by_normalised_query(desk):
    for n, visitor in enumerate(("a", "b", None)):
        add_event(desk, minutes(n), "search", visitor, query="ＰＯＳ机 蓝屏", results=0)  # full width folds
    add_event(desk, minutes(5), "search", "c", query="结算 延迟", results=4)  # clicked within 30 minutes
    add_event(desk, minutes(20), "article", "c", query="结算 延迟", slug="settlement-delay")
    add_event(desk, minutes(6), "search", "d", query="结算 延迟", results=4)  # no click from d
    add_event(desk, minutes(6), "search", "e", query="退款", results=2)  # clicked, but 40 minutes later
    add_event(desk, minutes(46), "article", "e", query="退款", slug="refund")
    add_event(desk, minutes(7), "search", None, query="退款", results=2)  # cannot be followed

    found = stats_funnel.searches(desk, DAY)

    assert found.searches == 7
    assert [(q.query, q.count, q.last_seen) for q in found.no_result] == [("pos机 蓝屏", 3, stamp(minutes(2)))]
    assert {(q.query, q.count) for q in found.no_click} == {("结算 延迟", 1), ("退款", 1)}
    assert found.no_click_total == 2 and found.no_click_unknown == 1


def test_votes_per_article_in_the_range_with_comments(desk):
    rows = [
        ("refund", "a", 1, "步骤清楚", T),
        ("refund", "b", 0, "没有说到预授权", T),
        ("refund", "c", 1, "", T),
        ("refund", "d", 0, "上个月的", T - dt.timedelta(days=30)),
        ("sign-on", "a", 0, "", T),
    ]
    with desk.write() as conn:
        for slug, visitor, helpful, comment, when in rows:
            values = {"slug": slug, "visitor": visitor, "helpful": helpful, "comment": comment, "created": stamp(when)}
            conn.execute(insert(article_votes).values(**values))

    refund, sign_on = stats_funnel.votes(desk, DAY)

    assert (refund.slug, refund.helpful, refund.unhelpful) == ("refund", 2, 1)
    assert sorted(c for _, c, _ in refund.comments) == ["步骤清楚", "没有说到预授权"]
    assert (sign_on.slug, sign_on.helpful, sign_on.unhelpful, sign_on.comments) == ("sign-on", 0, 1, [])


def test_out_of_scope_tickets_agents_put_in_a_cause_category_are_a_gap(desk):
    for _ in range(2):
        add_ticket(desk, T, "limits", in_scope=False, agent="settlement", text="我的钱怎么还没到 13812345678")
    add_ticket(desk, T, "limits", in_scope=False, agent="out-of-scope")  # agents agreed: no gap
    add_ticket(desk, T, "limits", in_scope=False)  # nobody decided

    (gap,) = stats_gaps.off_topic(desk, DAY)

    assert (gap.category, gap.count, len(gap.examples)) == ("settlement", 2, 2)
    assert "13812345678" not in gap.examples[0].preview  # the queue's masked preview, never the number


SIGN_ON = [
    "终端签到失败，提示主机连接失败",
    "签到失败，一直连不上主机",
    "POS 签到不了，主机连接失败怎么办",
    "早上开机签到失败连接主机失败",
]
PAPER = ["打印小票没有纸了，换纸以后打不出来", "换了打印纸还是打印不出小票", "小票打印机不出纸，换纸也不行"]


def test_low_confidence_tickets_cluster_by_similar_text_with_counts_and_examples(desk, triager):
    for text in SIGN_ON + PAPER:
        add_ticket(desk, T, "network-host", needs_review=True, confidence=0.3, text=text)
    add_ticket(desk, T, "network-host", text="签到失败 主机连接失败")  # confident: not a gap
    add_ticket(desk, T, "limits", needs_review=True, in_scope=False, text="签到失败 主机")  # out of scope: its own gap

    clustering = stats_clusters.clusters(desk, DAY, triager)

    assert clustering.features == f"model {triager.version}"
    assert clustering.tickets == 7
    groups = sorted(clustering.clusters, key=lambda c: -c.count)
    assert [c.count for c in groups] == [4, 3]
    assert {p for _, p in groups[0].examples} <= set(SIGN_ON) and len(groups[0].examples) == 3
    assert {p for _, p in groups[1].examples} <= set(PAPER)
    assert any("签到" in t for t in groups[0].terms)
    assert any("纸" in t or "打印" in t for t in groups[1].terms)
    assert stats_clusters.clusters(desk, DAY, triager) is clustering  # cached until a ticket arrives
    add_ticket(desk, T, "network-host", needs_review=True, text="签到失败")
    assert stats_clusters.clusters(desk, DAY, triager).tickets == 8


def test_without_a_model_clusters_use_tfidf_over_the_analysed_words(desk):
    for text in SIGN_ON + PAPER:
        add_ticket(desk, T, "network-host", needs_review=True, confidence=0.3, text=text)

    clustering = stats_clusters.clusters(desk, DAY, None)

    assert clustering.features == "tfidf"
    assert sorted(c.count for c in clustering.clusters) == [3, 4]


def test_clustering_reads_at_most_the_configured_number_of_tickets(desk):
    for text in SIGN_ON:
        add_ticket(desk, T, "network-host", needs_review=True, text=text)
    assert stats_clusters.clusters(desk, DAY, None, limit=3).tickets == 3


def test_no_result_searches_about_something_else_are_told_apart_from_missing_articles(desk, triager):
    add_event(desk, minutes(1), "search", "a", query="房贷提前还款要怎么申请", results=0)
    add_event(desk, minutes(2), "search", "b", query="退货一直显示没有权限", results=0)

    marked = {q.query: q.in_scope for q in stats_gaps.gaps(desk, DAY, triager).searches.no_result}

    assert marked == {"房贷提前还款要怎么申请": False, "退货一直显示没有权限": True}
    assert {q.in_scope for q in stats_gaps.gaps(desk, DAY, None).searches.no_result} == {None}  # no model
