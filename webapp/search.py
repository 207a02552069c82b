"""Searching the knowledge base from the web app and the command line: every surface (merchant
search, live suggestions, the deflection step, agent search, the API, `posdesk search`) calls
`find_articles`, so they all rank with the one relevance model."""

from __future__ import annotations

from flask import current_app

from kb.articles import Article
from kb.search import SearchHit
from kb.store import get_articles
from kb.text import Analysis
from triage import relevance
from triage.model import Triager
from triage.prediction import Prediction
from webapp.db import get_kb


def find_articles(query: str | Analysis, audience: str = "merchant", limit: int = 10) -> list[SearchHit]:
    """The best articles for a query with the loaded model (lexical alone while none is trained).

    Never triages the ticket backlog: a search waits for nothing but its own answer.
    """
    triager, _ = current_app.extensions["posdesk.model"].get()
    return relevance.search(get_kb(), triager if isinstance(triager, Triager) else None, query, audience, limit)


def suggested_articles(
    ticket_text: str, prediction: Prediction | None, audience: str = "merchant", limit: int = 5
) -> list[Article]:
    """Articles that may answer a ticket: its triage's suggestions first, then search results."""
    slugs = list(prediction.articles) if prediction else []
    slugs += [hit.slug for hit in find_articles(ticket_text, audience, limit)]
    return get_articles(get_kb(), list(dict.fromkeys(slugs)), audience)[:limit]
