"""Loading data/ into SQLite: idempotent, precise updates, nothing lost."""

from __future__ import annotations

import shutil

from kb.db import open_db
from kb.paths import data_dir
from kb.search import search
from kb.store import articles_for_code, get_article, list_categories, sync_knowledge_base


def copy_data(tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root, ignore=shutil.ignore_patterns("tickets"))
    return root


def test_sync_twice_changes_nothing_the_second_time(tmp_path):
    root = copy_data(tmp_path)
    db = open_db(tmp_path / "kb.db")
    first = sync_knowledge_base(db, root)
    second = sync_knowledge_base(db, root)
    assert len(first.added) == db["articles"].count
    assert (second.added, second.updated, second.removed) == ((), (), ())


def test_editing_one_article_updates_exactly_that_one(tmp_path):
    root = copy_data(tmp_path)
    db = open_db(tmp_path / "kb.db")
    sync_knowledge_base(db, root)
    path = root / "articles" / "printer-issue.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("## 症状\n", "## 症状\n热敏纸装反了也会打出白纸。\n"), "utf-8"
    )
    report = sync_knowledge_base(db, root)
    assert report.updated == ("printer-issue",) and report.added == () and report.removed == ()
    assert "热敏纸装反了" in get_article(db, "printer-issue").body


def test_a_search_after_an_edit_reads_the_edited_article(tmp_path):
    # The searcher keeps what it has read of each article per build of the index: an edit, or the
    # same file rebuilt from other sources, is a new build and nothing of the old one is reused.
    root = copy_data(tmp_path)
    db = open_db(tmp_path / "kb.db")
    sync_knowledge_base(db, root)
    assert "热敏纸" not in search(db, "打印机 出白纸")[0].snippet
    path = root / "articles" / "printer-issue.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace("## 症状\n", "## 症状\n热敏纸装反了也会出白纸。\n"), "utf-8"
    )
    sync_knowledge_base(db, root)
    assert "热敏纸" in search(db, "打印机 出白纸")[0].snippet
    for name in ("kb.db", "kb.db-wal", "kb.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    shutil.copy(data_dir() / "articles" / "printer-issue.md", path)
    rebuilt = open_db(tmp_path / "kb.db")
    sync_knowledge_base(rebuilt, root)
    assert "热敏纸" not in search(rebuilt, "打印机 出白纸")[0].snippet


def test_internal_articles_are_invisible_to_merchants(db):
    assert get_article(db, "agent-risk-review") is None
    assert get_article(db, "agent-risk-review", "agent").title.startswith("【内部】")
    merchant = {c.slug: c.article_count for c in list_categories(db)}
    agent = {c.slug: c.article_count for c in list_categories(db, "agent")}
    assert merchant["settlement"] == agent["settlement"] - 1


def test_articles_for_a_code_start_with_its_primary_article(db):
    assert articles_for_code(db, "97")[0].slug == "code-97-unregistered"
    assert articles_for_code(db, "a0")[0].slug == "mac-key-error"
    assert all(a.is_public for a in articles_for_code(db, "A2"))


def test_a_database_from_schema_1_is_upgraded(tmp_path):
    root = copy_data(tmp_path)
    db = open_db(tmp_path / "kb.db")
    sync_knowledge_base(db, root)
    # What schema 1 looked like: no code table, no term table, a per-column vocabulary view.
    for table in ("article_codes", "search_terms", "article_index_vocab"):
        db.execute(f"DROP TABLE {table}")
    db.execute("CREATE VIRTUAL TABLE article_index_vocab USING fts5vocab(article_index_fts, 'col')")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    sync_knowledge_base(db, root)
    assert articles_for_code(db, "97")[0].slug == "code-97-unregistered"
    assert search(db, "应答码97")[0].slug == "code-97-unregistered"


def test_a_code_table_without_listed_counts_is_rebuilt_from_the_articles(tmp_path):
    root = copy_data(tmp_path)
    db = open_db(tmp_path / "kb.db")
    sync_knowledge_base(db, root)
    expected = sorted(db.execute("SELECT code, slug, listed FROM article_codes").fetchall())
    # Schemas 2 and 3: the same table without the `listed` count.
    db["article_codes"].drop()
    db["article_codes"].create({"code": str, "slug": str}, pk=("code", "slug"))
    db["article_codes"].insert({"code": "A0", "slug": "mac-key-error"})
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    sync_knowledge_base(db, root)
    assert sorted(db.execute("SELECT code, slug, listed FROM article_codes").fetchall()) == expected
    listed = dict(db.execute("SELECT slug, json_array_length(codes) FROM articles").fetchall())
    assert all(listed[slug] == n for _, slug, n in expected)
