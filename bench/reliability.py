"""Reliability campaign against `posdesk serve`, on 127.0.0.1 only: concurrent writers, kill -9 in the
middle of writes, rate limits across worker processes, bad input on the real server, the cost of
adversarial tickets, and what the access log keeps.

    .venv/bin/python bench/reliability.py [--levels 1,8,32] [--seconds 8] [--rounds 5] [--json FILE]
    .venv/bin/python bench/reliability.py --compare-masking 8821c1e   # masking cost before/after

Every server is started here on a free loopback port, in its own process group, and stopped or
killed here; every loop is bounded in count and in time. The instance is a temporary folder (or
--instance DIR, initialised when needed). Prints Markdown; --json writes the raw figures.
"""

from __future__ import annotations

import argparse
import contextlib
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
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSDESK = str(Path(sys.executable).parent / "posdesk")
HOST = "127.0.0.1"  # the only address this script ever talks to
MAX_REQUESTS_PER_WRITER = 5000
LONG_DIGITS = re.compile(r"\d(?:(?:%20|%2[dD]|[ +\-./_])?\d){10,}")
TICKET_TEXTS = [
    "退货的时候提示该商户没有权限，应答码58",
    "钱两天了还没到账，结算卡是工商银行",
    "机器一直显示通讯失败，换了流量卡也不行",
    "商户被冻结了，客服说要补材料",
    "刷卡提示密码错误，卡号 6222 0212 3456 7890 123",
]


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
    """`posdesk serve` in its own process group, its output in a log file."""

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


class Writer(threading.Thread):
    """Files tickets through the API until told to stop (or MAX_REQUESTS_PER_WRITER): what it was
    told was stored (the ids of 201 answers), its latencies and its errors."""

    def __init__(self, port: int, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.stop = port, token, stop
        self.acknowledged: list[int] = []
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}

    def run(self) -> None:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}"}
        for n in range(MAX_REQUESTS_PER_WRITER):
            if self.stop.is_set():
                break
            body = {"text": f"{random.choice(TICKET_TEXTS)}（第 {n} 次）", "phone": "13812345678"}
            try:
                status, answer, seconds = request(
                    self.port,
                    "POST",
                    "/api/v1/tickets",
                    body,
                    {**headers, "Idempotency-Key": uuid.uuid4().hex},
                    conn=conn,
                )
            except (OSError, http.client.HTTPException) as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                conn.close()
                if self.stop.is_set():
                    break
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                time.sleep(0.05)
                continue
            if status == 201:
                self.acknowledged.append(answer["ticket"]["id"])
                self.latencies.append(seconds)
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1
        conn.close()


def stored(instance: Path, ids: list[int]) -> tuple[int, int, str]:
    """(how many of ids are stored with their `created` event, tickets without one, integrity_check)."""
    db = sqlite3.connect(f"file:{instance / 'posdesk.db'}?mode=ro", uri=True)
    try:
        present = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            present += db.execute(
                f"SELECT count(*) FROM tickets t WHERE t.id IN ({marks}) AND EXISTS "
                "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'created')",
                chunk,
            ).fetchone()[0]
        orphans = db.execute(
            "SELECT count(*) FROM tickets t WHERE NOT EXISTS "
            "(SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.action = 'created')"
        ).fetchone()[0]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    return present, orphans, integrity


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) in milliseconds."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] * 1000


def writers_phase(instance: Path, token: str, levels: list[int], seconds: float) -> list[dict]:
    """For each level, that many concurrent writers for `seconds`; then check what was acknowledged."""
    server = Server(instance, env={"POSDESK_API_RATE_LIMIT": "1000000 per minute"})
    rows = []
    try:
        for level in levels:
            stop = threading.Event()
            writers = [Writer(server.port, token, stop) for _ in range(level)]
            start = time.perf_counter()
            for w in writers:
                w.start()
            time.sleep(seconds)
            stop.set()
            for w in writers:
                w.join(60)
            elapsed = time.perf_counter() - start
            ids = [i for w in writers for i in w.acknowledged]
            latencies = [s for w in writers for s in w.latencies]
            errors: dict[str, int] = {}
            for w in writers:
                for kind, count in w.errors.items():
                    errors[kind] = errors.get(kind, 0) + count
            present, orphans, integrity = stored(instance, ids)
            rows.append(
                {
                    "writers": level,
                    "acknowledged": len(ids),
                    "errors": errors,
                    "p50_ms": percentile(latencies, 50),
                    "p99_ms": percentile(latencies, 99),
                    "tickets_per_s": len(ids) / elapsed,
                    "stored": present,
                    "orphans": orphans,
                    "integrity": integrity,
                }
            )
    finally:
        server.stop()
    return rows


