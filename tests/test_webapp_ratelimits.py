"""Rate limits hold across worker processes (a SQLite file by default, or the storage configured),
count API calls per token, and keep one address from stuffing the helpful-votes."""

import multiprocessing

from conftest import csrf_token_from
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from webapp.extensions import limiter
from webapp.ratelimits import SQLiteStorage


def test_the_default_storage_is_a_file_in_the_instance_folder(app):
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("sqlite:///")
    assert isinstance(limiter.storage, SQLiteStorage)
    assert limiter.storage.path.startswith(app.instance_path)


def test_the_storage_setting_takes_effect_from_the_environment(make_app, monkeypatch):
    monkeypatch.setenv("POSDESK_RATELIMIT_STORAGE_URI", "memory://")
    app = make_app()
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert isinstance(limiter.storage, MemoryStorage)


def test_the_storage_setting_takes_effect_from_the_instance_config(make_app, tmp_path):
    counters = tmp_path / "shared" / "counters.db"
    (tmp_path / "instance").mkdir()
    (tmp_path / "instance" / "config.py").write_text(f"RATELIMIT_STORAGE_URI = 'sqlite:///{counters}'\n")
    make_app()
    assert isinstance(limiter.storage, SQLiteStorage) and limiter.storage.path == str(counters)


def _hit(uri: str, hits: int, allowed) -> None:
    """In a child process (a stand-in for a gunicorn worker): try `hits` requests against a 25/minute limit."""
    strategy = FixedWindowRateLimiter(SQLiteStorage(uri))
    allowed.put(sum(strategy.hit(RateLimitItemPerMinute(25), "address", "127.0.0.1") for _ in range(hits)))


def test_worker_processes_share_the_counters(tmp_path):
    uri = f"sqlite:///{tmp_path / 'ratelimits.db'}"
    context = multiprocessing.get_context("fork")
    allowed = context.Queue()
    workers = [context.Process(target=_hit, args=(uri, 10, allowed)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sum(allowed.get() for _ in workers) == 25  # not 4 x 10: every process sees every hit
    assert SQLiteStorage(uri).get("LIMITER/address/127.0.0.1/25/1/minute") == 40


def test_api_limits_count_per_token(make_app):
    from webapp.db import get_desk
    from webapp.desk.accounts import create_token

    app = make_app(API_RATE_LIMIT="2 per minute")
    with app.app_context():
        first = {"Authorization": f"Bearer {create_token(get_desk(), 'first', 'pytest')[1]}"}
        second = {"Authorization": f"Bearer {create_token(get_desk(), 'second', 'pytest')[1]}"}
    client = app.test_client()
    for _ in range(2):
        assert client.get("/api/v1/categories", headers=first).status_code == 200
    assert client.get("/api/v1/categories", headers=first).status_code == 429
    assert client.get("/api/v1/categories", headers=second).status_code == 200  # same address, own allowance
    assert client.get("/api/v1/categories").status_code == 200  # anonymous calls count by address


def test_one_address_cannot_stuff_an_articles_votes(make_app):
    app = make_app(ARTICLE_VOTE_RATE_LIMIT="2 per day")
    url = "/articles/printer-issue/vote"
    for _ in range(2):
        browser = app.test_client()  # a new visitor cookie each time: the cookie alone is no limit
        data = {"helpful": "yes", "csrf_token": csrf_token_from(browser, "/articles/printer-issue/feedback")}
        assert browser.post(url, data=data).status_code == 302
    browser = app.test_client()
    data = {"helpful": "yes", "csrf_token": csrf_token_from(browser, "/articles/printer-issue/feedback")}
    refused = browser.post(url, data=data)
    assert refused.status_code == 429 and "操作太频繁" in refused.get_data(as_text=True)
    other = browser.post(
        "/articles/wifi-setup/vote",
        data={"helpful": "yes", "csrf_token": csrf_token_from(browser, "/articles/wifi-setup/feedback")},
    )
    assert other.status_code == 302
