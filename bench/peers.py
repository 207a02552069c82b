"""Baseline retrievers the search benchmark compares posdesk with: bm25s, SQLite FTS5 and Whoosh.

Each indexes the same articles (title + tags + plain text) with jieba's default dictionary, never
posdesk's own text pipeline, and never shows agent-only articles to merchants.
"""

from __future__ import annotations

import re
import sqlite3

import bm25s
import jieba
import numpy as np
from jieba.analyse import ChineseAnalyzer
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import RamStorage
from whoosh.qparser import MultifieldParser, OrGroup
from whoosh.query import Term

from kb.articles import Article

_WORD = re.compile(r"\w")


def article_text(article: Article) -> str:
    """The text every peer indexes: title, tags and the body as a reader sees it."""
    return " ".join([article.title, *article.tags, article.plain_text])


def tokens(text: str) -> list[str]:
    """Lower-cased jieba words (default dictionary), dropping whitespace and punctuation."""
    return [t for t in jieba.lcut(text.lower()) if _WORD.search(t)]


class Bm25sPeer:
    """bm25s (Lucene BM25) over jieba tokens."""

    name = "bm25s + jieba"

    def __init__(self, articles: list[Article]):
        self._slugs = [a.slug for a in articles]
        self._public = np.array([a.is_public for a in articles])
        self._retriever = bm25s.BM25()
        self._retriever.index([tokens(article_text(a)) for a in articles], show_progress=False)

    def search(self, query: str, audience: str = "merchant", limit: int = 10) -> list[str]:
        """Return the slugs of the best-scoring visible articles, best first; none without a matching word."""
        words = tokens(query)
        if not words:
            return []
        scores = self._retriever.get_scores(words)
        if audience != "agent":
            scores = np.where(self._public, scores, 0.0)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [self._slugs[i] for i in order if scores[i] > 0]


class Fts5Peer:
    """SQLite FTS5 (unicode61, bm25) over space-joined jieba tokens, queried with OR of the query's tokens."""

    name = "SQLite FTS5 + jieba"

    def __init__(self, articles: list[Article]):
        self._conn = sqlite3.connect(":memory:")
        self._conn.execute(
            "CREATE VIRTUAL TABLE docs USING fts5(slug UNINDEXED, audience UNINDEXED, text, tokenize='unicode61')"
        )
        self._conn.executemany(
            "INSERT INTO docs (slug, audience, text) VALUES (?, ?, ?)",
            [(a.slug, a.audience, " ".join(tokens(article_text(a)))) for a in articles],
        )

    def search(self, query: str, audience: str = "merchant", limit: int = 10) -> list[str]:
        """Return the slugs of the best bm25 matches visible to the audience, best first."""
        words = dict.fromkeys(tokens(query))
        if not words:
            return []
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = self._conn.execute(
            "SELECT slug FROM docs WHERE docs MATCH ? AND (? = 'agent' OR audience = 'merchant')"
            " ORDER BY bm25(docs) LIMIT ?",
            (match, audience, limit),
        )
        return [slug for (slug,) in rows]


class WhooshPeer:
    """Whoosh (BM25F) with jieba's ChineseAnalyzer on title, tags and body, query terms OR-grouped."""

    name = "Whoosh + jieba ChineseAnalyzer"

    def __init__(self, articles: list[Article]):
        analyzer = ChineseAnalyzer()
        schema = Schema(
            slug=ID(stored=True),
            audience=ID,
            title=TEXT(analyzer=analyzer),
            tags=TEXT(analyzer=analyzer),
            body=TEXT(analyzer=analyzer),
        )
        index = RamStorage().create_index(schema)
        with index.writer() as writer:
            for a in articles:
                writer.add_document(
                    slug=a.slug, audience=a.audience, title=a.title, tags=" ".join(a.tags), body=a.plain_text
                )
        self._parser = MultifieldParser(["title", "tags", "body"], schema, group=OrGroup)
        self._searcher = index.searcher()

    def search(self, query: str, audience: str = "merchant", limit: int = 10) -> list[str]:
        """Return the slugs of the best BM25F matches visible to the audience, best first."""
        visible = None if audience == "agent" else Term("audience", "merchant")
        hits = self._searcher.search(self._parser.parse(query), limit=limit, filter=visible)
        return [hit["slug"] for hit in hits]


def build_peers(articles: list[Article]) -> list[Bm25sPeer | Fts5Peer | WhooshPeer]:
    """Index the articles in all three peers."""
    return [Bm25sPeer(articles), Fts5Peer(articles), WhooshPeer(articles)]
