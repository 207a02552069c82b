"""The support lead's figures over a range of days: ticket volumes per day and category, the open
backlog, first-response and resolution times, and `collect`, which assembles every figure (these and
those of `stats_triage`, `stats_funnel`, `stats_gaps`, `stats_bursts`) for both `/api/v1/stats` and
the dashboard, so the two always show the same numbers.

Days are China days (Asia/Shanghai, as the desk queue's date filter counts them); times are minutes.
Everything is SQL aggregates or one linear pass over the range's rows.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

from sqlalchemy import func, select

from webapp.desk.schema import ticket_events, tickets
from webapp.desk.storage import Desk, now

CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
UNRESOLVED = ("new", "open", "pending")
DONE = ("resolved", "closed")
UNTRIAGED = ""  # the category key of tickets no model or agent has categorised yet
MAX_DAYS = 366
FIRST_DAY, LAST_DAY = dt.date(1970, 1, 2), dt.date(9998, 12, 30)  # no ticket falls outside these
DEFAULT_DAYS = 30


class RangeError(ValueError):
    """A range refused: a malformed date, an end before the start, or longer than MAX_DAYS.
    `str(e)` is English (the API's `error`); `message` is Chinese for a person."""

    def __init__(self, text: str, message: str) -> None:
        super().__init__(text)
        self.message = message


@dataclass(frozen=True)
class StatsRange:
    """China days from `start` to `end`, both included."""

    start: dt.date
    end: dt.date

    @property
    def since(self) -> str:
        """The first moment of the range as stored (UTC text)."""
        return _stored(dt.datetime.combine(self.start, dt.time(), CHINA_TIME))

    @property
    def until(self) -> str:
        """The first moment after the range as stored (exclusive)."""
        return _stored(dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), CHINA_TIME))

    @property
    def days(self) -> list[str]:
        """Every day of the range, "YYYY-MM-DD"."""
        count = (self.end - self.start).days + 1
        return [(self.start + dt.timedelta(days=i)).isoformat() for i in range(count)]


def today() -> dt.date:
    """Today in China."""
    return dt.datetime.now(CHINA_TIME).date()


def parse_range(start: str | None, end: str | None, default_days: int = DEFAULT_DAYS) -> StatsRange:
    """The range "YYYY-MM-DD" to "YYYY-MM-DD" (both optional: `end` defaults to today in China,
    `start` to `default_days` days ending on `end`); RangeError for a malformed date, one outside
    FIRST_DAY-LAST_DAY, an end before the start or a range over MAX_DAYS days."""

    def day(value: str, label: str) -> dt.date:
        try:
            if len(value) != 10 or not value.isascii():
                raise ValueError(value)
            found = dt.date.fromisoformat(value)
        except ValueError:
            raise RangeError(f"{label} must be a date YYYY-MM-DD", f"{label} 必须是 YYYY-MM-DD 格式的日期") from None
        if not FIRST_DAY <= found <= LAST_DAY:
            raise RangeError(
                f"{label} must be from {FIRST_DAY} to {LAST_DAY}", f"{label} 必须在 {FIRST_DAY} 到 {LAST_DAY} 之间"
            )
        return found

    last = day(end, "to") if end else today()
    first = day(start, "from") if start else last - dt.timedelta(days=default_days - 1)
    if last < first:
        raise RangeError("to must not be before from", "结束日期（to）不能早于开始日期（from）")
    if (last - first).days + 1 > MAX_DAYS:
        raise RangeError(f"the range may cover at most {MAX_DAYS} days", f"日期范围最多 {MAX_DAYS} 天")
    return StatsRange(first, last)


def _stored(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(stamp: str) -> dt.datetime:
    """A stored UTC stamp as an aware datetime."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def china_day(stamp: str) -> str:
    """The China day ("YYYY-MM-DD") of a stored stamp (or of its hour prefix "YYYY-MM-DDTHH")."""
    if len(stamp) == 13:
        stamp += ":00:00Z"
    return parse_stamp(stamp).astimezone(CHINA_TIME).date().isoformat()


def minutes_between(start: str, end: str) -> float:
    """Minutes from one stored stamp to another."""
    return (parse_stamp(end) - parse_stamp(start)).total_seconds() / 60


def median(values: list[float]) -> float | None:
    """The median (mean of the two middle values for an even count); None for no values."""
    if not values:
        return None
    ordered, n = sorted(values), len(values)
    middle = n // 2
    return round(ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2, 1)


def p90(values: list[float]) -> float | None:
    """The 90th percentile by nearest rank (the smallest value at least 90% of values do not exceed)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[math.ceil(0.9 * len(ordered)) - 1], 1)


