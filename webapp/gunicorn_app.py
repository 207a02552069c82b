"""The gunicorn application `posdesk serve` runs: each worker builds its own app, starts its
backlog-triage thread and masks card-like numbers in the access log. Imported by the command
alone, so that no other command pays for importing gunicorn."""

from __future__ import annotations

import re

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from webapp import backlog, create_app
from webapp.db import close_all

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


def start_backlog_worker(worker) -> None:
    """Gunicorn hook, in each worker process once it has loaded the app."""
    if worker.wsgi.config["TRIAGE_WORKER"]:
        backlog.worker(worker.wsgi).ensure_started()


def stop_backlog_worker(server, worker) -> None:
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
