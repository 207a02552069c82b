"""The knowledge base across nodes: its sources live in the desk database (`knowledge_files`, with a
generation number in `desk_meta`), and every node keeps a local search index (`knowledge.db`, SQLite
FTS5) that it rebuilds when the generation moves on.

`posdesk init` publishes data/ to the desk; a node that finds no sources there publishes data/
itself (the first run of the embedded default). Training reads its articles from the local index,
the same place as search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from sqlalchemy import delete, insert, select, update

from kb.db import ensure_schema, get_meta, set_meta, write
from kb.store import SyncReport, parse_sources, read_sources, sync_knowledge_base
from webapp.desk.schema import knowledge_files
from webapp.desk.storage import Desk

GENERATION = "knowledge_generation"  # desk_meta key: bumped by every publish that changed a source
LOCAL_GENERATION = "desk_generation"  # the local index's meta key: the generation it was built from


@dataclass(frozen=True)
class PublishReport:
    """What `publish` changed in the desk's sources, and the generation they are now at."""

    changed: tuple[str, ...]
    removed: tuple[str, ...]
    generation: int


def _digest(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def publish(desk: Desk, files: dict[str, str] | None = None, root: Path | None = None) -> PublishReport:
    """Make the desk's knowledge sources exactly `files` (default: read from data/, or `root`), in
    one transaction; the generation moves on only when something changed.

    ValueError (from `kb.store.parse_sources`) when a source is malformed: nothing is published then.
    """
    files = read_sources(root) if files is None else files
    parse_sources(files)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with desk.write() as conn:
        desk.serialise(conn, "posdesk.knowledge.publish")  # nodes publishing at once take turns
        stored = dict(conn.execute(select(knowledge_files.c.path, knowledge_files.c.sha256)).all())
        changed = tuple(p for p in sorted(files) if stored.get(p) != _digest(files[p]))
        removed = tuple(p for p in sorted(stored) if p not in files)
        for path in changed:
            row = {"content": files[path], "sha256": _digest(files[path]), "updated": now}
            if path in stored:
                conn.execute(update(knowledge_files).where(knowledge_files.c.path == path).values(**row))
            else:
                conn.execute(insert(knowledge_files).values(path=path, **row))
        if removed:
            conn.execute(delete(knowledge_files).where(knowledge_files.c.path.in_(removed)))
        generation = int(desk.get_meta(GENERATION, "0"))
        if changed or removed:
            generation += 1
            desk.set_meta(GENERATION, str(generation))
    return PublishReport(changed, removed, generation)


def sources(desk: Desk) -> tuple[int, dict[str, str]]:
    """(generation, {path: text}) of the desk's knowledge sources, read in one transaction."""
    with desk.read() as conn:
        generation = int(desk.get_meta(GENERATION, "0"))
        files = dict(conn.execute(select(knowledge_files.c.path, knowledge_files.c.content)).all())
    return generation, files


def refresh(db: sqlite_utils.Database, desk: Desk) -> SyncReport | None:
    """Bring the local index up to the desk's generation (publishing data/ first when the desk has
    no sources yet); None when it already was."""
    with write(db):
        ensure_schema(db)
    generation = int(desk.get_meta(GENERATION, "0"))
    if generation == 0:
        generation = publish(desk).generation
    if get_meta(db, LOCAL_GENERATION) == str(generation):
        return None
    generation, files = sources(desk)
    with write(db):
        if get_meta(db, LOCAL_GENERATION) == str(generation):
            return None  # another worker of this node rebuilt it meanwhile
        report = sync_knowledge_base(db, files=files)
        set_meta(db, LOCAL_GENERATION, str(generation))
    return report
