"""The FAQ pages are cheap to read: a page view never writes, public pages are cacheable and answer a
conditional GET with 304 until the knowledge base changes, nothing per visitor is in what a proxy may
keep, and static files have hashed names with long-lived caching."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from kb.db import set_meta
from kb.paths import data_dir
from kb.store import sync_knowledge_base
from webapp.backlog import worker
from webapp.db import get_kb
from webapp.desk.schema import api_tokens, article_views

PUBLIC_PAGES = ["/", "/categories/txn-not-enabled", "/articles/printer-issue", "/codes/", "/codes/58"]


@contextmanager
def desk_commits(app) -> Iterator[list[str]]:
    """The write transactions committed on the app's desk inside the block (read-only ones aside), on
    either backend."""
    from sqlalchemy import event

    from webapp.db import get_desk

    engine, commits = get_desk(app).engine, []

    def committed(conn) -> None:
        if not conn.get_execution_options().get("posdesk_read"):
            commits.append("commit")

    event.listen(engine, "commit", committed)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", committed)


def desk_rows(app, query) -> list[tuple]:
    """The rows of a query on the app's desk."""
    from webapp.db import get_desk

    with get_desk(app).read() as conn:
        return [tuple(row) for row in conn.execute(query)]


def test_reading_articles_never_writes_and_the_reads_are_written_in_one_batch(app, client):
    client.get("/codes/")  # the first request of a process creates any missing tables
    with desk_commits(app) as commits:
        for _ in range(3):
            assert client.get("/articles/printer-issue").status_code == 200
        assert client.get("/articles/wifi-setup").status_code == 200
        assert not commits, "a GET of an article committed"
        assert worker(app).flush_writes() == 4
        assert len(commits) == 1, "the reads are written in one transaction"
    views = dict(desk_rows(app, select(article_views.c.slug, article_views.c.views)))
    assert views == {"printer-issue": 3, "wifi-setup": 1}


def test_checking_an_up_to_date_knowledge_index_writes_nothing(make_app, monkeypatch):
    """Each worker checks its search index against the desk's knowledge generation: when it is up to
    date the check only reads, so pages are served while another process holds the index's write
    lock (a rebuild on another node's worker, a backup) and nothing is committed."""
    import sqlite3

    from kb import db as kb_db

    monkeypatch.setattr(kb_db, "BUSY_TIMEOUT_MS", 200)  # a write that waits fails the test quickly
    app = make_app(KNOWLEDGE_CHECK_SECONDS=0)  # check at every request
    client = app.test_client()
    assert client.get("/codes/").status_code == 200  # the first check brings the index up to date
    holder = sqlite3.connect(app.config["KNOWLEDGE_DB"], isolation_level=None)
    try:
        before = holder.execute("PRAGMA data_version").fetchone()[0]
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held through the page views
        for url in [*PUBLIC_PAGES, "/search?q=退货没有权限", "/articles/printer-issue"]:
            assert client.get(url).status_code == 200, url
        holder.execute("ROLLBACK")
        assert holder.execute("PRAGMA data_version").fetchone()[0] == before, "a page view wrote to the index"
    finally:
        holder.close()


def test_a_clean_stop_writes_the_reads_still_counted(app, client):
    client.get("/articles/printer-issue")
    client.get("/articles/printer-issue")
    worker(app).stop(timeout=1)  # what gunicorn's worker_exit hook calls
    assert desk_rows(app, select(article_views.c.views).where(article_views.c.slug == "printer-issue")) == [(2,)]


@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_public_pages_are_cacheable_and_unchanged_ones_are_304(client, url):
    first = client.get(url)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "public, max-age=60"
    assert "Cookie" in first.headers["Vary"]
    assert "Set-Cookie" not in first.headers
    etag = first.headers["ETag"]

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "public, max-age=60"
    assert client.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200
    # A proxy that compresses (nginx's gzip) turns the ETag weak: If-None-Match compares weakly.
    assert client.get(url, headers={"If-None-Match": f"W/{etag}"}).status_code == 304


def test_a_public_page_is_rendered_once_per_version(app, client):
    from flask import template_rendered

    rendered: list[str] = []

    def note(sender, template, context, **extra) -> None:
        rendered.append(template.name)

    template_rendered.connect(note, app)
    try:
        first = client.get("/articles/printer-issue")
        again = client.get("/articles/printer-issue")
        assert rendered == ["merchant/article.html"], "a second view rendered the page again"
        assert again.get_data() == first.get_data() and again.headers["ETag"] == first.headers["ETag"]
        client.get("/articles/wifi-setup")
        with app.app_context():  # a sync that changes the knowledge base: a new version, rendered anew
            set_meta(get_kb(), "kb_generation", "999")
        assert client.get("/articles/printer-issue").headers["ETag"] != first.headers["ETag"]
        assert rendered == ["merchant/article.html"] * 3
    finally:
        template_rendered.disconnect(note, app)


