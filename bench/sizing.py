"""Sizing on this machine: tickets filed per second (POST /api/v1/tickets) and searches per second
(GET /api/v1/search?q=...), from N concurrent clients on 127.0.0.1, for three layouts:

- `sqlite`: one node, the embedded default (instance/posdesk.db, rate-limit counters in a file);
- `pg`: one node on PostgreSQL (POSDESK_DATABASE_URL), jobs in the node's background thread;
- `pg-redis-2`: two nodes on PostgreSQL with Redis (jobs, rate limits) and one `posdesk worker`,
  the load split evenly across both ports (one load generator per node, at once).

    .venv/bin/python bench/sizing.py --database-url postgresql://postgres@127.0.0.1:55432/postgres \\
        --redis-url redis://127.0.0.1:56379/12 [--clients 16] [--seconds 10] [--repeats 3] [--workers 2]

Every server runs `posdesk serve --host 127.0.0.1` (gunicorn, --workers per node × 4 threads) from a
temporary instance, in its own process group, and is stopped here; every load run is bounded in
time. One model is trained once on data/tickets (about a minute; or --model-dir DIR, an existing
model folder) and shared by every layout (POSDESK_MODEL_DIR). PostgreSQL layouts get a database of
their own on the --database-url server (created and dropped here); Redis layouts flush the --redis-url
database first and last. The API rate limit is lifted (POSDESK_API_RATE_LIMIT). The load generator is
wrk with a Lua script when installed, else a thread pool of keep-alive http.client connections.
After the runs, the resident memory of each node's processes is read (RSS from ps, PSS from /proc). Prints Markdown;
--json writes the raw figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
POSDESK = str(Path(sys.executable).parent / "posdesk")
HOST = "127.0.0.1"  # the only address this script talks to
LAYOUTS = ("sqlite", "pg", "pg-redis-2")
LIFTED = {"POSDESK_API_RATE_LIMIT": "100000000 per minute"}
TICKET_TEXTS = [
    "退货的时候提示该商户没有权限，应答码58",
    "钱两天了还没到账，结算卡是工商银行",
    "机器一直显示通讯失败，换了流量卡也不行",
    "商户被冻结了，客服说要补材料",
    "刷卡手续费扣得比合同上写的高",
]


def queries(count: int = 40) -> list[str]:
    """The first `count` merchant queries of bench/queries.jsonl (how people really ask)."""
    rows = [json.loads(line) for line in (REPO / "bench" / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r["query"] for r in rows if r.get("audience", "merchant") == "merchant"][:count]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def admin_sql(url: str, statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(statement))
    finally:
        engine.dispose()


def flush_redis(url: str) -> None:
    from redis import Redis

    client = Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


class Layout:
    """The processes of one layout: nodes (`posdesk serve`) and an optional `posdesk worker`."""

    def __init__(self, name: str, root: Path, model_dir: Path, args: argparse.Namespace) -> None:
        self.name, self.root, self.args = name, root / name, args
        self.root.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("POSDESK_")}
        self.env |= LIFTED | {"POSDESK_MODEL_DIR": str(model_dir)}
        self.database = None
        if name != "sqlite":
            self.database = f"posdesk_sizing_{os.getpid()}_{name.replace('-', '_')}"
            admin_sql(args.database_url, f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            admin_sql(args.database_url, f"CREATE DATABASE {self.database}")
            self.env["POSDESK_DATABASE_URL"] = with_database(args.database_url, self.database)
        if name == "pg-redis-2":
            flush_redis(args.redis_url)
            self.env |= {"POSDESK_REDIS_URL": args.redis_url, "POSDESK_RATELIMIT_STORAGE_URI": args.redis_url}
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.ports: list[int] = []

    def run(self, instance: str, *args: str) -> str:
        done = subprocess.run(
            [POSDESK, "--instance", str(self.root / instance), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode:
            raise RuntimeError(f"{self.name}: posdesk {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def spawn(self, instance: str, *args: str) -> subprocess.Popen:
        log = self.root / f"{instance}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                [POSDESK, "--instance", str(self.root / instance), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.processes.append((instance, process, log))
        return process

    def start(self) -> str:
        """Migrate (shared desks), make a token, start the nodes (and the worker); the API token."""
        nodes = 2 if self.name == "pg-redis-2" else 1
        if self.database:
            self.run("node1", "db", "upgrade")
        token = self.run("node1", "token", "create", "sizing").split()[-1]
        for number in range(1, nodes + 1):
            port = free_port()
            self.ports.append(port)
            self.spawn(
                f"node{number}", "serve", "--host", HOST, "--port", str(port), "--workers", str(self.args.workers)
            )
        if self.name == "pg-redis-2":
            self.spawn("worker", "worker")
        self.wait_ready()
        return token

    def wait_ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        waiting = set(self.ports)
        while waiting and time.monotonic() < deadline:
            for name, process, log in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"{self.name}: {name} exited:\n{log.read_text()[-3000:]}")
            for port in sorted(waiting):
                with contextlib.suppress(OSError, http.client.HTTPException):
                    conn = http.client.HTTPConnection(HOST, port, timeout=5)
                    conn.request("GET", "/")
                    if conn.getresponse().status == 200:
                        waiting.discard(port)
                    conn.close()
            time.sleep(0.3)
        if waiting:
            raise RuntimeError(f"{self.name}: ports {sorted(waiting)} did not answer within {seconds} s")

    def memory(self) -> list[dict]:
        """RSS and PSS (MiB) of every process of the layout: each serve master, its workers, the job worker."""
        rows = []
        for name, process, _ in self.processes:
            rows.append({"process": f"{name} ({'serve master' if name != 'worker' else 'posdesk worker'})"})
            rows[-1] |= {"rss_mib": rss_mib(process.pid), "pss_mib": pss_mib(process.pid)}
            children = subprocess.run(
                ["ps", "-o", "pid=", "--ppid", str(process.pid)], capture_output=True, text=True
            ).stdout.split()
            for child in children:
                pid = int(child)
                rows.append({"process": f"{name} (serve worker)", "rss_mib": rss_mib(pid), "pss_mib": pss_mib(pid)})
        return rows

    def stop(self) -> None:
        for _, process, _ in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        if self.database:
            admin_sql(self.args.database_url, f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        if self.name == "pg-redis-2":
            flush_redis(self.args.redis_url)


def rss_mib(pid: int) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return int(out) / 1024 if out else float("nan")


def pss_mib(pid: int) -> float:
    """Proportional set size: pages shared with other processes (a worker's with its master's, after
    the fork) count as their share only, so the figures of a node add up to its real memory."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# --- load ------------------------------------------------------------------------------------------

