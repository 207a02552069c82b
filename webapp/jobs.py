"""Jobs kept out of requests: triaging tickets (each new one, and the backlog once a model exists or
changes). A request stores its ticket and enqueues; the ticket is triaged within seconds.

Where jobs run:
- embedded default: the background thread of each served process (`webapp.backlog`), woken at once;
- with POSDESK_REDIS_URL: an RQ queue in Redis, worked by `posdesk worker` processes on any node;
- JOBS_EAGER (tests): at once, inside the request, after the ticket is stored.
"""

from __future__ import annotations

import logging
import signal

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from webapp.desk.tickets import triage_pending

log = logging.getLogger(__name__)
QUEUE = "posdesk"
TRIAGE_JOB = "webapp.jobs.triage_job"
_WORKER_APP: Flask | None = None  # the app a `posdesk worker` process runs its jobs in


def _redis(app: Flask):
    from redis import Redis

    return Redis.from_url(app.config["REDIS_URL"])


def enqueue_triage(app: Flask | None = None) -> None:
    """Ask for the untriaged tickets to be triaged (a new ticket, a new model). Never raises for a
    queue that is down: the ticket is stored, and the next round or job triages it."""
    app = app or current_app._get_current_object()
    if app.config["JOBS_EAGER"]:
        run_triage(app)
        return
    if app.config.get("REDIS_URL"):
        from rq import Queue

        try:
            Queue(QUEUE, connection=_redis(app)).enqueue(TRIAGE_JOB, job_timeout=600, result_ttl=0)
        except Exception:  # redis.ConnectionError and kin: the backlog round picks the ticket up
            log.exception("could not enqueue a triage job; the ticket waits for the next one")
        return
    from webapp.backlog import worker

    worker(app).wake()


def run_triage(app: Flask) -> int:
    """Triage every waiting ticket with the app's current model (none: they keep waiting); return how many."""
    from webapp.db import get_desk
    from webapp.model import current_triager

    with app.app_context():
        triager = current_triager()
        if triager is None:
            return 0
        count = triage_pending(get_desk(), triager)
    if count:
        log.info("triaged %d tickets with model %s", count, triager.version)
    return count


def triage_job() -> int:
    """The RQ job: triage the waiting tickets in this worker's app."""
    if _WORKER_APP is None:
        raise RuntimeError("triage_job runs inside `posdesk worker`")
    return run_triage(_WORKER_APP)


def run_worker(app: Flask, burst: bool = False) -> None:
    """Work the Redis queue in this process until stopped (or, with burst, until it is empty).

    RQ's SimpleWorker runs jobs in this process instead of forking one per job, so the model is
    loaded once and stays loaded; it is reloaded when its files change (`webapp.model`). A round
    over the backlog runs first, for tickets filed while no worker ran.
    """
    from rq import SimpleWorker

    global _WORKER_APP
    _WORKER_APP = app
    run_triage(app)
    # RQ installs its own SIGINT/SIGTERM handlers for a graceful stop; give the process its own back
    # afterwards (forked children, such as batch triage's pool, must not inherit RQ's).
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([QUEUE], connection=_redis(app)).work(burst=burst, with_scheduler=False)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for scripts and tests).")
def worker_command(burst: bool) -> None:
    """Run jobs (ticket triage) from the Redis queue; needs POSDESK_REDIS_URL.

    On the embedded default (no Redis) `posdesk serve` runs its jobs itself.

    Example: POSDESK_REDIS_URL=redis://127.0.0.1:6379/0 posdesk worker
    """
    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        raise click.ClickException(
            "posdesk worker needs POSDESK_REDIS_URL (redis://...); without it `posdesk serve` runs jobs itself"
        )
    try:
        run_worker(app, burst=burst)
    except Exception as e:  # redis.ConnectionError and kin
        if type(e).__module__.startswith("redis"):
            raise click.ClickException(f"cannot reach Redis at {app.config['REDIS_URL']}: {e}") from e
        raise
