"""Shared fixtures: a loaded knowledge base, a small trained model, the Flask app and its clients."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from jinja2 import BytecodeCache

from kb.codes import extract_codes
from kb.db import open_db
from kb.store import sync_knowledge_base
from triage.prediction import Alternative, Prediction
from webapp.desk import accounts

# The suite creates hundreds of accounts and logs in as many times: scrypt at its production cost
# (0.1 s a hash) was a quarter of the desk tests' time. The same algorithm, 32 times cheaper.
accounts.PASSWORD_METHOD = "scrypt:1024:8:1"

REPO = Path(__file__).resolve().parent.parent
OUTLINE = REPO.parent / "shared" / "kb-outline.yaml"


def pytest_collection_modifyitems(items):
    """Mark `desk` every test that reads or writes the desk state (its fixtures reach the desk
    template, or its module sets the mark because it talks to the servers itself): the PostgreSQL +
    Redis pass of CI runs only these, since the others do not depend on the backend."""
    for item in items:
        if "desk_template" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.desk)


@pytest.fixture(scope="session")
def kb_db():
    """An in-memory database holding the whole knowledge base from data/ (read-only use)."""
    db = open_db(":memory:")
    sync_knowledge_base(db)
    return db


@pytest.fixture
def db():
    """A fresh in-memory database with the knowledge base loaded, for tests that write."""
    database = open_db(":memory:")
    sync_knowledge_base(database)
    return database


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A folder holding a model trained once per session on the committed corpus."""
    from triage.dataset import read_tickets, ticket_files
    from triage.training import train

    folder = tmp_path_factory.mktemp("model")
    train(folder, read_tickets(ticket_files()))
    return folder


@pytest.fixture(scope="session")
def triager(model_dir):
    """The session's trained model, loaded."""
    from triage.model import load_model

    return load_model(model_dir)


# --- the web app ---------------------------------------------------------------------------------

AGENT_PASSWORD = "agent-pass-1"
ADMIN_PASSWORD = "admin-pass-1"


class FakeTriager:
    """A stand-in model for web tests: picks a category from a few keywords, instantly."""

    version = "fake-1"
    _RULES = (
        ("冻结", "merchant-risk-status", ("merchant-frozen",)),
        ("到账", "settlement", ("funds-not-arrived",)),
        ("权限", "txn-not-enabled", ("refund-void-permission", "agent-enable-permission", "code-40-58-unsupported")),
    )

    def classify(self, text):
        """Triage one text (raw or analysed): a confident guess when a keyword matches, else one that
        needs review."""
        text = getattr(text, "normalised", text)
        rule = next((r for r in self._RULES if r[0] in text), None)
        if rule:
            word, category, articles = rule
            confidence, terms = 0.9, (word,)
        else:
            category, articles, confidence, terms = "network-host", ("network-failure",), 0.4, ()
        other = "operation" if category != "operation" else "limits"
        return Prediction(
            category=category,
            confidence=confidence,
            alternatives=(Alternative(category, confidence), Alternative(other, round(1 - confidence, 2))),
            codes=tuple(extract_codes(text)),
            articles=articles,
            needs_review=confidence < 0.5,
            explanation=terms,
            model_version=self.version,
        )

    def classify_many(self, texts, explain: bool = False):
        """Triage many texts."""
        return [self.classify(t) for t in texts]


# --- the desk database: SQLite files by default, PostgreSQL when POSDESK_TEST_DATABASE_URL is set ------

TEST_DATABASE_URL = os.environ.get("POSDESK_TEST_DATABASE_URL")
_databases = itertools.count(1)


