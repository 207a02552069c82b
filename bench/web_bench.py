"""Web page speed: `posdesk serve` against a bare Flask peer on the same gunicorn settings.

Both serve the same temporary instance on 127.0.0.1. The peer makes the same library calls per route
(reads the article from the database with kb.store, renders its Markdown with posdesk's renderer, ranks
with triage.relevance, renders a comparable Jinja template) and nothing else: no view counts, no
caching, no CSRF, no rate limits, no security headers. The load generator is wrk (Debian's `wrk`)
when installed, else a Python thread pool with keep-alive connections; every run is bounded in time.
Repeats are interleaved (posdesk, peer, posdesk, peer, ...) so that a busy moment hits both.

After the runs, the memory of both servers' processes (RSS, and PSS from /proc) and the model file's size
are printed beside issue 14's targets.

    .venv/bin/python bench/web_bench.py --seconds 3 --repeats 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from sizing import pss_mib, rss_mib

REPO = Path(__file__).resolve().parent.parent
POSDESK = Path(sys.executable).parent / "posdesk"
CLIENTS = (1, 8, 32)
WORKER_RSS_MB, MODEL_FILE_MB = 300, 60  # issue 14's targets: per gunicorn worker, the model on disk
MB_PER_MIB = 2**20 / 10**6
ARTICLE = "refund-void-permission"
QUERY = "退货提示没有权限"
SUGGEST_BODY = json.dumps({"q": "今天做退货，终端提示该商户没有权限", "limit": 5}, ensure_ascii=False)
# Same gunicorn settings as `posdesk serve` (webapp/serve.py).
GUNICORN = {"workers": 2, "worker_class": "gthread", "threads": 4, "timeout": 60, "accesslog": "-", "errorlog": "-"}
# (name, method, path, body, target ratio at 8 clients)
ROUTES = (
    ("article", "GET", f"/articles/{ARTICLE}", None, 0.6),
    ("home", "GET", "/", None, 0.8),
    ("search page", "GET", "/search?q=" + urllib.request.quote(QUERY), None, 0.8),
    ("suggestions", "POST", "/api/v1/search", SUGGEST_BODY, 0.8),
)


# --- the peer --------------------------------------------------------------------------------------

PEER_BASE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }} · POS 商户服务中心</title>
<link rel="stylesheet" href="/static/posdesk.css"></head><body><header class="topbar"><div class="container">
<a class="brand" href="/"><strong>POS 商户服务中心</strong><small>收单商户自助服务</small></a>
<form action="/search" method="get"><input type="search" name="q" value="{{ query|default('') }}"></form>
<nav><a href="/#categories">问题分类</a><a href="/codes/">应答码</a><a href="/tickets/new">提交工单</a></nav>
</div></header><main id="main">{% block content %}{% endblock %}</main><footer class="footer"><div class="container">
<p>本站内容为通用指引，具体规则、时效与收费以您的收单机构及签署的协议为准。</p>
<nav><a href="/">首页</a><a href="/codes/">应答码一览</a><a href="/tickets/new">提交工单</a></nav></div></footer>
</body></html>"""
PEER_TEMPLATES = {
    "base.html": PEER_BASE,
    "article.html": """{% extends "base.html" %}{% block content %}<div class="container page">
<nav class="breadcrumb"><a href="/">首页</a><span>/</span>
<a href="/categories/{{ category.slug }}">{{ category.name }}</a></nav>
<article class="card article"><h1>{{ article.title }}</h1><p class="meta">{{ category.name }} 更新于
{{ article.updated }}</p><p class="codes">{% for c in codes %}<a href="/codes/{{ c.code }}" title="{{ c.meaning }}">
{{ c.code }}</a>{% endfor %}</p><div class="prose">{{ html }}</div><section class="feedback"><h2>这篇文章有帮助吗？</h2>
<form method="post" action="/articles/{{ article.slug }}/vote"><textarea name="comment"></textarea>
<button name="helpful" value="yes">有帮助</button><button name="helpful" value="no">没有帮助</button></form></section>
</article><aside><ul>{% for a in related %}<li><a href="/articles/{{ a.slug }}">{{ a.title }}</a></li>{% endfor %}
</ul></aside></div>{% endblock %}""",
    "index.html": """{% extends "base.html" %}{% block content %}<section class="hero"><h1>您好，遇到什么问题了？</h1>
<form action="/search"><input type="search" name="q"><button>搜索</button></form></section>
<section id="categories">{% for c in categories %}<a class="category-card" href="/categories/{{ c.slug }}">
<strong>{{ c.name }}</strong><p>{{ c.definition }}</p><span>{{ c.article_count }} 篇</span></a>{% endfor %}</section>
<section><h2>大家都在看</h2><ol>{% for a in popular %}<li><a href="/articles/{{ a.slug }}">{{ a.title }}</a></li>
{% endfor %}</ol></section>{% endblock %}""",
    "search.html": """{% extends "base.html" %}{% block content %}<div class="container page">
{% for c in codes %}<div class="code-card">{{ c.code }} {{ c.meaning }}</div>{% endfor %}
<ol class="results">{% for h in hits %}<li class="result"><a class="result-title" href="/articles/{{ h.slug }}">
{{ h.title }}</a><p class="snippet">{{ h.snippet }}</p></li>{% endfor %}</ol>
{% for c in categories %}<a href="/categories/{{ c.slug }}">{{ c.name }}</a>{% endfor %}</div>{% endblock %}""",
}


