"""Upgrading the desk database: a release-0.1 SQLite file keeps everything it held, the migrations
end at `HEAD`, and an empty PostgreSQL database is migrated to the same schema."""

from __future__ import annotations

import gzip
import os
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from webapp.desk.storage import HEAD, MIGRATIONS, Desk

RELEASE_0_1_DUMP = Path(__file__).resolve().parent / "data" / "posdesk-0.1-519032d.sql.gz"
TEST_DATABASE_URL = os.environ.get("POSDESK_TEST_DATABASE_URL")
# Reads the servers of the PostgreSQL + Redis pass itself: every test here runs in that pass.
pytestmark = pytest.mark.desk

# The desk tables release 0.1 had, and the order their rows are compared in.
DESK_TABLES = {
    "tickets": "id",
    "ticket_events": "id",
    "ticket_requests": "scope, key",
    "users": "id",
    "api_tokens": "id",
    "desk_sessions": "session_hash",
    "login_failures": "username, address",
    "article_votes": "slug, visitor",
    "article_views": "slug",
}
# Release 0.1's derived knowledge (now in each node's knowledge.db) and its FTS5 ticket index.
OLD_DERIVED = (
    "articles", "categories", "response_codes", "article_codes", "article_index", "article_index_fts",
    "article_index_vocab", "search_terms", "meta", "tickets_fts",
)  # fmt: skip


def _columns(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in DESK_TABLES}


