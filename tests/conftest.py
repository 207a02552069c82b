"""Shared fixtures: a loaded knowledge base, a small trained model, the Flask app and its clients."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kb.codes import extract_codes
from kb.db import open_db
from kb.store import sync_knowledge_base
from triage.prediction import Alternative, Prediction

REPO = Path(__file__).resolve().parent.parent
OUTLINE = REPO.parent / "shared" / "kb-outline.yaml"


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


@pytest.fixture(scope="session")
def kb_file(tmp_path_factory):
    """A database file with the knowledge base loaded once per session; each app gets its own copy."""
    path = tmp_path_factory.mktemp("kb") / "posdesk.db"
    database = open_db(path)
    sync_knowledge_base(database)
    database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return path


@pytest.fixture
def fake_triager():
    """The keyword stand-in for the triage model."""
    return FakeTriager()


@pytest.fixture
def make_app(tmp_path, kb_file, monkeypatch, fake_triager):
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
            shutil.copy(kb_file, instance / "posdesk.db")
        (instance / "model" / "model.json").write_text("{}", encoding="utf-8")
        monkeypatch.setenv("POSDESK_INSTANCE", str(instance))
        # The backlog worker thread stays off: tests run its rounds themselves (webapp.backlog).
        defaults = {"TESTING": True, "TRIAGER_LOADER": lambda model_dir: fake_triager, "TRIAGE_WORKER": False}
        built.append(create_app({**defaults, **config}))
        return built[-1]

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
    """The app's database, for arranging and checking what the web layer stored."""
    from webapp.db import get_db

    with app.app_context():
        yield get_db()


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
    from webapp.accounts import create_user
    from webapp.db import get_db

    with app.app_context():
        return create_user(get_db(), username, password, role)


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
def api_headers(app):
    """Authorization headers with a fresh API token."""
    from webapp.accounts import create_token
    from webapp.db import get_db

    with app.app_context():
        _, secret = create_token(get_db(), "tests", "pytest")
    return {"Authorization": f"Bearer {secret}"}


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
