"""Streaming batch classification: JSONL tickets in, one JSONL prediction per input line out.

Input is read in chunks and at most a few chunks are in flight, so memory stays constant for any
input size. Chunks are classified in worker processes (forked, sharing the loaded model) and
written back in input order. A bad line yields an error object on its own line; the batch goes on.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice

from kb import text
from triage.model import Triager

CHUNK = 2048

_worker_triager: Triager | None = None


def _parse(number: int, line: str) -> tuple[object, str | None, str | None]:
    """Parse one input line into (id, text, error)."""
    try:
        item = json.loads(line)
    except ValueError:
        return None, None, f"line {number}: not valid JSON"
    if not isinstance(item, dict):
        return None, None, f"line {number}: expected a JSON object"
    ticket = item.get("text")
    if not isinstance(ticket, str) or not ticket.strip():
        return item.get("id"), None, f"line {number}: 'text' must be a non-empty string"
    return item.get("id"), ticket, None


def _render(triager: Triager, lines: list[tuple[int, str]]) -> str:
    """Parse, classify and format a chunk of numbered input lines; return its output lines."""
    chunk = [_parse(n, line) for n, line in lines]
    predictions = iter(triager.classify_many([t for _, t, error in chunk if error is None]))
    out = []
    for ident, _, error in chunk:
        if error:
            out.append(json.dumps({"id": ident, "error": error}, ensure_ascii=False))
            continue
        p = next(predictions)
        row = {
            "id": ident,
            "category": p.category,
            "confidence": p.confidence,
            "alternatives": [{"category": a.category, "confidence": a.confidence} for a in p.alternatives],
            "articles": list(p.articles),
            "codes": list(p.codes),
            "needs_review": p.needs_review,
            "in_scope": p.in_scope,
        }
        out.append(json.dumps(row, ensure_ascii=False))
    return "".join(line + "\n" for line in out)


def _render_in_worker(chunk) -> str:
    assert _worker_triager is not None
    return _render(_worker_triager, chunk)


def _chunks(lines: Iterable[str]) -> Iterator[list[tuple[int, str]]]:
    """Numbered non-blank lines, CHUNK at a time (parsing happens in the workers)."""
    numbered = ((n, line) for n, line in enumerate(lines, start=1) if line.strip())
    while chunk := list(islice(numbered, CHUNK)):
        yield chunk


def classify_stream(triager: Triager, lines: Iterable[str], workers: int | None = None) -> Iterator[str]:
    """Yield the output (JSON lines, newline-terminated) for the input lines, in input order."""
    global _worker_triager
    workers = workers or os.cpu_count() or 1
    chunks = _chunks(lines)
    if workers == 1:
        for chunk in chunks:
            yield _render(triager, chunk)
        return
    text.tokenizer()  # load the dictionary once, before forking, so workers share it
    _worker_triager = triager
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_render_in_worker, (chunk,)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
