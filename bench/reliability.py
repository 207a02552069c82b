"""Reliability campaign against `posdesk serve`, on 127.0.0.1 only: concurrent writers through the API
and the merchant form, kill -9 in the middle of writes, the schemathesis run of the test suite against
the served API, bad input and personal data on the real server, rate limits across worker processes,
the cost of adversarial tickets, and what the access log keeps.

    .venv/bin/python bench/reliability.py [--levels 1,8,32] [--seconds 8] [--rounds 5] [--json FILE]
    .venv/bin/python bench/reliability.py --compare-masking 8821c1e   # masking cost before/after
    .venv/bin/python bench/reliability.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Every server is started here on a free loopback port, in its own process group, and stopped or
killed here; every loop is bounded in count and in time. The instance is a temporary folder (or
--instance DIR, initialised when needed). The served instance gets TICKET_RATE_LIMIT and
API_RATE_LIMIT of 1,000,000 per minute through POSDESK_* variables (CAMPAIGN_ENV), except in the
rate-limit phase. Prints Markdown; --json writes the raw figures.

With --database-url (a PostgreSQL server on which the script may create databases) the desk is a
new database there, `posdesk_reliability_<pid>` (POSDESK_DATABASE_URL for every command and server,
dropped at the end unless --keep-database): the same campaign against PostgreSQL. The checks read the
tickets back from that database; its integrity check is amcheck's `bt_index_check` over every B-tree
index of the desk's tables (PostgreSQL has no `PRAGMA integrity_check`), "ok" when all pass.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import http.client
import importlib.util
import json
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from triage.redact import mask_card_numbers

REPO = Path(__file__).resolve().parent.parent
POSDESK = str(Path(sys.executable).parent / "posdesk")
HOST = "127.0.0.1"  # the only address this script ever talks to
# A bound on each writer's loop: far above what 120 s can file, so that time is what ends a run.
MAX_REQUESTS_PER_WRITER = 50_000
LONG_DIGITS = re.compile(r"\d(?:(?:%20|%2[dD]|[ +\-./_])?\d){10,}")
# The campaign files far more tickets from one address than a merchant may: lift both filing limits.
CAMPAIGN_ENV = {"POSDESK_API_RATE_LIMIT": "1000000 per minute", "POSDESK_TICKET_RATE_LIMIT": "1000000 per minute"}
DESK_USER, DESK_PASSWORD = "campaign-agent", "campaign-pass-1"
TICKET_TEXTS = [
    "退货的时候提示该商户没有权限，应答码58",
    "钱两天了还没到账，结算卡是工商银行",
    "机器一直显示通讯失败，换了流量卡也不行",
    "商户被冻结了，客服说要补材料",
    "刷卡提示密码错误，卡号 6222 0212 3456 7890 123",
]
IDLE_SECONDS = 1.0  # gunicorn closes a keep-alive connection idle for 2 s
DEFLECTION = "先看看这些文章"  # the heading of the form's "read these first" step


def free_port() -> int:
    """A free TCP port on the loopback address."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def run_posdesk(instance: Path, *args: str) -> str:
    """Run a posdesk command on the instance; its output."""
    done = subprocess.run([POSDESK, "--instance", str(instance), *args], capture_output=True, text=True, check=True)
    return done.stdout


class Server:
    """`posdesk serve` in its own process group, its output (access and error log) in a log file."""

    def __init__(self, instance: Path, workers: int = 2, env: dict | None = None) -> None:
        self.instance, self.port = instance, free_port()
        self.log = instance / f"serve-{self.port}.log"
        command = [POSDESK, "--instance", str(instance), "serve", "--host", HOST, "--port", str(self.port)]
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, seconds: float = 90) -> None:
        """Wait (at most `seconds`) until the server answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                status, _, _ = request(self.port, "GET", "/api/v1/categories", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL after 15 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """kill -9 the master and every worker at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)


