"""Jobs kept out of requests: triaging tickets (each new one, and the backlog once a model exists or
changes), retraining the model (`webapp.retraining`, one run at a time), and delivering the outbox
(webhooks, emails) after each change that wrote events and again as retries come due. A request
stores its change and enqueues; it never sends anything itself.

Where jobs run:
- embedded default: the background thread of each served process (`webapp.backlog`), woken at once;
- with POSDESK_REDIS_URL: an RQ queue in Redis, worked by `posdesk worker` processes on any node;
- JOBS_EAGER (tests): at once, inside the request, after the ticket is stored.
"""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from webapp.desk.tickets import triage_pending

log = logging.getLogger(__name__)
QUEUE = "posdesk"
TRIAGE_JOB = "webapp.jobs.triage_job"
DELIVERY_JOB = "webapp.jobs.delivery_job"
TRAINING_JOB = "webapp.jobs.training_job"
TRAINING_JOB_TIMEOUT = 3 * 3600  # seconds: a large corpus on a small machine
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


def enqueue_training(run_id: int, app: Flask | None = None) -> None:
    """Start a queued training run (`webapp.desk.model_versions.request_run`): at once with JOBS_EAGER,
    as an RQ job with Redis, else on this process's training thread. A run that cannot be enqueued
    (Redis down) is marked failed with the reason; a run that fails is marked failed by the run."""
    from webapp import retraining

    app = app or current_app._get_current_object()
    if app.config["JOBS_EAGER"]:
        try:
            retraining.retrain(app, run_id)
        except Exception:  # recorded on the run: the page shows why
            log.warning("training run %s failed", run_id)
        return
    if app.config.get("REDIS_URL"):
        from rq import Queue

        try:
            Queue(QUEUE, connection=_redis(app)).enqueue(
                TRAINING_JOB, run_id, job_timeout=TRAINING_JOB_TIMEOUT, result_ttl=0
            )
        except Exception as e:  # redis.ConnectionError and kin
            from webapp.db import get_desk
            from webapp.desk.model_versions import fail_run

            log.exception("could not enqueue training run %s", run_id)
            fail_run(get_desk(app), run_id, f"无法提交训练任务（任务队列不可用：{e}）")
        return
    retraining.worker(app).submit(run_id)


def training_job(run_id: int) -> str:
    """The RQ job: work one training run in this worker's app; return the version it produced."""
    from webapp.retraining import retrain

    if _WORKER_APP is None:
        raise RuntimeError("training_job runs inside `posdesk worker`")
    return retrain(_WORKER_APP, run_id).version


def enqueue_delivery(app: Flask | None = None) -> None:
    """Ask for the outbox to be delivered now (a change wrote events: a ticket, a reply, a status).
    Never raises and never waits for a receiver: with JOBS_EAGER (tests) it delivers at once."""
    app = app or current_app._get_current_object()
    if app.config["JOBS_EAGER"]:
        try:
            run_deliveries(app)
        except Exception:  # the outbox keeps the events: a later round sends them
            log.exception("delivering the outbox failed; the next round tries again")
        return
    if app.config.get("REDIS_URL"):
        from rq import Queue

        try:
            Queue(QUEUE, connection=_redis(app)).enqueue(DELIVERY_JOB, job_timeout=600, result_ttl=0)
        except Exception:  # redis.ConnectionError and kin: the worker's periodic round sends them
            log.exception("could not enqueue a delivery job; the outbox waits for the next round")
        return
    from webapp.backlog import worker

    worker(app).wake()


def run_deliveries(app: Flask) -> int:
    """One round over the outbox: send the due webhook deliveries and emails; return how many were tried."""
    from webapp import mail, webhooks
    from webapp.db import get_desk

    with app.app_context():
        desk = get_desk()
        report = webhooks.run_round(app, desk)
        sent = mail.run_round(app, desk)
    if report.attempted or sent:
        log.info(
            "outbox: %d delivered, %d to retry, %d given up; %d emails sent",
            report.delivered,
            report.retrying,
            report.failed,
            sent,
        )
    return report.attempted + sent


def delivery_job() -> int:
    """The RQ job: one outbox round in this worker's app."""
    if _WORKER_APP is None:
        raise RuntimeError("delivery_job runs inside `posdesk worker`")
    return run_deliveries(_WORKER_APP)


class DeliveryPoller:
    """A `posdesk worker`'s thread that runs an outbox round every few seconds, for the retries that
    come due later (RQ's scheduler is not used: jobs are not scheduled, they are polled for)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config["TRIAGE_WORKER_SECONDS"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="posdesk-outbox", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run_deliveries(self.app)
            except Exception:  # a database that is down: the next round tries again
                log.exception("the outbox round failed; trying again in %.0f s", self.interval)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        self._thread.join(30)


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
    over the backlog and one over the outbox run first, for what was written while no worker ran;
    unless `burst`, a thread runs an outbox round every TRIAGE_WORKER_SECONDS for retries.
    """
    from rq import SimpleWorker

    global _WORKER_APP
    _WORKER_APP = app
    run_triage(app)
    run_deliveries(app)
    poller = None if burst else DeliveryPoller(app)
    if poller:
        poller.start()
    # RQ installs its own SIGINT/SIGTERM handlers for a graceful stop; give the process its own back
    # afterwards (forked children, such as batch triage's pool, must not inherit RQ's).
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        SimpleWorker([QUEUE], connection=_redis(app)).work(burst=burst, with_scheduler=False)
    finally:
        if poller:
            poller.stop()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for scripts and tests).")
def worker_command(burst: bool) -> None:
    """Run jobs (ticket triage, webhook and email delivery) from the Redis queue; needs POSDESK_REDIS_URL.

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
