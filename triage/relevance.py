"""The one relevance model behind every search surface: lexical evidence from the knowledge base
combined with what the triage model learned from labelled tickets, behind a learned scope check.

It lives in `triage` because it needs both halves: `kb.search` for the lexical part (which works
for any article, including ones no ticket names yet) and the trained model for the learned part
(which knows how merchants describe each article's problem in words the article never uses).
Imports stay one way: the web app and the CLI call this; `kb` knows nothing of it.
"""

from __future__ import annotations

import sqlite_utils

from kb import search as lexical
from kb.search import MAX_QUERY_CHARS, SearchHit
from kb.text import Analysis, analyse
from triage.model import Triager

# How much full lexical coverage counts against the best learned article (which counts 1).
LEXICAL_WEIGHT = 1.0
# Results scoring below this share of the best one are noise, not answers.
MIN_SHARE = 0.12
LEARNED_CANDIDATES = 20


def search(
    db: sqlite_utils.Database,
    triager: Triager | None,
    query: str | Analysis,
    audience: str = "merchant",
    limit: int = 10,
) -> list[SearchHit]:
    """Return the best articles for a query, best first; [] when it is not about POS acquiring.

    Without a model (a desk before its first training) this is the lexical search with its
    relevance floor. With one: the scope check decides whether to answer at all; an answered query
    always gets results (the learned ranking covers text no article words), and words the
    knowledge base does not know never empty a result. Merchant searches never see internal
    articles. `query` is raw text (first MAX_QUERY_CHARS characters) or its `kb.text.Analysis`.
    """
    analysis = query if isinstance(query, Analysis) else analyse(query or "", MAX_QUERY_CHARS)
    if limit <= 0 or not (analysis.words or analysis.codes):  # blank or punctuation: nothing asked
        return []
    if triager is None:
        return lexical.search(db, analysis, audience, limit)
    model = triager.model
    scores = triager.model.scores_in_scope(analysis, typos=True)
    if scores is None:
        return []
    order = scores.articles.argsort()[::-1][:LEARNED_CANDIDATES]
    learned = [model.slugs[i] for i in order]
    words, found = lexical.candidates(db, analysis, audience, known_only=True, learned=learned)
    best = float(scores.articles[order[0]]) or 1.0
    combined = {model.slugs[i]: float(scores.articles[i]) / best for i in order}
    visible = _visible(db, list(combined), audience)
    combined = {slug: value for slug, value in combined.items() if slug in visible}
    for c in found:
        combined[c.slug] = combined.get(c.slug, 0.0) + LEXICAL_WEIGHT * c.score
    ranked = sorted(combined.items(), key=lambda item: (-item[1], item[0]))
    top = ranked[0][1] if ranked else 0.0
    return lexical.hits(db, words, [(slug, score) for slug, score in ranked if score >= MIN_SHARE * top][:limit])


def about_pos_acquiring(triager: Triager, query: str | Analysis) -> bool:
    """Whether search would answer this query at all (the scope check `search` applies)."""
    analysis = query if isinstance(query, Analysis) else analyse(query or "", MAX_QUERY_CHARS)
    return triager.model.scores_in_scope(analysis, typos=True) is not None


def _visible(db: sqlite_utils.Database, slugs: list[str], audience: str) -> set[str]:
    """Which of these slugs exist in this knowledge base and are visible to the audience."""
    if not slugs:
        return set()
    marks = ", ".join("?" for _ in slugs)
    sql = f"SELECT slug, audience FROM articles WHERE slug IN ({marks})"
    return {row[0] for row in db.execute(sql, slugs) if audience == "agent" or row[1] == "merchant"}
