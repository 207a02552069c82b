"""The knowledge base across nodes: its sources live in the desk database (`knowledge_files`, with a
generation number in `desk_meta`), and every node keeps a local search index (`knowledge.db`, SQLite
FTS5) that it rebuilds when the generation moves on.

`posdesk init` publishes data/ to the desk, keeping the sources edited in the desk
(`webapp.desk.article_edits`); `posdesk kb export` writes the desk's articles back to data/. A node
that finds no sources there publishes data/ itself (the first run of the embedded default). Training
reads its articles from the local index, the same place as search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from sqlalchemy import delete, insert, select, update

from kb.db import SCHEMA_KEY, SCHEMA_VERSION, ensure_schema, get_meta, set_meta, write
from kb.paths import data_dir
from kb.store import ARTICLE_FOLDER, SyncReport, parse_sources, read_sources, sync_knowledge_base
from webapp.desk.schema import knowledge_files
from webapp.desk.storage import Desk

GENERATION = "knowledge_generation"  # desk_meta key: bumped by every publish that changed a source
LOCAL_GENERATION = "desk_generation"  # the local index's meta key: the generation it was built from


@dataclass(frozen=True)
class PublishReport:
    """What `publish` changed in the desk's sources, and the generation they are now at. `conflicts`
    are the sources edited in the desk (kept as they are) whose data/ copy differs: (path, editor)."""

    changed: tuple[str, ...]
    removed: tuple[str, ...]
    generation: int
    conflicts: tuple[tuple[str, str], ...] = ()


def digest(content: str) -> str:
    """A source's SHA-256 as `knowledge_files.sha256` stores it."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def next_generation(desk: Desk) -> int:
    """Move the knowledge generation on, so that every node rebuilds its index; call it inside the
    write transaction that changed a source. Returns the new generation."""
    generation = int(desk.get_meta(GENERATION, "0")) + 1
    desk.set_meta(GENERATION, str(generation))
    return generation


def publish(desk: Desk, files: dict[str, str] | None = None, root: Path | None = None) -> PublishReport:
    """Make the desk's knowledge sources exactly `files` (default: read from data/, or `root`), in
    one transaction; the generation moves on only when something changed.

    A source edited in the desk (`edited_by` set) is never overwritten or removed: when data/ differs
    from it, it is reported in `conflicts` instead. ValueError (from `kb.store.parse_sources`) when a
    source is malformed: nothing is published then.
    """
    files = read_sources(root) if files is None else files
    parse_sources(files)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with desk.write() as conn:
        desk.serialise(conn, "posdesk.knowledge.publish")  # nodes publishing at once take turns
        rows = conn.execute(select(knowledge_files.c.path, knowledge_files.c.sha256, knowledge_files.c.edited_by))
        stored, edited = {}, {}
        for path, sha256, edited_by in rows:
            stored[path] = sha256
            if edited_by:
                edited[path] = edited_by
        conflicts = tuple((p, edited[p]) for p in sorted(files) if p in edited and stored[p] != digest(files[p]))
        changed = tuple(p for p in sorted(files) if p not in edited and stored.get(p) != digest(files[p]))
        removed = tuple(p for p in sorted(stored) if p not in files and p not in edited)
        for path in changed:
            row = {"content": files[path], "sha256": digest(files[path]), "updated": now}
            if path in stored:
                conn.execute(update(knowledge_files).where(knowledge_files.c.path == path).values(**row))
            else:
                conn.execute(insert(knowledge_files).values(path=path, **row))
        if removed:
            conn.execute(delete(knowledge_files).where(knowledge_files.c.path.in_(removed)))
        generation = next_generation(desk) if changed or removed else int(desk.get_meta(GENERATION, "0"))
    return PublishReport(changed, removed, generation, conflicts)


def sources(desk: Desk) -> tuple[int, dict[str, str]]:
    """(generation, {path: text}) of the desk's knowledge sources, read in one transaction."""
    with desk.read() as conn:
        generation = int(desk.get_meta(GENERATION, "0"))
        files = dict(conn.execute(select(knowledge_files.c.path, knowledge_files.c.content)).all())
    return generation, files


@dataclass(frozen=True)
class ExportReport:
    """What `export` wrote: the article paths (relative to the folder) it created or rewrote, and how
    many were already the same."""

    written: tuple[str, ...]
    unchanged: int


def export(desk: Desk, root: Path | None = None) -> ExportReport:
    """Write every article of the desk (published or not, edited in the desk or not) into `root`
    (default data/) as `articles/<slug>.md`, exactly as the desk holds its source, so that desk edits
    can be reviewed and committed in git. A file that is already the same is not touched; nothing is
    deleted."""
    root = root or data_dir()
    _, files = sources(desk)
    written, unchanged = [], 0
    for path, content in sorted(files.items()):
        if not (path.startswith(f"{ARTICLE_FOLDER}/") and path.endswith(".md")):
            continue
        target = root / path
        if target.is_file() and target.read_text(encoding="utf-8") == content:
            unchanged += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        written.append(path)
    return ExportReport(tuple(written), unchanged)


def refresh(db: sqlite_utils.Database, desk: Desk) -> SyncReport | None:
    """Bring the local index up to the desk's generation (publishing data/ first when the desk has
    no sources yet); None when it already was. An index that is up to date is only read: a page
    view that checks it takes no write lock and writes nothing."""
    generation = int(desk.get_meta(GENERATION, "0"))
    if generation and _up_to_date(db, generation):
        return None
    with write(db):
        ensure_schema(db)
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


def _up_to_date(db: sqlite_utils.Database, generation: int) -> bool:
    """True when the index has this code's schema and was built from this desk generation (read
    only: False for an index without tables yet)."""
    if not db["meta"].exists():
        return False
    return get_meta(db, SCHEMA_KEY) == str(SCHEMA_VERSION) and get_meta(db, LOCAL_GENERATION) == str(generation)
