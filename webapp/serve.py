"""`posdesk serve`: the app under gunicorn (a production WSGI server), initialised first if needed."""

from __future__ import annotations

import click
from gunicorn.app.base import BaseApplication

from webapp import create_app
from webapp.cli import cli, init_command
from webapp.db import close_db, get_db, is_initialised
from webapp.model import current_triager


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
    """Serve the web app with gunicorn; runs `init` first when the database is not initialised.

    Example: posdesk serve --host 0.0.0.0 --port 8000 --workers 4
    """
    if not is_initialised(get_db()):
        ctx.invoke(init_command)
    triager = current_triager()  # triages tickets filed while no model existed
    click.echo(f"triage model: {triager.version if triager else 'none yet (tickets wait untriaged)'}")
    close_db()  # no connection may cross the fork into the workers
    click.echo(f"posdesk serving on http://{host}:{port} with {workers} workers")
    PosdeskServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "timeout": 60,
            "accesslog": "-",
            "errorlog": "-",
            "control_socket_disable": True,  # no gunicornc control socket in $HOME
        }
    ).run()
