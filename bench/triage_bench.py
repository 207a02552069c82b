"""Triage benchmarks: quality against two peers, batch throughput against jieba alone, training cost.

    .venv/bin/python bench/triage_bench.py quality [--independent FILE ...] [--blind FILE ...]
    .venv/bin/python bench/triage_bench.py speed [--n 100000]
    .venv/bin/python bench/triage_bench.py train-cost [--n 100000]

Quality: posdesk and the peers train on the same training split of data/tickets and are scored on
the same held-out split, on independently written sets, and on the blind sets (bench/blind/). Macro-F1
is over the 14 cause categories on in-scope tickets for every system; an in-scope ticket posdesk
calls out of scope counts as a miss. posdesk's scope check is scored on the out-of-scope tickets.
Speed: wall time of `posdesk triage classify --batch` on n synthetic tickets, process start and
model load included, against jieba.lcut over the same texts in this process (dictionary load
excluded). Train cost: wall time and peak memory of `posdesk triage train` on n synthetic tickets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jieba
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_tickets import synthesise, write_jsonl  # noqa: E402

from kb.articles import load_articles  # noqa: E402
from triage.dataset import read_out_of_scope, read_tickets, split, split_texts, ticket_files  # noqa: E402  # noqa: E402
from triage.evaluation import evaluate  # noqa: E402
from triage.prediction import OUT_OF_SCOPE  # noqa: E402
from triage.training import fit, set_thresholds  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
POSDESK = [str(Path(sys.executable).parent / "posdesk")]
# Reading PSS walks every page table of the process tree: sampled every 50 ms it took about 20 s of
# kernel time on two cores beside the training it measured (about 6 s at 250 ms). Memory peaks in
# training last seconds (a fit, a matrix), so four samples a second catch them.
SAMPLE_SECONDS = 0.25


def _jieba_words(text: str) -> list[str]:
    return [w for w in jieba.lcut(text) if w.strip()]


def peers() -> dict:
    """The two reference classifiers, unfitted: name -> (vectoriser, classifier)."""
    return {
        CHAR_PEER: (
            TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True),
            LinearSVC(C=0.5),
        ),
        "jieba word TF-IDF + ComplementNB": (
            TfidfVectorizer(analyzer=_jieba_words),
            ComplementNB(alpha=0.3),
        ),
    }


CHAR_PEER = "char 1-2 gram TF-IDF + LinearSVC"


def scores(truth, guess, labels) -> dict:
    """Accuracy and macro-F1 over the labels that occur in the truth."""
    present = [label for label in labels if label in set(truth)]  # as triage.evaluation averages
    return {
        "accuracy": accuracy_score(truth, guess),
        "macro_f1": f1_score(truth, guess, labels=present, average="macro", zero_division=0),
    }


def quality(independent: list[Path], blind: list[Path]) -> None:
    """Print the quality table: posdesk against the peers on the held-out, independent and blind sets."""
    train, held = split(read_tickets(ticket_files()))
    sets = {"held-out split": held}
    if independent:
        sets["independent set"] = read_tickets(independent)
    if blind:
        sets["blind sets"] = read_tickets(blind)
    outside_train, outside_held = split_texts(read_out_of_scope())
    model = fit(train, load_articles(), [text for _, text in outside_train], "bench")
    set_thresholds(model, held, [text for _, text in outside_held])
    labels = model.labels
    rows, scope_rows = [], []
    for set_name, tickets in sets.items():
        predictions = model.predict([t.text for t in tickets], explain=False)
        pairs = [(t, p) for t, p in zip(tickets, predictions, strict=True) if t.category != OUT_OF_SCOPE]
        m = evaluate([t for t, _ in pairs], [p for _, p in pairs], labels)
        rows.append((set_name, "posdesk", m["accuracy"], m["macro_f1"], m["article_hit_at_3"]))
        outside = [p for t, p in zip(tickets, predictions, strict=True) if t.category == OUT_OF_SCOPE]
        flagged = sum(not p.in_scope for _, p in pairs)
        auto = [t.category == p.category for t, p in pairs if p.confidence >= model.review_threshold and p.in_scope]
        scope_rows.append(
            (set_name, len(outside), sum(not p.in_scope for p in outside), len(pairs), flagged, len(auto), sum(auto))
        )
    in_scope = {name: [t for t in tickets if t.category != OUT_OF_SCOPE] for name, tickets in sets.items()}
    for name, (vectoriser, classifier) in peers().items():
        classifier.fit(vectoriser.fit_transform([t.text for t in train]), [t.category for t in train])
        for set_name, tickets in in_scope.items():
            guess = classifier.predict(vectoriser.transform([t.text for t in tickets]))
            s = scores([t.category for t in tickets], list(guess), labels)
            rows.append((set_name, name, s["accuracy"], s["macro_f1"], None))
    print(f"training tickets: {len(train)}; " + ", ".join(f"{k}: {len(v)}" for k, v in in_scope.items()))
    print("| set | model | accuracy | macro-F1 | article hit@3 |")
    print("| --- | --- | --- | --- | --- |")
    for set_name, name, acc, f1, hit in sorted(rows, key=lambda r: (r[0], -r[3])):
        hit_text = f"{hit:.3f}" if hit is not None else "-"
        print(f"| {set_name} | {name} | {acc:.3f} | {f1:.3f} | {hit_text} |")
    print()
    print(f"posdesk review threshold {model.review_threshold:.3f}, scope threshold {model.scope_threshold:.3f}")
    print("| set | out-of-scope tickets flagged | in-scope tickets wrongly flagged | auto-routed | auto-routed right |")
    print("| --- | --- | --- | --- | --- |")
    for set_name, n_out, caught, n_in, flagged, n_auto, right in scope_rows:
        caught_text = f"{caught}/{n_out} ({caught / n_out:.1%})" if n_out else "-"
        print(
            f"| {set_name} | {caught_text} | {flagged}/{n_in} ({flagged / n_in:.1%}) | "
            f"{n_auto}/{n_in} ({n_auto / n_in:.1%}) | {right / max(1, n_auto):.1%} |"
        )


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _family(root: int) -> set[int]:
    """A process and all its descendants."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    family, grew = {root}, True
    while grew:
        new = {pid for pid, parent in parents.items() if parent in family} - family
        family |= new
        grew = bool(new)
    return family


