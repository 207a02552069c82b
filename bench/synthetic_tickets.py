"""A deterministic large ticket corpus for speed benchmarks, made by recombining the real tickets.

Each synthetic ticket joins pieces of two real tickets of the same category and sprinkles in a
merchant number or a politeness phrase, so texts are realistic in length and vocabulary but not
repeated verbatim (jieba and the vectorisers get no free cache hits).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from triage.dataset import LabelledTicket, read_tickets, ticket_files

_CLAUSE = re.compile(r"(?<=[，。！？,.!?；;])")
_EXTRAS = ["请问", "您好，", "麻烦看下", "急！", "谢谢", "商户号{mid}", "终端号{tid}", "在线等", ""]


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE.split(text) if c.strip()] or [text]


def synthesise(n: int, seed: int = 7) -> list[LabelledTicket]:
    """Return n synthetic labelled tickets, the same for the same n and seed."""
    rng = random.Random(seed)
    corpus = read_tickets(ticket_files())
    by_category: dict[str, list[LabelledTicket]] = {}
    for t in corpus:
        by_category.setdefault(t.category, []).append(t)
    categories = sorted(by_category)
    out = []
    for i in range(n):
        category = categories[i % len(categories)]
        a, b = rng.sample(by_category[category], 2)
        pieces = _clauses(a.text)[: rng.randint(1, 3)] + _clauses(b.text)[rng.randint(0, 1) :][:2]
        extra = rng.choice(_EXTRAS).format(mid=rng.randrange(10**14, 10**15), tid=rng.randrange(10**7, 10**8))
        text = (extra + "".join(pieces))[:300] if rng.random() < 0.5 else ("".join(pieces) + extra)[:300]
        out.append(LabelledTicket(f"syn-{i:06d}", text, category, a.articles))
    return out


def write_jsonl(tickets: list[LabelledTicket], path: Path, with_labels: bool = True) -> None:
    """Write tickets as JSONL (labelled for training, or just id and text for classification)."""
    with path.open("w", encoding="utf-8") as f:
        for t in tickets:
            row = {"id": t.id, "text": t.text}
            if with_labels:
                row |= {"category": t.category, "articles": list(t.articles)}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
