"""Measuring triage: accuracy, macro-F1, per-class scores, confusion matrix, article hit@3, and the
confidence threshold below which a ticket goes to a human."""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from triage.dataset import LabelledTicket
from triage.prediction import Prediction

# Tickets above the threshold are filed without a human; among those, at least this share must be right.
AUTO_PRECISION = 0.97
MIN_THRESHOLD = 0.3


def article_hit(ticket: LabelledTicket, prediction: Prediction, k: int = 3) -> bool:
    """True when one of the ticket's answering articles is among the first k suggestions."""
    return bool(set(ticket.articles) & set(prediction.articles[:k]))


def evaluate(tickets: Sequence[LabelledTicket], predictions: Sequence[Prediction], labels: list[str]) -> dict:
    """Score predictions against the true labels of the same tickets."""
    truth = [t.category for t in tickets]
    guess = [p.category for p in predictions]
    precision, recall, f1, support = precision_recall_fscore_support(truth, guess, labels=labels, zero_division=0)
    with_articles = [(t, p) for t, p in zip(tickets, predictions, strict=True) if t.articles]
    review = [p.needs_review for p in predictions]
    auto = [t == g for t, g, r in zip(truth, guess, review, strict=True) if not r]
    return {
        "n": len(tickets),
        "accuracy": round(float(accuracy_score(truth, guess)), 4),
        "macro_f1": round(float(f1_score(truth, guess, labels=labels, average="macro", zero_division=0)), 4),
        "article_hit_at_3": round(sum(article_hit(t, p) for t, p in with_articles) / max(1, len(with_articles)), 4),
        "needs_review_share": round(sum(review) / max(1, len(review)), 4),
        "auto_accuracy": round(sum(auto) / max(1, len(auto)), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": confusion_matrix(truth, guess, labels=labels).tolist()},
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
