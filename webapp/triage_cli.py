"""The `posdesk triage` commands: train (a candidate that must earn promotion), models, rollback,
evaluate and classify (one ticket or a JSONL stream)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from triage import versions
from triage.batch import classify_stream
from triage.dataset import DatasetError, read_tickets, split, ticket_files
from triage.evaluation import evaluate
from triage.model import ModelError, load_model, model_exists
from triage.training import STAGES
from webapp import retraining
from webapp.backlog import triage_backlog
from webapp.db import get_desk
from webapp.desk import audit, model_versions
from webapp.desk.tickets import pending_count


@click.group("triage", cls=AppGroup)
@click.pass_context
def triage_group(ctx: click.Context) -> None:
    """Train, evaluate and run the ticket classifier."""
    if ctx.invoked_subcommand == "classify":
        from webapp.cli import without_pages

        without_pages(ctx)


def _model_dir() -> Path:
    return Path(current_app.config["MODEL_DIR"])


def train_model(
    paths: tuple[Path, ...] = (), show_progress: bool = True, sample: int | None = None
) -> retraining.Outcome:
    """Train a candidate from the given ticket files (default data/tickets) plus agents' decisions,
    compare it with the current model and promote it or not, as a training run "cli" requested.
    ClickException when another run is under way."""
    app = current_app._get_current_object()
    try:
        run = model_versions.request_run(get_desk(), "cli", app.config["TRAINING_STALE_MINUTES"])
    except model_versions.RunBusy as e:
        raise click.ClickException(str(e)) from e
    from tqdm import tqdm  # here, not at the top: only training shows progress (7 ms at every start)

    with tqdm(total=len(STAGES), desc="training", unit="step", disable=not show_progress, file=sys.stderr) as bar:

        def step(stage: str) -> None:
            bar.set_postfix_str(stage)
            if stage in STAGES[1:]:
                bar.update(1)

        outcome = retraining.retrain(app, run.id, paths, sample, on_stage=step)
        bar.update(1)
    return outcome


def _metrics_line(metrics: dict) -> str:
    return (
        f"accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}, "
        f"article hit@3 {metrics['article_hit_at_3']:.3f} on {metrics['n']} held-out tickets"
    )


def _data_option(help_text: str):
    return click.option("--data", "paths", multiple=True, type=click.Path(exists=True, path_type=Path), help=help_text)


def _figures(row: dict | None) -> str:
    if not row:
        return "-"
    return f"F1 {row['macro_f1']:.3f} auto {row['auto_accuracy']:.3f} ({row['auto_share']:.0%} auto)"


def _echo_comparison(outcome: retraining.Outcome) -> None:
    comparison = outcome.comparison
    limits = comparison["tolerances"]
    current = comparison["compared_with"] or "none"
    click.echo(
        f"compared with the current model {current} (tolerance: macro-F1 {limits['macro_f1']:g}, "
        f"auto-routed accuracy {limits['auto_accuracy']:g}, auto-routed share {limits.get('auto_share', 0):g})"
    )
    for row in comparison["sets"]:
        if not row["candidate"]:
            click.echo(f"  {row['name']:9s} skipped: {row['note']}")
            continue
        click.echo(
            f"  {row['name']:9s} n={row['candidate']['n']:<5d} candidate {_figures(row['candidate'])}"
            f" | current {_figures(row['current'])}"
        )
    if outcome.promoted:
        click.echo(f"promoted: {outcome.version} is now the current model ({outcome.reason})")
    else:
        click.echo(f"REFUSED: {outcome.version} kept as a refused candidate; the current model stays. {outcome.reason}")


@triage_group.command("train")
@_data_option("A JSONL ticket file or folder (repeatable); default data/tickets.")
@click.option(
    "--sample",
    type=click.IntRange(20),
    default=None,
    help="Train on a stratified sample of N tickets of the training split (a deliberately weaker candidate).",
)
def train_command(paths: tuple[Path, ...], sample: int | None) -> None:
    """Train a candidate on the corpus and agents' decisions; compare it with the current model on the
    held-out split, the blind sets and recent agent decisions; promote it only if it is not worse
    beyond the tolerances (a refusal is a result: exit status 0).

    Example: posdesk triage train --data data/tickets
    """
    try:
        outcome = train_model(paths, sample=sample)
    except (DatasetError, ValueError, ModelError) as e:
        raise click.ClickException(str(e)) from e
    report = outcome.report
    click.echo(f"model {report.model_version}: {report.n_train} training tickets ({report.n_agent} from agents)")
    if report.metrics:
        click.echo(_metrics_line(report.metrics))
    click.echo(f"needs_review below confidence {report.review_threshold:.2f}")
    _echo_comparison(outcome)


@triage_group.command("models")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version, newest first.")
def models_command(as_json: bool) -> None:
    """List the model versions: status, when and by whom trained and promoted, the reason.

    Example: posdesk triage models --json
    """
    model_dir = _model_dir()
    for v in model_versions.list_versions(get_desk()):
        on_disk = versions.has_files(model_dir, v.version)
        if as_json:
            row = {**v.__dict__, "files": on_disk}
            click.echo(json.dumps(row, ensure_ascii=False))
            continue
        promoted = f"{v.promoted_by} {v.promoted_at}" if v.promoted_by else "-"
        files = "" if on_disk else " [files pruned]"
        click.echo(f"{v.version:22s} {v.status:9s} {v.created} by {v.trained_by:10s} promoted: {promoted}{files}")
        if v.reason:
            click.echo(f"{'':22s} {v.reason}")


@triage_group.command("rollback")
@click.argument("version")
@click.option("--anyway", is_flag=True, help="Promote a candidate that was refused (needs --note).")
@click.option("--note", default="", help="Why (required with --anyway; kept in the audit log).")
def rollback_command(version: str, anyway: bool, note: str) -> None:
    """Make an earlier model version current again (its files must still be on disk).

    Example: posdesk triage rollback 202612010312-abcdef12
    """
    desk = get_desk()
    known = model_versions.get_version(desk, version)
    reason = None
    if known and known.status == "refused":
        if not anyway:
            raise click.ClickException(
                f'版本 {version} 未通过评估（{known.reason}）；确要发布请加 --anyway --note "原因"'
            )
        if not note.strip():
            raise click.ClickException('--anyway 需要 --note "原因"：为什么仍要发布未通过评估的版本（记入审计日志）')
        reason = f"{known.reason}；仍然发布（cli）：{note.strip()}"
    try:
        promoted = retraining.make_current(current_app._get_current_object(), version, "cli", reason)
    except (model_versions.VersionStateError, versions.VersionError) as e:
        raise click.ClickException(str(e)) from e
    action = "model.promote_anyway" if reason else "model.rollback"
    audit.record(desk, "cli", action, f"model:{version}", {"note": note.strip()} if note.strip() else None)
    click.echo(f"model {promoted.version} is now the current model")


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
        sure = f"{p.confidence:.0%} sure"
        click.echo(f"scope:        not about POS acquiring ({sure}) -> needs review (an agent decides)")
    click.echo(f"category:     {p.category} ({p.confidence:.0%}){'  -> needs review' if p.needs_review else ''}")
    # Out of scope, the alternatives are the causes it would have if it were about POS acquiring.
    condition = "if it is about POS acquiring: " if not p.in_scope else ""
    click.echo("alternatives: " + condition + ", ".join(f"{a.category} {a.confidence:.0%}" for a in p.alternatives))
    click.echo("codes:        " + (", ".join(p.codes) or "-"))
    click.echo("articles:     " + (", ".join(p.articles) or "-"))
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
    """An `init` step: train a model when none exists or the saved one is unusable (no-op otherwise);
    with no usable current model to compare with, the first one is promoted directly."""
    if model_exists(_model_dir()):
        try:
            load_model(_model_dir())
            return
        except ModelError as e:
            click.echo(f"retraining: {e}")
    outcome = train_model(show_progress=False)
    metrics = outcome.report.metrics
    line = _metrics_line(metrics) if metrics else "no held-out tickets"
    click.echo(f"triage model {outcome.version} trained: {line}")
