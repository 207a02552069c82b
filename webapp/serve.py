"""`posdesk serve`: the app under gunicorn (a production WSGI server), initialised first if needed,
with a backlog-triage thread in each worker and card-like numbers masked in the access log."""

from __future__ import annotations

import gc
import re
from pathlib import Path

import click
from flask import current_app
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from kb import text
from triage.model import model_exists
from webapp import backlog, create_app
from webapp.cli import cli, desk_errors, init_command
from webapp.db import close_all, close_db, get_desk
from webapp.desk.tickets import pending_count
from webapp.model import preload

# 11 or more digits, with single separators (also URL-encoded) between them: mobile, ID and card
# numbers typed into a search box or a URL. Access logs need none of them. A digit is any Unicode
# digit (full-width ones too) or a full-width digit percent-encoded in UTF-8 (%EF%BC%90-%EF%BC%99).
_DIGIT = r"(?:\d|%[eE][fF]%[bB][cC]%9\d)"
# A run never starts inside a percent escape (the 1 of %A1 is no digit of the number).
_LONG_DIGIT_RUN = re.compile(rf"(?<!%)(?<!%[0-9A-Fa-f]){_DIGIT}(?:(?:%20|%2[dDeEfF]|[ +\-./_])?{_DIGIT}){{10,}}")


def mask_digit_runs(line: str) -> str:
    """Replace runs of 11 or more digits (as in phone, ID and card numbers) by "***"."""
    return _LONG_DIGIT_RUN.sub("***", line)


class MaskingLogger(Logger):
    """Gunicorn's logger, with long digit runs masked in every part of an access-log line."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        """The access-log atoms, masked."""
        atoms = super().atoms(resp, req, environ, request_time)
        # Every text atom: the request line, path, query, headers ({…}i) and the WSGI environ ({…}e).
        return {key: mask_digit_runs(value) if isinstance(value, str) else value for key, value in atoms.items()}


def _start_backlog_worker(worker) -> None:
    """Gunicorn hook, in each worker process once it has loaded the app."""
    if worker.wsgi.config["TRIAGE_WORKER"]:
        backlog.worker(worker.wsgi).ensure_started()


def _stop_backlog_worker(server, worker) -> None:
    """Gunicorn hook, as a worker process exits: let a triage batch under way finish, write the article
    reads counted in memory, and close the worker's database connections."""
    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        backlog.worker(app).stop(timeout=5)
        close_all(app)


class PosdeskServer(BaseApplication):
    """Gunicorn run from Python: each worker builds its own app (and its own database connections)."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Hand the options to gunicorn."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        """Build the WSGI app in the worker."""
        return create_app()


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32), help="Worker processes.")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the web app with gunicorn; runs `init` first when no model was trained yet (the first
    run: the knowledge base is loaded from data/ and a model trained).

    Example: posdesk serve --host 0.0.0.0 --port 8000 --workers 4
    """
    if not model_exists(Path(current_app.config["MODEL_DIR"])):
        ctx.invoke(init_command)
    triager = preload(current_app)  # before the fork: the workers share its pages
    text.preload()
    click.echo(f"triage model: {triager.version if triager else 'none yet (tickets wait untriaged)'}")
    with desk_errors(current_app.config["DATABASE_URL"]):  # an unreachable or unmigrated desk: one line
        waiting = pending_count(get_desk())
    if waiting:
        click.echo(f"{waiting} tickets wait for triage: the workers triage them in the background")
    close_db()  # no connection may cross the fork into the workers
    close_all(current_app)
    click.echo(f"posdesk serving on http://{host}:{port} with {workers} workers")
    gc.freeze()  # what is loaded now stays out of the workers' collections, so its pages stay shared
    PosdeskServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 60,
            "accesslog": "-",
            "errorlog": "-",
            "logger_class": MaskingLogger,
            "post_worker_init": _start_backlog_worker,
            "worker_exit": _stop_backlog_worker,
            "control_socket_disable": True,  # no gunicornc control socket in $HOME
        }
    ).run()
