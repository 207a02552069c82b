"""Measuring triage: accuracy, macro-F1, per-class scores, confusion matrix, article hit@3, and the
confidence threshold below which a ticket goes to a human."""

from __future__ import annotations

from collections.abc import Sequence

from triage.dataset import LabelledTicket
from triage.prediction import Prediction

# Tickets above the threshold are filed without a human; among those, at least this share must be right.
AUTO_PRECISION = 0.98
MIN_THRESHOLD = 0.3


def article_hit(ticket: LabelledTicket, prediction: Prediction, k: int = 3) -> bool:
    """True when one of the ticket's answering articles is among the first k suggestions."""
    return bool(set(ticket.articles) & set(prediction.articles[:k]))


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate(tickets: Sequence[LabelledTicket], predictions: Sequence[Prediction], labels: list[str]) -> dict:
    """Score predictions against the true labels of the same tickets.

    Per-class precision, recall and F1 over `labels`; a prediction outside them (out of scope)
    counts against the true class's recall. Macro-F1 is the unweighted mean over the labels that
    occur in the truth (a class with no ticket in the set has no F1 to average).
    """
    truth = [t.category for t in tickets]
    guess = [p.category for p in predictions]
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, g in zip(truth, guess, strict=True):
        if t in index and g in index:
            matrix[index[t]][index[g]] += 1
    per_class = {}
    for label in labels:
        tp = sum(t == g == label for t, g in zip(truth, guess, strict=True))
        precision = _ratio(tp, sum(g == label for g in guess))
        recall = _ratio(tp, sum(t == label for t in truth))
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": sum(t == label for t in truth),
        }
    present = [label for label in labels if per_class[label]["support"]]
    with_articles = [(t, p) for t, p in zip(tickets, predictions, strict=True) if t.articles]
    review = [p.needs_review for p in predictions]
    auto = [t == g for t, g, r in zip(truth, guess, review, strict=True) if not r]
    return {
        "n": len(tickets),
        "accuracy": round(_ratio(sum(t == g for t, g in zip(truth, guess, strict=True)), len(truth)), 4),
        "macro_f1": round(sum(per_class[label]["f1"] for label in present) / max(1, len(present)), 4),
        "article_hit_at_3": round(sum(article_hit(t, p) for t, p in with_articles) / max(1, len(with_articles)), 4),
        "needs_review_share": round(sum(review) / max(1, len(review)), 4),
        "auto_accuracy": round(sum(auto) / max(1, len(auto)), 4),
        "per_class": per_class,
        "confusion": {"labels": labels, "matrix": matrix},
    }


def choose_threshold(confidences: Sequence[float], correct: Sequence[bool]) -> float:
    """The lowest confidence above which predictions are right at least AUTO_PRECISION of the time."""
    pairs = sorted(zip(confidences, correct, strict=True), reverse=True)
    best = 1.0
    right = 0
    for n, (confidence, ok) in enumerate(pairs, start=1):
        right += ok
        if right / n >= AUTO_PRECISION:
            best = confidence
    return round(max(MIN_THRESHOLD, best), 4)


def scope_report(in_scope: Sequence[float], out_of_scope: Sequence[float], threshold: float) -> dict:
    """How the scope threshold splits held-out text: the share of in-scope tickets kept and of
    out-of-scope text turned away (scores are the model's probability of being in scope)."""
    return {
        "threshold": threshold,
        "in_scope_kept": round(sum(s >= threshold for s in in_scope) / max(1, len(in_scope)), 4),
        "out_of_scope_rejected": round(sum(s < threshold for s in out_of_scope) / max(1, len(out_of_scope)), 4),
        "n_in_scope": len(in_scope),
        "n_out_of_scope": len(out_of_scope),
    }