def peer_app(database: str, model_dir: str, desk_path: str):
    """A bare Flask app: a connection per request, posdesk's library calls, no caching of any kind
    (`database`: the knowledge index; `desk_path`: the desk's SQLite file, for the view counts)."""
    import sqlite_utils
    from flask import Flask, abort, g, jsonify, render_template, request
    from jinja2 import DictLoader

    from kb.search import MAX_QUERY_CHARS
    from kb.store import get_article, get_articles, get_category, get_code, list_articles, list_categories
    from kb.text import analyse
    from triage import relevance
    from triage.model import load_model
    from webapp.render import render_markdown_uncached

    app = Flask("peer")
    app.jinja_loader = DictLoader(PEER_TEMPLATES)
    triager = load_model(Path(model_dir)) if (Path(model_dir) / "model.json").exists() else None

    def db():
        if "db" not in g:
            g.db = sqlite_utils.Database(database)
        return g.db

    @app.teardown_appcontext
    def close(exc):
        found = g.pop("db", None)
        if found is not None:
            found.close()

    def most_read(limit: int) -> list:
        desk = sqlite_utils.Database(desk_path)
        try:
            ranked = [r[0] for r in desk.execute(
                "SELECT slug FROM article_views WHERE views > 0 ORDER BY views DESC, slug LIMIT ?", [limit]
            )]  # fmt: skip
        finally:
            desk.close()
        found = get_articles(db(), ranked)
        shown = {a.slug for a in found}
        first = list_articles(db(), limit=limit - len(found) + len(shown))  # as posdesk's home page
        return (found + [a for a in first if a.slug not in shown])[:limit]

    @app.get("/")
    def index():
        return render_template("index.html", title="首页", categories=list_categories(db()), popular=most_read(8))

    @app.get("/articles/<slug>")
    def article(slug):
        found = get_article(db(), slug) or abort(404)
        return render_template(
            "article.html",
            title=found.title,
            article=found,
            html=render_markdown_uncached(found.body),
            category=get_category(db(), found.category),
            codes=[c for c in (get_code(db(), code) for code in found.codes) if c],
            related=get_articles(db(), list(found.related)),
        )

    @app.get("/search")
    def search():
        query = request.args.get("q", "").strip()
        analysis = analyse(query, MAX_QUERY_CHARS)
        hits = relevance.search(db(), triager, analysis, "merchant", 20) if query else []
        codes = [c for c in (get_code(db(), code) for code in analysis.codes) if c] if hits else []
        categories = list_categories(db()) if not hits else []
        return render_template("search.html", title=query, query=query, hits=hits, codes=codes, categories=categories)

    @app.post("/api/v1/search")
    def suggest():
        body = request.get_json()
        hits = relevance.search(db(), triager, body["q"], "merchant", int(body.get("limit", 10)))
        return jsonify({"results": [{"slug": h.slug, "title": h.title, "score": h.score} for h in hits]})

    return app


def serve_peer(port: int, database: str, model_dir: str, desk_path: str) -> None:
    """Run the peer under gunicorn with posdesk's settings (in this process; it blocks)."""
    from gunicorn.app.base import BaseApplication

    class Peer(BaseApplication):
        def load_config(self):
            for key, value in {**GUNICORN, "bind": f"127.0.0.1:{port}", "control_socket_disable": True}.items():
                self.cfg.set(key, value)

        def load(self):
            return peer_app(database, model_dir, desk_path)

    Peer().run()


