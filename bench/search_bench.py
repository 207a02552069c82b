"""Benchmark posdesk's search: quality against three peers on labelled query sets, and speed.

posdesk is measured twice: the shipped ranker (`triage.relevance.search`: lexical evidence plus the
model learned from tickets, behind the scope check) and its lexical half alone (`kb.search.search`,
what a desk without a model uses). The model is trained from data/ into a temporary folder unless
--model names one. Prints Markdown for docs/benchmarks.md; posdesk's misses go to stderr.

    .venv/bin/python bench/search_bench.py [--queries FILE ...] [--model DIR] [--speed] [--big N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from peers import Bm25sPeer, build_peers
from startup_bench import cold_starts, compile_bytecode, posdesk_command
from startup_bench import report as startup_report
from synthetic import write_corpus

from kb.articles import load_articles
from kb.db import open_db
from kb.search import search
from kb.store import sync_knowledge_base
from triage import relevance
from triage.dataset import read_tickets, ticket_files
from triage.model import load_model
from triage.training import train

REPO = Path(__file__).resolve().parent.parent
OFF_TOPIC = ("offtopic", "off-topic")
TARGETS = {"mrr": 0.95, "recall5": 0.98, "lead": 0.05, "rejection": 0.95, "flip": 0.02, "p99_big_ms": 10.0}
# Words that change nothing about what a merchant asks (urgency, politeness, noise, a brand).
HARMLESS = ("急", "谢谢", "xyz", "在线等", "拉卡拉")

Searcher = Callable[[str, str, int], list[str]]


@dataclass(frozen=True)
class Query:
    """One labelled query; `relevant` is best first and empty for an off-topic query."""

    id: str
    query: str
    audience: str
    relevant: tuple[str, ...]
    kind: str

    @property
    def expected(self) -> str | None:
        """The expected answer: the first relevant slug."""
        return self.relevant[0] if self.relevant else None


@dataclass(frozen=True)
class Outcome:
    """What one system returned for one query (top 10 slugs, best first)."""

    query: Query
    got: tuple[str, ...]

    @property
    def reciprocal_rank(self) -> float:
        """1/rank of the first relevant slug within the top 10, 0 when none is there."""
        return next((1 / rank for rank, slug in enumerate(self.got[:10], 1) if slug in self.query.relevant), 0.0)

    @property
    def expected_in_top5(self) -> bool:
        """Whether the expected answer is among the first five results."""
        return self.query.expected in self.got[:5]


@dataclass(frozen=True)
class Scores:
    """Quality of one system over a set of outcomes."""

    on_topic: int
    off_topic: int
    mrr: float
    recall5: float
    rejection: float


def load_queries(path: Path) -> list[Query]:
    """Read the labelled query set (JSONL) and check its labels against the articles."""
    slugs = {a.slug: a.audience for a in load_articles()}
    queries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        q = Query(raw["id"], raw["query"], raw["audience"], tuple(raw["relevant"]), raw["kind"])
        unknown = [s for s in q.relevant if s not in slugs]
        hidden = [s for s in q.relevant if q.audience == "merchant" and slugs.get(s) == "agent"]
        if unknown or hidden or (q.kind in OFF_TOPIC) == bool(q.relevant):
            raise SystemExit(f"{path}:{n}: bad label in {q.id} (unknown {unknown}, agent-only {hidden}, {q.kind})")
        queries.append(q)
    return queries


def run(searcher: Searcher, queries: list[Query]) -> list[Outcome]:
    """Ask one system every query for its top 10."""
    return [Outcome(q, tuple(searcher(q.query, q.audience, 10))) for q in queries]


def score(outcomes: list[Outcome]) -> Scores:
    """MRR@10 and Recall@5 over on-topic queries, rejection rate over off-topic ones."""
    on = [o for o in outcomes if o.query.relevant]
    off = [o for o in outcomes if not o.query.relevant]
    return Scores(
        on_topic=len(on),
        off_topic=len(off),
        mrr=statistics.fmean(o.reciprocal_rank for o in on) if on else float("nan"),
        recall5=statistics.fmean(o.expected_in_top5 for o in on) if on else float("nan"),
        rejection=statistics.fmean(not o.got for o in off) if off else float("nan"),
    )


def lexical_searcher(db: sqlite_utils.Database) -> Searcher:
    """posdesk's lexical half (`kb.search.search`) as a slug list."""
    return lambda query, audience, limit: [hit.slug for hit in search(db, query, audience, limit=limit)]


