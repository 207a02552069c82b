"""Whether a newly trained model earns promotion: the evaluation sets (held-out split, blind sets,
recent agent decisions), a model's metrics on each, and the rule comparing a candidate with the
current model within stated tolerances.

Pure functions over models and tickets; where the versions' files live is `triage.versions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triage.dataset import LabelledTicket, read_tickets, split, stratified_sample
from triage.evaluation import evaluate
from triage.model import Triager
from triage.prediction import OUT_OF_SCOPE

DEFAULT_TOLERANCE = 0.01
# A model that sends more tickets to review can look more accurate on the few it routes alone: it
# may route a smaller share only within this (5 points: a day's review queue grows by a twentieth).
DEFAULT_SHARE_TOLERANCE = 0.05
# The newest agent decisions held out of a candidate's training and used to judge it.
RECENT_SHARE = 0.2
RECENT_CAP = 200
RECENT_MINIMUM = 10  # fewer than this held out says nothing: the set is skipped
# Held-out tickets both models are scored on (a category-stratified sample past it): 5,000 tell a
# 0.01 macro-F1 drop apart as well as 25,000 do, and scoring 25,000 twice added 8 s to training.
HELD_OUT_CAP = 5_000
SET_LABELS = {"held_out": "留出集", "blind": "盲测集", "recent": "近期客服确认工单"}
FIGURE_LABELS = {"macro_f1": "macro-F1", "auto_accuracy": "自动分派准确率", "auto_share": "自动分派比例"}


@dataclass(frozen=True)
class Tolerances:
    """How far below the current model a candidate may score on any set and still be promoted."""

    macro_f1: float = DEFAULT_TOLERANCE
    auto_accuracy: float = DEFAULT_TOLERANCE
    auto_share: float = DEFAULT_SHARE_TOLERANCE

    def as_dict(self) -> dict[str, float]:
        """{"macro_f1": 0.01, "auto_accuracy": 0.01, "auto_share": 0.05}"""
        return {"macro_f1": self.macro_f1, "auto_accuracy": self.auto_accuracy, "auto_share": self.auto_share}


@dataclass(frozen=True)
class EvaluationSet:
    """Tickets both models are judged on; `note` says why a set is empty (skipped)."""

    name: str  # held_out, blind, recent
    tickets: tuple[LabelledTicket, ...]
    note: str | None = None

    @property
    def label(self) -> str:
        """The set's name on the desk."""
        return SET_LABELS.get(self.name, self.name)


@dataclass(frozen=True)
class Decision:
    """The rule's verdict: promote or not, and why (in Chinese, with the figures)."""

    promote: bool
    reason: str
    failures: tuple[str, ...] = field(default=())


def split_recent(
    decisions: Sequence[LabelledTicket],
    share: float = RECENT_SHARE,
    cap: int = RECENT_CAP,
    minimum: int = RECENT_MINIMUM,
) -> tuple[list[LabelledTicket], list[LabelledTicket]]:
    """Split agents' decisions, oldest first, into (to train on, newest held out): the newest `share`
    of them, at most `cap`; none held out when that would be fewer than `minimum`."""
    held = min(cap, int(len(decisions) * share))
    if held < minimum:
        return list(decisions), []
    return list(decisions[:-held]), list(decisions[-held:])


def read_blind_sets(folder: Path) -> list[LabelledTicket]:
    """The blind ticket sets (`tickets-*.jsonl` in folder, lines {"id", "text", "category",
    "articles"}; "out-of-scope" lines included); [] when the folder has none. DatasetError names a bad line."""
    return read_tickets(sorted(Path(folder).glob("tickets-*.jsonl")))


def evaluation_sets(
    corpus: Sequence[LabelledTicket], blind_folder: Path | None, recent: Sequence[LabelledTicket]
) -> list[EvaluationSet]:
    """The three sets: the corpus's held-out split (at most about HELD_OUT_CAP of it), the blind sets
    (skipped with a note when the folder has none) and the recent agent decisions held out of
    training (skipped with a note when too few)."""
    blind = read_blind_sets(blind_folder) if blind_folder and Path(blind_folder).is_dir() else []
    return [
        EvaluationSet("held_out", tuple(stratified_sample(split(list(corpus))[1], HELD_OUT_CAP))),
        EvaluationSet(
            "blind", tuple(blind), None if blind else f"未找到盲测集（{blind_folder}/tickets-*.jsonl），跳过"
        ),
        EvaluationSet(
            "recent",
            tuple(recent),
            None if recent else f"客服确认的工单不足（至少需留出 {RECENT_MINIMUM} 条），跳过",
        ),
    ]