def share(part: int, whole: int) -> float | None:
    """part / whole to four places; None when there is no whole."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class Volume:
    """Tickets filed per China day and category (agent's category, else the triage's; UNTRIAGED
    when neither): `days` every day of the range, `counts` {category: one count per day}, the
    categories ordered by their total, largest first."""

    days: list[str]
    counts: dict[str, list[int]]
    total: int


@dataclass(frozen=True)
class Times:
    """First-response and resolution times of the tickets filed in the range, in minutes.

    First response: filing to the first public agent reply. Resolution: filing to the moment the
    ticket last became resolved or closed (tickets done now only). A ticket missed its first
    response when the reply came after its due time or has not come and the due time has passed;
    it missed its resolution likewise. `overdue_share` is the share that missed either.
    """

    tickets: int
    responded: int
    first_response_median: float | None
    first_response_p90: float | None
    resolved: int
    resolution_median: float | None
    resolution_p90: float | None
    first_response_overdue: int
    resolution_overdue: int
    overdue: int
    overdue_share: float | None


def volume(desk: Desk, span: StatsRange) -> Volume:
    """Tickets filed per day and category in the range (grouped by hour in SQL, by China day here)."""
    hour = func.substr(tickets.c.created, 1, 13)
    category = func.coalesce(tickets.c.category, tickets.c.predicted_category, UNTRIAGED)
    query = (
        select(hour, category, func.count())
        .where(tickets.c.created >= span.since, tickets.c.created < span.until)
        .group_by(hour, category)
    )
    with desk.read() as conn:
        rows = conn.execute(query).all()
    days = span.days
    index = {d: i for i, d in enumerate(days)}
    counts: dict[str, list[int]] = {}
    for stamp, cat, n in rows:
        counts.setdefault(cat, [0] * len(days))[index[china_day(stamp)]] += n
    ordered = dict(sorted(counts.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
    return Volume(days, ordered, sum(map(sum, ordered.values())))


def backlog(desk: Desk) -> dict[str, int]:
    """The open backlog now: unresolved tickets per status (new, open, pending), zeros included."""
    query = select(tickets.c.status, func.count()).where(tickets.c.status.in_(UNRESOLVED)).group_by(tickets.c.status)
    with desk.read() as conn:
        found = dict(conn.execute(query).all())
    return {status: int(found.get(status, 0)) for status in UNRESOLVED}


def _resolved_at(conn, span: StatsRange) -> dict[int, str]:
    """{ticket id: when it last became resolved or closed} for the range's tickets that are done."""
    in_range = select(tickets.c.id).where(tickets.c.created >= span.since, tickets.c.created < span.until)
    query = (
        select(ticket_events.c.ticket_id, ticket_events.c.at, ticket_events.c.new)
        .where(ticket_events.c.action == "status", ticket_events.c.ticket_id.in_(in_range))
        .order_by(ticket_events.c.ticket_id, ticket_events.c.at, ticket_events.c.id)
    )
    done: dict[int, str] = {}
    for ticket_id, at, new in conn.execute(query):
        if new in DONE:
            done.setdefault(ticket_id, at)  # the first of a run of done statuses (resolved, then closed)
        else:
            done.pop(ticket_id, None)  # reopened: a later resolution counts
    return done


def times(desk: Desk, span: StatsRange, at: str | None = None) -> Times:
    """First-response and resolution times (median, p90) and due times missed, for the range's tickets."""
    at = at or now()
    columns = (
        tickets.c.id,
        tickets.c.created,
        tickets.c.status,
        tickets.c.first_responded_at,
        tickets.c.first_response_due,
        tickets.c.resolution_due,
    )
    query = select(*columns).where(tickets.c.created >= span.since, tickets.c.created < span.until)
    with desk.read() as conn:
        rows = conn.execute(query).all()
        resolved_at = _resolved_at(conn, span)
    first, resolution = [], []
    late_first = late_resolution = late = 0
    for row in rows:
        done = row.status in DONE and row.id in resolved_at
        if row.first_responded_at:
            first.append(minutes_between(row.created, row.first_responded_at))
        if done:
            resolution.append(minutes_between(row.created, resolved_at[row.id]))
        due = row.first_response_due
        missed_first = bool(due) and (
            row.first_responded_at > due if row.first_responded_at else (row.status not in DONE and due < at)
        )
        due = row.resolution_due
        missed_resolution = bool(due) and (resolved_at[row.id] > due if done else (row.status not in DONE and due < at))
        late_first += missed_first
        late_resolution += missed_resolution
        late += missed_first or missed_resolution
    return Times(
        tickets=len(rows),
        responded=len(first),
        first_response_median=median(first),
        first_response_p90=p90(first),
        resolved=len(resolution),
        resolution_median=median(resolution),
        resolution_p90=p90(resolution),
        first_response_overdue=late_first,
        resolution_overdue=late_resolution,
        overdue=late,
        overdue_share=share(late, len(rows)),
    )


@dataclass(frozen=True)
class StatsSettings:
    """The limits `collect` works within (from the app's configuration)."""

    burst_hours: int = 3
    burst_min: int = 5
    cluster_tickets: int = 300


@dataclass
class Stats:
    """Every figure of the dashboard for one range (see each part's dataclass for its meaning)."""

    start: str
    end: str
    generated: str
    volume: Volume
    backlog: dict[str, int]
    times: Times
    triage: object
    funnel: object
    votes: list
    gaps: object
    bursts: list = field(default_factory=list)
    reverify: list = field(default_factory=list)  # [{slug, title, reverify_by}]: published, past the date

    def to_dict(self) -> dict:
        """A JSON-ready dict of every figure."""
        return asdict(self)


def collect(desk: Desk, span: StatsRange, settings: StatsSettings, triager=None, at: str | None = None) -> Stats:
    """Every figure for the range, as `/api/v1/stats` answers and the dashboard draws them.
    `triager`: the current model, whose features cluster the low-confidence tickets (TF-IDF over the
    analysed words without one)."""
    from webapp.desk import article_edits, stats_bursts, stats_funnel, stats_gaps, stats_triage

    at = at or now()
    return Stats(
        start=span.start.isoformat(),
        end=span.end.isoformat(),
        generated=at,
        volume=volume(desk, span),
        backlog=backlog(desk),
        times=times(desk, span, at),
        triage=stats_triage.accuracy(desk, span),
        funnel=stats_funnel.funnel(desk, span, at),
        votes=stats_funnel.votes(desk, span),
        gaps=stats_gaps.gaps(desk, span, triager, settings.cluster_tickets),
        bursts=stats_bursts.bursts(desk, at, settings.burst_hours, settings.burst_min),
        reverify=[
            {"slug": slug, "title": title, "reverify_by": date}
            for slug, title, date in article_edits.articles_past_reverify(desk)
        ],
    )
