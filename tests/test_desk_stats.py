"""The dashboard's figures on a desk with known tickets: volumes per China day, the backlog, response
and resolution times, triage accuracy from agents' decisions per model version, and bursts."""

import datetime as dt

import pytest
from stats_helpers import add_ticket, china, stamp

from triage.prediction import OUT_OF_SCOPE
from webapp.desk import stats, stats_bursts, stats_triage

DAY = stats.StatsRange(dt.date(2026, 11, 2), dt.date(2026, 11, 4))


def test_range_defaults_to_the_last_30_days_and_refuses_bad_dates():
    span = stats.parse_range(None, "2026-11-30")
    assert (span.start, span.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert span.since == "2026-10-31T16:00:00Z" and span.until == "2026-11-30T16:00:00Z"  # China days
    for bad in [("2026-13-01", None), ("20261101", None), ("2026-11-05", "2026-11-01"), ("2025-01-01", "2026-11-30")]:
        with pytest.raises(stats.RangeError) as refused:
            stats.parse_range(*bad)
        assert refused.value.message  # a Chinese message for the person


def test_volume_counts_tickets_per_china_day_and_category(desk):
    add_ticket(desk, china("2026-11-02", "00:30"), "settlement")  # 2026-11-01T16:30Z, but the 2nd in China
    add_ticket(desk, china("2026-11-02", "23:59"), "settlement")
    add_ticket(desk, china("2026-11-04", "09:00"), "settlement", agent="network-host")  # the agent's category wins
    add_ticket(desk, china("2026-11-04", "09:30"), None)  # untriaged
    add_ticket(desk, china("2026-11-05", "00:10"), "settlement")  # after the range
    add_ticket(desk, china("2026-11-01", "23:50"), "settlement")  # before it

    volume = stats.volume(desk, DAY)

    assert volume.days == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert volume.counts == {"settlement": [2, 0, 0], "": [0, 0, 1], "network-host": [0, 0, 1]}
    assert volume.total == 4


def test_backlog_counts_unresolved_tickets_by_status(desk):
    add_ticket(desk, china("2026-11-02"), status="pending")
    add_ticket(desk, china("2026-11-02"))
    add_ticket(desk, china("2026-11-02"), status="resolved")

    assert stats.backlog(desk) == {"new": 1, "open": 0, "pending": 1}


def test_times_give_median_p90_and_the_share_that_missed_a_due_time(desk):
    start = china("2026-11-03", "09:00")
    minutes = [10, 20, 30, 40, 50, 60, 70, 80, 90, 600]
    for m in minutes:  # answered after m minutes, due after 60: 70, 80, 90 and 600 are late
        add_ticket(
            desk,
            start,
            responded=start + dt.timedelta(minutes=m),
            first_due=start + dt.timedelta(minutes=60),
            resolved=start + dt.timedelta(hours=2 * (m == 10) + 1),
            resolution_due=start + dt.timedelta(hours=24),
        )
    at = stamp(china("2026-11-05"))
    times = stats.times(desk, DAY, at)

    assert times.tickets == 10 and times.responded == 10
    assert times.first_response_median == 55.0
    assert times.first_response_p90 == 90.0
    assert times.resolved == 10 and times.resolution_median == 60.0 and times.resolution_p90 == 60.0
    assert times.first_response_overdue == 4 and times.resolution_overdue == 0
    assert times.overdue_share == 0.4


def test_an_unanswered_ticket_past_its_due_time_is_overdue_and_one_reopened_counts_its_last_resolution(desk):
    start = china("2026-11-03", "09:00")
    add_ticket(desk, start, first_due=start + dt.timedelta(hours=1), resolution_due=start + dt.timedelta(hours=4))
    reopened = add_ticket(desk, start, resolved=start + dt.timedelta(hours=1), responded=start)
    from sqlalchemy import insert

    from webapp.desk.schema import ticket_events

    with desk.write() as conn:
        for hours, new in ((2, "open"), (5, "resolved"), (6, "closed")):
            row = {"ticket_id": reopened, "at": stamp(start + dt.timedelta(hours=hours)), "actor": "lina"}
            conn.execute(insert(ticket_events).values(**row, action="status", old="x", new=new))

    times = stats.times(desk, DAY, stamp(start + dt.timedelta(hours=3)))

    assert times.first_response_overdue == 1 and times.resolution_overdue == 0  # resolution due in an hour still
    assert times.resolution_median == 300.0  # 5 hours: resolved again after reopening, closing changes nothing
    later = stats.times(desk, DAY, stamp(start + dt.timedelta(hours=5)))
    assert later.resolution_overdue == 1 and later.overdue == 1


def test_triage_accuracy_comes_from_agents_decisions_per_model_version(desk):
    when = china("2026-11-03")
    # v1: 4 auto-routed settlement tickets, agents confirmed 2 and moved 1 to network-host; 1 undecided.
    for agent in ("settlement", "settlement", "network-host", None):
        add_ticket(desk, when, "settlement", agent=agent, version="v1")
    # v1: 2 that needed review, both corrected to operation; 1 out of scope nobody looked at.
    for _ in range(2):
        add_ticket(desk, when, "limits", agent="operation", needs_review=True, confidence=0.3, version="v1")
    add_ticket(desk, when, "limits", needs_review=True, in_scope=False, version="v1")
    # v2: one confirmed.
    add_ticket(desk, when, "limits", agent="limits", version="v2")

    v1, v2 = stats_triage.accuracy(desk, DAY)

    assert (v1.model_version, v1.triaged, v1.decided, v1.confirmed) == ("v1", 7, 5, 2)
    assert v1.accuracy == 0.4 and v1.review_rate == round(5 / 7, 4)
    assert (v1.auto_routed, v1.auto_decided, v1.auto_confirmed, v1.auto_accuracy) == (4, 3, 2, round(2 / 3, 4))
    assert v1.out_of_scope == 1 and v1.out_of_scope_share == round(1 / 7, 4)
    precision = {p.category: (p.decided, p.confirmed, p.precision) for p in v1.precision}
    assert precision == {"settlement": (3, 2, round(2 / 3, 4)), "limits": (2, 0, 0.0)}
    assert [(c.predicted, c.actual, c.count) for c in v1.confusions] == [
        ("limits", "operation", 2),
        ("settlement", "network-host", 1),
    ]
    assert (v2.model_version, v2.decided, v2.accuracy) == ("v2", 1, 1.0)


def test_auto_routed_is_what_the_triage_said_not_the_column_agents_clear(desk):
    add_ticket(desk, china("2026-11-03"), "limits", agent="limits", needs_review=True, confidence=0.3)
    (v1,) = stats_triage.accuracy(desk, DAY)
    assert v1.auto_routed == 0 and v1.decided == 1  # setting the category cleared needs_review; still reviewed


def _burst_desk(desk, now, recent: int, per_window: list[int], category="network-host", codes=("A0",)):
    for _ in range(recent):
        add_ticket(desk, now - dt.timedelta(minutes=30), category, codes=codes, text="签到失败 应答码A0")
    for window, n in enumerate(per_window, start=1):
        for _ in range(n):
            add_ticket(desk, now - dt.timedelta(hours=3 * window + 1), category, codes=codes)


def test_a_category_and_code_far_above_their_baseline_are_flagged(desk):
    now = china("2026-11-20", "12:00")
    _burst_desk(desk, now, recent=8, per_window=[1, 0, 1, 0, 1, 0, 0, 1])
    add_ticket(desk, now - dt.timedelta(minutes=10), "settlement")  # one ticket: no burst

    found = stats_bursts.bursts(desk, stamp(now), hours=3, minimum=5)

    assert {(b.kind, b.key, b.count) for b in found} == {("category", "network-host", 8), ("code", "A0", 8)}
    burst = found[0]
    assert burst.baseline_mean == round(4 / 56, 2) and len(burst.examples) == 3
    assert "签到失败" in burst.examples[0][1]


@pytest.mark.parametrize(
    "recent, baseline",
    [
        (4, []),  # below the minimum count
        (8, [3] * 56),  # the usual rate: 8 is under 3× the mean of 3
        (8, [0] * 50 + [8, 8, 8, 8, 8, 8]),  # often this high before: under mean + 3 sd
    ],
)
def test_counts_near_their_usual_rate_are_not_flagged(desk, recent, baseline):
    now = china("2026-11-20", "12:00")
    _burst_desk(desk, now, recent, baseline)
    assert stats_bursts.bursts(desk, stamp(now), hours=3, minimum=5) == []


def test_out_of_scope_tickets_are_no_burst(desk):
    now = china("2026-11-20", "12:00")
    for _ in range(6):
        add_ticket(desk, now - dt.timedelta(minutes=5), "limits", in_scope=False)
    assert [b.key for b in stats_bursts.bursts(desk, stamp(now))] == []
    assert stats.volume(desk, stats.StatsRange(now.date(), now.date())).counts == {OUT_OF_SCOPE: [6]}