def request(port: int, method: str, path: str, body=None, headers=None, timeout: float = 30, conn=None):
    """One HTTP request to the loopback server: (status, parsed JSON or text, seconds)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(HOST, port, timeout=timeout)
    payload = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, dict) else body
    start = time.perf_counter()
    try:
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
    finally:
        if own:
            conn.close()
    elapsed = time.perf_counter() - start
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = data.decode("utf-8", "replace")
    return response.status, parsed, elapsed


class _FormFields(HTMLParser):
    """The fields a browser would submit from one form of a page: inputs' values and textareas' text."""

    def __init__(self, form_id: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.done, self.textarea = form_id, False, False, None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "form" and not self.done:
            self.inside = self.form_id is None or attrs.get("id") == self.form_id
        elif self.inside and tag == "input" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self.inside and tag == "textarea" and attrs.get("name"):
            self.textarea = attrs["name"]
            self.fields[self.textarea] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside, self.done = False, True
        elif tag == "textarea" and self.textarea:
            # A browser drops the newline that starts a textarea's content (WTForms writes one).
            value = self.fields[self.textarea]
            self.fields[self.textarea] = value[2:] if value.startswith("\r\n") else value.removeprefix("\n")
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.fields[self.textarea] += data


def form_fields(page: str, form_id: str | None = None) -> dict[str, str]:
    """What a browser submits from the form with this id (or the page's first form), as rendered."""
    parser = _FormFields(form_id)
    parser.feed(page)
    return parser.fields


def page_message(page: str) -> str:
    """What a page tells the person: its field errors, else its error title and hint, else the queue's
    count and page ("共 12 个工单，第 1 / 1 页")."""
    errors = re.findall(r'<p class="field-error">(.*?)</p>', page, re.S)
    if errors:
        return "；".join(html.unescape(e.strip()) for e in errors)
    error = re.search(r'<p class="error-code">.*?<h1>(.*?)</h1>\s*(?:<p class="lead">(.*?)</p>)?', page, re.S)
    if error:
        return "：".join(html.unescape(part.strip()) for part in error.groups() if part)
    total = re.search(r"共 (\d+) 个工单", page)
    pages = re.search(r"第 (\d+) / (\d+) 页", page)
    if total:
        return f"共 {total[1]} 个工单，" + (f"第 {pages[1]} / {pages[2]} 页" if pages else "一页")
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    return html.unescape(title[1].strip()) if title else page[:80]


class Browser:
    """What a merchant's or an agent's browser does, on one keep-alive connection: keeps cookies,
    submits forms as rendered (CSRF token included) and follows a redirect with a GET."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None
        self.last_used = 0.0

    def close(self) -> None:
        """Drop the connection (the cookies stay): the next request opens a new one."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """One request: (status, the response, the body as text)."""
        if time.monotonic() - self.last_used > IDLE_SECONDS:
            self.close()  # as browsers do, never reuse a connection the server may have closed meanwhile
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        self.last_used = time.monotonic()
        for header in response.msg.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response.status, response, data.decode("utf-8", "replace")

    def get(self, path: str):
        """GET a page: (status, response, text)."""
        return self.send("GET", path)

    def submit(self, path: str, fields: dict[str, str]):
        """POST a form urlencoded; a redirect is followed with a GET, as browsers do: (status, response,
        text, the path redirected to or None)."""
        body = urlencode(fields).encode()
        status, response, page = self.send("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        if status in (302, 303):
            target = urlsplit(response.getheader("Location", "")).path
            status, response, page = self.get(target)
            return status, response, page, target
        return status, response, page, None

    def log_in(self, username: str, password: str) -> None:
        """Log in to the desk through its login page."""
        _, _, page = self.get("/agent/login")
        fields = form_fields(page) | {"username": username, "password": password}
        status, _, page, target = self.submit("/agent/login", fields)
        if target != "/agent/":
            raise RuntimeError(f"desk login failed: {status} {page_message(page)}")


class Refused(Exception):
    """An answer that did not acknowledge a ticket: its status, or what the page said."""


def file_through_form(browser: Browser, ticket: dict) -> tuple[int, float, bool]:
    """File a ticket as a merchant does without the page script: open the form, submit it; when the
    desk answers with "先看看这些文章", submit the form again as it was rendered (its `reviewed` field
    now set), then read the ticket number on /tickets/filed. (ticket id, seconds from the submit that
    files it to the page with its number, whether "先看看这些文章" came first)."""
    status, _, page = browser.get("/tickets/new")
    if status != 200:
        raise Refused(f"GET /tickets/new {status}")
    fields = form_fields(page, "ticket-form")
    fields |= {"name": ticket["name"], "phone": ticket["phone"], "description": ticket["text"]}
    start = time.perf_counter()
    status, _, page, target = browser.submit("/tickets/new", fields)
    deflected = status == 200 and target is None and DEFLECTION in page
    if deflected:
        fields = form_fields(page, "ticket-form")  # what the page shows, submitted again ("仍然提交工单")
        start = time.perf_counter()
        status, _, page, target = browser.submit("/tickets/new", fields)
    seconds = time.perf_counter() - start
    number = re.search(r'id="ticket-number">PD(\d+)<', page)
    if status != 200 or target != "/tickets/filed" or not number:
        refused = target is None and 'id="ticket-form"' in page  # the form shown again, with its messages
        raise Refused(f"{status}, the form again: {page_message(page)}" if refused else str(status))
    return int(number[1]), seconds, deflected


def file_through_api(port: int, conn, token: str, ticket: dict) -> tuple[int, float, bool]:
    """File a ticket through the API with its own Idempotency-Key: (ticket id, seconds)."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    status, answer, seconds = request(port, "POST", "/api/v1/tickets", ticket, headers, conn=conn)
    if status != 201:
        raise Refused(str(status))
    return answer["ticket"]["id"], seconds, False


class Writer(threading.Thread):
    """Files tickets through one door ("api" or "form") until told to stop (or MAX_REQUESTS_PER_WRITER):
    what it was told was stored (ticket id and what it sent), its latencies and its errors."""

    def __init__(self, door: str, port: int, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.door, self.port, self.token, self.stop = door, port, token, stop
        self.acknowledged: list[tuple[int, dict]] = []
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.deflected = 0  # form tickets filed after "先看看这些文章"

    def run(self) -> None:
        browser = Browser(self.port)
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        for n in range(MAX_REQUESTS_PER_WRITER):
            if self.stop.is_set():
                break
            ticket = {"text": f"{random.choice(TICKET_TEXTS)}（第 {n} 次）", "name": "张伟", "phone": "13812345678"}
            try:
                if self.door == "form":
                    ticket_id, seconds, deflected = file_through_form(browser, ticket)
                else:
                    ticket_id, seconds, deflected = file_through_api(self.port, conn, self.token, ticket)
            except (OSError, http.client.HTTPException) as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                conn.close()
                browser.close()
                if self.stop.is_set():
                    break
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                time.sleep(0.05)
                continue
            except Refused as e:
                self.errors[str(e)] = self.errors.get(str(e), 0) + 1
                continue
            self.acknowledged.append((ticket_id, ticket))
            self.latencies.append(seconds)
            self.deflected += deflected
        conn.close()
        browser.close()


def start_writers(port: int, token: str, doors: dict[str, int], stop: threading.Event) -> list[Writer]:
    """Start doors[door] writers through each door."""
    writers = [Writer(door, port, token, stop) for door, count in doors.items() for _ in range(count)]
    for w in writers:
        w.start()
    return writers


def database_url() -> str | None:
    """The PostgreSQL desk the campaign runs on (POSDESK_DATABASE_URL, set by --database-url), or None
    for the embedded default, the SQLite file posdesk.db in the instance folder."""
    return os.environ.get("POSDESK_DATABASE_URL") or None


@contextlib.contextmanager
def desk_reader(instance: Path):
    """query(sql, params) -> rows, read-only, on the campaign's desk: the instance's SQLite file or the
    PostgreSQL database. The SQL takes named parameters (`:name`), which both drivers understand."""
    url = database_url()
    if url is None:
        db = sqlite3.connect(f"file:{instance / 'posdesk.db'}?mode=ro", uri=True)
        try:
            yield lambda sql, params=None: db.execute(sql, params or {}).fetchall()
        finally:
            db.close()
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            yield lambda sql, params=None: [tuple(r) for r in conn.execute(text(sql), params or {}).all()]
            conn.rollback()
    finally:
        engine.dispose()


def stored_intact(instance: Path, acknowledged: list[tuple[int, dict]]) -> set[int]:
    """The acknowledged tickets stored intact: the text sent (card numbers masked), its contact, and
    its `created` event."""
    rows = {}
    with desk_reader(instance) as query:
        for start in range(0, len(acknowledged), 500):
            chunk = [ticket_id for ticket_id, _ in acknowledged[start : start + 500]]
            marks = ",".join(f":id{k}" for k in range(len(chunk)))
            for row in query(
                f"SELECT id, text, name, phone FROM tickets t WHERE t.id IN ({marks}) AND EXISTS "
                "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'created')",
                {f"id{k}": ticket_id for k, ticket_id in enumerate(chunk)},
            ):
                rows[row[0]] = tuple(row[1:])
    return {
        ticket_id
        for ticket_id, sent in acknowledged
        if rows.get(ticket_id) == (mask_card_numbers(sent["text"].strip()), sent["name"], sent["phone"])
    }


def database_checks(instance: Path) -> tuple[int, str]:
    """(tickets without a `created` event, the integrity check: SQLite's PRAGMA integrity_check, or
    amcheck's bt_index_check on every B-tree index of the PostgreSQL desk)."""
    with desk_reader(instance) as query:
        orphans = query(
            "SELECT count(*) FROM tickets t WHERE NOT EXISTS "
            "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'created')"
        )[0][0]
        if database_url() is None:
            return orphans, query("PRAGMA integrity_check")[0][0]
    return orphans, postgres_index_check()


def postgres_index_check() -> str:
    """amcheck over every B-tree index of the desk's schema: "ok", or the first failure."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url(), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            indexes = conn.execute(
                text(
                    "SELECT c.oid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_am a ON a.oid = c.relam JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE a.amname = 'btree' AND n.nspname = current_schema()"
                )
            ).all()
            for oid, name in indexes:
                try:
                    conn.execute(text("SELECT bt_index_check(CAST(:oid AS regclass), true)"), {"oid": oid})
                except Exception as e:  # amcheck raises on the first corruption it finds
                    return f"{name}: {str(getattr(e, 'orig', e)).splitlines()[0]}"
    finally:
        engine.dispose()
    return "ok"


def ticket_count(instance: Path) -> int:
    """How many tickets the instance's desk holds."""
    with desk_reader(instance) as query:
        return query("SELECT count(*) FROM tickets")[0][0]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) in milliseconds."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


def _merge_errors(writers: list[Writer]) -> dict[str, int]:
    errors: dict[str, int] = {}
    for w in writers:
        for kind, count in w.errors.items():
            errors[kind] = errors.get(kind, 0) + count
    return errors


def writers_phase(instance: Path, token: str, levels: list[int], seconds: float) -> list[dict]:
    """For each level, that many concurrent writers for `seconds`, half through the form and half
    through the API (one writer: each door alone, one after the other); then check what was
    acknowledged. One row per level and door."""
    server = Server(instance, env=CAMPAIGN_ENV)
    rows = []
    try:
        for level in levels:
            plans = [{"api": 1}, {"form": 1}] if level == 1 else [{"api": level - level // 2, "form": level // 2}]
            for doors in plans:
                stop = threading.Event()
                start = time.perf_counter()
                writers = start_writers(server.port, token, doors, stop)
                time.sleep(seconds)
                stop.set()
                for w in writers:
                    w.join(60)
                elapsed = time.perf_counter() - start
                intact = stored_intact(instance, [a for w in writers for a in w.acknowledged])
                orphans, integrity = database_checks(instance)
                for door, count in doors.items():
                    own = [w for w in writers if w.door == door]
                    ids = [ticket_id for w in own for ticket_id, _ in w.acknowledged]
                    latencies = [s for w in own for s in w.latencies]
                    rows.append(
                        {"writers": level, "door": door, "door_writers": count, "acknowledged": len(ids)}
                        | {"errors": _merge_errors(own), "p50_ms": percentile(latencies, 50)}
                        | {"p99_ms": percentile(latencies, 99), "tickets_per_s": len(ids) / elapsed}
                        | {"stored_intact": len(intact.intersection(ids)), "orphans": orphans}
                        | {"integrity": integrity, "seconds": elapsed, "deflected": sum(w.deflected for w in own)}
                    )
    finally:
        server.stop()
    return rows


def kill_phase(instance: Path, token: str, rounds: int, writers: int = 8) -> list[dict]:
    """Each round: writers file tickets (half through the form, half through the API), the whole server
    gets kill -9 0.5-2 s into the writes; then every acknowledged ticket must be stored intact, and the
    database must be intact."""
    rows = []
    doors = {"api": writers - writers // 2, "form": writers // 2}
    for number in range(1, rounds + 1):
        server = Server(instance, env=CAMPAIGN_ENV)
        stop = threading.Event()
        threads = start_writers(server.port, token, doors, stop)
        deadline = time.monotonic() + 60  # the first triage loads the model: kill once writes are flowing
        while time.monotonic() < deadline and not all(
            any(t.acknowledged for t in threads if t.door == door) for door in doors
        ):
            time.sleep(0.05)
        time.sleep(random.uniform(0.5, 2.0))
        server.kill()
        stop.set()
        for t in threads:
            t.join(60)
        acknowledged = [a for t in threads for a in t.acknowledged]
        errors = sum(sum(t.errors.values()) for t in threads)
        intact = len(stored_intact(instance, acknowledged))
        orphans, integrity = database_checks(instance)
        by_door = {door: sum(len(t.acknowledged) for t in threads if t.door == door) for door in doors}
        rows.append(
            {"round": number, "acknowledged": len(acknowledged), "api": by_door["api"], "form": by_door["form"]}
            | {"refused or cut": errors, "stored intact": intact, "orphans": orphans, "integrity": integrity}
        )
    return rows


def _load_fuzz_helper():
    """The suite's schemathesis run (tests/test_webapp_openapi_fuzz.py), imported, not copied."""
    path = REPO / "tests" / "test_webapp_openapi_fuzz.py"
    spec = importlib.util.spec_from_file_location("test_webapp_openapi_fuzz", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _access_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if '"GET ' in line or '"POST ' in line]


def fuzz_phase(instance: Path, token: str) -> list[dict]:
    """The suite's bounded schemathesis run (same helper, checks and examples) against the served API,
    in both modes: operations, cases sent, 5xx answers, answers that break the schema."""
    import schemathesis

    helper = _load_fuzz_helper()
    server = Server(instance, env=CAMPAIGN_ENV)
    rows = []
    try:
        schema = schemathesis.openapi.from_url(f"http://{HOST}:{server.port}/api/openapi.json")
        headers = {"Authorization": f"Bearer {token}"}
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            start = time.perf_counter()
            run = helper.check_every_operation(schema, headers, mode, {"timeout": 30})
            rows.append(
                {"mode": mode.value, "operations": run.operations, "examples": helper.EXAMPLES_PER_OPERATION}
                | {"cases": run.cases, "server_errors": run.server_errors, "mismatches": run.mismatches}
                | {"failures": run.failures, "seconds": time.perf_counter() - start}
            )
    finally:
        server.stop()
    statuses = [re.search(r'" (\d{3}) ', line) for line in _access_lines(server.log)]
    answered = [int(s[1]) for s in statuses if s]
    rows.append({"mode": "access log", "requests": len(answered), "5xx": sum(s >= 500 for s in answered)})
    return rows


def chunked_post(port: int, path: str, body: bytes, token: str) -> tuple[str, str]:
    """POST body in chunks (no Content-Length): the status line and body the server answers with. The
    server may answer and close before the whole body is sent: a refused send is no failure here."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        try:
            sock.sendall(head.encode())
            for start in range(0, len(body), 8192):
                chunk = body[start : start + 8192]
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        answer = b""
        try:
            for _ in range(64):  # the answer is one short JSON body; the server closes after it
                data = sock.recv(4096)
                if not data:
                    break
                answer += data
        except OSError as e:
            if not answer:
                return type(e).__name__, ""
    text = answer.decode("utf-8", "replace")
    return text.split("\r\n", 1)[0], text.partition("\r\n\r\n")[2]


def _api_message(answer) -> str:
    """The Chinese `message` and English `error` of an API answer."""
    if isinstance(answer, dict) and "message" in answer:
        return f"{answer['message']} (`{answer['error']}`)"
    return str(answer)[:80]


def _multipart(fields: dict[str, bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bad_input_phase(instance: Path, token: str) -> dict:
    """Each bad input of docs/reliability.md sent to the served app: the status and the message it got
    back (the API's `message` and `error`; a page's field errors, or its error title and hint); and
    how many tickets all of them stored (none may be)."""
    server = Server(instance, env=CAMPAIGN_ENV)
    api = {"Authorization": f"Bearer {token}"}
    rows: list[dict] = []
    before = ticket_count(instance)
    try:
        port = server.port

        def api_row(label: str, method: str, path: str, body=None) -> None:
            status, answer, _ = request(port, method, path, body, api)
            rows.append({"input": label, "status": status, "message": _api_message(answer)})

        def page_row(label: str, browser: Browser, method: str, path: str, body=None, content_type=None) -> None:
            headers = {"Content-Type": content_type} if content_type else {}
            status, _, page = browser.send(method, path, body, headers)
            rows.append({"input": label, "status": status, "message": page_message(page)})

        text = "刷卡一直失败"
        api_row("`GET /api/v1/tickets/9223372036854775808`", "GET", "/api/v1/tickets/9223372036854775808")
        api_row("`GET /api/v1/search?q=退货&limit=²`", "GET", "/api/v1/search?q=" + quote("退货") + "&limit=%C2%B2")
        value = b'{"text": "' + text.encode() + b'\\ud800"}'
        api_row('a lone surrogate in a JSON value (`"\\ud800"`)', "POST", "/api/v1/tickets", value)
        key = b'{"text": "' + text.encode() + b'", "\\ud800": "x"}'
        api_row("a lone surrogate in a JSON key", "POST", "/api/v1/tickets", key)
        api_row("5,000 nested brackets", "POST", "/api/v1/tickets", b"[" * 5000 + b"]" * 5000)
        gbk = json.dumps({"text": text}, ensure_ascii=False).encode("gbk")
        api_row("JSON in GBK, not UTF-8", "POST", "/api/v1/tickets", gbk)
        api_row("an unknown field in the ticket", "POST", "/api/v1/tickets", {"text": text, "priority": "high"})
        unknown = {"text": text, "contact": {"email": "a@example.com"}}
        api_row("an unknown field in its `contact`", "POST", "/api/v1/tickets", unknown)
        api_row(
            "a card number as the phone (API)",
            "POST",
            "/api/v1/tickets",
            {"text": text, "phone": "6222 0212 3456 7894"},
        )
        status_line, answer = chunked_post(port, "/api/v1/tickets", json.dumps({"text": "字" * 40000}).encode(), token)
        with contextlib.suppress(ValueError):
            answer = _api_message(json.loads(answer))
        rows.append({"input": "a chunked body over the 64 KiB limit", "status": status_line, "message": answer})

        desk = Browser(port)
        desk.log_in(DESK_USER, DESK_PASSWORD)
        page_row("`/agent/` (no filter, for comparison)", desk, "GET", "/agent/")
        for query in ("page=9223372036854775807", "page=-5", "to=9999-12-31", "from=0001-01-01"):
            page_row(f"`/agent/?{query}`", desk, "GET", f"/agent/?{query}")
        _, _, page = desk.get("/agent/")
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]*)"', page)
        note = urlencode({"csrf_token": csrf[1] if csrf else "", "note": "备" * 8000}).encode()
        page_row(
            "a desk POST over 64 KiB (a note)",
            desk,
            "POST",
            "/agent/tickets/1/note",
            note,
            "application/x-www-form-urlencoded",
        )
        desk.close()

        merchant = Browser(port)
        _, _, page = merchant.get("/tickets/new")
        fields = form_fields(page, "ticket-form")
        others = {k: v for k, v in fields.items() if k != "name"} | {"phone": "13912345678", "description": text}
        broken = urlencode(others).encode() + b"&name=%FF%FE"
        kind = "application/x-www-form-urlencoded"
        page_row(
            "invalid UTF-8 in the ticket form, urlencoded (`name=%FF%FE`)",
            merchant,
            "POST",
            "/tickets/new",
            broken,
            kind,
        )
        parts = {name: value.encode() for name, value in fields.items()} | {
            "name": b"\xff\xfe",
            "description": text.encode(),
        }
        body, kind = _multipart(parts | {"phone": b"13912345678"})
        page_row("invalid UTF-8 in the ticket form, multipart", merchant, "POST", "/tickets/new", body, kind)
        card_phone = fields | {"name": "王芳", "phone": "6222 0212 3456 7894", "description": text}
        status, _, page, _ = merchant.submit("/tickets/new", card_phone)
        rows.append({"input": "a card number as the phone (form)", "status": status, "message": page_message(page)})
        merchant.close()
    finally:
        server.stop()
    return {"rows": rows, "tickets_stored": ticket_count(instance) - before}


# (case, the field it goes in, what is typed): Luhn-valid card numbers written four ways, a mistyped
# UnionPay number (masked whatever its check digit), an ID number, a +86 mobile whose 13 digits pass
# Luhn (in the text and as the phone), a card number as the contact name. Each number is another, so
# that a log line that holds one tells which case it came from.
PII_CASES = [
    ("card number, spaces", "text", "卡号 6222 0212 3456 7894 刷卡失败"),
    ("card number, dots", "text", "卡号 6217.0031.2345.6782 刷卡失败"),
    ("card number glued to letters", "text", "卡号abc4392250012345673def刷卡失败"),
    ("UnionPay number failing Luhn (mistyped)", "text", "卡号 6222 0212 3456 7890 刷卡失败"),
    ("card number, full-width digits", "text", "卡号６２２８４８００１２３４５６７１刷卡失败"),
    ("ID number", "text", "身份证 11010519491231002X 实名认证不过"),
    ("+86 mobile passing Luhn", "text", "请回电 +86 138 0004 5678 谢谢"),
    ("+86 mobile passing Luhn", "phone", "+86 138 0004 5678"),
    ("card number", "name", "张三6225880011223345"),
]
PII_DEFAULTS = {"text": "刷卡一直失败，请帮忙看看", "name": "王芳", "phone": "13912345678"}


def _digits(value: str) -> str:
    """The digits of value, full-width ones as ASCII."""
    return "".join(c for c in unicodedata.normalize("NFKC", value) if c.isdigit())


def _lines_with_digits(lines: list[str], value: str) -> list[str]:
    """The log lines that hold value's digits (URL-decoded, full-width folded, separators dropped)."""
    digits = _digits(value)
    found = []
    for line in lines:
        plain = re.sub(r"[\s.\-/+_]", "", unicodedata.normalize("NFKC", unquote_plus(line)))
        if digits in plain:
            found.append(line)
    return found


def _queue_rows(page: str) -> dict[int, dict[str, str]]:
    """The desk queue's rows by ticket id: the name, masked phone and preview it shows."""
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        link = re.search(r'href="/agent/tickets/(\d+)"', row)
        contact = re.search(r'data-label="联系人">(.*?)<br><span class="muted small">(.*?)</span>', row, re.S)
        preview = re.search(r'class="excerpt">(.*?)</a>', row, re.S)
        if link and contact and preview:
            name, phone = (html.unescape(part.strip()) for part in contact.groups())
            rows[int(link[1])] = {"name": name, "phone": phone, "text": html.unescape(preview[1].strip())}
    return rows


def _ticket_page(page: str) -> dict[str, str]:
    """What a desk ticket page shows of the text, the name and the phone."""
    text = re.search(r'id="ticket-text">(.*?)</div>', page, re.S)
    name = re.search(r"<dt>联系人</dt><dd>(.*?)</dd>", page, re.S)
    phone = re.search(r"<dt>电话</dt><dd>(.*?)</dd>", page, re.S)
    found = {"text": text, "name": name, "phone": phone}
    return {field: html.unescape(m[1].strip()) if m else "?" for field, m in found.items()}


def pii_phase(instance: Path, token: str) -> list[dict]:
    """File each personal-data case through the form and through the API, and search for it on the
    merchant site (GET /search?q=…, the one way typed text reaches a URL); then what was stored (read
    from the database), what the desk's queue and ticket page show, and whether the server's log holds
    the digits."""
    server = Server(instance, env=CAMPAIGN_ENV)
    rows = []
    try:
        port = server.port
        desk = Browser(port)
        desk.log_in(DESK_USER, DESK_PASSWORD)
        for case, field, value in PII_CASES:
            ticket = PII_DEFAULTS | {field: value}
            for door in ("form", "api"):
                row = {"case": case, "field": field, "input": value, "door": door, "ticket": None}
                if door == "form":
                    browser = Browser(port)
                    try:
                        row["ticket"], _, _ = file_through_form(browser, ticket)
                        row["answer"] = f"filed, PD{row['ticket']:06d}"
                    except Refused as e:
                        row["answer"] = str(e)
                    browser.close()
                else:
                    status, answer, _ = request(
                        port, "POST", "/api/v1/tickets", ticket, {"Authorization": f"Bearer {token}"}
                    )
                    row["answer"] = str(status) if status == 201 else f"{status} {_api_message(answer)}"
                    row["ticket"] = answer["ticket"]["id"] if status == 201 else None
                rows.append(row)
            request(port, "GET", "/search?" + urlencode({"q": value}))
        _, _, queue = desk.get("/agent/")
        shown = _queue_rows(queue)
        with desk_reader(instance) as query:
            for row in rows:
                if row["ticket"] is None:
                    row |= {"stored": "nothing", "queue": "—", "page": "—"}
                    continue
                found = query(f"SELECT {row['field']} FROM tickets WHERE id = :id", {"id": row["ticket"]})
                row["stored"] = found[0][0] if found else "missing"
                row["queue"] = shown.get(row["ticket"], {}).get(row["field"], "not on the first page")
                _, _, page = desk.get(f"/agent/tickets/{row['ticket']}")
                row["page"] = _ticket_page(page)[row["field"]]
        desk.close()
    finally:
        server.stop()
    lines = server.log.read_text().splitlines()
    for row in rows:
        leaks = _lines_with_digits(lines, row["input"])
        where = sorted({m[1] if (m := re.search(r'"((?:GET|POST) [^ ?"]*)', leak)) else "error log" for leak in leaks})
        row["logged"] = f"yes: {len(leaks)} line{'s' * (len(leaks) > 1)} ({', '.join(where)})" if leaks else "no"
    return rows


def rate_limit_phase(instance: Path, token: str, workers: int = 4, limit: int = 40, tries: int = 120) -> dict:
    """`tries` calls with one token, spread over the worker processes: exactly `limit` may pass."""
    server = Server(instance, workers=workers, env={"POSDESK_API_RATE_LIMIT": f"{limit} per minute"})
    statuses: list[int] = []
    lock = threading.Lock()

    def call(count: int) -> None:
        for _ in range(count):
            status, _, _ = request(
                server.port, "GET", "/api/v1/categories", headers={"Authorization": f"Bearer {token}"}
            )
            with lock:
                statuses.append(status)

    try:
        threads = [threading.Thread(target=call, args=(tries // 8,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        server.stop()
    return {"workers": workers, "limit": limit, "tries": len(statuses), "passed": statuses.count(200)}


FAMILIES = {
    "digit run '1 1 1 …'": lambda n: ("1 " * n)[:n],
    "digit run '1-1-1-…'": lambda n: ("1-" * n)[:n],
    "card-like groups": lambda n: ("6222 0212 3456 7891 " * n)[:n],
    "repeated punctuation": lambda n: ("！？。，……——" * n)[:n],
    "one Latin run": lambda n: "a" * n,
    "pinyin run": lambda n: ("shuakashibai" * n)[:n],
    "pinyin between Han": lambda n: ("刷ka卡dao账" * n)[:n],
    "Han text": lambda n: ("退货提示没有权限应答码58" * n)[:n],
}


def adversarial_phase(instance: Path, token: str, repeat: int = 3) -> list[dict]:
    """File and search 1,000- and 2,000-character adversarial texts; linear cost doubles at most."""
    server = Server(instance, env=CAMPAIGN_ENV)
    headers = {"Authorization": f"Bearer {token}"}
    rows = []
    try:
        for name, make in FAMILIES.items():
            row = {"input": name}
            for label, path, field in (("file", "/api/v1/tickets", "text"), ("search", "/api/v1/search", "q")):
                costs = {}
                for n in (1000, 2000):
                    seconds = []
                    for _ in range(repeat):
                        status, answer, elapsed = request(server.port, "POST", path, {field: make(n)}, headers)
                        if status not in (200, 201):
                            raise RuntimeError(f"{name} {label} {n}: {status} {answer}")
                        seconds.append(elapsed)
                    costs[n] = min(seconds) * 1000
                row[f"{label}_1000_ms"], row[f"{label}_2000_ms"] = costs[1000], costs[2000]
                row[f"{label}_ratio"] = costs[2000] / costs[1000]
            rows.append(row)
        # What the access log must never keep: numbers typed into a search box or a URL.
        request(server.port, "GET", "/search?q=" + "6222%200212%203456%207890%20123")
        request(server.port, "GET", "/search?q=13812345678")
        too_big = json.dumps({"text": "字" * 40000}).encode()
        chunked_status, _ = chunked_post(server.port, "/api/v1/tickets", too_big, token)
    finally:
        server.stop()
    logs = [line for log in sorted(instance.glob("serve-*.log")) for line in log.read_text().splitlines()]
    access = [line for line in logs if '"GET ' in line or '"POST ' in line]  # every server's access log
    leaks = [line for line in access if LONG_DIGITS.search(line)]
    checks = {"chunked_over_limit_status": chunked_status, "access_log_lines": len(access)}
    rows.append({"input": "checks", **checks, "access_log_lines_with_long_digit_runs": len(leaks)})
    return rows


def masking_cost(compare: str | None) -> list[dict]:
    """In-process cost of masking a 2,000-character digit-run ticket, now and at another commit."""
    from triage import redact

    versions = {"now": redact}
    if compare:
        source = subprocess.run(
            ["git", "show", f"{compare}:triage/redact.py"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        path = Path(tempfile.mkdtemp()) / "redact_then.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location("redact_then", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        versions[compare] = module
    rows = []
    for name in ("digit run '1 1 1 …'", "card-like groups"):
        for n in (500, 1000, 2000):
            text = FAMILIES[name](n)
            row = {"input": name, "chars": n}
            for label, module in versions.items():
                start = time.perf_counter()
                module.mask_personal(text)
                row[f"{label}_ms"] = (time.perf_counter() - start) * 1000
            rows.append(row)
    return rows


def prepare(instance: Path | None) -> tuple[Path, str]:
    """An initialised instance (a new temporary one unless given) with the campaign's desk account, and
    a fresh API token for it."""
    if instance is None:
        instance = Path(tempfile.mkdtemp(prefix="posdesk-reliability-")) / "instance"
    if database_url() is not None or not (instance / "posdesk.db").exists():
        run_posdesk(instance, "init")  # idempotent: on PostgreSQL it migrates the new database first
    with contextlib.suppress(subprocess.CalledProcessError):  # already there in a reused instance
        run_posdesk(instance, "user", "add", DESK_USER, "--password", DESK_PASSWORD)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    token = run_posdesk(instance, "token", "create", name).split()[-1]
    return instance, token


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: columns of figures right-aligned, the others left-aligned."""
    cells = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
    figure = re.compile(r"[\d.,]+(?: \(\d+ \+ \d+\))?|nan|ok")
    align = [
        "---:|" if k and cells and all(figure.fullmatch(row[k]) for row in cells) else "---|"
        for k in range(len(header))
    ]
    return ["| " + " | ".join(header) + " |", "|" + "".join(align)] + ["| " + " | ".join(row) + " |" for row in cells]


def _code(value: str) -> str:
    """value as inline Markdown code."""
    return f"`{value}`" if "`" not in value else value


def markdown(results: dict) -> str:
    """The figures as Markdown tables."""
    out = ["## Concurrent writers", ""]
    header = ["writers", "door", "acknowledged", "errors", "p50 ms", "p99 ms", "tickets/s", "stored intact"]
    header += ["orphans", "integrity"]
    rows = []
    for r in results.get("writers", []):
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        door = f"{r['door']} ×{r['door_writers']}" if r["writers"] > 1 else f"{r['door']} alone"
        rows.append(
            [r["writers"], door, r["acknowledged"], errors, f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}"]
            + [f"{r['tickets_per_s']:.1f}", r["stored_intact"], r["orphans"], r["integrity"]]
        )
    out += _table(header, rows)
    forms = [r for r in results.get("writers", []) if r["door"] == "form"]
    if forms:
        filed, deflected = sum(r["acknowledged"] for r in forms), sum(r["deflected"] for r in forms)
        out += ["", f"Form tickets shown 「{DEFLECTION}」 before they were filed: {deflected} of {filed}."]
    out += ["", "## kill -9 during writes", ""]
    header = ["round", "acknowledged (API + form)", "refused or cut", "stored intact", "orphans", "integrity"]
    rows = [
        [r["round"], f"{r['acknowledged']} ({r['api']} + {r['form']})", r["refused or cut"], r["stored intact"]]
        + [r["orphans"], r["integrity"]]
        for r in results.get("kill", [])
    ]
    out += _table(header, rows)
    if results.get("fuzz"):
        out += ["", "## Schemathesis against the served API", ""]
        header = ["mode", "operations × examples", "cases sent", "5xx answers", "schema mismatches", "failures"]
        runs = [r for r in results["fuzz"] if r["mode"] != "access log"]
        rows = [
            [r["mode"], f"{r['operations']} × {r['examples']}", r["cases"], r["server_errors"], r["mismatches"]]
            + [len(r["failures"])]
            for r in runs
        ]
        out += _table(header, rows)
        log = next(r for r in results["fuzz"] if r["mode"] == "access log")
        out += ["", f"The server's access log: {log['requests']} requests, {log['5xx']} answered with a 5xx."]
        out += [f"- {failure.splitlines()[0]}" for r in runs for failure in r["failures"]]
    if results.get("bad_input"):
        out += ["", "## Bad input on the served app", ""]
        rows = [[r["input"], r["status"], r["message"]] for r in results["bad_input"]["rows"]]
        out += _table(["input", "status", "message"], rows)
        out += ["", f"Tickets stored by these requests: {results['bad_input']['tickets_stored']}."]
    if results.get("pii"):
        out += ["", "## Personal data: stored, shown, logged", ""]
        header = ["input", "field", "door", "answer", "stored", "queue shows", "ticket page shows", "in the log"]
        rows = [
            [f"{r['case']}: {_code(r['input'])}", r["field"], r["door"], r["answer"]]
            + [_code(r["stored"]), _code(r["queue"]), _code(r["page"]), r["logged"]]
            for r in results["pii"]
        ]
        out += _table(header, rows)
    if "rate_limit" in results:
        r = results["rate_limit"]
        out += ["", "## Rate limit across workers", ""]
        setting = f"{r['workers']} workers, limit {r['limit']} per minute"
        out.append(f"{r['tries']} calls with one token, {setting}: {r['passed']} passed.")
    out += ["", "## Adversarial tickets (through the API)", ""]
    header = ["input", "file 1,000 ms", "file 2,000 ms", "ratio", "search 1,000 ms", "search 2,000 ms", "ratio"]
    rows, checks = [], None
    for r in results.get("adversarial", []):
        if r["input"] == "checks":
            checks = r
            continue
        rows.append(
            [r["input"], f"{r['file_1000_ms']:.1f}", f"{r['file_2000_ms']:.1f}", f"{r['file_ratio']:.2f}"]
            + [f"{r['search_1000_ms']:.1f}", f"{r['search_2000_ms']:.1f}", f"{r['search_ratio']:.2f}"]
        )
    out += _table(header, rows)
    if checks:
        out += ["", f"Chunked body over the limit: `{checks['chunked_over_limit_status']}`."]
        leaks = checks["access_log_lines_with_long_digit_runs"]
        out.append(f"Access-log lines: {checks['access_log_lines']}, with a run of 11 or more digits: {leaks}.")
    if results.get("masking"):
        labels = [k[:-3] for k in results["masking"][0] if k.endswith("_ms")]
        out += ["", "## Masking one ticket (in process)", ""]
        rows = [[r["input"], r["chars"], *(f"{r[x + '_ms']:.1f}" for x in labels)] for r in results["masking"]]
        out += _table(["input", "chars", *(f"{x} ms" for x in labels)], rows)
    return "\n".join(out)


PHASES = ("writers", "kill", "fuzz", "bad", "pii", "rate", "adversarial")


def main() -> None:
    """Run the campaign and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32", help="concurrent writers per run (comma-separated)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per writers run (at most 120)")
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 rounds (at most 50)")
    parser.add_argument("--instance", type=Path, help="an instance folder to use (default: a new temporary one)")
    parser.add_argument("--compare-masking", metavar="REV", help="also time triage/redact.py at this commit")
    parser.add_argument("--skip", default="", help="phases to skip: " + ",".join(PHASES))
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    parser.add_argument(
        "--database-url",
        help="run on PostgreSQL: a server URL (postgresql://...) where a new database is created for the run",
    )
    parser.add_argument("--keep-database", action="store_true", help="keep that database after the run")
    args = parser.parse_args()
    seconds, rounds = min(args.seconds, 120.0), min(args.rounds, 50)
    skip = set(filter(None, args.skip.split(",")))
    if skip - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(skip - set(PHASES)))}")
    created = None
    if args.database_url:
        created = create_campaign_database(args.database_url)
        os.environ["POSDESK_DATABASE_URL"] = created[1]  # every command and server started from here
        print(f"desk database {created[0]} on {args.database_url}", file=sys.stderr)
    try:
        run_campaign(args, seconds, rounds, skip)
    finally:
        if created and not args.keep_database:
            drop_campaign_database(args.database_url, created[0])


def create_campaign_database(server_url: str) -> tuple[str, str]:
    """Create the run's own database on the PostgreSQL server: (its name, its URL)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"posdesk_reliability_{os.getpid()}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        engine.dispose()
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_campaign_database(server_url: str, name: str) -> None:
    """Drop the run's database (its servers are stopped by then)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        engine.dispose()


def run_campaign(args: argparse.Namespace, seconds: float, rounds: int, skip: set[str]) -> None:
    """Every phase not skipped, against the prepared instance; prints the Markdown (and --json)."""
    instance, token = prepare(args.instance)
    print(f"instance {instance}", file=sys.stderr)
    results: dict = {"masking": masking_cost(args.compare_masking)}
    phases = {
        "writers": lambda: writers_phase(instance, token, [int(x) for x in args.levels.split(",")], seconds),
        "kill": lambda: kill_phase(instance, token, rounds),
        "fuzz": lambda: fuzz_phase(instance, token),
        "bad": lambda: bad_input_phase(instance, token),
        "pii": lambda: pii_phase(instance, token),
        "rate": lambda: rate_limit_phase(instance, token),
        "adversarial": lambda: adversarial_phase(instance, token),
    }
    keys = {"bad": "bad_input", "rate": "rate_limit"}
    for name, run in phases.items():
        if name not in skip:
            start = time.perf_counter()
            results[keys.get(name, name)] = run()
            print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
