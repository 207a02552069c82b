"""Storing the knowledge base: loading `data/` into SQLite idempotently and reading it back.

Raw rows stay in here; callers get `Article`, `Category` and `ResponseCode` values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from kb import text
from kb.articles import Article, parse_article_text
from kb.codes import ResponseCode, codes_from_text
from kb.db import ensure_schema, get_meta, refresh_term_frequencies, set_meta, stamp_build, write
from kb.paths import data_dir


@dataclass(frozen=True)
class Category:
    """A cause category with the number of articles visible to the asking audience."""

    slug: str
    name: str
    definition: str
    signals: tuple[str, ...]
    codes: tuple[str, ...]
    article_count: int = 0


@dataclass(frozen=True)
class SyncReport:
    """What `sync_knowledge_base` changed."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    removed: tuple[str, ...]
    unchanged: int

    def summary(self) -> str:
        """One line for the CLI."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.removed)} removed, {self.unchanged} unchanged"
        )


# The knowledge base's source files, relative to data/: what `sync_knowledge_base` loads.
SOURCE_FILES = ("categories.yaml", "response_codes.csv")
ARTICLE_FOLDER = "articles"


def read_sources(root: Path | None = None) -> dict[str, str]:
    """The knowledge base's sources under `root` (default data/): {path relative to root: text}, for
    categories.yaml, response_codes.csv and articles/*.md. FileNotFoundError when one is missing."""
    root = root or data_dir()
    if not (root / SOURCE_FILES[0]).is_file():
        raise FileNotFoundError(
            f"no knowledge base in {root}: run posdesk from a checkout, or set POSDESK_DATA to its data/ folder"
        )
    paths = [root / name for name in SOURCE_FILES] + sorted((root / ARTICLE_FOLDER).glob("*.md"))
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in paths}


def load_categories(path: Path | None = None) -> list[Category]:
    """Read the categories from `data/categories.yaml`, in display order."""
    path = path or data_dir() / "categories.yaml"
    return categories_from_text(path.read_text(encoding="utf-8"))


def categories_from_text(source: str) -> list[Category]:
    """Parse categories.yaml's source, in display order."""
    import yaml  # here, not at the top: searching and most commands never parse YAML (15 ms)

    raw = yaml.safe_load(source)["categories"]
    return [
        Category(
            slug=c["slug"],
            name=c["name"],
            definition=c["definition"],
            signals=tuple(c.get("signals") or ()),
            codes=tuple(str(x) for x in c.get("codes") or ()),
        )
        for c in raw
    ]


def _index_row(article: Article) -> dict:
    tags = " ".join(article.tags)
    fields = {"title": article.title, "tags": tags, "body": article.plain_text}
    row = {"slug": article.slug, "plain": text.normalise(f"{article.title} {tags} {article.plain_text}")}
    for name, value in fields.items():
        analysis = text.analyse(value, max_chars=len(value))
        row[f"{name}_w"] = " ".join(analysis.terms)
        row[f"{name}_c"] = " ".join(analysis.pieces)
    return row


def _article_row(article: Article) -> dict:
    return {
        "slug": article.slug,
        "title": article.title,
        "category": article.category,
        "audience": article.audience,
        "tags": json.dumps(article.tags, ensure_ascii=False),
        "codes": json.dumps(article.codes),
        "related": json.dumps(article.related),
        "updated": article.updated,
        "body": article.body,
        "content_hash": article.content_hash,
    }


def parse_sources(files: Mapping[str, str]) -> tuple[list[Category], list[Article], dict[str, ResponseCode]]:
    """Parse the knowledge base's sources (as `read_sources` returns them): (categories, articles by
    slug order, codes). ValueError (ArticleError among them) naming what is missing or malformed."""
    missing = [name for name in SOURCE_FILES if name not in files]
    if missing:
        raise ValueError(f"knowledge base sources lack {', '.join(missing)}")
    categories = categories_from_text(files["categories.yaml"])
    articles = [
        parse_article_text(path.rsplit("/", 1)[-1], source)
        for path, source in sorted(files.items())
        if path.startswith(f"{ARTICLE_FOLDER}/") and path.endswith(".md")
    ]
    return categories, articles, codes_from_text(files["response_codes.csv"])


def sync_knowledge_base(
    db: sqlite_utils.Database, root: Path | None = None, files: Mapping[str, str] | None = None
) -> SyncReport:
    """Make the database hold exactly the categories, codes and articles of `files` (as
    `read_sources` returns them; default: read from `root`, default data/).

    Unpublished articles (`published: false`) are left out, as if absent: no page, search or
    suggestion can find them. Idempotent: an unchanged article is not rewritten; an edited one is
    updated alone. ValueError
    (ArticleError among them) when a source is missing or malformed; nothing is written then.
    """
    files = read_sources(root) if files is None else files
    categories, articles, codes = parse_sources(files)
    ensure_schema(db)
    stored = {r["slug"]: r["content_hash"] for r in db.query("SELECT slug, content_hash FROM articles")}
    wanted = {a.slug: a for a in articles if a.published}
    added = tuple(s for s in wanted if s not in stored)
    updated = tuple(s for s in wanted if s in stored and stored[s] != wanted[s].content_hash)
    removed = tuple(s for s in stored if s not in wanted)
    category_rows = [
        {
            "slug": c.slug,
            "name": c.name,
            "definition": c.definition,
            "signals": json.dumps(c.signals, ensure_ascii=False),
            "codes": json.dumps(c.codes),
            "position": i,
        }
        for i, c in enumerate(categories)
    ]
    code_rows = [vars(c) for c in codes.values()]
    # Pages show categories and codes too: a change to them alone is a new knowledge-base version.
    tables_hash = hashlib.sha256(
        json.dumps([category_rows, code_rows], ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
    with write(db):
        tables_changed = get_meta(db, "kb_tables_hash") != tables_hash
        db["categories"].upsert_all(category_rows, pk="slug")
        db["response_codes"].upsert_all(code_rows, pk="code")
        changed = [wanted[s] for s in (*added, *updated)]
        for slug in (*removed, *updated):
            db.execute("DELETE FROM article_codes WHERE slug = ?", [slug])
        for slug in removed:
            db["article_index"].delete(slug)
            db["articles"].delete(slug)
        if changed:
            db["articles"].upsert_all([_article_row(a) for a in changed], pk="slug")
            db["article_index"].upsert_all([_index_row(a) for a in changed], pk="slug")
            db["article_codes"].insert_all(
                [{"code": c, "slug": a.slug, "listed": len(a.codes)} for a in changed for c in a.codes],
                pk=("code", "slug"),
                ignore=True,
            )
        if added or updated or removed:
            refresh_term_frequencies(db)
        if added or updated or removed or tables_changed:
            # Every cached page and rendering keyed on this version is stale from here on.
            generation = int(get_meta(db, "kb_generation", "0")) + 1
            set_meta(db, "kb_generation", str(generation))
            stamp_build(db)
            set_meta(db, "kb_tables_hash", tables_hash)
    return SyncReport(added, updated, removed, len(wanted) - len(added) - len(updated))


def _article(row: dict) -> Article:
    # Only published articles are indexed; `reverify_by` is editorial and read from the desk's sources.
    return Article(
        slug=row["slug"],
        title=row["title"],
        category=row["category"],
        audience=row["audience"],
        tags=tuple(json.loads(row["tags"])),
        codes=tuple(json.loads(row["codes"])),
        related=tuple(json.loads(row["related"])),
        updated=row["updated"],
        body=row["body"],
    )


def _audience_clause(audience: str) -> str:
    return "1 = 1" if audience == "agent" else "audience = 'merchant'"


def get_article(db: sqlite_utils.Database, slug: str, audience: str = "merchant") -> Article | None:
    """Return the article, or None when it does not exist or the audience may not see it."""
    rows = list(db.query(f"SELECT * FROM articles WHERE slug = ? AND {_audience_clause(audience)}", [slug]))
    return _article(rows[0]) if rows else None


def get_articles(db: sqlite_utils.Database, slugs: list[str], audience: str = "merchant") -> list[Article]:
    """Return the visible articles among slugs, in the order given."""
    if not slugs:
        return []
    marks = ", ".join("?" for _ in slugs)
    sql = f"SELECT * FROM articles WHERE slug IN ({marks}) AND {_audience_clause(audience)}"
    found = {r["slug"]: _article(r) for r in db.query(sql, list(slugs))}
    return [found[s] for s in slugs if s in found]


def list_articles(
    db: sqlite_utils.Database, category: str | None = None, audience: str = "merchant", limit: int | None = None
) -> list[Article]:
    """Return the visible articles, of one category if given, ordered by slug; the first `limit` only
    when given."""
    where, params = _audience_clause(audience), []
    if category:
        where += " AND category = ?"
        params.append(category)
    limited = " LIMIT ?" if limit is not None else ""
    params += [limit] if limit is not None else []
    return [_article(r) for r in db.query(f"SELECT * FROM articles WHERE {where} ORDER BY slug{limited}", params)]


def list_categories(db: sqlite_utils.Database, audience: str = "merchant") -> list[Category]:
    """Return all categories in display order with their visible article counts."""
    sql = f"""
        SELECT c.*, (SELECT count(*) FROM articles a WHERE a.category = c.slug AND {_audience_clause(audience)}) AS n
        FROM categories c ORDER BY c.position
    """
    return [
        Category(
            slug=r["slug"],
            name=r["name"],
            definition=r["definition"],
            signals=tuple(json.loads(r["signals"])),
            codes=tuple(json.loads(r["codes"])),
            article_count=r["n"],
        )
        for r in db.query(sql)
    ]


def get_category(db: sqlite_utils.Database, slug: str, audience: str = "merchant") -> Category | None:
    """Return one category with its visible article count, or None."""
    return next((c for c in list_categories(db, audience) if c.slug == slug), None)


def get_code(db: sqlite_utils.Database, code: str) -> ResponseCode | None:
    """Return one response code from the stored table (case-insensitive), or None."""
    rows = list(db.query("SELECT * FROM response_codes WHERE code = ?", [code.upper()]))
    return ResponseCode(**rows[0]) if rows else None


def list_codes(db: sqlite_utils.Database) -> list[ResponseCode]:
    """Return the whole stored code table, ordered by code."""
    return [ResponseCode(**r) for r in db.query("SELECT * FROM response_codes ORDER BY code")]


def articles_for_code(db: sqlite_utils.Database, code: str, audience: str = "merchant") -> list[Article]:
    """Return the visible articles answering a code: its primary article first, then the others."""
    primary = db.execute("SELECT article FROM response_codes WHERE code = ?", [code.upper()]).fetchone()
    sql = f"""
        SELECT a.* FROM articles a JOIN article_codes c ON c.slug = a.slug
        WHERE c.code = ? AND {_audience_clause(audience)}
    """
    found = {r["slug"]: _article(r) for r in db.query(sql, [code.upper()])}
    order = sorted(found, key=lambda s: (primary is None or s != primary[0], s))
    if primary and primary[0] not in found:
        extra = get_article(db, primary[0], audience)
        return ([extra] if extra else []) + [found[s] for s in order]
    return [found[s] for s in order]
