"""Two real `posdesk serve` nodes and one `posdesk worker` on one PostgreSQL desk and one Redis: what a
multi-node deployment promises, checked over HTTP only.

- a ticket filed on node A is read on node B, and triaged by the worker (the nodes never triage with Redis);
- a desk login made on node A opens the desk on node B (shared secret key, server-side sessions),
  and an agent's action on node B is what node A's API shows;
- a rate limit counts the requests of both nodes together (counters in Redis);
- a model retrained into the shared model folder is the one node B answers with, without a restart.

Needs POSDESK_TEST_DATABASE_URL (a PostgreSQL server where this test may create and drop a database)
and POSDESK_TEST_REDIS_URL (this test uses its own database number on that server and flushes it):
`.ci/services start DIR` prints both. About a minute: two small models are trained (no full corpus).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

DATABASE_URL = os.environ.get("POSDESK_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("POSDESK_TEST_REDIS_URL")

pytestmark = [
    pytest.mark.desk,
    pytest.mark.skipif(
        not (DATABASE_URL and REDIS_URL),
        reason="two-node test needs POSDESK_TEST_DATABASE_URL (PostgreSQL) and POSDESK_TEST_REDIS_URL (Redis); "
        "`bash .ci/services start DIR` starts both and prints them",
    ),
]

REPO = Path(__file__).resolve().parent.parent
POSDESK = str(Path(sys.executable).parent / "posdesk")
HOST = "127.0.0.1"
REDIS_DB = 11  # this test's own database on the Redis server (flushed first); the suite uses /0
START_SECONDS = 90
TRIAGE_SECONDS = 20
MODEL_SECONDS = 10
TICKET_LIMIT = 3  # POSDESK_TICKET_RATE_LIMIT per minute on both nodes: the merchant form, per address
AGENT, AGENT_PASSWORD = "twonode-agent", "twonode-pass-1"
CATEGORIES = ("fees", "settlement", "network-host", "terminal-binding")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _redis_url(db: int) -> str:
    parts = urlsplit(REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{db}"))


def _database_url(name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(DATABASE_URL).set(database=name).render_as_string(hide_password=False)


def _write_tickets(path: Path, per_category: int, categories=CATEGORIES) -> Path:
    """A small labelled file: the first `per_category` tickets of each category of data/tickets."""
    lines = []
    for category in categories:
        rows = (REPO / "data" / "tickets" / f"{category}.jsonl").read_text(encoding="utf-8").splitlines()
        lines += [row for row in rows if row.strip()][:per_category]
    for line in lines:  # the format triage/dataset.py reads
        assert {"id", "text", "category", "articles"} <= json.loads(line).keys()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Cluster:
    """The processes and their settings; every process in its own process group, killed at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.database = f"posdesk_twonode_{os.getpid()}"
        self.model_dir = tmp / "model"
        self.model_dir.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("POSDESK_")}  # no POSDESK_SECRET_KEY
        self.env |= {
            "POSDESK_DATABASE_URL": _database_url(self.database),
            "POSDESK_REDIS_URL": _redis_url(REDIS_DB),
            "POSDESK_RATELIMIT_STORAGE_URI": _redis_url(REDIS_DB),
            "POSDESK_MODEL_DIR": str(self.model_dir),
            "POSDESK_TICKET_RATE_LIMIT": f"{TICKET_LIMIT} per minute",
        }
        self.instances = {name: tmp / name for name in ("a", "b", "worker")}
        self.ports: dict[str, int] = {}

    def run(self, instance: str, *args: str, timeout: float = 120) -> str:
        """A posdesk command against the shared desk; its output (fails the test with it otherwise)."""
        command = [POSDESK, "--instance", str(self.instances[instance]), *args]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        log = self.tmp / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [POSDESK, "--instance", str(self.instances[name]), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.processes.append((name, process, log))

    def serve(self, name: str) -> None:
        self.ports[name] = _free_port()
        self.start(name, "serve", "--host", HOST, "--port", str(self.ports[name]), "--workers", "1")

    def url(self, name: str, path: str) -> str:
        return f"http://{HOST}:{self.ports[name]}{path}"

    def output(self) -> str:
        """Every process's output (the end of it), for failure messages."""
        parts = []
        for name, process, log in self.processes:
            text = log.read_text(errors="replace") if log.exists() else ""
            parts.append(f"--- {name} (exit {process.poll()}) ---\n{text[-4000:]}")
        return "\n".join(parts)

    def wait_ready(self, seconds: float = START_SECONDS) -> None:
        """Wait until every node answers GET / (bounded); fail with the processes' output."""
        deadline = time.monotonic() + seconds
        waiting = set(self.ports)
        while waiting and time.monotonic() < deadline:
            for name, process, _ in self.processes:
                if process.poll() is not None:
                    pytest.fail(f"{name} exited with {process.returncode} while starting:\n{self.output()}")
            for name in sorted(waiting):
                try:
                    if requests.get(self.url(name, "/"), timeout=5).status_code == 200:
                        waiting.discard(name)
                except requests.RequestException:
                    pass
            time.sleep(0.3)
        if waiting:
            pytest.fail(f"{sorted(waiting)} did not answer GET / within {seconds} s:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM every process group, SIGKILL what is left after 10 s."""
        for _, process, _ in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process, _ in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):  # the group too: gunicorn's workers, master gone or not
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _create_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    server = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        server.dispose()


def _drop_database(name: str) -> None:
    from sqlalchemy import create_engine, text

    server = create_engine(DATABASE_URL, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        server.dispose()


def _flush_redis() -> None:
    from redis import Redis

    client = Redis.from_url(_redis_url(REDIS_DB))
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two nodes (a, b) and a worker on a fresh PostgreSQL database and this test's Redis database,
    sharing one model folder holding a small model trained before they start."""
    tmp = tmp_path_factory.mktemp("two-nodes")
    cluster = Cluster(tmp)
    _flush_redis()
    _create_database(cluster.database)
    try:
        cluster.run("a", "db", "upgrade")
        cluster.first_model = _write_tickets(tmp / "first.jsonl", 20)
        cluster.run("a", "triage", "train", "--data", str(cluster.first_model))
        cluster.token = cluster.run("a", "token", "create", "two-nodes").split()[-1]
        cluster.run("a", "user", "add", AGENT, "--password", AGENT_PASSWORD)
        cluster.serve("a")
        cluster.serve("b")
        cluster.start("worker", "worker")
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()
        _drop_database(cluster.database)
        _flush_redis()
        shutil.rmtree(tmp, ignore_errors=True)


def _api(cluster: Cluster) -> requests.Session:
    """An API client with the cluster's token (the same token on every node: it lives in the desk)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {cluster.token}"
    return session


def _csrf(page: str) -> str:
    match = CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def test_a_ticket_filed_on_one_node_is_read_on_the_other_and_triaged_by_the_worker(cluster):
    filed = _api(cluster).post(
        cluster.url("a", "/api/v1/tickets"),
        json={"text": "POS机刷卡后手续费扣得比合同写的高，费率不对", "name": "王女士", "phone": "13812345678"},
        timeout=30,
    )
    assert filed.status_code == 201, filed.text
    ticket_id = filed.json()["ticket"]["id"]

    on_b = _api(cluster)
    deadline = time.monotonic() + TRIAGE_SECONDS
    while True:
        read = on_b.get(cluster.url("b", f"/api/v1/tickets/{ticket_id}"), timeout=30)
        assert read.status_code == 200, read.text
        ticket = read.json()["ticket"]
        if ticket["triage_status"] == "done" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ticket["text"].startswith("POS机刷卡后手续费")
    assert ticket["triage_status"] == "done", f"not triaged in {TRIAGE_SECONDS} s: {ticket}\n{cluster.output()}"
    assert ticket["triage"]["category"] in CATEGORIES


def test_a_desk_login_on_one_node_works_on_the_other_and_actions_show_everywhere(cluster):
    filed = _api(cluster).post(
        cluster.url("a", "/api/v1/tickets"), json={"text": "结算款三天了还没到账，结算卡是工商银行"}, timeout=30
    )
    assert filed.status_code == 201, filed.text
    ticket_id = filed.json()["ticket"]["id"]

    on_a = requests.Session()
    token = _csrf(on_a.get(cluster.url("a", "/agent/login"), timeout=30).text)
    login = on_a.post(
        cluster.url("a", "/agent/login"),
        data={"username": AGENT, "password": AGENT_PASSWORD, "csrf_token": token, "next": ""},
        allow_redirects=False,
        timeout=30,
    )
    assert login.status_code == 302, login.text
    assert urlsplit(login.headers["Location"]).path == "/agent/"

    on_b = requests.Session()  # a browser reaching node B (behind one proxy): the same cookies, another node
    for name, value in on_a.cookies.items():
        on_b.cookies.set(name, value)
    desk = on_b.get(cluster.url("b", "/agent/"), allow_redirects=False, timeout=30)
    assert desk.status_code == 200, f"node B did not accept node A's login: {desk.status_code} {desk.headers}"

    page = on_b.get(cluster.url("b", f"/agent/tickets/{ticket_id}"), allow_redirects=False, timeout=30)
    assert page.status_code == 200
    changed = on_b.post(
        cluster.url("b", f"/agent/tickets/{ticket_id}/status"),
        data={"status": "pending", "csrf_token": _csrf(page.text)},
        allow_redirects=False,
        timeout=30,
    )
    assert changed.status_code == 302, changed.text
    assert urlsplit(changed.headers["Location"]).path == f"/agent/tickets/{ticket_id}"

    read = _api(cluster).get(cluster.url("a", f"/api/v1/tickets/{ticket_id}"), timeout=30)
    assert read.json()["ticket"]["status"] == "pending"


def test_a_rate_limit_counts_the_requests_of_both_nodes(cluster):
    merchant = requests.Session()
    token = _csrf(merchant.get(cluster.url("a", "/tickets/new"), timeout=30).text)
    form = {
        "name": "李先生",
        "phone": "13912345678",
        "description": "机器一直显示通讯失败，换了流量卡也不行",
        "reviewed": "1",  # past the "read these first" step: each submit files a ticket
        "csrf_token": token,
    }
    statuses = []
    for number in range(TICKET_LIMIT + 2):
        node = "ab"[number % 2]
        answer = merchant.post(cluster.url(node, "/tickets/new"), data=form, allow_redirects=False, timeout=30)
        statuses.append((node, answer.status_code))
    # Filed alternately on A and B: each node alone saw at most 2 of the 3 allowed, yet the 4th is refused.
    assert statuses == [("a", 302), ("b", 302), ("a", 302), ("b", 429), ("a", 429)], statuses


def test_a_model_retrained_on_one_node_is_used_by_the_other_without_a_restart(cluster):
    on_b = _api(cluster)

    def version_on_b() -> str:
        answer = on_b.post(cluster.url("b", "/api/v1/triage"), json={"text": "手续费扣多了"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["triage"]["model_version"]

    before = version_on_b()
    second = _write_tickets(cluster.tmp / "second.jsonl", 20, (*CATEGORIES, "limits"))
    out = cluster.run("a", "triage", "train", "--data", str(second))
    after = re.search(r"^model (\S+):", out, re.M).group(1)
    assert after != before

    deadline = time.monotonic() + MODEL_SECONDS
    seen = version_on_b()
    while seen != after and time.monotonic() < deadline:
        time.sleep(0.5)
        seen = version_on_b()
    assert seen == after, f"node B still answers with {seen} {MODEL_SECONDS} s after {after} was saved"
    pids = {name: process.pid for name, process, _ in cluster.processes}
    assert all(process.poll() is None for _, process, _ in cluster.processes), cluster.output()
    assert pids == {name: process.pid for name, process, _ in cluster.processes}  # no restart