class DeskTemplate:
    """A migrated desk with the knowledge base's sources published, made once per session; every
    test's desk is a fresh copy of it (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on
    PostgreSQL, both far faster than migrating each time)."""

    def __init__(self, folder: Path) -> None:
        from webapp.desk.storage import Desk
        from webapp.knowledge import publish

        self.folder = folder
        self.made: list[str] = []
        if TEST_DATABASE_URL:
            from sqlalchemy import create_engine, text

            self.server = create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
            self.prefix = f"posdesk_test_{os.getpid()}"
            with self.server.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {self.prefix}_template WITH (FORCE)"))
                conn.execute(text(f"CREATE DATABASE {self.prefix}_template"))
                # FILE_COPY (PostgreSQL 15+; what older servers always do) copies the template's
                # files instead of writing them through the WAL: a copy and its drop cost half as much.
                version = conn.execute(text("SHOW server_version_num")).scalar_one()
                self.strategy = " STRATEGY FILE_COPY" if int(version) >= 150000 else ""
            self.url = self._url(f"{self.prefix}_template")
        else:
            self.url = f"sqlite:///{folder / 'template.db'}"
        desk = Desk(self.url)
        desk.upgrade()
        publish(desk)
        desk.close()

    def _url(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(TEST_DATABASE_URL).set(database=database).render_as_string(hide_password=False)

    def new_url(self) -> str:
        """The URL of a fresh copy of the template."""
        number = next(_databases)
        if not TEST_DATABASE_URL:
            path = self.folder / f"desk-{number}.db"
            shutil.copy(self.folder / "template.db", path)
            return f"sqlite:///{path}"
        from sqlalchemy import text

        name = f"{self.prefix}_{number}"
        with self.server.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {self.prefix}_template{self.strategy}"))
        self.made.append(name)
        return self._url(name)

    def drop_all(self) -> None:
        """Drop every database made (PostgreSQL), a few at a time: one after another, the session's
        500-odd databases took 40 s."""
        if not TEST_DATABASE_URL:
            return
        from concurrent.futures import ThreadPoolExecutor

        from sqlalchemy import text

        def drop(name: str) -> None:
            with self.server.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(drop, self.made))
        drop(f"{self.prefix}_template")
        self.server.dispose()


@pytest.fixture(scope="session")
def desk_template(tmp_path_factory):
    """The session's desk template (see DeskTemplate)."""
    template = DeskTemplate(tmp_path_factory.mktemp("desk"))
    yield template
    template.drop_all()


@pytest.fixture
def desk(desk_template):
    """A fresh desk database (knowledge sources published, no tickets or accounts), on the backend
    under test."""
    from webapp.desk.storage import Desk

    handle = Desk(desk_template.new_url())
    yield handle
    handle.close()


@pytest.fixture(scope="session")
def kb_file(tmp_path_factory, desk_template):
    """A knowledge index built once per session from the template desk's sources; each app gets its
    own copy (already at the desk's generation, so it is not rebuilt)."""
    from webapp.desk.storage import Desk
    from webapp.knowledge import refresh

    path = tmp_path_factory.mktemp("kb") / "knowledge.db"
    database = open_db(path)
    template = Desk(desk_template.url)
    refresh(database, template)
    template.close()
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return path


@pytest.fixture
def fake_triager():
    """The keyword stand-in for the triage model."""
    return FakeTriager()


class _CompiledTemplates(BytecodeCache):
    """Compiled templates shared by every app the session builds (keyed by name and source checksum,
    so an edited template compiles afresh): compiling them again for each test's app took an eighth
    of the desk tests' time."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_TEMPLATE_CACHE = _CompiledTemplates()


@pytest.fixture
def make_app(tmp_path, kb_file, desk_template, monkeypatch, fake_triager):
    """make_app(knowledge_base=True, **config): an app on a fresh temporary instance folder, with its
    own copy of the loaded knowledge base and a (fake) model in place.

    Remove `MODEL_DIR/model.json` to see the desk without a model.
    """
    from webapp import create_app

    built = []

    def build(knowledge_base: bool = True, **config):
        instance = tmp_path / ("instance" if not built else f"instance-{len(built)}")
        (instance / "model").mkdir(parents=True)
        if knowledge_base:
            shutil.copy(kb_file, instance / "knowledge.db")
        config.setdefault("DATABASE_URL", desk_template.new_url())
        (instance / "model" / "model.json").write_text("{}", encoding="utf-8")
        monkeypatch.setenv("POSDESK_INSTANCE", str(instance))
        # The backlog worker thread stays off: tests run its rounds themselves (webapp.backlog).
        # Jobs (ticket triage) run at once inside the request, as RQ's synchronous mode does.
        defaults = {
            "TESTING": True,
            "TRIAGER_LOADER": lambda model_dir: fake_triager,
            "TRIAGE_WORKER": False,
            "JOBS_EAGER": True,
        }
        app = create_app({**defaults, **config})
        app.jinja_env.bytecode_cache = _TEMPLATE_CACHE
        built.append(app)
        return app

    yield build
    from webapp.db import close_all

    for app in built:
        close_all(app)


@pytest.fixture
def app(make_app):
    """The app on a temporary instance folder (see make_app)."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client of the app (cookies kept between requests)."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Invoke `posdesk` commands against the app: runner.invoke(cli, ["user", "add", ...])."""
    return app.test_cli_runner()


@pytest.fixture
def app_db(app):
    """The app's knowledge index, for arranging and checking what the web layer reads."""
    from webapp.db import get_kb

    with app.app_context():
        yield get_kb()