def measure(triager: Triager, tickets: Sequence[LabelledTicket]) -> dict:
    """A model's figures on one set: {"n", "accuracy", "macro_f1", "auto_share", "auto_accuracy"}, and
    {"out_of_scope": {"n", "rejected"}} when the set has out-of-scope lines.

    Accuracy and the auto-routed figures count every line (an out-of-scope line is right when the
    model turns it away); macro-F1 is over the cause categories of the in-scope lines, as
    `triage.evaluation.evaluate` averages. Auto-routed: the model did not ask for review.
    """
    predictions = triager.classify_many([t.text for t in tickets])
    right = [t.category == p.category for t, p in zip(tickets, predictions, strict=True)]
    auto = [ok for ok, p in zip(right, predictions, strict=True) if not p.needs_review]
    pairs = [(t, p) for t, p in zip(tickets, predictions, strict=True) if t.category != OUT_OF_SCOPE]
    causes = evaluate([t for t, _ in pairs], [p for _, p in pairs], triager.model.labels) if pairs else {}
    figures = {
        "n": len(tickets),
        "accuracy": round(sum(right) / max(1, len(right)), 4),
        "macro_f1": causes.get("macro_f1", 0.0),
        "auto_share": round(len(auto) / max(1, len(right)), 4),
        "auto_accuracy": round(sum(auto) / max(1, len(auto)), 4),
    }
    outside = [p for t, p in zip(tickets, predictions, strict=True) if t.category == OUT_OF_SCOPE]
    if outside:
        rejected = sum(not p.in_scope for p in outside)
        figures["out_of_scope"] = {"n": len(outside), "rejected": round(rejected / len(outside), 4)}
    return figures


def compare(candidate: Triager, current: Triager | None, sets: Sequence[EvaluationSet], tolerances: Tolerances) -> dict:
    """Both models measured on every set, as stored in model_versions.metrics (see `decide`):
    {"compared_with": version or None, "tolerances": {...}, "sets": [{"name", "label", "note",
    "candidate": figures or None, "current": figures or None}, ...]}."""
    rows = []
    for s in sets:
        rows.append(
            {
                "name": s.name,
                "label": s.label,
                "note": s.note,
                "candidate": measure(candidate, s.tickets) if s.tickets else None,
                "current": measure(current, s.tickets) if s.tickets and current else None,
            }
        )
    return {"compared_with": current.version if current else None, "tolerances": tolerances.as_dict(), "sets": rows}


def decide(comparison: dict, tolerances: Tolerances) -> Decision:
    """Promote when there is no current model, or when on every measured set the candidate's macro-F1,
    auto-routed accuracy and auto-routed share are each no more than their tolerance below the
    current model's."""
    if not comparison.get("compared_with"):
        return Decision(True, "尚无当前模型，直接发布")
    limits = tolerances.as_dict()
    failures = []
    for row in comparison["sets"]:
        if not row["candidate"] or not row["current"]:
            continue
        for key, tolerance in limits.items():
            new, old = row["candidate"][key], row["current"][key]
            # Rounded figures: a drop of exactly the tolerance passes, whatever the float error.
            if round(old - new, 4) > tolerance:
                failures.append(
                    f"{row['label']} {FIGURE_LABELS[key]} {new:.2f}，比当前模型 {old:.2f} 低 "
                    f"{old - new:.2f}，超过容差 {tolerance:g}"
                )
    if failures:
        return Decision(False, "；".join(failures), tuple(failures))
    measured = [row["label"] for row in comparison["sets"] if row["candidate"] and row["current"]]
    return Decision(True, f"在{'、'.join(measured)}上均不比当前模型差（容差内），已发布")
