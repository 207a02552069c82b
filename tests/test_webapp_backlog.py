"""Tickets filed while no model existed are triaged outside requests: by the background worker of a
served app or by `posdesk triage pending`; and `posdesk init` runs once at a time per instance."""

import fcntl
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import wait_for

from webapp import backlog
from webapp.cli import INIT_LOCK_FILE, cli
from webapp.db import get_desk
from webapp.desk.tickets import file_ticket, get_ticket, pending_count

REPO = Path(__file__).resolve().parent.parent


def test_the_background_worker_triages_the_backlog_once_a_model_appears(make_app):
    app = make_app(TRIAGE_WORKER=True, TRIAGE_WORKER_SECONDS=0.05)
    sidecar = Path(app.config["MODEL_DIR"]) / "model.json"
    sidecar.unlink()
    with app.app_context():
        waiting = [file_ticket(get_desk(), f"商户被冻结了 {n}").id for n in range(3)]
    client = app.test_client()
    try:
        assert client.get("/").status_code == 200  # the first request starts the worker
        time.sleep(0.2)
        with app.app_context():
            assert pending_count(get_desk()) == 3  # no model yet: the tickets wait
        sidecar.write_text("{}", encoding="utf-8")

        def triaged() -> bool:
            with app.app_context():
                return pending_count(get_desk()) == 0

        assert wait_for(triaged)
        with app.app_context():
            assert all(get_ticket(get_desk(), t).category == "merchant-risk-status" for t in waiting)
    finally:
        backlog.worker(app).stop()


def test_triage_pending_command_triages_the_waiting_tickets(make_app, model_dir):
    app = make_app(MODEL_DIR=str(model_dir), TRIAGER_LOADER=None)
    with app.app_context():
        ticket = file_ticket(get_desk(), "退货的时候提示该商户没有权限")
        file_ticket(get_desk(), "钱一直没有到账")
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["triage", "pending"])
    assert result.exit_code == 0, result.output
    assert "triaged 2 tickets" in result.output and "0 still waiting" in result.output
    with app.app_context():
        assert get_ticket(get_desk(), ticket.id).category == "txn-not-enabled"
    assert "no tickets wait" in runner.invoke(cli, ["triage", "pending"]).output


_INIT_WITHOUT_HOOKS = "import webapp.cli as c; c.INIT_HOOKS.clear(); c.main()"


def test_a_second_init_waits_for_the_first_with_a_message(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir()
    env = {**os.environ, "POSDESK_INSTANCE": str(instance)}
    with open(instance / INIT_LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a first `posdesk init` is running
        second = subprocess.Popen(
            [sys.executable, "-c", _INIT_WITHOUT_HOOKS, "init"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready, _, _ = select.select([second.stderr], [], [], 60)
            assert ready, "the second init said nothing"
            assert "another `posdesk init` is running" in second.stderr.readline()
            assert second.poll() is None  # it waits
            fcntl.flock(held, fcntl.LOCK_UN)
            out, err = second.communicate(timeout=120)
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
    assert second.returncode == 0, err
    assert "knowledge base:" in out and "Traceback" not in err