def posdesk_searcher(db: sqlite_utils.Database, triager) -> Searcher:
    """posdesk's shipped ranker (`triage.relevance.search`) as a slug list."""
    return lambda query, audience, limit: [h.slug for h in relevance.search(db, triager, query, audience, limit)]


def flip_share(searcher: Searcher, queries: list[Query]) -> float:
    """Share of on-topic queries whose top result changes when a harmless word is appended (one word
    per query, taken in turn from HARMLESS)."""
    on = [q for q in queries if q.relevant]
    changed = 0
    for i, q in enumerate(on):
        before = searcher(q.query, q.audience, 1)[:1]
        after = searcher(f"{q.query} {HARMLESS[i % len(HARMLESS)]}", q.audience, 1)[:1]
        changed += before != after
    return changed / max(1, len(on))


def empty_on_topic(outcomes: list[Outcome]) -> int:
    """How many on-topic queries got no result at all."""
    return sum(1 for o in outcomes if o.query.relevant and not o.got)


def _fmt(x: float) -> str:
    return "–" if x != x else f"{x:.3f}"


def quality_report(results: dict[str, list[Outcome]]) -> list[str]:
    """The quality table, the target check and posdesk's per-kind breakdown, as Markdown lines."""
    scores = {name: score(outcomes) for name, outcomes in results.items()}
    mine = scores["posdesk"]
    peers = [name for name in results if not name.startswith("posdesk")]
    best_peer = max((scores[name].mrr, name) for name in peers)
    lines = [
        "### Quality",
        "",
        f"{mine.on_topic + mine.off_topic} queries: {mine.on_topic} on-topic, {mine.off_topic} off-topic.",
        "MRR@10: mean over on-topic queries of 1/rank of the first relevant article in the top 10 (0 if none).",
        "Recall@5: share of on-topic queries whose expected answer (the first relevant article) is in the top 5.",
        "Off-topic rejection: share of off-topic queries that return no result at all.",
        "",
        "| System | MRR@10 | Recall@5 | Off-topic rejection |",
        "|---|---:|---:|---:|",
    ]
    for name, s in scores.items():
        lines.append(f"| {name} | {_fmt(s.mrr)} | {_fmt(s.recall5)} | {_fmt(s.rejection)} |")
    lead = mine.mrr - best_peer[0]
    lines += [
        "",
        "| Target | Measured | Met |",
        "|---|---:|:---:|",
        f"| MRR@10 ≥ {TARGETS['mrr']:.2f} | {_fmt(mine.mrr)} | {_yes(mine.mrr >= TARGETS['mrr'])} |",
        f"| Recall@5 ≥ {TARGETS['recall5']:.2f} | {_fmt(mine.recall5)} | {_yes(mine.recall5 >= TARGETS['recall5'])} |",
        f"| MRR lead over best peer ({best_peer[1]}) ≥ {TARGETS['lead']:.2f} | {lead:+.3f} "
        f"| {_yes(lead >= TARGETS['lead'])} |",
        f"| Off-topic rejected ≥ {TARGETS['rejection']:.2f} | {_fmt(mine.rejection)} "
        f"| {_yes(mine.rejection >= TARGETS['rejection'])} |",
        f"| On-topic queries with no result: 0 | {empty_on_topic(results['posdesk'])} "
        f"| {_yes(empty_on_topic(results['posdesk']) == 0)} |",
        "",
        "#### By kind of query",
        "",
        "MRR@10 per kind for every system; Recall@5 and off-topic rejection for posdesk.",
        "",
        "| Kind | Queries | posdesk MRR@10 | posdesk Recall@5 | "
        + " | ".join(f"{name} MRR@10" for name in peers)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(peers),
    ]
    for kind in dict.fromkeys(o.query.kind for o in results["posdesk"]):
        by_kind = {name: score([o for o in outcomes if o.query.kind == kind]) for name, outcomes in results.items()}
        own = by_kind["posdesk"]
        if own.on_topic + own.off_topic == 0:
            continue
        if kind in OFF_TOPIC:
            cells = [
                "–",
                f"rejection {_fmt(own.rejection)}",
                *(f"rejection {_fmt(by_kind[n].rejection)}" for n in peers),
            ]
        else:
            cells = [_fmt(own.mrr), _fmt(own.recall5), *(_fmt(by_kind[n].mrr) for n in peers)]
        lines.append(f"| {kind} | {own.on_topic + own.off_topic} | " + " | ".join(cells) + " |")
    return lines


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def failures(outcomes: list[Outcome]) -> list[str]:
    """One line per query posdesk gets wrong: expected answer not first, or results for an off-topic query."""
    lines = []
    for o in outcomes:
        q = o.query
        if q.relevant and o.got[:1] == (q.expected,):
            continue
        if not q.relevant and not o.got:
            continue
        rank = o.got.index(q.expected) + 1 if q.expected in o.got else None
        where = (
            "off-topic, not rejected"
            if not q.relevant
            else (f"expected at rank {rank}" if rank else "expected missing")
        )
        lines.append(
            f"{q.id} [{q.kind}/{q.audience}] {q.query!r} -> expected {q.expected or '(nothing)'}, "
            f"got {list(o.got[:3])} ({where})"
        )
    return lines


