"""Labelled tickets: reading `data/tickets/*.jsonl` and the stable held-out split."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kb.paths import data_dir

HOLDOUT_SHARE = 0.25


class DatasetError(ValueError):
    """A ticket file that cannot be read: says which file, which line and what is wrong."""


@dataclass(frozen=True)
class LabelledTicket:
    """One ticket text with its true category and the articles that answer it."""

    id: str
    text: str
    category: str
    articles: tuple[str, ...] = ()


def ticket_files(folder: Path | None = None) -> list[Path]:
    """The JSONL files of the committed training corpus."""
    return sorted((folder or data_dir() / "tickets").glob("*.jsonl"))


def read_tickets(paths: Iterable[Path]) -> list[LabelledTicket]:
    """Read labelled tickets from JSONL files (a folder means every *.jsonl in it)."""
    tickets = []
    for path in paths:
        files = ticket_files(path) if path.is_dir() else [path]
        for file in files:
            for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    tickets.append(
                        LabelledTicket(
                            id=str(row["id"]),
                            text=str(row["text"]),
                            category=str(row["category"]),
                            articles=tuple(row.get("articles") or ()),
                        )
                    )
                except (ValueError, KeyError, TypeError) as e:
                    raise DatasetError(f"{file}:{number}: not a labelled ticket ({e})") from e
    return tickets


def _read_pairs(folder: Path, fields: tuple[str, str], what: str) -> list[tuple[str, str]]:
    """Two fields of every line of the folder's JSONL files; DatasetError names a bad line."""
    pairs = []
    for file in sorted(folder.glob("*.jsonl")):
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                pairs.append((str(row[fields[0]]), str(row[fields[1]])))
            except (ValueError, KeyError, TypeError) as e:
                raise DatasetError(f"{file}:{number}: not {what} ({e})") from e
    return pairs


def read_out_of_scope(folder: Path | None = None) -> list[tuple[str, str]]:
    """(id, text) pairs of the out-of-scope corpus: text that is not about a merchant's POS acquiring
    (`data/scope/*.jsonl`, lines `{"id", "text", "kind"}`). Raises DatasetError naming a bad line."""
    return _read_pairs(folder or data_dir() / "scope", ("id", "text"), "an out-of-scope line")


def read_agent_searches(folder: Path | None = None) -> list[tuple[str, str]]:
    """(text, slug) pairs: how support agents search for an article (`data/agent/*.jsonl`, lines
    `{"id", "text", "article"}`), internal procedures above all. Raises DatasetError naming a bad line."""
    return _read_pairs(folder or data_dir() / "agent", ("text", "article"), "an agent search line")


def _hash(ticket_id: str) -> int:
    return int.from_bytes(hashlib.sha256(ticket_id.encode("utf-8")).digest()[:8], "big")


def split(tickets: list[LabelledTicket]) -> tuple[list[LabelledTicket], list[LabelledTicket]]:
    """Split into (training, held-out): in each category the quarter of tickets whose id hashes
    lowest is held out. Stratified, and stable across runs: no random state involved."""
    by_category: dict[str, list[LabelledTicket]] = {}
    for t in tickets:
        by_category.setdefault(t.category, []).append(t)
    held_ids: set[str] = set()
    for group in by_category.values():
        ranked = sorted(group, key=lambda t: _hash(t.id))
        held_ids.update(t.id for t in ranked[: math.ceil(len(ranked) * HOLDOUT_SHARE)])
    return [t for t in tickets if t.id not in held_ids], [t for t in tickets if t.id in held_ids]


def split_texts(pairs: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split (id, text) pairs into (training, held-out) the same stable way: the quarter whose id hashes lowest."""
    ranked = sorted(pairs, key=lambda pair: _hash(pair[0]))
    held = {pair[0] for pair in ranked[: math.ceil(len(ranked) * HOLDOUT_SHARE)]}
    return [p for p in pairs if p[0] not in held], [p for p in pairs if p[0] in held]


def stratified_sample(tickets: Sequence[LabelledTicket], size: int) -> list[LabelledTicket]:
    """About `size` tickets keeping each category's share (at least 4 of each, so every category can
    still be split into training and held-out); all of them when there are no more than `size`."""
    if size >= len(tickets):
        return list(tickets)
    import numpy as np

    rng = np.random.default_rng(0)
    by_category: dict[str, list[LabelledTicket]] = {}
    for t in tickets:
        by_category.setdefault(t.category, []).append(t)
    keep: set[str] = set()
    for group in by_category.values():
        n = min(len(group), max(4, round(len(group) * size / len(tickets))))
        keep.update(group[i].id for i in rng.choice(len(group), n, replace=False))
    return [t for t in tickets if t.id in keep]