def kill_phase(instance: Path, token: str, rounds: int, writers: int = 8) -> list[dict]:
    """Each round: writers file tickets, the whole server gets kill -9 0.5-2 s into the writes; then every
    acknowledged ticket must be stored with its history, and the database must be intact."""
    rows = []
    for number in range(1, rounds + 1):
        server = Server(instance, env={"POSDESK_API_RATE_LIMIT": "1000000 per minute"})
        stop = threading.Event()
        threads = [Writer(server.port, token, stop) for _ in range(writers)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60  # the first triage loads the model: kill once writes are flowing
        while not any(t.acknowledged for t in threads) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(random.uniform(0.5, 2.0))
        server.kill()
        stop.set()
        for t in threads:
            t.join(60)
        ids = [i for t in threads for i in t.acknowledged]
        errors = sum(sum(t.errors.values()) for t in threads)
        present, orphans, integrity = stored(instance, ids)
        rows.append(
            {"round": number, "acknowledged": len(ids), "refused or cut": errors}
            | {"stored": present, "orphans": orphans, "integrity": integrity}
        )
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


def chunked_post(port: int, path: str, body: bytes, token: str) -> str:
    """POST body in chunks (no Content-Length); the status line the server answers with. The server
    may answer and close before the whole body is sent: a refused send is no failure here."""
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
        try:
            answer = sock.recv(4096).decode("latin-1")
        except OSError as e:
            return type(e).__name__
    return answer.split("\r\n", 1)[0]


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
    server = Server(instance, env={"POSDESK_API_RATE_LIMIT": "1000000 per minute"})
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
        chunked_status = chunked_post(server.port, "/api/v1/tickets", too_big, token)
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
    """An initialised instance (a new temporary one unless given) and a fresh API token for it."""
    if instance is None:
        instance = Path(tempfile.mkdtemp(prefix="posdesk-reliability-")) / "instance"
    if not (instance / "posdesk.db").exists():
        run_posdesk(instance, "init")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    token = run_posdesk(instance, "token", "create", name).split()[-1]
    return instance, token


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def markdown(results: dict) -> str:
    """The figures as Markdown tables."""
    out = ["## Concurrent writers", ""]
    header = ["writers", "acknowledged", "errors", "p50 ms", "p99 ms", "tickets/s", "stored", "orphans", "integrity"]
    rows = []
    for r in results.get("writers", []):
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
        rows.append(
            [r["writers"], r["acknowledged"], errors, f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}"]
            + [f"{r['tickets_per_s']:.1f}", r["stored"], r["orphans"], r["integrity"]]
        )
    out += _table(header, rows)
    out += ["", "## kill -9 during writes", ""]
    kills = results.get("kill", [])
    header = ["round", "acknowledged", "refused or cut", "stored", "orphans", "integrity"]
    out += _table(header, [[r[k] for k in header] for r in kills])
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


def main() -> None:
    """Run the campaign and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="1,8,32", help="concurrent writers per run (comma-separated)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per writers run (at most 120)")
    parser.add_argument("--rounds", type=int, default=5, help="kill -9 rounds (at most 50)")
    parser.add_argument("--instance", type=Path, help="an instance folder to use (default: a new temporary one)")
    parser.add_argument("--compare-masking", metavar="REV", help="also time triage/redact.py at this commit")
    parser.add_argument("--skip", default="", help="phases to skip: writers,kill,rate,adversarial")
    parser.add_argument("--json", type=Path, help="write the raw figures to this file")
    args = parser.parse_args()
    seconds, rounds = min(args.seconds, 120.0), min(args.rounds, 50)
    skip = set(filter(None, args.skip.split(",")))
    instance, token = prepare(args.instance)
    print(f"instance {instance}", file=sys.stderr)
    results: dict = {"masking": masking_cost(args.compare_masking)}
    if "writers" not in skip:
        results["writers"] = writers_phase(instance, token, [int(x) for x in args.levels.split(",")], seconds)
    if "kill" not in skip:
        results["kill"] = kill_phase(instance, token, rounds)
    if "rate" not in skip:
        results["rate_limit"] = rate_limit_phase(instance, token)
    if "adversarial" not in skip:
        results["adversarial"] = adversarial_phase(instance, token)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
