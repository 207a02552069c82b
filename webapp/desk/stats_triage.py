"""Triage accuracy as agents' decisions measure it, per model version, over the tickets filed in a range.

A ticket counts as decided when an agent (or an integration) set its category (`category_by`) and a
model had predicted one: confirmed when the two agree, corrected otherwise. Auto-routed means the
triage did not ask for review at triage time (the stored prediction's `needs_review`, not the
column, which agents clear).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from webapp.desk.schema import tickets
from webapp.desk.stats import StatsRange, share
from webapp.desk.storage import Desk

CONFUSION_PAIRS = 10


@dataclass(frozen=True)
class CategoryPrecision:
    """Of the decided tickets the model put in `category`, how many agents left there."""

    category: str
    decided: int
    confirmed: int
    precision: float | None


@dataclass(frozen=True)
class Confusion:
    """Decided tickets the model put in `predicted` and agents moved to `actual`."""

    predicted: str
    actual: str
    count: int


@dataclass(frozen=True)
class VersionAccuracy:
    """One model version's figures: `triaged` tickets it decided; of them `auto_routed` needed no
    review, `out_of_scope` it judged not about POS acquiring; `decided` an agent confirmed or
    corrected (`review_rate` = decided / triaged), `confirmed` of those kept the model's category
    (`accuracy`); `auto_accuracy` is the same among auto-routed decided tickets. `precision` per
    predicted category (most decided first), `confusions` the commonest corrections."""

    model_version: str
    triaged: int
    auto_routed: int
    auto_routed_share: float | None
    out_of_scope: int
    out_of_scope_share: float | None
    decided: int
    review_rate: float | None
    confirmed: int
    accuracy: float | None
    auto_decided: int
    auto_confirmed: int
    auto_accuracy: float | None
    precision: list[CategoryPrecision]
    confusions: list[Confusion]


def accuracy(desk: Desk, span: StatsRange) -> list[VersionAccuracy]:
    """Per model version (newest name last), the triage's accuracy from agents' decisions."""
    query = select(
        tickets.c.model_version,
        tickets.c.predicted_category,
        tickets.c.category,
        tickets.c.category_by,
        tickets.c.prediction,
    ).where(tickets.c.created >= span.since, tickets.c.created < span.until, tickets.c.prediction.is_not(None))
    counts: dict[str, Counter] = {}
    decided_by: dict[str, Counter] = {}
    confirmed_by: dict[str, Counter] = {}
    confusions: dict[str, Counter] = {}
    with desk.read() as conn:
        for version, predicted, category, category_by, raw in conn.execute(query):
            version = version or ""
            stored = json.loads(raw)
            auto = not stored.get("needs_review", True)
            c = counts.setdefault(version, Counter())
            c["triaged"] += 1
            c["auto"] += auto
            c["out"] += not stored.get("in_scope", True)
            if not (category_by and predicted and category):
                continue
            right = category == predicted
            c["decided"] += 1
            c["confirmed"] += right
            c["auto_decided"] += auto
            c["auto_confirmed"] += auto and right
            decided_by.setdefault(version, Counter())[predicted] += 1
            confirmed_by.setdefault(version, Counter())[predicted] += right
            if not right:
                confusions.setdefault(version, Counter())[(predicted, category)] += 1
    out = []
    for version in sorted(counts):
        c, decided, confirmed = (
            counts[version],
            decided_by.get(version, Counter()),
            confirmed_by.get(version, Counter()),
        )
        precision = [
            CategoryPrecision(cat, n, confirmed[cat], share(confirmed[cat], n))
            for cat, n in sorted(decided.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
        pairs = sorted(confusions.get(version, Counter()).items(), key=lambda kv: (-kv[1], kv[0]))[:CONFUSION_PAIRS]
        out.append(
            VersionAccuracy(
                model_version=version,
                triaged=c["triaged"],
                auto_routed=c["auto"],
                auto_routed_share=share(c["auto"], c["triaged"]),
                out_of_scope=c["out"],
                out_of_scope_share=share(c["out"], c["triaged"]),
                decided=c["decided"],
                review_rate=share(c["decided"], c["triaged"]),
                confirmed=c["confirmed"],
                accuracy=share(c["confirmed"], c["decided"]),
                auto_decided=c["auto_decided"],
                auto_confirmed=c["auto_confirmed"],
                auto_accuracy=share(c["auto_confirmed"], c["auto_decided"]),
                precision=precision,
                confusions=[Confusion(p, a, n) for (p, a), n in pairs],
            )
        )
    return out