def _rows(path: Path, columns: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of the desk tables, in `columns` (release 0.1's: later columns are new, not kept data)."""
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT {', '.join(columns[t])} FROM {t} ORDER BY {order}").fetchall()
            for t, order in DESK_TABLES.items()
        }


def _schema_objects(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").fetchall())


@pytest.fixture
def release_0_1(tmp_path, monkeypatch):
    """An instance folder holding release 0.1's database (restored from its `sqlite3 .dump`)."""
    instance = tmp_path / "instance"
    instance.mkdir()
    conn = sqlite3.connect(instance / "posdesk.db")
    with gzip.open(RELEASE_0_1_DUMP, "rt", encoding="utf-8") as dump:
        conn.executescript(dump.read())
    conn.close()
    monkeypatch.delenv("POSDESK_DATABASE_URL", raising=False)  # the embedded default, whatever the pass
    monkeypatch.setenv("POSDESK_INSTANCE", str(instance))  # restored afterwards (--instance sets it too)
    return instance


def _posdesk(instance: Path, *args: str):
    from webapp.cli import cli

    return CliRunner().invoke(cli, ["--instance", str(instance), *args], prog_name="posdesk")


def test_the_release_0_1_dump_is_what_the_upgrade_test_expects(release_0_1):
    before = _rows(release_0_1 / "posdesk.db", _columns(release_0_1 / "posdesk.db"))
    assert [t[0] for t in before["tickets"]] == [1, 2, 3, 4]
    assert {u[1]: u[3] for u in before["users"]} == {"boss": "admin", "lina": "agent"}
    objects = _schema_objects(release_0_1 / "posdesk.db")
    assert "alembic_version" not in objects and {"articles", "tickets_fts"} <= set(objects)


def test_db_upgrade_keeps_everything_a_release_0_1_desk_held(release_0_1):
    database = release_0_1 / "posdesk.db"
    columns = _columns(database)
    before = _rows(database, columns)

    result = _posdesk(release_0_1, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"desk database: 0001 (release 0.1) -> {HEAD}"

    # Nothing lost: every row of every desk table is still there, unchanged.
    after = _rows(database, columns)
    assert after == before
    tickets = {row[0]: row for row in after["tickets"]}
    ticket = {number: dict(zip(columns["tickets"], row, strict=True)) for number, row in tickets.items()}
    # Tickets filed before status links existed get one each (unguessable, distinct).
    keys = [k for (k,) in sqlite3.connect(database).execute("SELECT status_key FROM tickets")]
    assert len(set(keys)) == 4 and all(len(k) >= 32 for k in keys)
    assert ticket[1]["text"].startswith("退货显示该商户没有权限，应答码58")
    assert (ticket[1]["status"], ticket[1]["category"]) == ("resolved", "txn-not-enabled")
    assert (ticket[2]["category"], ticket[4]["category"]) == ("settlement", "merchant-risk-status")
    assert ticket[3]["prediction"] is None and ticket[3]["needs_review"] == 1  # the untriaged one
    history = [(e[1], e[4]) for e in after["ticket_events"]]
    assert (1, "note") in history and (1, "status") in history and len(history) == 12
    assert after["ticket_requests"] == [("token:1", "abc-123", "fp1", 4, "2026-12-01T00:21:49Z")]
    assert [(v[0], v[1], v[2]) for v in after["article_votes"]] == [
        ("funds-not-arrived", "visitor-2", 0),
        ("merchant-frozen", "visitor-1", 1),
    ]
    assert dict(after["article_views"]) == {"funds-not-arrived": 2, "merchant-frozen": 5}
    assert [t[1] for t in after["api_tokens"]] == ["old-token"]
    assert [(f[0], f[2]) for f in after["login_failures"]] == [("lina", 1)]

    # The portable word index was filled from each ticket's analysed terms.
    with sqlite3.connect(database) as conn:
        indexed = conn.execute("SELECT ticket_id, term, tf FROM ticket_terms").fetchall()
    expected = {(n, term, tf) for n, t in ticket.items() for term, tf in Counter((t["terms"] or "").split()).items()}
    assert set(indexed) == expected and len(indexed) == len(expected)
    assert {n for n, _, _ in indexed} == {1, 2, 3, 4}

    # Release 0.1's derived tables (now each node's knowledge.db) and their triggers are gone.
    objects = _schema_objects(database)
    assert not [name for name in objects if name in OLD_DERIVED or name.startswith(("tickets_fts", "article_index"))]
    assert not [name for name, kind in objects.items() if kind == "trigger"]
    assert {"ticket_terms", "knowledge_files", "desk_meta", "alembic_version"} <= set(objects)

    again = _posdesk(release_0_1, "db", "upgrade")
    assert again.exit_code == 0 and again.output.strip() == f"desk database: already at {HEAD}"
    assert _rows(database, columns) == before


def test_accounts_still_work_after_the_upgrade(release_0_1):
    assert _posdesk(release_0_1, "db", "upgrade").exit_code == 0
    desk = Desk(f"sqlite:///{release_0_1 / 'posdesk.db'}")
    try:
        try:
            from webapp.desk import accounts, sessions
        except ImportError:  # the account modules are still being moved: check the rows themselves
            from werkzeug.security import check_password_hash

            with desk.read() as conn:
                rows = dict(conn.execute(text("SELECT username, password_hash FROM users")).all())
            assert check_password_hash(rows["lina"], "agent-pass-1")
            assert check_password_hash(rows["boss"], "admin-pass-1")
            return
        assert accounts.authenticate(desk, "lina", "wrong-password") is None
        lina = sessions.log_in(desk, "lina", "agent-pass-1", "127.0.0.1", 5)
        assert lina is not None and lina.username == "lina" and lina.role == "agent"
        boss = accounts.authenticate(desk, "boss", "admin-pass-1")
        assert boss is not None and boss.is_admin
        assert [t.name for t in accounts.list_tokens(desk)] == ["old-token"]
    finally:
        desk.close()


def test_the_migrations_end_at_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [HEAD]  # one head, the one storage.HEAD names
    assert [r.revision for r in script.walk_revisions()][-1] == "0001"


def _schema_differences(url: str) -> list:
    """What the migrated database lacks or has beyond `webapp.desk.schema` (Alembic's comparison)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.desk.schema import metadata

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()


def test_an_empty_sqlite_desk_is_migrated_to_the_schema(tmp_path):
    desk = Desk(f"sqlite:///{tmp_path / 'posdesk.db'}")
    try:
        assert desk.upgrade() == (None, HEAD)
        assert desk.revision() == HEAD
        assert desk.upgrade() == (HEAD, HEAD)
        assert _schema_differences(desk.url) == []
    finally:
        desk.close()


@pytest.fixture
def empty_postgresql():
    """The URL of an empty PostgreSQL database of this test's own, dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"posdesk_upgrade_test_{os.getpid()}"
    server = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    server.dispose()


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="needs POSDESK_TEST_DATABASE_URL (PostgreSQL)")
def test_an_empty_postgresql_desk_is_migrated_to_head_once(empty_postgresql):
    desk = Desk(empty_postgresql)
    try:
        assert desk.revision() is None
        assert desk.upgrade() == (None, HEAD)
        assert desk.revision() == HEAD
        with desk.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        assert {"tickets", "ticket_terms", "users", "knowledge_files", "desk_meta", "alembic_version"} <= tables
        assert desk.upgrade() == (HEAD, HEAD)  # a no-op
        with desk.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        desk.ensure_current()  # no DeskError: current
        assert _schema_differences(desk.url) == []
    finally:
        desk.close()
