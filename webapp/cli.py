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
from flask.cli import FlaskGroup, ScriptInfo

from kb.db import open_db
from kb.store import SyncReport, sync_knowledge_base
from webapp import create_app, create_core_app, knowledge
from webapp.db import get_desk, get_kb
from webapp.search import find_articles


def _set_instance(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value:
        os.environ["POSDESK_INSTANCE"] = str(Path(value).resolve())
    return value


class PosdeskGroup(FlaskGroup):
    """Flask's command group, except that plugins' commands (flask-limiter's `limiter`) are imported
    only when the name asked for is not one of posdesk's: importing them costs every command about
    0.12 s at start (`posdesk --help` still lists them)."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        own = click.Group.get_command(self, ctx, name)
        return own if own is not None else super().get_command(ctx, name)


@click.group(cls=PosdeskGroup, create_app=create_app, load_dotenv=False)
@click.option(
    "--instance",
    type=click.Path(file_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_set_instance,
    help="Instance folder holding the database and model (default ./instance, or POSDESK_INSTANCE).",
)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """posdesk: knowledge base, ticket triage and support desk for POS acquirers."""
    if ctx.invoked_subcommand == "search":
        without_pages(ctx)


def without_pages(ctx: click.Context) -> None:
    """Have the command run on the app without its pages (`create_core_app`): for commands that only
    read the knowledge base or the model, and start about 0.3 s sooner for it."""
    ctx.ensure_object(ScriptInfo).create_app = create_core_app


def ensure_knowledge_base():
    """Return the database, loading the knowledge base first if it was never loaded."""
    db = get_kb()
    if not db["articles"].exists() or not db["articles"].count:
        sync_knowledge_base(db)
    return db


@cli.command("init")
def init_command() -> None:
    """Create or upgrade the database and load the knowledge base from data/.

    Upgrades the desk database, publishes the knowledge base's sources from data/ to it, and brings
    this node's search index up to date. Idempotent: a second run changes nothing; after editing an
    article it updates that one. An article edited in the desk is never overwritten: when data/
    differs from it, a line says so.

    Example: posdesk init
    """
    with _init_lock():
        _upgrade_desk()
        desk = get_desk()
        try:
            published = knowledge.publish(desk)
        except (ValueError, FileNotFoundError) as e:
            raise click.ClickException(str(e)) from e
        click.echo(f"knowledge sources in the desk: {_publish_summary(published)}")
        for path, editor in published.conflicts:
            click.echo(f"kept {path} as edited in the desk by {editor}: data/ differs (see `posdesk kb export`)")
        click.echo(f"knowledge base: {_refresh_local_index(desk).summary()}")
        for hook in INIT_HOOKS:
            hook()


def _publish_summary(report: knowledge.PublishReport) -> str:
    if not report.changed and not report.removed:
        return f"unchanged (generation {report.generation})"
    return f"{len(report.changed)} changed, {len(report.removed)} removed (generation {report.generation})"


def _refresh_local_index(desk) -> SyncReport:
    """Bring this node's search index up to the desk's knowledge generation; what it changed. The
    index is opened here (not through get_kb(), which would refresh it silently on first use)."""
    db = open_db(current_app.config["KNOWLEDGE_DB"])
    try:
        report = knowledge.refresh(db, desk)  # creates or upgrades the index's tables when needed
        if report is None:  # already at the desk's generation
            report = SyncReport(added=(), updated=(), removed=(), unchanged=db["articles"].count)
    except ValueError as e:  # a malformed source in the desk
        raise click.ClickException(str(e)) from e
    finally:
        db.close()
    return report


# --- posdesk kb ------------------------------------------------------------------------------------


@cli.group("kb")
def kb_group() -> None:
    """The knowledge base's articles as the desk holds them (edited there or not)."""


@kb_group.command("export")
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The data folder to write articles/<slug>.md into (default: data/, or POSDESK_DATA).",
)
def kb_export(folder: Path | None) -> None:
    """Write every article of the desk (published or not) back as articles/<slug>.md in the data/
    format, so that desk edits can be reviewed and committed; unchanged files are not touched.

    Example: posdesk kb export --to data
    """
    from kb.paths import data_dir

    root = folder or data_dir()
    report = knowledge.export(get_desk(), root)
    for path in report.written:
        click.echo(f"wrote {root / path}")
    click.echo(f"exported to {root}: {len(report.written)} written, {report.unchanged} unchanged")


