"""The desk database's handle (transactions, URLs, shared settings), the `posdesk db` commands, and
what several nodes share through it: the secret key (desk) and the rate-limit counters (Redis)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from webapp.db import get_desk
from webapp.desk.schema import desk_meta
from webapp.desk.storage import Desk, DeskError, normalise_url

REPO = Path(__file__).resolve().parent.parent
TEST_DATABASE_URL = os.environ.get("POSDESK_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("POSDESK_TEST_REDIS_URL")
# Reads the servers of the PostgreSQL + Redis pass itself: every test here runs in that pass.
pytestmark = pytest.mark.desk


def _count(desk: Desk, key: str) -> int:
    with desk.read() as conn:
        return conn.execute(select(func.count()).select_from(desk_meta).where(desk_meta.c.key == key)).scalar()


# --- transactions ----------------------------------------------------------------------------------


def test_a_nested_write_joins_the_outer_transaction(desk):
    with desk.write() as outer:
        with desk.write() as inner:
            assert inner is outer
            inner.execute(insert(desk_meta).values(key="nested", value="1"))
        with desk.read() as reading:  # a read inside a write joins it too, and sees its writes
            assert reading is outer
            assert reading.execute(select(desk_meta.c.value).where(desk_meta.c.key == "nested")).scalar() == "1"
    assert desk.get_meta("nested") == "1"


def test_an_exception_rolls_the_whole_transaction_back(desk):
    with pytest.raises(ZeroDivisionError), desk.write() as conn:
        conn.execute(insert(desk_meta).values(key="outer", value="1"))
        with desk.write() as inner:  # committed only with the outer one
            inner.execute(insert(desk_meta).values(key="inner", value="1"))
        1 / 0  # noqa: B018
    assert _count(desk, "outer") == 0 and _count(desk, "inner") == 0
    desk.set_meta("after", "ok")  # the handle is usable again
    assert desk.get_meta("after") == "ok"


def test_a_write_inside_a_read_is_refused(desk):
    with pytest.raises(DeskError, match="inside a read"), desk.read(), desk.write():
        pass
    desk.set_meta("still", "writable")
    assert desk.get_meta("still") == "writable"


def test_meta_once_keeps_the_first_value(desk):
    assert desk.get_meta("secret_key") is None
    assert desk.meta_once("secret_key", "first") == "first"
    assert desk.meta_once("secret_key", "second") == "first"
    assert desk.get_meta("secret_key") == "first"
    desk.set_meta("secret_key", "changed")  # set_meta overwrites; meta_once never does
    assert desk.meta_once("secret_key", "third") == "changed"


# --- URLs ------------------------------------------------------------------------------------------


def _driver(url: str) -> str:
    return make_url(url).get_dialect().driver


def test_normalise_url_makes_postgresql_use_psycopg():
    normalised = normalise_url("postgresql://u:p@db:5432/desk")
    assert _driver(normalised) == "psycopg"  # psycopg 3, whatever SQLAlchemy's default driver is
    assert make_url(normalised).password == "p"  # the password is kept, not masked
    assert normalise_url("postgresql+psycopg2://u@db/desk") == "postgresql+psycopg://u@db/desk"
    assert normalise_url("postgresql+psycopg://u@db/desk") == "postgresql+psycopg://u@db/desk"
    assert normalise_url("sqlite:////srv/posdesk/posdesk.db") == "sqlite:////srv/posdesk/posdesk.db"


@pytest.mark.parametrize("url", ["mysql://u@db/desk", "oracle://u@db/desk", "not a url"])
def test_normalise_url_refuses_other_databases(url):
    with pytest.raises(DeskError):
        normalise_url(url)


# --- posdesk db --------------------------------------------------------------------------------------


@pytest.fixture
def posdesk(tmp_path, monkeypatch):
    """posdesk(*args, url=None): run the `posdesk` command line in-process on a fresh instance folder,
    with POSDESK_DATABASE_URL set to `url` when given."""
    from click.testing import CliRunner

    from webapp.cli import cli

    instance = tmp_path / "cli-instance"
    monkeypatch.setenv("POSDESK_INSTANCE", str(instance))  # restored afterwards (--instance sets it too)

    def run(*args: str, url: str | None = None):
        if url is None:
            monkeypatch.delenv("POSDESK_DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("POSDESK_DATABASE_URL", url)
        return CliRunner().invoke(cli, ["--instance", str(instance), *args], prog_name="posdesk")

    return run


def test_db_upgrade_and_status_on_the_backend_under_test(posdesk, desk_template):
    from webapp.desk.storage import HEAD

    url = None
    if TEST_DATABASE_URL:
        url = desk_template.new_url()  # already migrated: "already at"
    status = posdesk("db", "status", url=url)
    assert status.exit_code == 0, status.output
    backend = "postgresql" if TEST_DATABASE_URL else "sqlite"
    assert f"backend: {backend} (" in status.output and f"head revision: {HEAD}" in status.output
    first = posdesk("db", "upgrade", url=url)
    assert first.exit_code == 0, first.output
    if TEST_DATABASE_URL:
        assert first.output.strip() == f"desk database: already at {HEAD}"
    else:
        assert "current revision: empty" in status.output
        assert first.output.strip() == f"desk database: empty -> {HEAD}"
    again = posdesk("db", "upgrade", url=url)
    assert again.exit_code == 0 and again.output.strip() == f"desk database: already at {HEAD}"
    status = posdesk("db", "status", url=url)
    assert f"current revision: {HEAD}" in status.output and "up to date" in status.output


def test_help_and_db_commands_work_without_a_reachable_desk(posdesk):
    # Port 1 refuses at once: nothing may touch the desk at create_app time.
    url = "postgresql://posdesk:s3cret-pw@127.0.0.1:1/posdesk"
    helped = posdesk("--help", url=url)
    assert helped.exit_code == 0, helped.output
    assert "  db " in helped.output and "  init " in helped.output
    for args in (("db", "upgrade"), ("db", "status"), ("init",)):
        result = posdesk(*args, url=url)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output and "s3cret-pw" not in result.output
        lines = result.output.strip().splitlines()
        assert lines[-1].startswith("Error: desk database postgresql://posdesk:***@127.0.0.1:1/posdesk: ")


@pytest.mark.parametrize("url", ["mysql://u@db/desk", "no-such-thing"])
def test_an_unusable_database_url_is_a_one_line_error(posdesk, url):
    result = posdesk("db", "upgrade", url=url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: desk database")


# --- what the nodes share ------------------------------------------------------------------------------


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="a shared desk needs POSDESK_TEST_DATABASE_URL (PostgreSQL)")
def test_nodes_of_a_shared_desk_agree_on_the_secret_key(make_app, desk_template):
    url = desk_template.new_url()
    first, second = make_app(DATABASE_URL=url), make_app(DATABASE_URL=url)
    assert first.config["SECRET_KEY"] is None  # not read at create_app time
    assert not (Path(first.instance_path) / "secret_key").exists()
    client = first.test_client()
    page = client.get("/agent/login")  # the process's first request: its session works already
    assert page.status_code == 200 and "posdesk_session" in page.headers.get("Set-Cookie", "")
    assert second.test_client().get("/agent/login").status_code == 200
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    desk = Desk(url)
    try:
        assert desk.get_meta("secret_key") == first.config["SECRET_KEY"]
    finally:
        desk.close()
    # A session signed by one node is read by the other.
    cookie = client.get_cookie("posdesk_session").value
    assert "csrf_token" in second.session_interface.get_signing_serializer(second).loads(cookie)


def test_a_configured_secret_key_is_used_as_is(make_app):
    app = make_app(SECRET_KEY="configured-key-of-thirty-two-chars!")
    assert app.config["SECRET_KEY"] == "configured-key-of-thirty-two-chars!"
    assert app.test_client().get("/agent/login").status_code == 200
    assert app.config["SECRET_KEY"] == "configured-key-of-thirty-two-chars!"


def _redis_test_url(db: int = 3) -> str:
    """POSDESK_TEST_REDIS_URL with another database number: this test flushes it."""
    parts = urlsplit(TEST_REDIS_URL)
    return urlunsplit(parts._replace(path=f"/{db}"))


# App B, in a process of its own (as another node: Flask-Limiter's storage is per process), tries
# to log in twice with a bad password and prints the status codes.
_NODE_B = """
import json, sys
from webapp import create_app
app = create_app({"TESTING": True, "TRIAGE_WORKER": False, "WTF_CSRF_ENABLED": False})
client = app.test_client()
codes = [client.post("/agent/login", data={"username": "nobody", "password": "wrong-pass-1"}).status_code
         for _ in range(2)]
