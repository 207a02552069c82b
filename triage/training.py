"""Training the triage model: corpus plus agent decisions in, a saved model with its metrics out."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kb.articles import load_articles
from triage.dataset import LabelledTicket, split
from triage.evaluation import choose_threshold, evaluate
from triage.model import TriageModel, save_model

STAGES = ("prepare", "fit", "evaluate", "save")


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced: sizes, held-out metrics, the review threshold and model version."""

    n_train: int
    n_heldout: int
    n_agent: int
    metrics: dict
    review_threshold: float
    model_version: str


def data_hash(tickets: Sequence[LabelledTicket]) -> str:
    """A digest of the labelled data, independent of file order."""
    lines = sorted(json.dumps([t.id, t.text, t.category, list(t.articles)], ensure_ascii=False) for t in tickets)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def train(
    model_dir: Path,
    corpus: Sequence[LabelledTicket],
    agent_labels: Sequence[LabelledTicket] = (),
    progress: Callable[[str], None] = lambda stage: None,
) -> TrainReport:
    """Train on the corpus's training split plus agents' decisions, measure on the held-out split, save."""
    progress("prepare")
    training, held_out = split(list(corpus))
    training += list(agent_labels)
    if len({t.category for t in training}) < 2:
        raise ValueError("training needs labelled tickets of at least two categories")
    digest = data_hash([*corpus, *agent_labels])
    model = TriageModel()
    model.version = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M}-{digest[:8]}"
    progress("fit")
    model.fit(
        [t.text for t in training], [t.category for t in training], [t.articles for t in training], load_articles()
    )
    progress("evaluate")
    metrics: dict = {}
    if held_out:
        predictions = model.predict([t.text for t in held_out], explain=False)
        model.review_threshold = choose_threshold(
            [p.confidence for p in predictions],
            [p.category == t.category for p, t in zip(predictions, held_out, strict=True)],
        )
        predictions = [replace(p, needs_review=p.confidence < model.review_threshold) for p in predictions]
        metrics = evaluate(held_out, predictions, model.labels)
    progress("save")
    save_model(
        model,
        model_dir,
        {
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data_hash": digest,
            "n_train": len(training),
            "n_heldout": len(held_out),
            "n_agent": len(agent_labels),
            "review_threshold": model.review_threshold,
            "metrics": metrics,
        },
    )
    return TrainReport(len(training), len(held_out), len(agent_labels), metrics, model.review_threshold, model.version)