# --- posdesk db ------------------------------------------------------------------------------------


@contextmanager
def desk_errors(url: str) -> Iterator[None]:
    """A desk that cannot be used is one line of error, never a traceback."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    from webapp.desk.storage import DeskError

    try:
        yield
    except (DeskError, OperationalError, ArgumentError) as e:
        reason = str(getattr(e, "orig", None) or e).strip().splitlines() or [type(e).__name__]
        raise click.ClickException(f"desk database {_shown_url(url)}: {reason[0].strip()}") from e


def _shown_url(url: str) -> str:
    """The URL with its password hidden (as given when it cannot be read)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: DeskError says so
        return "(unreadable URL)"


def _revision_name(desk, revision: str | None) -> str:
    if revision is not None:
        return revision
    from sqlalchemy import inspect

    with desk.engine.connect() as conn:
        return "0001 (release 0.1)" if inspect(conn).has_table("tickets") else "empty"


def _upgrade_desk() -> None:
    """Apply the desk's migrations (a separate handle: get_desk() refuses a shared desk to upgrade)."""
    from webapp.desk.storage import HEAD, Desk

    url = current_app.config["DATABASE_URL"]
    with desk_errors(url):
        desk = Desk(url)
        try:
            before = desk.revision()
            if before == HEAD:
                click.echo(f"desk database: already at {HEAD}")
                return
            shown = _revision_name(desk, before)
            _, after = desk.upgrade()
            click.echo(f"desk database: {shown} -> {after}")
        finally:
            desk.close()


@cli.group("db")
def db_group() -> None:
    """The desk database (tickets, accounts, votes, knowledge sources): migrations and status."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the desk database's migrations (run once per release, by whoever deploys, before the
    nodes start; a release-0.1 SQLite file is upgraded in place, its data kept).

    Example: posdesk db upgrade
    """
    _upgrade_desk()


@db_group.command("status")
def db_status() -> None:
    """Show the desk database's backend and URL (password hidden), and its current and head migration.

    Example: posdesk db status
    """
    from webapp.desk.storage import HEAD, Desk

    url = current_app.config["DATABASE_URL"]
    with desk_errors(url):
        desk = Desk(url)
        try:
            current = desk.revision()
            click.echo(f"backend: {desk.backend} ({_shown_url(desk.url)})")
            click.echo(f"current revision: {_revision_name(desk, current)}")
            click.echo(f"head revision: {HEAD}")
            click.echo("up to date" if current == HEAD else "needs `posdesk db upgrade`")
        finally:
            desk.close()


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
    """Entry point of the `posdesk` console script: a desk database that cannot be used (down,
    refusing, not migrated) is one line of error from any command, never a traceback."""
    try:
        with desk_errors(os.environ.get("POSDESK_DATABASE_URL") or "sqlite (instance folder)"):
            cli(prog_name="posdesk")
    except click.ClickException as e:  # only desk errors get here: click shows its own
        e.show()
        sys.exit(e.exit_code)


from webapp.triage_cli import train_if_missing, triage_group  # noqa: E402  (commands register on the group)

cli.add_command(triage_group)
INIT_HOOKS.append(train_if_missing)
from webapp import admin_cli, serve  # noqa: E402,F401  (user, token and serve commands register on cli)
from webapp.jobs import worker_command  # noqa: E402

cli.add_command(worker_command)
from webapp.webhooks import configure_on_init  # noqa: E402

INIT_HOOKS.append(configure_on_init)
