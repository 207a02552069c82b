"""Bursts: a category or response code whose tickets in the last few hours far exceed its usual rate
(sign-on failures after a host change, say), for the dashboard to flag and an admin to announce.

The last `hours` are compared with the same-length windows of the BASELINE_DAYS before them. A key
(a category: the agent's, else the triage's; or a response code the triage found) is flagged when
its count now is at least `minimum`, at least FACTOR times the baseline mean and at least the mean
plus SIGMAS standard deviations.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

from sqlalchemy import func, select

from triage.prediction import OUT_OF_SCOPE
from webapp.desk.schema import tickets
from webapp.desk.stats import parse_stamp
from webapp.desk.storage import Desk

BASELINE_DAYS = 7
FACTOR = 3.0
SIGMAS = 3.0
EXAMPLES = 3


@dataclass(frozen=True)
class Burst:
    """One flagged key: `kind` "category" or "code", its `key`, the count in the last `hours`, the
    baseline's mean and standard deviation per window, and the newest tickets as (id, masked preview)."""

    kind: str
    key: str
    count: int
    hours: int
    baseline_mean: float
    baseline_std: float
    since: str
    examples: list[tuple[int, str]]


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bursts(desk: Desk, at: str, hours: int = 3, minimum: int = 5) -> list[Burst]:
    """The categories and response codes bursting in the `hours` before `at`, largest first."""
    end = parse_stamp(at)
    width = dt.timedelta(hours=hours)
    windows = BASELINE_DAYS * 24 // hours
    start = end - width * (windows + 1)
    query = select(
        tickets.c.id,
        tickets.c.created,
        func.coalesce(tickets.c.category, tickets.c.predicted_category),
        tickets.c.prediction,
        tickets.c.preview,
    ).where(tickets.c.created >= _stamp(start), tickets.c.created < at)
    counts: dict[tuple[str, str], list[int]] = {}
    recent: dict[tuple[str, str], list[tuple[int, str]]] = {}
    with desk.read() as conn:
        for ticket_id, created, category, raw, preview in conn.execute(query):
            window = min(int((end - parse_stamp(created)) / width), windows)  # 0: the last `hours`
            keys = [("category", category)] if category and category != OUT_OF_SCOPE else []
            keys += [("code", code) for code in (json.loads(raw).get("codes", ()) if raw else ())]
            for key in keys:
                counts.setdefault(key, [0] * (windows + 1))[window] += 1
                if window == 0:
                    recent.setdefault(key, []).append((ticket_id, preview or ""))
    flagged = []
    for (kind, key), series in counts.items():
        now, baseline = series[0], series[1:]
        mean = sum(baseline) / windows
        std = math.sqrt(sum((n - mean) ** 2 for n in baseline) / windows)
        if now >= minimum and now >= FACTOR * mean and now >= mean + SIGMAS * std:
            examples = sorted(recent[(kind, key)], reverse=True)[:EXAMPLES]
            flagged.append(Burst(kind, key, now, hours, round(mean, 2), round(std, 2), _stamp(end - width), examples))
    return sorted(flagged, key=lambda b: (-b.count, b.kind, b.key))
