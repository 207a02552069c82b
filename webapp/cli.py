"""The `posdesk` command line: one click group over the app (a FlaskGroup, so Flask's own commands
are there too)."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from kb.db import write
from kb.store import sync_knowledge_base
from webapp import create_app
from webapp.db import get_db
from webapp.search import find_articles


def _set_instance(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        os.environ["POSDESK_INSTANCE"] = str(Path(value).resolve())
    return value


@click.group(cls=FlaskGroup, create_app=create_app, load_dotenv=False)
@click.option(
    "--instance",
    type=click.Path(file_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_set_instance,
    help="Instance folder holding the database and model (default ./instance, or POSDESK_INSTANCE).",
)
def cli() -> None:
    """posdesk: knowledge base, ticket triage and support desk for POS acquirers."""


def ensure_knowledge_base():
    """Return the database, loading the knowledge base first if it was never loaded."""
    db = get_db()
    if not db["articles"].exists() or not db["articles"].count:
        sync_knowledge_base(db)
    return db


@cli.command("init")
def init_command() -> None:
    """Create or upgrade the database and load the knowledge base from data/.

    Idempotent: a second run changes nothing; after editing an article it updates that one.

    Example: posdesk init
    """
    with _init_lock():
        try:
            with write(get_db()):
                report = sync_knowledge_base(get_db())
        except ValueError as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"knowledge base: {report.summary()}")
        for hook in INIT_HOOKS:
            hook()


@contextmanager
def _init_lock() -> Iterator[None]:
    """One `init` at a time per instance folder: a second one says so and waits for the first."""
    instance = Path(current_app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    with open(instance / INIT_LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            click.echo(f"another `posdesk init` is running on {instance}: waiting for it to finish…", err=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Later stages of `init` (training the first model, creating the first admin) register here.
INIT_HOOKS: list = []
INIT_LOCK_FILE = "init.lock"


def _search_json(hits) -> list[dict]:
    return [{"slug": h.slug, "title": h.title, "score": h.score} for h in hits]


def _run_batch(db, limit: int) -> None:
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("each line must be a JSON object")
            query = item.get("query")
            audience = item.get("audience") or "merchant"
            if not isinstance(query, str):
                raise ValueError("'query' must be a string")
            if audience not in ("merchant", "agent"):
                raise ValueError("'audience' must be merchant or agent")
            out = {"id": item.get("id"), "results": _search_json(find_articles(query, audience, limit))}
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            ident = item.get("id") if isinstance(locals().get("item"), dict) else None
            out = {"id": ident, "error": f"line {number}: {e}"}
        click.echo(json.dumps(out, ensure_ascii=False))
        item = None


@cli.command("search")
@click.argument("query", required=False)
@click.option("--audience", type=click.Choice(["merchant", "agent"]), default="merchant", show_default=True)
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.option(
    "--batch", is_flag=True, help='Read JSONL {"id", "query", "audience"} on stdin, write one result line each.'
)
def search_command(query: str | None, audience: str, limit: int, as_json: bool, batch: bool) -> None:
    """Search the knowledge base.

    Example: posdesk search "退货显示没有权限" --limit 5
    """
    db = ensure_knowledge_base()
    if batch:
        _run_batch(db, limit)
        return
    if query is None:
        raise click.UsageError("give a QUERY or --batch")
    hits = find_articles(query, audience, limit)
    if as_json:
        click.echo(
            json.dumps({"query": query, "audience": audience, "results": _search_json(hits)}, ensure_ascii=False)
        )
        return
    if not hits:
        click.echo("no matching articles")
    for rank, hit in enumerate(hits, start=1):
        click.echo(f"{rank:2d}. {hit.slug:32s} {hit.score:6.3f}  {hit.title}")


def main() -> None:
    """Entry point of the `posdesk` console script."""
    cli(prog_name="posdesk")


from webapp.triage_cli import train_if_missing, triage_group  # noqa: E402  (commands register on the group)

cli.add_command(triage_group)
INIT_HOOKS.append(train_if_missing)
from webapp import admin_cli, serve  # noqa: E402,F401  (user, token and serve commands register on cli)