print(json.dumps(codes))
"""


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs POSDESK_TEST_REDIS_URL (a Redis server)")
def test_nodes_sharing_one_redis_count_one_limit_together(make_app, desk_template, tmp_path):
    import redis

    uri = _redis_test_url()
    redis.Redis.from_url(uri).flushdb()
    config = {"LOGIN_RATE_LIMIT": "3 per minute", "RATELIMIT_STORAGE_URI": uri, "WTF_CSRF_ENABLED": False}
    node_a = make_app(**config)
    client = node_a.test_client()
    form = {"username": "nobody", "password": "wrong-pass-1"}
    assert [client.post("/agent/login", data=form).status_code for _ in range(2)] == [200, 200]

    instance_b = tmp_path / "node-b"
    environment = {
        **os.environ,
        "POSDESK_INSTANCE": str(instance_b),
        "POSDESK_DATABASE_URL": node_a.config["DATABASE_URL"],
        "POSDESK_SECRET_KEY": "node-b-test-key",
        "POSDESK_RATELIMIT_STORAGE_URI": uri,
        "POSDESK_LOGIN_RATE_LIMIT": "3 per minute",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", _NODE_B], env=environment, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [200, 429]  # the 4th request of the minute
    assert client.post("/agent/login", data=form).status_code == 429  # and node A sees it too
    assert not (instance_b / "ratelimits.db").exists()  # no local counters file on either node


def test_the_readme_lists_every_command(posdesk):
    import re

    from webapp.cli import cli

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `posdesk (\w+)", readme, flags=re.MULTILINE))
    result = posdesk("--help")
    assert result.exit_code == 0, result.output
    commands = set(re.findall(r"^  (\w+) ", result.output.split("Commands:")[1], flags=re.MULTILINE))
    flask_own = {"routes", "shell", "run", "limiter"}  # named in the README's text below the table
    assert flask_own <= commands and all(f"`{name}`" in readme for name in flask_own)
    assert listed == commands - flask_own
    assert {"db"} <= set(cli.commands)
    for sub in ("upgrade", "status"):
        assert f"`posdesk db {sub}`" in readme


def test_the_health_check_answers_for_the_desk_and_the_index(app, client, monkeypatch):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "model": "fake-1"}
    assert response.headers["Cache-Control"] == "no-store"

    def down(self):
        raise OSError("connection refused")

    monkeypatch.setattr(type(get_desk(app)), "read", down)
    failed = client.get("/healthz")
    assert failed.status_code == 503 and failed.get_json() == {"ok": False, "error": "OSError"}
