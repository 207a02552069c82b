"""`posdesk serve`: the app under gunicorn (a production WSGI server), initialised first if needed;
the gunicorn side is `webapp.gunicorn_app`."""

from __future__ import annotations

import gc
import socket

import click
from flask import current_app

from kb import text
from webapp.cli import cli, desk_errors, init_command
from webapp.db import close_all, close_db, get_desk
from webapp.desk.tickets import pending_count
from webapp.model import preload


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 for all).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 32), help="Worker processes.")
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the web app with gunicorn; runs `init` first when there is no model it can load (the
    first run, or a model saved by a version whose features differ: the knowledge base is loaded
    from data/ and a model trained).

    Example: posdesk serve --host 0.0.0.0 --port 8000 --workers 4
    """
    _check_can_listen(host, port)  # before a first run's init, and before saying "serving"
    triager = preload(current_app)  # before the fork: the workers share its pages
    if triager is None:  # the first run, or a model this version cannot load: `init` says so and trains
        ctx.invoke(init_command)
        triager = preload(current_app)
    text.preload()
    click.echo(f"triage model: {triager.version if triager else 'none yet (tickets wait untriaged)'}")
    with desk_errors(current_app.config["DATABASE_URL"]):  # an unreachable or unmigrated desk: one line
        waiting = pending_count(get_desk())
    if waiting:
        click.echo(f"{waiting} tickets wait for triage: the workers triage them in the background")
    close_db()  # no connection may cross the fork into the workers
    close_all(current_app)
    click.echo(f"posdesk serving on http://{host}:{port} with {workers} workers")
    from webapp.gunicorn_app import MaskingLogger, PosdeskServer, start_backlog_worker, stop_backlog_worker

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
            "post_worker_init": start_backlog_worker,
            "worker_exit": stop_backlog_worker,
            "control_socket_disable": True,  # no gunicornc control socket in $HOME
        }
    ).run()


def _check_can_listen(host: str, port: int) -> None:
    """ClickException (one line, exit 1) when the address cannot be listened on: the port is taken
    or the host is not this machine's. gunicorn would log it and retry for seconds first."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        socket.create_server((host, port), family=family).close()  # SO_REUSEADDR, as gunicorn binds
    except OSError as e:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {e.strerror or e} (another server on that port? choose one with --port)"
        ) from None
