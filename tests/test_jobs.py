"""Jobs run outside requests: a filed ticket is stored and acknowledged at once, and triaged within
seconds by the served process's background thread (embedded default) or by `posdesk worker` from a
Redis queue (RQ)."""

import os

import pytest
from conftest import wait_for

from webapp import backlog, jobs
from webapp.cli import cli
from webapp.db import get_desk
from webapp.desk.tickets import get_ticket, pending_count

REDIS_URL = os.environ.get("POSDESK_TEST_REDIS_URL")
# Reads the servers of the PostgreSQL + Redis pass itself: every test here runs in that pass.
pytestmark = pytest.mark.desk


def test_a_filed_ticket_is_acknowledged_pending_and_triaged_within_seconds(make_app, api_headers_for):
    # A long round interval: only the wake-up from filing can triage the ticket in time.
    app = make_app(JOBS_EAGER=False, TRIAGE_WORKER=True, TRIAGE_WORKER_SECONDS=3600)
    client = app.test_client()
    try:
        response = client.post("/api/v1/tickets", json={"text": "商户被冻结了怎么办"}, headers=api_headers_for(app))
        assert response.status_code == 201
        ticket = response.get_json()["ticket"]
        assert ticket["triage_status"] == "pending" and ticket["triage"] is None

        def triaged() -> bool:
            return get_ticket(get_desk(app), ticket["id"]).triage_status == "done"

        assert wait_for(triaged, 10)
        assert get_ticket(get_desk(app), ticket["id"]).category == "merchant-risk-status"
    finally:
        backlog.worker(app).stop()


def test_a_ticket_filed_while_a_round_runs_is_triaged_by_the_next_round(make_app, monkeypatch):
    # The ticket is filed (and the thread woken) while the thread's round is delivering the outbox,
    # with a counted read waiting: writing that read must not swallow the wake-up, or the ticket
    # waits for the next timed round (an hour here).
    from webapp.deferred import deferred
    from webapp.desk.tickets import file_ticket_once

    app = make_app(JOBS_EAGER=False, TRIAGE_WORKER=True, TRIAGE_WORKER_SECONDS=3600)
    filed = []
    deliver = backlog.BacklogWorker.deliver

    def deliver_and_file_meanwhile(self):
        if not filed:
            with app.app_context():
                ticket, _ = file_ticket_once(get_desk(), None, "商户被冻结了怎么办")
            filed.append(ticket.id)
            deferred(app).count_view("funds-not-arrived")
            self.wake()
        return deliver(self)

    monkeypatch.setattr(backlog.BacklogWorker, "deliver", deliver_and_file_meanwhile)
    backlog.worker(app).ensure_started()
    try:
        assert wait_for(lambda: bool(filed), 10)
        assert wait_for(lambda: get_ticket(get_desk(app), filed[0]).triage_status == "done", 10)
    finally:
        backlog.worker(app).stop()


@pytest.fixture
def redis_url():
    """A Redis database of its own (db 4 of the test server), emptied."""
    if not REDIS_URL:
        pytest.skip("needs POSDESK_TEST_REDIS_URL (a Redis server)")
    from redis import Redis

    url = REDIS_URL.rsplit("/", 1)[0] + "/4"
    Redis.from_url(url).flushdb()
    return url


def test_with_redis_tickets_wait_in_the_queue_for_a_worker(make_app, api_headers_for, redis_url):
    from redis import Redis
    from rq import Queue

    app = make_app(JOBS_EAGER=False, TRIAGE_WORKER=False, REDIS_URL=redis_url)
    client = app.test_client()
    response = client.post("/api/v1/tickets", json={"text": "商户被冻结了怎么办"}, headers=api_headers_for(app))
    ticket_id = response.get_json()["ticket"]["id"]
    assert response.get_json()["ticket"]["triage_status"] == "pending"
    queued = Queue(jobs.QUEUE, connection=Redis.from_url(redis_url)).jobs
    assert [job.func_name for job in queued] == [jobs.TRIAGE_JOB, jobs.DELIVERY_JOB]
    assert pending_count(get_desk(app)) == 1

    result = app.test_cli_runner().invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert get_ticket(get_desk(app), ticket_id).category == "merchant-risk-status"
    assert len(Queue(jobs.QUEUE, connection=Redis.from_url(redis_url))) == 0


def test_with_redis_down_the_ticket_is_still_stored(make_app, api_headers_for):
    app = make_app(JOBS_EAGER=False, TRIAGE_WORKER=False, REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().post(
        "/api/v1/tickets", json={"text": "昨天刷的钱今天还没到账"}, headers=api_headers_for(app)
    )
    assert response.status_code == 201
    assert pending_count(get_desk(app)) == 1  # a later job (or `posdesk triage pending`) triages it


def test_the_worker_needs_redis(app, runner):
    result = runner.invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 1
    assert "POSDESK_REDIS_URL" in result.output and "Traceback" not in result.output