def latencies_ms(searcher: Searcher, queries: list[Query], rounds: int) -> list[float]:
    """Time a searcher on every query, `rounds` times over (after one untimed warm-up round)."""
    for q in queries:
        searcher(q.query, q.audience, 10)
    times = []
    for _ in range(rounds):
        for q in queries:
            start = time.perf_counter()
            searcher(q.query, q.audience, 10)
            times.append((time.perf_counter() - start) * 1000)
    return times


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def synthetic_index(folder: Path, n: int) -> tuple[sqlite_utils.Database, list]:
    """(a file index in `folder`, its articles) of a synthetic corpus of n articles (see synthetic.py)."""
    _progress(f"generating and indexing a synthetic corpus of {n:,} articles ...")
    root = write_corpus(folder / "synthetic", n)
    db = open_db(folder / "synthetic.db")
    sync_knowledge_base(db, root=root)
    return db, load_articles(root / "articles")


def time_both(db: sqlite_utils.Database, articles: list, queries: list[Query], triager, rounds: int):
    """(posdesk's, bm25s's) latencies in ms over the same indexed articles and queries."""
    _progress(f"timing {len(queries)} queries x {rounds} rounds at {db['articles'].count:,} articles ...")
    mine = latencies_ms(posdesk_searcher(db, triager), queries, rounds)
    return mine, latencies_ms(Bm25sPeer(articles).search, queries, rounds)


def trained_model(folder: Path):
    """The model trained from data/ into `folder`, loaded."""
    _progress("training a model from data/ ...")
    train(folder, read_tickets(ticket_files()))
    return load_model(folder)