def _tree_memory_mib(root: int) -> int | None:
    """Proportional memory (PSS) of a process and all its descendants, in MiB: forked workers
    share their parent's pages, and PSS counts a shared page once across them, where RSS would
    count it in every process. None when a process started or ended while the sample was read:
    a parent read just before a fork and its children just after would count the shared pages
    nearly twice."""
    family = _family(root)
    total = sum(_pss_kib(pid) for pid in family) // 1024
    return total if _family(root) == family else None


def _run(args: list[str], stdin: Path | None = None, env: dict | None = None) -> tuple[float, int]:
    """Run a command; return wall seconds and the peak memory (PSS) of its process tree in MiB
    (sampled every SAMPLE_SECONDS: training forks workers, and their memory counts too)."""
    start = time.perf_counter()
    peak = 0
    with open(stdin or os.devnull, "rb") as inp:
        child = subprocess.Popen(args, stdin=inp, stdout=subprocess.DEVNULL, env=env, cwd=REPO)
        while child.poll() is None:
            peak = max(peak, _tree_memory_mib(child.pid) or 0)
            time.sleep(SAMPLE_SECONDS)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, args)
    return time.perf_counter() - start, peak


def speed(n: int) -> None:
    """Print batch throughput of posdesk against jieba segmentation alone on the same texts."""
    tickets = synthesise(n)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "POSDESK_INSTANCE": tmp}
        subprocess.run([*POSDESK, "init"], check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
        path = Path(tmp) / "batch.jsonl"
        write_jsonl(tickets, path, with_labels=False)
        jieba.initialize()
        start = time.perf_counter()
        for t in tickets:
            jieba.lcut(t.text)
        jieba_wall = time.perf_counter() - start
        posdesk_wall, _ = _run([*POSDESK, "triage", "classify", "--batch"], stdin=path, env=env)
    chars = sum(len(t.text) for t in tickets)
    print(f"{n} tickets, {chars / n:.0f} characters on average, {os.cpu_count()} cores")
    print("| what | wall s | tickets/s |")
    print("| --- | --- | --- |")
    print(f"| jieba.lcut alone (in process, dictionary preloaded) | {jieba_wall:.1f} | {n / jieba_wall:,.0f} |")
    print(
        f"| posdesk triage classify --batch (process start + model load included) | {posdesk_wall:.1f} "
        f"| {n / posdesk_wall:,.0f} |"
    )
    print(f"ratio posdesk / jieba: {jieba_wall / posdesk_wall:.2f}")


def measure_train_cost(n: int) -> tuple[float, int, dict]:
    """(wall seconds, peak PSS of the process tree in MiB, the model's sidecar) of `posdesk triage
    train` on n synthetic tickets in a temporary instance. CalledProcessError when training fails."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.jsonl"
        write_jsonl(synthesise(n), path)
        env = {**os.environ, "POSDESK_INSTANCE": tmp}
        wall, peak = _run([*POSDESK, "triage", "train", "--data", str(path)], env=env)
        return wall, peak, json.loads((Path(tmp) / "model" / "model.json").read_text(encoding="utf-8"))


def train_cost(n: int) -> None:
    """Print wall time and peak memory of training on n synthetic tickets."""
    wall, peak, sidecar = measure_train_cost(n)
    print("| training tickets | wall s | peak memory (PSS of the process tree), MiB | held-out macro-F1 |")
    print("| --- | --- | --- | --- |")
    print(
        f"| {sidecar['n_train']:,} (+{sidecar['n_heldout']:,} held out) | {wall:.1f} | {peak:,} "
        f"| {sidecar['metrics']['macro_f1']:.3f} |"
    )


def main() -> None:
    """Parse the command line and run one benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["quality", "speed", "train-cost"])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--independent", type=Path, nargs="*", default=[REPO / "bench" / "tickets_independent.jsonl"])
    parser.add_argument(
        "--blind", type=Path, nargs="*", default=[], help="blind ticket sets, e.g. bench/blind/tickets-*.jsonl"
    )
    args = parser.parse_args()
    np.random.seed(0)
    if args.what == "quality":
        quality(args.independent, args.blind)
    elif args.what == "speed":
        speed(args.n)
    else:
        train_cost(args.n)


if __name__ == "__main__":
    main()