@pytest.fixture
def app_desk(app):
    """The app's desk database, for arranging and checking what the web layer stored."""
    from webapp.db import get_desk

    return get_desk(app)


def csrf_token_from(client, url: str) -> str:
    """The CSRF token of the form on the page at url."""
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


@pytest.fixture
def csrf():
    """csrf(client, url): the CSRF token of the form on that page."""
    return csrf_token_from


def _account(app, username: str, password: str, role: str):
    from webapp.db import get_desk
    from webapp.desk.accounts import create_user

    return create_user(get_desk(app), username, password, role)


def _login(client, username: str, password: str):
    token = csrf_token_from(client, "/agent/login")
    response = client.post("/agent/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def agent_account(app):
    """The agent account `lina`: (username, password)."""
    _account(app, "lina", AGENT_PASSWORD, "agent")
    return "lina", AGENT_PASSWORD


@pytest.fixture
def agent_client(app, agent_account):
    """A client logged in as the agent `lina`."""
    return _login(app.test_client(), *agent_account)


@pytest.fixture
def admin_client(app):
    """A client logged in as the admin `boss`."""
    _account(app, "boss", ADMIN_PASSWORD, "admin")
    return _login(app.test_client(), "boss", ADMIN_PASSWORD)


@pytest.fixture
def api_headers_for():
    """api_headers_for(app): Authorization headers with a fresh API token of that app."""
    from webapp.db import get_desk
    from webapp.desk.accounts import create_token

    def headers(app) -> dict:
        _, secret = create_token(get_desk(app), f"tests-{len(made)}", "pytest")
        made.append(secret)
        return {"Authorization": f"Bearer {secret}"}

    made: list[str] = []
    return headers


@pytest.fixture
def api_headers(app):
    """Authorization headers with a fresh API token."""
    from webapp.db import get_desk
    from webapp.desk.accounts import create_token

    _, secret = create_token(get_desk(app), "tests", "pytest")
    return {"Authorization": f"Bearer {secret}"}


def wait_for(condition, seconds: float = 15) -> bool:
    """Poll until condition() holds or the time is up (a bound, not a measurement)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def text_of(response) -> str:
    """A response's body as text."""
    return response.get_data(as_text=True)


@pytest.fixture
def file(app, fake_triager):
    """file(text, **contact): file a ticket directly, triaged by the fake model."""
    from webapp.db import get_desk
    from webapp.desk.tickets import file_ticket

    def filer(text: str, **fields):
        with app.app_context():
            return file_ticket(get_desk(), text, triager=fake_triager, **fields)

    return filer


def ticket_form(csrf_token: str, **overrides) -> dict:
    """The merchant ticket form's fields, valid as a merchant fills them in; `overrides` replace any."""
    return {
        "name": "王女士",
        "phone": "13812345678",
        "merchant_no": "898310048990001",
        "terminal_no": "10086001",
        "description": "今天做退货的时候，终端提示该商户没有权限，应答码58",
        "csrf_token": csrf_token,
        **overrides,
    }