TICKET_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local texts = %(texts)s
local n = 0
request = function()
  n = n + 1
  local body = '{"text": "' .. texts[(n %% #texts) + 1] .. '（第 ' .. n .. ' 次）"}'
  return wrk.format(nil, nil, nil, body)
end
"""
SEARCH_LUA = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %(token)s"
local paths = %(paths)s
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, paths[(n %% #paths) + 1])
end
"""


def _lua_list(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "}"


def search_paths() -> list[str]:
    return [f"/api/v1/search?q={quote(q)}&limit=5" for q in queries()]


def wrk_run(ports: list[int], workload: str, token: str, clients: int, seconds: float, folder: Path) -> dict:
    """One wrk per port at once, the clients split evenly: summed requests/s and the non-2xx answers."""
    script = folder / f"{workload}.lua"
    if workload == "tickets":
        script.write_text(TICKET_LUA % {"token": token, "texts": _lua_list(TICKET_TEXTS)}, encoding="utf-8")
        path = "/api/v1/tickets"
    else:
        script.write_text(SEARCH_LUA % {"token": token, "paths": _lua_list(search_paths())}, encoding="utf-8")
        path = "/api/v1/search"
    share = max(1, clients // len(ports))
    runs = [
        subprocess.Popen(
            ["wrk", "-t", str(min(share, 2)), "-c", str(share), "-d", f"{max(1, round(seconds))}s", "-s", str(script)]
            + [f"http://{HOST}:{port}{path}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for port in ports
    ]
    rps, errors = 0.0, 0
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 60)
        lines = out.splitlines()
        rps += float(next(line.split()[1] for line in lines if line.startswith("Requests/sec:")))
        errors += sum(int(line.split()[-1]) for line in lines if "Non-2xx or 3xx responses" in line)
        errors += sum(
            sum(int(part.split()[1].strip(",")) for part in line.split(":", 1)[1].split(", "))
            for line in lines
            if line.strip().startswith("Socket errors:")
        )
    return {"rps": rps, "errors": errors}


def pool_run(ports: list[int], workload: str, token: str, clients: int, seconds: float, folder: Path) -> dict:
    """`clients` threads, each on one keep-alive connection to one port (round-robin), for `seconds`."""
    deadline = time.monotonic() + seconds
    counts, errors = [0] * clients, [0] * clients
    paths = search_paths()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def run(i: int) -> None:
        conn = http.client.HTTPConnection(HOST, ports[i % len(ports)], timeout=30)
        n = 0
        while time.monotonic() < deadline:
            n += 1
            if workload == "tickets":
                body = json.dumps({"text": f"{TICKET_TEXTS[n % len(TICKET_TEXTS)]}（第 {n} 次）"}, ensure_ascii=False)
                conn.request("POST", "/api/v1/tickets", body=body.encode(), headers=headers)
            else:
                conn.request("GET", paths[n % len(paths)], headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status in (200, 201):
                counts[i] += 1
            else:
                errors[i] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return {"rps": sum(counts) / (time.monotonic() - start), "errors": sum(errors)}


def train_model(root: Path) -> Path:
    """Train one model on data/tickets into root/model (a throwaway SQLite desk for agent labels)."""
    model_dir = root / "model"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSDESK_")} | {"POSDESK_MODEL_DIR": str(model_dir)}
    subprocess.run(
        [POSDESK, "--instance", str(root / "train"), "triage", "train"], env=env, check=True, capture_output=True
    )
    return model_dir


def machine() -> dict:
    def sh(command: str) -> str:
        return subprocess.run(command, shell=True, capture_output=True, text=True).stdout.strip()

    return {
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "nproc": sh("nproc"),
        "free_g": sh("free -g | sed -n 2p"),
        "python": platform.python_version(),
        "commit": sh(f"git -C {REPO} rev-parse --short HEAD"),
        "dirty": bool(sh(f"git -C {REPO} status --porcelain")),
        "load": os.getloadavg()[0],
    }


def markdown(results: dict) -> str:
    out = []
    m = results["machine"]
    out.append(
        f"Machine: {m['cpu']}, nproc {m['nproc']}, `free -g` Mem: {m['free_g']}; Python {m['python']}; "
        f"commit {m['commit']}{' plus working tree' if m['dirty'] else ''}; load {m['load']:.2f} at start; "
        f"load generator {results['generator']}, {results['clients']} clients, {results['seconds']:.0f} s per run, "
        f"{results['repeats']} repeats; {results['workers']} gunicorn workers × 4 threads per node."
    )
    out += ["", "| layout | tickets/s min | tickets/s median | searches/s min | searches/s median | errors |"]
    out.append("|---|---:|---:|---:|---:|---:|")
    for name, row in results["layouts"].items():
        t, s = row["tickets"], row["search"]
        errors = sum(r["errors"] for r in t + s)
        out.append(
            f"| {name} | {min(r['rps'] for r in t):.1f} | {statistics.median(r['rps'] for r in t):.1f} | "
            f"{min(r['rps'] for r in s):.1f} | {statistics.median(r['rps'] for r in s):.1f} | {errors} |"
        )
    out += ["", "| layout | process | RSS MiB | PSS MiB |", "|---|---|---:|---:|"]
    for name, row in results["layouts"].items():
        for p in row["memory"]:
            out.append(f"| {name} | {p['process']} | {p['rss_mib']:.0f} | {p['pss_mib']:.0f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("POSDESK_TEST_DATABASE_URL"),
        help="a PostgreSQL server URL where databases may be created (default POSDESK_TEST_DATABASE_URL)",
    )
    parser.add_argument("--redis-url", default=None, help="a Redis database this script may flush (e.g. .../12)")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="comma-separated: " + ",".join(LAYOUTS))
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients, split over the nodes")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run (at most 120)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (at most 10)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node (serve's default: 2)")
    parser.add_argument("--model-dir", type=Path, help="an existing model folder (default: train one, ~1 min)")
    parser.add_argument("--python-load", action="store_true", help="the thread pool even when wrk is installed")
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    layouts = [x for x in args.layouts.split(",") if x]
    if set(layouts) - set(LAYOUTS):
        parser.error(f"unknown layouts: {set(layouts) - set(LAYOUTS)}")
    if any(x != "sqlite" for x in layouts) and not args.database_url:
        parser.error("the PostgreSQL layouts need --database-url (or POSDESK_TEST_DATABASE_URL)")
    if "pg-redis-2" in layouts and not args.redis_url:
        parser.error("pg-redis-2 needs --redis-url (a database number this script may flush)")
    if args.redis_url and urlsplit(args.redis_url).path in ("", "/"):
        args.redis_url = urlunsplit(urlsplit(args.redis_url)._replace(path="/12"))
    seconds, repeats = min(args.seconds, 120.0), max(1, min(args.repeats, 10))
    load = pool_run if args.python_load or not shutil.which("wrk") else wrk_run
    results = {"machine": machine(), "generator": "wrk" if load is wrk_run else "python thread pool"}
    results |= {"clients": args.clients, "seconds": seconds, "repeats": repeats, "workers": args.workers}
    results["layouts"] = {}
    with tempfile.TemporaryDirectory(prefix="posdesk-sizing-") as tmp:
        root = Path(tmp)
        if args.model_dir:
            model_dir = args.model_dir.resolve()
        else:
            print("training the model on data/tickets…", file=sys.stderr)
            model_dir = train_model(root)
        for name in layouts:
            layout = Layout(name, root, model_dir, args)
            try:
                token = layout.start()
                for workload in ("tickets", "search"):  # warm-up: models loaded, indexes built, pools filled
                    load(layout.ports, workload, token, args.clients, 2.0, layout.root)
                row = {"tickets": [], "search": []}
                for repeat in range(repeats):
                    for workload in ("tickets", "search"):
                        figure = load(layout.ports, workload, token, args.clients, seconds, layout.root)
                        row[workload].append(figure)
                        print(f"{name} {workload} #{repeat + 1}: {figure['rps']:.1f}/s", file=sys.stderr)
                row["memory"] = layout.memory()
                results["layouts"][name] = row
            finally:
                layout.stop()
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
