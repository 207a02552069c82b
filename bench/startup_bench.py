"""Start-up of the command line: `posdesk search` and `posdesk triage classify`, from process start to
their answer, beside a bare Python loading jieba's dictionary (the floor any jieba-based command pays;
the targets' peer), and the same without pkg_resources, as posdesk imports jieba.

Runs are fresh processes, interleaved (search, classify, jieba, search, ...), after one untimed run
of each so that the OS file cache and the dictionary caches are warm, as on a server. The project's
modules are compiled to bytecode first, as an installed package is (this sandbox sets
PYTHONDONTWRITEBYTECODE, which would otherwise make every run compile them again). The instance is
a temporary one, initialised here (a model is trained: about ten seconds).

    .venv/bin/python bench/startup_bench.py [--runs 7]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COLD_QUERY = "退货显示没有权限"
GNU_TIME = "/usr/bin/time"
JIEBA = "`python -c 'import jieba; jieba.initialize()'`"
# jieba imports setuptools' pkg_resources (0.1-0.3 s) only to open its files; posdesk hides it during
# that import (kb.text). Timed too, so that the table shows how much of a lead that alone is.
BARE_JIEBA = "the same without pkg_resources"
PEERS = (JIEBA, BARE_JIEBA)
# Targets: issue 14 (ratios to jieba's load in the same run) and issue 9 (seconds).
SEARCH_RATIO, CLASSIFY_RATIO, SEARCH_SECONDS = 1.5, 1.8, 1.5


def posdesk_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("posdesk")), *args]


def compile_bytecode() -> None:
    """Compile kb, triage and webapp as installing the package would."""
    for package in ("kb", "triage", "webapp"):
        compileall.compile_dir(REPO / package, quiet=1)


def commands(instance: Path) -> dict[str, list[str]]:
    """What is timed, by its label in the table."""
    where = ("--instance", str(instance))
    return {
        f'`posdesk search "{COLD_QUERY}"`': posdesk_command(*where, "search", COLD_QUERY),
        f'`posdesk triage classify "{COLD_QUERY}"`': posdesk_command(*where, "triage", "classify", COLD_QUERY),
        JIEBA: [sys.executable, "-c", "import jieba; jieba.initialize()"],
        BARE_JIEBA: [
            sys.executable,
            "-c",
            "import sys; sys.modules['pkg_resources'] = None; import jieba; jieba.initialize()",
        ],
    }


def _timed(cmd: list[str], env: dict) -> tuple[float, float | None]:
    """(wall seconds, peak RSS MiB or None) of one process run to its end; CalledProcessError when it
    fails. The peak comes from GNU time when installed: a child's own ru_maxrss would count the pages
    of this (larger) process it was forked from."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd] if Path(GNU_TIME).exists() else cmd
        start = time.perf_counter()
        subprocess.run(wrapped, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        wall = time.perf_counter() - start
        kib = rss.read().strip()
    return wall, int(kib) / 1024 if kib else None


def cold_starts(instance: Path, runs: int) -> dict[str, list[tuple[float, float | None]]]:
    """(wall seconds, peak RSS MiB or None) of `runs` fresh processes of each command, interleaved."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    timed: dict[str, list[tuple[float, float | None]]] = {name: [] for name in commands(instance)}
    for i in range(runs + 1):
        for name, cmd in commands(instance).items():
            figure = _timed(cmd, env)
            if i:
                timed[name].append(figure)
    return timed


def report(timed: dict[str, list[tuple[float, float | None]]]) -> list[str]:
    """Markdown: one row per command, ratios to jieba's load, and the targets."""
    floor = [wall for wall, _ in timed[JIEBA]]
    lines = [
        "| Process | median | min | max | median ÷ jieba's | min ÷ jieba's | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in timed.items():
        walls = [wall for wall, _ in figures]
        peaks = [rss for _, rss in figures if rss is not None]
        lines.append(
            f"| {name} | {statistics.median(walls):.2f} s | {min(walls):.2f} s | {max(walls):.2f} s "
            f"| {statistics.median(walls) / statistics.median(floor):.2f}× | {min(walls) / min(floor):.2f}× "
            f"| {f'{max(peaks):.0f} MiB' if peaks else '-'} |"
        )
    search, classify = ([wall for wall, _ in figures] for name, figures in timed.items() if name not in PEERS)
    ratio = statistics.median(search) / statistics.median(floor)
    classify_ratio = statistics.median(classify) / statistics.median(floor)
    lines += [
        "",
        f"Targets (medians): `posdesk search` ≤ {SEARCH_RATIO}× jieba's load: {ratio:.2f}×, "
        f"{'met' if ratio <= SEARCH_RATIO else 'not met'}; ≤ {SEARCH_SECONDS} s: "
        f"{statistics.median(search):.2f} s, {'met' if statistics.median(search) <= SEARCH_SECONDS else 'not met'}; "
        f"`posdesk triage classify` ≤ {CLASSIFY_RATIO}×: {classify_ratio:.2f}×, "
        f"{'met' if classify_ratio <= CLASSIFY_RATIO else 'not met'}.",
    ]
    return lines


def measure(runs: int) -> dict[str, list[tuple[float, float | None]]]:
    """Compile the project, initialise a temporary instance and time `runs` cold starts of each command
    (see cold_starts). CalledProcessError when a command fails."""
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="posdesk-startup-") as tmp:
        instance = Path(tmp) / "instance"
        print("posdesk init on a temporary instance ...", file=sys.stderr)
        subprocess.run(posdesk_command("--instance", str(instance), "init"), cwd=REPO, check=True, capture_output=True)
        return cold_starts(instance, runs)


def main() -> None:
    """Parse the command line, initialise a temporary instance and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command (default 7)")
    args = parser.parse_args()
    if not 1 <= args.runs <= 50:
        parser.error("--runs must be between 1 and 50")
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    timed = measure(args.runs)
    print(f"Start-up, {args.runs} fresh processes of each, interleaved (1/5/15-min load at the start: {load}):")
    print()
    print("\n".join(report(timed)))


if __name__ == "__main__":
    main()
