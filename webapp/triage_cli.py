"""The `posdesk triage` commands: train, evaluate and classify (one ticket or a JSONL stream)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from tqdm import tqdm

from kb.store import list_articles
from triage.batch import classify_stream
from triage.dataset import DatasetError, read_tickets, split, ticket_files
from triage.evaluation import evaluate
from triage.model import ModelError, load_model, model_exists
from triage.training import STAGES, train
from webapp.backlog import triage_backlog
from webapp.db import get_desk, get_kb
from webapp.desk.tickets import agent_labels, pending_count
from webapp.jobs import enqueue_triage


@click.group("triage", cls=AppGroup)
def triage_group() -> None:
    """Train, evaluate and run the ticket classifier."""


def _model_dir() -> Path:
    return Path(current_app.config["MODEL_DIR"])


def _agent_labels() -> list:
    """Categories agents confirmed or corrected on the desk."""
    return agent_labels(get_desk())


def train_model(paths: tuple[Path, ...] = (), show_progress: bool = True):
    """Train and save the model from the given ticket files (default data/tickets) plus agent labels."""
    corpus = read_tickets(paths or ticket_files())
    with tqdm(total=len(STAGES), desc="training", unit="step", disable=not show_progress, file=sys.stderr) as bar:

        def step(stage: str) -> None:
            bar.set_postfix_str(stage)
            if stage != STAGES[0]:
                bar.update(1)

        # The articles as this node's search index holds them (the desk's knowledge sources).
        articles = list_articles(get_kb(), audience="agent")
        report = train(_model_dir(), corpus, _agent_labels(), progress=step, articles=articles)
        bar.update(1)
    return report


def _metrics_line(metrics: dict) -> str:
    return (
        f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
        f"article hit@3 {metrics['article_hit_at_3']:.3f} on {metrics['n']} held-out tickets"
    )


def _data_option(help_text: str):
    return click.option("--data", "paths", multiple=True, type=click.Path(exists=True, path_type=Path), help=help_text)


@triage_group.command("train")
@_data_option("A JSONL ticket file or folder (repeatable); default data/tickets.")
def train_command(paths: tuple[Path, ...]) -> None:
    """Train the classifier on the corpus and on agents' decisions; print held-out metrics.

    Example: posdesk triage train --data data/tickets
    """
    try:
        report = train_model(paths)
    except (DatasetError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"model {report.model_version}: {report.n_train} training tickets ({report.n_agent} from agents)")
    if report.metrics:
        click.echo(_metrics_line(report.metrics))
    click.echo(f"needs_review below confidence {report.review_threshold:.2f}")
    if pending_count(get_desk()):
        enqueue_triage()  # tickets filed while no model existed: triaged by the jobs, on any node


def _load():
    try:
        return load_model(_model_dir())
    except ModelError as e:
        raise click.ClickException(str(e)) from e


@triage_group.command("evaluate")
@_data_option("Evaluate on every ticket in these files; default: the held-out split of data/tickets.")
@click.option("--json", "as_json", is_flag=True, help="Print all metrics as JSON.")
def evaluate_command(paths: tuple[Path, ...], as_json: bool) -> None:
    """Measure the saved model: accuracy, macro-F1, per-class scores, confusion matrix, article hit@3.

    Example: posdesk triage evaluate --json
    """
    triager = _load()
    try:
        tickets = read_tickets(paths) if paths else split(read_tickets(ticket_files()))[1]
    except DatasetError as e:
        raise click.ClickException(str(e)) from e
    if not tickets:
        raise click.ClickException("no labelled tickets to evaluate")
    predictions = triager.classify_many([t.text for t in tickets])
    metrics = evaluate(tickets, predictions, triager.model.labels)
    if as_json:
        click.echo(json.dumps({"model_version": triager.version, **metrics}, ensure_ascii=False))
        return
    click.echo(_metrics_line(metrics).replace("held-out ", ""))
    click.echo(f"{'category':24s} {'prec':>6s} {'rec':>6s} {'f1':>6s} {'n':>5s}")
    for label, row in metrics["per_class"].items():
        click.echo(f"{label:24s} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} {row['support']:5d}")
    labels = metrics["confusion"]["labels"]
    click.echo("confusion (rows: true, columns: predicted, in the order above)")
    for label, row in zip(labels, metrics["confusion"]["matrix"], strict=True):
        click.echo(f"{label:24s} " + " ".join(f"{n:3d}" for n in row))


@triage_group.command("classify")
@click.argument("text", required=False)
@click.option("--batch", is_flag=True, help='Read JSONL {"id", "text"} on stdin; write one JSON line per input line.')
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes for --batch (default: all cores).")
def classify_command(text: str | None, batch: bool, workers: int | None) -> None:
    """Classify one ticket text, or a JSONL stream with --batch.

    Example: posdesk triage classify "退货的时候提示该商户没有权限"
    """
    triager = _load()
    if batch:
        for block in classify_stream(triager, sys.stdin, workers):
            sys.stdout.write(block)
            sys.stdout.flush()
        return
    if not text or not text.strip():
        raise click.UsageError("give the ticket TEXT or --batch")
    p = triager.classify(text)
    if not p.in_scope:
        click.echo(f"scope:        not about POS acquiring ({p.confidence:.0%} sure) -> needs review")
    click.echo(f"category:     {p.category} ({p.confidence:.0%}){'  -> needs review' if p.needs_review else ''}")
    click.echo("alternatives: " + ", ".join(f"{a.category} {a.confidence:.0%}" for a in p.alternatives))
    click.echo("codes:        " + (", ".join(p.codes) or "-"))
    click.echo("articles:     " + ", ".join(p.articles))
    click.echo("because of:   " + (", ".join(p.explanation) or "-"))
    click.echo(f"model:        {p.model_version}")


@triage_group.command("pending")
def pending_command() -> None:
    """Triage the tickets filed while no model existed (a running server's worker does it too).

    Example: posdesk triage pending
    """
    waiting = pending_count(get_desk())
    if not waiting:
        click.echo("no tickets wait for triage")
        return
    triager = _load()
    click.echo(f"triaging {waiting} waiting tickets (after any run already under way)…")
    count = triage_backlog(triager, wait=True)
    click.echo(f"triaged {count} tickets with model {triager.version}; {pending_count(get_desk())} still waiting")


def train_if_missing() -> None:
    """An `init` step: train a model when none exists or the saved one is unusable (no-op otherwise)."""
    if model_exists(_model_dir()):
        try:
            load_model(_model_dir())
            return
        except ModelError as e:
            click.echo(f"retraining: {e}")
    report = train_model(show_progress=False)
    line = _metrics_line(report.metrics) if report.metrics else "no held-out tickets"
    click.echo(f"triage model {report.model_version} trained: {line}")