def speed_report(queries: list[Query], triager, big: int, rounds: int, runs: int) -> list[str]:
    """Latency of the shipped ranker beside bm25s at the real and a synthetic corpus, and cold start."""
    rows = []
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="posdesk-bench-") as tmp:
        instance = Path(tmp) / "instance"
        _progress("posdesk init on a temporary instance ...")
        subprocess.run(posdesk_command("--instance", str(instance), "init"), cwd=REPO, check=True, capture_output=True)
        corpora = [(open_db(instance / "knowledge.db"), load_articles())]
        if big:
            corpora.append(synthetic_index(Path(tmp), big))
        real = corpora[0][0]["articles"].count
        for db, articles in corpora:
            n = db["articles"].count
            mine, peer = time_both(db, articles, queries, triager, rounds)
            name = f"{n:,} articles" + (" (real)" if n == real else f" ({real} real + {n - real:,} generated)")
            rows.append((name, n, mine, peer))
        _progress(f"cold start, {runs} runs each ...")
        compile_bytecode()
        cold = cold_starts(instance, runs)
    lines = [
        "### Speed",
        "",
        f"In-process `triage.relevance.search(db, triager, query, audience, limit=10)` (the learned model in "
        f"the loop) on a file database (WAL), beside bm25s + jieba over the same articles and queries; every "
        f"query {rounds} times after a warm-up round (1/5/15-min load average at the start: {load}).",
        "",
        "| Corpus | Searches timed | posdesk p50 | posdesk p99 | bm25s p50 | bm25s p99 | p99 ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, _, mine, peer in rows:
        ratio = percentile(mine, 99) / percentile(peer, 99)
        lines.append(
            f"| {name} | {len(mine):,} | {percentile(mine, 50):.2f} ms | {percentile(mine, 99):.2f} ms "
            f"| {percentile(peer, 50):.2f} ms | {percentile(peer, 99):.2f} ms | {ratio:.2f}× |"
        )
    big_rows = [mine for _, n, mine, _ in rows if n >= 10_000]
    if big_rows:
        p99 = percentile(big_rows[-1], 99)
        lines += [
            "",
            f"Target p99 ≤ {TARGETS['p99_big_ms']:.0f} ms at {big:,} articles: {p99:.2f} ms, "
            f"met: {_yes(p99 <= TARGETS['p99_big_ms'])}.",
        ]
    lines += ["", f"Cold start, {runs} fresh processes each, interleaved, after one untimed run of each:", ""]
    lines += startup_report(cold)
    return lines


def machine() -> str:
    """The machine the figures come from, in one line."""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if line.startswith("Model name")
        )
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        osname = platform.freedesktop_os_release()["PRETTY_NAME"]
    except OSError:
        osname = platform.platform()
    return (
        f"Machine: {cpu}, {len(os.sched_getaffinity(0))} CPUs (nproc), {ram:.1f} GiB RAM; "
        f"Python {platform.python_version()}; {osname} ({platform.system()} {platform.release()})."
    )


def revision() -> str:
    """The commit measured, flagging uncommitted changes to the search code or its data."""
    git = ["git", "-C", str(REPO)]
    try:
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "kb", "data"], capture_output=True, text=True).stdout
    except OSError:
        return "Code: unknown revision (git not available)."
    return f"Code: commit {commit or 'unknown'}" + (", with uncommitted changes in kb/ or data/." if dirty else ".")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the Markdown report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, nargs="+", default=[REPO / "bench" / "queries.jsonl"])
    parser.add_argument("--model", type=Path, help="a trained model folder (default: train one from data/)")
    parser.add_argument("--speed", action="store_true", help="also time search and cold start")
    parser.add_argument("--big", type=int, default=10_000, help="synthetic corpus size for --speed (0 to skip)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds over the query set for --speed")
    parser.add_argument("--runs", type=int, default=5, help="cold-start processes to time for --speed")
    args = parser.parse_args(argv)

    queries = [q for path in args.queries for q in load_queries(path)]
    db = open_db(":memory:")
    sync_knowledge_base(db)
    articles = load_articles()
    with tempfile.TemporaryDirectory(prefix="posdesk-model-") as tmp:
        triager = load_model(args.model) if args.model else trained_model(Path(tmp))
    systems: dict[str, Searcher] = {
        "posdesk": posdesk_searcher(db, triager),
        "posdesk lexical only": lexical_searcher(db),
    }
    for peer in build_peers(articles):
        systems[peer.name] = peer.search
    results = {name: run(searcher, queries) for name, searcher in systems.items()}

    misses = failures(results["posdesk"])
    _progress(f"posdesk misses ({len(misses)}): expected answer not ranked first, or off-topic not rejected")
    for line in misses:
        _progress("  " + line)

    sets = ", ".join(f"`{path.name}`" for path in args.queries)
    report = [f"- {machine()}", f"- {revision()}", f"- Query sets: {sets}; model {triager.version}.", ""]
    report += quality_report(results)
    report += [
        "",
        "#### Appending a harmless word",
        "",
        f"Share of on-topic queries whose top result changes when one of {', '.join(HARMLESS)} is appended "
        f"(target for posdesk: at most {TARGETS['flip']:.0%}):",
        "",
        "| System | Top result changed |",
        "|---|---:|",
        *(f"| {name} | {flip_share(searcher, queries):.1%} |" for name, searcher in systems.items()),
    ]
    if args.speed:
        report += ["", *speed_report(queries, triager, args.big, args.rounds, args.runs)]
    print("\n".join(report))


if __name__ == "__main__":
    main()
