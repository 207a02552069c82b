"""Shared fixtures: a loaded knowledge base, a small trained model, the Flask app and its clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.db import open_db
from kb.store import sync_knowledge_base

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
