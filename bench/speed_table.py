"""Issue 14's whole speed table in one run: FAQ pages, start-up, model and worker memory, search at
50,000 articles and training on 100,000 tickets, each beside its peer measured in the same run,
the figure the issue reported and the target.

It runs the four benchmarks one after another, so that they never compete for the two cores:
start-up (`startup_bench.py`), the web pages and the servers' memory (`web_bench.py`), search
latency on a synthetic corpus against bm25s (`search_bench.py`) and training cost
(`triage_bench.py train-cost`). The summary table comes first, then each benchmark's own table.
The exit status is 1 when a target is missed. A full run takes 22-30 minutes. The issue's figures
and the absolute targets are for the full sizes: a run with a smaller --big or --train checks that
the script works, and its search and training rows are shown but not judged ("n/a").

    .venv/bin/python bench/speed_table.py [--web-seconds 3] [--web-repeats 9] [--runs 7] [--big 50000]
        [--rounds 3] [--train 100000] [--train-runs 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import search_bench
import startup_bench
import triage_bench
import web_bench

from triage.training import HELD_OUT_TICKETS  # noqa: E402 (the bench modules above put the checkout on the path)

MB_PER_MIB = 2**20 / 10**6
MIN_TRAIN = 500
FULL_BIG, FULL_TRAIN = 50_000, 100_000  # the sizes: smaller runs are not judged


@dataclass(frozen=True)
class Row:
    """One line of the summary: what is measured, the issue's figure, posdesk's now, the peer's in the
    same run, the target in words and whether it is met."""

    where: str
    before: str
    now: str
    peer: str
    target: str
    met: bool | None  # None: not judged (a run smaller than the sizes)


def web_rows(run: web_bench.WebRun) -> list[Row]:
    """The four pages at 8 clients, the conditional GET, the model file and the workers' memory."""
    before = {"article": "333 (0.17-0.19×)", "home": "521 (0.44-0.49×)", "search page": "361 (0.60-0.66×)",
              "suggestions": "0.60-0.66×"}  # fmt: skip
    rows = []
    for route, _, _, _, target in web_bench.ROUTES:
        ours, theirs = (statistics.median(run.results[(route, 8, name)]) for name in ("posdesk", "peer"))
        ratio = run.ratio(route)
        rows.append(
            Row(f"{route} req/s at 8 clients (median of {run.repeats})", before[route], f"{ours:.0f} ({ratio:.2f}×)",
                f"{theirs:.0f}", f"≥ {target:g}×", ratio >= target)
        )  # fmt: skip
    plain, conditional = run.status
    worker, peer_worker = run.worker_rss("posdesk"), run.worker_rss("peer")
    return rows + [
        Row("conditional GET of an unchanged article", "200", f"{plain} then {conditional}", "", "304",
            conditional == 304),
        Row("model file", "169 MB", f"{run.model_mib * MB_PER_MIB:.1f} MB", "", f"≤ {web_bench.MODEL_FILE_MB} MB",
            run.model_mib * MB_PER_MIB <= web_bench.MODEL_FILE_MB),
        Row("largest gunicorn worker's RSS after the runs", "580-600 MB", f"{worker * MB_PER_MIB:.0f} MB",
            f"{peer_worker * MB_PER_MIB:.0f} MB", f"≤ {web_bench.WORKER_RSS_MB} MB",
            worker * MB_PER_MIB <= web_bench.WORKER_RSS_MB),
    ]  # fmt: skip


def startup_rows(timed: dict[str, list[tuple[float, float | None]]]) -> list[Row]:
    """`posdesk search` and `posdesk triage classify` from process start to answer, over jieba's load."""
    floor = statistics.median(wall for wall, _ in timed[startup_bench.JIEBA])
    bare = statistics.median(wall for wall, _ in timed[startup_bench.BARE_JIEBA])
    peer = f"jieba.initialize() {floor:.2f} s ({bare:.2f} s without pkg_resources)"
    rows = []
    for (_, figures), label, before, target in zip(
        ((k, v) for k, v in timed.items() if k not in startup_bench.PEERS),
        ("`posdesk search`", "`posdesk triage classify`"),
        ("2.56 s (2.9×)", "3.0 s (3.3×), 508 MiB"),
        (startup_bench.SEARCH_RATIO, startup_bench.CLASSIFY_RATIO),
        strict=True,
    ):
        wall = statistics.median(w for w, _ in figures)
        peaks = [rss for _, rss in figures if rss is not None]
        peak = f", {max(peaks):.0f} MiB peak" if peaks else ""
        rows.append(
            Row(f"{label}, start to answer (median of {len(figures)})", before,
                f"{wall:.2f} s ({wall / floor:.2f}×){peak}", peer, f"≤ {target:g}×",
                wall / floor <= target)
        )  # fmt: skip
    return rows


def search_row(big: int, mine: list[float], peer: list[float]) -> Row:
    """Search p99 on the synthetic corpus against bm25s on the same corpus and queries."""
    ours, theirs = search_bench.percentile(mine, 99), search_bench.percentile(peer, 99)
    limit = search_bench.TARGETS["p99_big_ms"]
    return Row(
        f"search p99 at {big:,} articles ({len(mine):,} searches)", "24 ms (3.6×)",
        f"{ours:.2f} ms ({ours / theirs:.2f}×)", f"bm25s {theirs:.2f} ms", f"≤ {limit:g} ms and ≤ 2×",
        ours <= limit and ours / theirs <= 2,
    )  # fmt: skip