# --- servers and load ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server on port {port} did not come up in {seconds} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a server we started (gunicorn's master and its workers share its process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wrk_rps(port: int, method: str, path: str, body: str | None, clients: int, seconds: float, lua: Path) -> float:
    """Requests per second from wrk (non-2xx answers count against the figure as errors)."""
    args = ["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{max(1, round(seconds))}s", "--latency"]
    if method == "POST":
        lua.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body, ensure_ascii=False)}\n",
            encoding="utf-8",
        )
        args += ["-s", str(lua)]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    if "Non-2xx or 3xx responses" in out:
        raise SystemExit(f"errors from :{port}{path}:\n{out}")
    return float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec:")))


def pool_rps(port: int, method: str, path: str, body: str | None, clients: int, seconds: float, lua=None) -> float:
    """Requests per second from `clients` threads, each on one keep-alive connection, for `seconds`."""
    deadline = time.monotonic() + seconds
    counts = [0] * clients
    payload = body.encode() if body else None
    headers = {"Content-Type": "application/json"} if body else {}

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < deadline:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                if response.status != 200:  # say which server, and what it said, to find the cause
                    raise RuntimeError(f"{response.status} from {path} on port {port}: {answer[:300]!r}")
                counts[i] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return sum(counts) / (time.monotonic() - start)


def check_304(port: int) -> tuple[int, int]:
    """(status of a plain GET of the article, status of a conditional GET with its ETag)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", f"/articles/{ARTICLE}")
        first = conn.getresponse()
        first.read()
        conn.request("GET", f"/articles/{ARTICLE}", headers={"If-None-Match": first.getheader("ETag") or ""})
        second = conn.getresponse()
        second.read()
        return first.status, second.status
    finally:
        conn.close()


@dataclass
class WebRun:
    """One run of the web benchmark: req/s per (route, clients, server), memory after the runs, the
    model file's size and the answers to a plain then a conditional GET of an article."""

    results: dict[tuple[str, int, str], list[float]]
    memory: dict[str, list[tuple[str, float, float]]]
    model_mib: float
    status: tuple[int, int]
    generator: str
    seconds: float
    repeats: int
    load: tuple[float, float]

    def ratio(self, route: str, clients: int = 8) -> float:
        """Median req/s of posdesk over the peer's on one route."""
        ours, theirs = (statistics.median(self.results[(route, clients, name)]) for name in ("posdesk", "peer"))
        return ours / theirs

    def worker_rss(self, name: str = "posdesk") -> float:
        """The largest worker's RSS in MiB."""
        return max(rss for process, rss, _ in self.memory[name] if process == "worker")