def test_an_edited_article_gets_a_new_etag_and_new_html(app, client, tmp_path):
    first = client.get("/articles/printer-issue")
    home = client.get("/")
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root, ignore=shutil.ignore_patterns("tickets"))
    path = root / "articles" / "printer-issue.md"
    path.write_text(path.read_text("utf-8").replace("## 症状\n", "## 症状\n热敏纸装反了也会打出白纸。\n"), "utf-8")
    with app.app_context():
        assert sync_knowledge_base(get_kb(), root).updated == ("printer-issue",)

    after = client.get("/articles/printer-issue", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != first.headers["ETag"]
    assert "热敏纸装反了也会打出白纸。" in after.get_data(as_text=True)
    assert "热敏纸装反了" not in first.get_data(as_text=True)
    assert client.get("/", headers={"If-None-Match": home.headers["ETag"]}).status_code == 200


def test_a_response_code_edit_alone_is_a_new_version(app, client, tmp_path):
    first = client.get("/codes/58")
    root = tmp_path / "data"
    shutil.copytree(data_dir(), root, ignore=shutil.ignore_patterns("tickets"))
    table = root / "response_codes.csv"
    text = table.read_text("utf-8")
    assert "不允许终端进行的交易" in text
    table.write_text(text.replace("不允许终端进行的交易", "终端不允许的这类交易"), "utf-8")
    with app.app_context():
        report = sync_knowledge_base(get_kb(), root)
    assert (report.added, report.updated, report.removed) == ((), (), ())
    after = client.get("/codes/58", headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and "终端不允许的这类交易" in after.get_data(as_text=True)


def test_the_vote_form_is_per_visitor_and_never_in_the_cacheable_page(app, csrf):
    alice, bob = app.test_client(), app.test_client()
    page = alice.get("/articles/printer-issue").get_data(as_text=True)
    assert "csrf_token" not in page and "感谢您的反馈" not in page
    assert 'src="/articles/printer-issue/feedback"' in page

    form = alice.get("/articles/printer-issue/feedback")
    assert form.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'self'" in form.headers["Content-Security-Policy"]
    assert form.headers["X-Frame-Options"] == "SAMEORIGIN"
    token = csrf(alice, "/articles/printer-issue/feedback")
    assert token != csrf(bob, "/articles/printer-issue/feedback")
    voted = alice.post("/articles/printer-issue/vote", data={"helpful": "yes", "csrf_token": token})
    assert voted.status_code == 302

    assert "感谢您的反馈" in alice.get("/articles/printer-issue/feedback").get_data(as_text=True)
    assert "感谢您的反馈" not in bob.get("/articles/printer-issue/feedback").get_data(as_text=True)
    # The article itself stays one page for everyone: same bytes, same ETag, voted or not.
    after_a, after_b = alice.get("/articles/printer-issue"), bob.get("/articles/printer-issue")
    assert after_a.data == after_b.data and after_a.headers["ETag"] == after_b.headers["ETag"]
    assert "感谢您的反馈" not in after_a.get_data(as_text=True)


def test_pages_with_personal_data_stay_no_store(client):
    assert client.get("/tickets/new").headers["Cache-Control"] == "no-store"
    assert client.get("/search", query_string={"q": "退货"}).headers.get("Cache-Control", "") != "public, max-age=60"


def test_static_files_have_hashed_names_long_caching_and_compression(client):
    page = client.get("/").get_data(as_text=True)
    css_url = re.search(r'href="(/static/css/posdesk\.[0-9a-f]{12}\.css)"', page).group(1)
    with client.get(css_url, headers={"Accept-Encoding": "gzip"}) as css:
        assert css.status_code == 200
        assert "immutable" in css.headers["Cache-Control"]
        assert int(re.search(r"max-age=(\d+)", css.headers["Cache-Control"]).group(1)) >= 365 * 24 * 3600
        assert css.headers["Content-Encoding"] == "gzip"
        assert css.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/static/css/posdesk.css") as plain:  # the unhashed name still works, briefly cached
        assert plain.status_code == 200 and "immutable" not in plain.headers["Cache-Control"]


def test_requests_share_their_threads_connection_and_a_failed_write_leaves_nothing_open(app, client):
    client.get("/codes/")
    pool = app.extensions["posdesk.connections"]
    db = pool.get()
    client.get("/articles/printer-issue")
    assert pool.get() is db
    db.conn.execute("BEGIN IMMEDIATE")  # as a request that failed inside kb.db.write would leave it
    with app.test_request_context("/"):
        assert get_kb() is db
    assert not db.conn.in_transaction  # rolled back when the request ended


def test_an_api_read_with_a_token_stamps_its_last_use_later_not_in_the_request(app, client, api_headers):
    client.get("/api/v1/categories", headers=api_headers)  # creating the token stamped nothing yet
    from webapp.db import get_desk

    with get_desk(app).write() as conn:
        conn.execute(update(api_tokens).values(last_used=None))
    with desk_commits(app) as commits:
        assert client.get("/api/v1/categories", headers=api_headers).status_code == 200
        assert not commits, "a GET of the API committed"
    worker(app).flush_writes()
    assert desk_rows(app, select(api_tokens.c.last_used))[0][0] is not None