def training_row(n: int, runs: list[tuple[float, int]]) -> Row:
    """Training wall time and peak memory (PSS of the process tree): the target is judged on the
    medians of the runs, the minimum is shown beside them."""
    walls, peaks = [w for w, _ in runs], [p * MB_PER_MIB / 1000 for _, p in runs]
    wall, gigabytes = statistics.median(walls), statistics.median(peaks)
    return Row(
        f"training on {n:,} tickets (median of {len(runs)})", "56-72 s",
        f"{wall:.1f} s (min {min(walls):.1f}), {gigabytes:.2f} GB peak (max {max(peaks):.2f})", "",
        "≤ 45 s, ≤ 1 GB", wall <= 45 and gigabytes <= 1,
    )  # fmt: skip


def summary(rows: list[Row]) -> list[str]:
    """Markdown: the summary table."""
    lines = ["| where | in the issue | posdesk now | peer, same run | target | met |", "|---|---|---|---|---|---|"]
    verdict = {True: "yes", False: "**no**", None: "n/a (small run)"}
    lines += [f"| {r.where} | {r.before} | {r.now} | {r.peer} | {r.target} | {verdict[r.met]} |"
              for r in rows]  # fmt: skip
    return lines


def main() -> None:
    """Parse the command line, run the four benchmarks and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--web-seconds", type=float, default=3.0, help="length of each timed web run (default 3)")
    parser.add_argument("--web-repeats", type=int, default=9, help="interleaved web repeats (default 9)")
    parser.add_argument("--runs", type=int, default=7, help="cold starts of each command (default 7)")
    parser.add_argument("--big", type=int, default=50_000, help="synthetic articles for search (default 50,000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over the queries (default 3)")
    parser.add_argument("--train", type=int, default=100_000, help="synthetic training tickets (default 100,000)")
    parser.add_argument("--train-runs", type=int, default=3, help="training runs (default 3)")
    args = parser.parse_args()
    for name in ("web_repeats", "runs", "big", "rounds", "train_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not args.web_seconds > 0:
        parser.error("--web-seconds must be more than 0")
    if args.train < MIN_TRAIN:
        parser.error(f"--train must be at least {MIN_TRAIN:,} (every category needs held-out tickets)")
    started = datetime.datetime.now(datetime.UTC)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())

    print(f"[1/4] start-up, {args.runs} runs of each command ...", file=sys.stderr, flush=True)
    timed = startup_bench.measure(args.runs)
    print(f"[2/4] web pages, {args.web_repeats} repeats ...", file=sys.stderr, flush=True)
    web = web_bench.measure(args.web_seconds, args.web_repeats)
    print(f"[3/4] search at {args.big:,} articles ...", file=sys.stderr, flush=True)
    queries = search_bench.load_queries(search_bench.REPO / "bench" / "queries.jsonl")
    with tempfile.TemporaryDirectory(prefix="posdesk-speed-table-") as tmp:
        triager = search_bench.trained_model(Path(tmp) / "model")
        db, articles = search_bench.synthetic_index(Path(tmp), args.big)
        mine, peer = search_bench.time_both(db, articles, queries, triager, args.rounds)
        db.close()
    print(f"[4/4] training on {args.train:,} tickets, {args.train_runs} runs ...", file=sys.stderr, flush=True)
    trainings = [triage_bench.measure_train_cost(args.train) for _ in range(args.train_runs)]
    sidecar = trainings[0][2]

    rows = [*web_rows(web), *startup_rows(timed), search_row(args.big, mine, peer)]
    rows.append(training_row(args.train, [(wall, peak) for wall, peak, _ in trainings]))
    if args.big < FULL_BIG:
        rows[-2] = replace(rows[-2], met=None)
    if args.train < FULL_TRAIN:
        rows[-1] = replace(rows[-1], met=None)
    minutes = (datetime.datetime.now(datetime.UTC) - started).total_seconds() / 60
    print(f"- {search_bench.machine()}")
    print(f"- {search_bench.revision()}")
    print(f"- Command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`; {started:%Y-%m-%d %H:%M} UTC, "
          f"{minutes:.0f} minutes; 1/5/15-min load at the start {load}.")  # fmt: skip
    print()
    print("\n".join(summary(rows)))
    missed = [r.where for r in rows if r.met is False]
    print()
    if missed:
        print(f"Targets missed: {', '.join(missed)}.")
    else:
        print("Every target met." if all(r.met for r in rows) else "Every judged target met (a small run).")
    print("\n### Web pages\n")
    print("\n".join(web_bench.report(web)))
    print("\n### Start-up\n")
    print("\n".join(startup_bench.report(timed)))
    print(f"\n### Search at {args.big:,} articles\n")
    print(f"`triage.relevance.search` in process, {len(queries)} queries of bench/queries.jsonl x {args.rounds} "
          "rounds after a warm-up round, beside bm25s + jieba on the same articles and queries.\n")  # fmt: skip
    print("| system | p50 | p99 |\n|---|---:|---:|")
    for name, times in (("posdesk", mine), ("bm25s", peer)):
        print(f"| {name} | {search_bench.percentile(times, 50):.2f} ms | {search_bench.percentile(times, 99):.2f} ms |")
    print(f"\n### Training\n\n`posdesk triage train --data` with {args.train:,} synthetic tickets: it fits on "
          f"{sidecar['n_train']:,} (three quarters of each category) and calibrates on {sidecar['n_heldout']:,} "
          f"of the held-out quarter (at most {HELD_OUT_TICKETS:,}; the rest is not read further); "
          f"{args.train_runs} runs: "
          f"{', '.join(f'{wall:.1f} s / {peak:,} MiB' for wall, peak, _ in trainings)} (wall / peak PSS of the "
          f"process tree); "
          f"held-out macro-F1 {sidecar['metrics']['macro_f1']:.3f}.")  # fmt: skip
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