def measure(seconds: float = 3.0, repeats: int = 3, python_load: bool = False) -> WebRun:
    """Serve a fresh temporary instance with `posdesk serve` and the peer, load every route at every
    client count, interleaved, and read the servers' memory before stopping them. SystemExit when a
    server does not come up or answers with an error."""
    measure_rps = pool_rps if python_load or not shutil.which("wrk") else wrk_rps
    load_before = os.getloadavg()[0]
    env = {
        **os.environ,
        # Counted, not refused: the limiter still does its bookkeeping on every API call.
        "POSDESK_API_RATE_LIMIT": "100000000 per minute",
    }
    with tempfile.TemporaryDirectory(prefix="posdesk-web-bench-") as tmp:
        instance = Path(tmp) / "instance"
        env["POSDESK_INSTANCE"] = str(instance)
        subprocess.run([str(POSDESK), "init"], env=env, cwd=REPO, check=True, capture_output=True, timeout=900)
        ports = {"posdesk": free_port(), "peer": free_port()}
        print(f"ports: posdesk {ports['posdesk']}, peer {ports['peer']}", file=sys.stderr)
        log = open(Path(tmp) / "servers.log", "w")  # noqa: SIM115 - open for the servers' lifetime
        servers = {
            "posdesk": subprocess.Popen(
                [str(POSDESK), "serve", "--port", str(ports["posdesk"]), "--workers", "2"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ),
            "peer": subprocess.Popen(
                [sys.executable, __file__, "--serve-peer", str(ports["peer"]), str(instance / "knowledge.db"),
                 str(instance / "model"), str(instance / "posdesk.db")],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ),
        }  # fmt: skip
        try:
            for name, proc in servers.items():
                wait_until_up(ports[name], proc)
            status = check_304(ports["posdesk"])
            lua = Path(tmp) / "post.lua"
            results: dict[tuple[str, int, str], list[float]] = {}
            for route, method, path, body, _ in ROUTES:
                for name in servers:  # warm both up: the model, the caches, the connections
                    measure_rps(ports[name], method, path, body, 8, 1.0, lua)
                for clients in CLIENTS:
                    for _ in range(repeats):
                        for name in servers:
                            rps = measure_rps(ports[name], method, path, body, clients, seconds, lua)
                            results.setdefault((route, clients, name), []).append(rps)
            memory = {name: server_memory(proc.pid) for name, proc in servers.items()}
            model_mib = (instance / "model" / "model.npz").stat().st_size / 2**20
        finally:
            for proc in servers.values():
                stop(proc)
            log.close()
            _keep_log_of_errors(Path(tmp) / "servers.log")
    generator = "wrk" if measure_rps is wrk_rps else "python thread pool"
    return WebRun(results, memory, model_mib, status, generator, seconds, repeats, (load_before, os.getloadavg()[0]))


def _keep_log_of_errors(log: Path) -> None:
    """Copy the servers' log out of the temporary folder when it shows a server error (an answer
    5xx or a traceback), and say where: one such answer in 100,000 is otherwise gone with the run."""
    text = log.read_text(encoding="utf-8", errors="replace")
    if not re.search(r'" 5\d\d |Traceback', text):
        return
    kept = Path(tempfile.gettempdir()) / f"posdesk-web-bench-servers-{int(time.time())}.log"
    shutil.copy(log, kept)
    print(f"a server answered with an error: its log is kept in {kept}", file=sys.stderr)


def report(run: WebRun) -> list[str]:
    """Markdown: req/s of both servers per route and client count with the targets, then memory."""
    lines = [
        f"load generator: {run.generator}, {run.seconds:g} s runs, {run.repeats} interleaved repeats",
        f"load average (1 min): {run.load[0]:.2f} before, {run.load[1]:.2f} after",
        f"conditional GET of an unchanged article: {run.status[0]} then {run.status[1]}",
        "",
        "| route | clients | posdesk req/s (min / median) | peer req/s (min / median) | ratio (medians) | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for route, _, _, _, target in ROUTES:
        for clients in CLIENTS:
            ours, theirs = run.results[(route, clients, "posdesk")], run.results[(route, clients, "peer")]
            ratio = run.ratio(route, clients)
            goal = (f"≥ {target:g}× {'met' if ratio >= target else 'MISSED'}") if clients == 8 else ""
            lines.append(
                f"| {route} | {clients} | {min(ours):.0f} / {statistics.median(ours):.0f} "
                f"| {min(theirs):.0f} / {statistics.median(theirs):.0f} | {ratio:.2f}× | {goal} |"
            )
    return lines + memory_report(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per route and client count")
    parser.add_argument("--python-load", action="store_true", help="use the thread pool even when wrk exists")
    args = parser.parse_args()
    run = measure(args.seconds, args.repeats, args.python_load)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"commit: {commit.stdout.strip()} (plus uncommitted changes: {bool(_dirty())})")
    print("\n".join(report(run)))


def server_memory(master: int) -> list[tuple[str, float, float]]:
    """(process, RSS MiB, PSS MiB) of a gunicorn master and each of its workers."""
    workers = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [("master", rss_mib(master), pss_mib(master))] + [
        ("worker", rss_mib(int(pid)), pss_mib(int(pid))) for pid in workers.split()
    ]


def memory_report(run: WebRun) -> list[str]:
    """Markdown: the servers' memory after the runs, and the targets on posdesk's workers and model file."""
    lines = ["", "| server | process | RSS MiB | PSS MiB |", "| --- | --- | ---: | ---: |"]
    for name, rows in run.memory.items():
        for process, rss, pss in rows:
            lines.append(f"| {name} | {process} | {rss:.0f} | {pss:.0f} |")
    worst = run.worker_rss()
    return lines + [
        "",
        f"posdesk's largest worker after the runs: {worst:.0f} MiB RSS (target ≤ {WORKER_RSS_MB} MB: "
        f"{'met' if worst * MB_PER_MIB <= WORKER_RSS_MB else 'MISSED'}); model file {run.model_mib:.1f} MiB "
        f"(target ≤ {MODEL_FILE_MB} MB: {'met' if run.model_mib * MB_PER_MIB <= MODEL_FILE_MB else 'MISSED'}).",
    ]


def _dirty() -> str:
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True,
                          text=True).stdout  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve-peer":
        sys.path.insert(0, str(REPO))
        serve_peer(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        main()
