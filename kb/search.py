"""Searching the knowledge base: FTS5 retrieval over words and characters, then a coverage re-rank.

FTS5's bm25 (title and tags weighted above the body) finds candidates from both word and
character-bigram evidence. Candidates are then scored by how much of the query's information
(idf-weighted) they cover, and where; a response code in the query lifts the articles for that
code. When even the best article covers too little of the query, nothing is returned.
"""

from __future__ import annotations

import html
import math
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import sqlite_utils

from kb import text
from kb.articles import displayed_text
from kb.db import BUILD_KEY
from kb.recent import Recent

MAX_QUERY_CHARS = 200
CANDIDATES = 30
# Query terms in more articles than this (or this share of them) only score, they do not retrieve.
SELECTIVE_DOCS = 200
SELECTIVE_SHARE = 0.03
# Rows FTS5 may rank per retrieval step (bm25 costs a few microseconds a row).
MAX_POSTINGS = 300
RELEVANCE_FLOOR = 0.35
# Enough matched information to be relevant however long the rest of the query rambles.
RELEVANT_MASS = 4.0
_BM25_SHARE = 0.1
_CORRECTION = 0.8
_CODE_PRIMARY = 0.5
_CODE_LISTED = 0.3
# bm25 weights, in the order of the FTS columns: title_w, tags_w, body_w, title_c, tags_c, body_c.
_BM25 = "bm25(article_index_fts, 6.0, 4.0, 1.0, 3.0, 2.0, 0.5)"
# How strongly a word matched in each field counts towards coverage.
_FIELD_WEIGHT = {"title_w": 1.0, "tags_w": 0.8, "body_w": 0.5}
_PARTIAL = 0.35
SNIPPET_CHARS = 90
# Articles whose indexed text (and displayed text) a process keeps per index build: all of a real
# knowledge base; the most recently used ones of a large synthetic corpus (a few MB).
EVIDENCE_CACHE = 1024


@dataclass(frozen=True)
class SearchHit:
    """One search result: the article, its score and a highlighted snippet (HTML-escaped)."""

    slug: str
    title: str
    category: str
    audience: str
    score: float
    snippet: str


def _phrase(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _searchable(token: str) -> bool:
    return any(ch.isalnum() for ch in token)


_WORD_FIELDS = "title_w tags_w body_w"
_PIECE_FIELDS = "title_c tags_c body_c"


def _match_expression(words: list[str], pieces: list[str], word_fields: str, piece_fields: str) -> str:
    parts = []
    if words:
        parts.append(f"{{{word_fields}}} : (" + " OR ".join(map(_phrase, words)) + ")")
    if pieces:
        parts.append(f"{{{piece_fields}}} : (" + " OR ".join(map(_phrase, pieces)) + ")")
    return " OR ".join(parts)


def _selective_limit(total: int) -> float:
    """How many articles a word may be in and still retrieve (see `_selective`): a few percent of
    the corpus, never more than MAX_POSTINGS rows for FTS5 to rank."""
    return max(SELECTIVE_DOCS, min(total * SELECTIVE_SHARE, MAX_POSTINGS))


def _rows_of(db: sqlite_utils.Database, slugs: list[str], audience_sql: str) -> dict[str, dict]:
    """The candidate rows (as `_CANDIDATE_SQL` gives them, bm25 0) of these slugs."""
    if not slugs:
        return {}
    marks = ", ".join("?" for _ in slugs)
    sql = f"""
        SELECT a.slug, a.title, a.category, a.audience, 0.0 AS bm25
        FROM articles a WHERE a.slug IN ({marks}) {audience_sql}
    """
    return {r["slug"]: r for r in db.query(sql, slugs)}


def _selective(
    words: list[str], grams: list[str], df: dict[str, int], total: int, fallback: bool = True
) -> tuple[list, list]:
    """The query terms worth looking up in the index: (words, character pieces).

    Words in at most a few percent of articles retrieve; a word in half the corpus adds thousands
    of postings to rank and says little about which article is meant (it still counts when the
    candidates are scored). If every word is that common, the rarest stand in, as many as
    MAX_POSTINGS allows (unless `fallback` is off: another ranker's candidates stand in then).
    Character pieces that are not whole query words retrieve too, under the same limit. In a
    corpus larger than MAX_POSTINGS, the rarest terms whose postings fit in it retrieve and the
    rest only score (with no `fallback`, a term alone over it retrieves nothing): FTS5 ranks every
    row matched, so this bounds a search's cost whatever the corpus size.
    """
    limit = _selective_limit(total)
    chosen = [w for w in words if 0 < df.get(w, 0) <= limit]
    if not chosen and fallback:
        chosen = _rarest(words, df, MAX_POSTINGS)
    pieces = [g for g in grams if g not in words and 0 < df.get(g, 0) <= limit]
    if total > MAX_POSTINGS:
        kept = set(_rarest(chosen + pieces, df, MAX_POSTINGS, at_least_one=fallback))
        chosen, pieces = [w for w in chosen if w in kept], [g for g in pieces if g in kept]
    return chosen, pieces


def _rarest(terms: list[str], df: dict[str, int], budget: int, at_least_one: bool = True) -> list[str]:
    """The rarest of the indexed `terms` whose postings add up to at most `budget` (with
    `at_least_one`, the rarest one whatever its postings), in query order."""
    kept: set[str] = set()
    used = 0
    for term in sorted((t for t in terms if df.get(t)), key=lambda t: df[t]):
        if (kept or not at_least_one) and used + df[term] > budget:
            break
        kept.add(term)
        used += df[term]
    return [t for t in terms if t in kept]


_CANDIDATE_SQL = f"""
    SELECT a.slug, a.title, a.category, a.audience, c.bm25
    FROM (SELECT rowid, -{_BM25} AS bm25 FROM article_index_fts WHERE article_index_fts MATCH ?
          ORDER BY bm25 DESC LIMIT {CANDIDATES * 2}) c
    JOIN article_index i ON i.rowid = c.rowid
    JOIN articles a ON a.slug = i.slug
    WHERE 1 = 1 {{audience}}
    ORDER BY c.bm25 DESC LIMIT {CANDIDATES}
"""


def _retrieval_plan(words: list[str], pieces: list[str], df: dict[str, int], total: int) -> list[str]:
    """FTS5 expressions to try in turn (each ranks inside FTS5; only the best few rows are fetched).

    FTS5 scores every article matching the expression, so when the words' postings exceed
    MAX_POSTINGS the articles holding them in their title or tags are tried first: only those
    can pass the relevance rule anyway. The search over all fields is the fallback when too few do.
    """
    full = _match_expression(words, pieces, _WORD_FIELDS, _PIECE_FIELDS)
    if full and sum(df.get(w, 0) for w in words) > MAX_POSTINGS and total > MAX_POSTINGS:
        return [_match_expression(words, pieces, "title_w tags_w", "title_c tags_c"), full]
    return [full] if full else []


def _document_frequencies(db: sqlite_utils.Database, terms: list[str]) -> dict[str, int]:
    if not terms:
        return {}
    marks = ", ".join("?" for _ in terms)
    sql = f"SELECT term, df FROM search_terms WHERE term IN ({marks})"
    return dict(db.execute(sql, terms).fetchall())


def _idf(term: str, df: int, total: int) -> float:
    """Inverse document frequency, damped for single Han characters: mostly fragments of words
    the dictionary lacks. A term no article uses keeps its full weight, so a query about another
    topic altogether covers too little of itself to pass the relevance floor."""
    weight = math.log(1 + total / (df or 1))
    if len(term) == 1 and not term.isascii():
        weight *= 0.3
    return weight


@dataclass(frozen=True)
class _Query:
    """A query after the pipeline: its words, homophone corrections, character pieces, codes."""

    words: list[str]
    corrections: list[str]
    grams: list[str]
    codes: list[str]


def _parse(db: sqlite_utils.Database, analysis: text.Analysis) -> _Query:
    typos = {w for typo in analysis.typos for w in typo.words}
    words = [w for w in dict.fromkeys(analysis.terms) if _searchable(w) and w not in typos]
    fixes = [w for w in analysis.corrections if w not in words]
    grams = [g for g in dict.fromkeys(analysis.pieces) if _searchable(g)]
    return _Query(words, list(dict.fromkeys(fixes)), grams, list(analysis.codes))


@dataclass(frozen=True)
class _Evidence:
    """What scoring reads of one article: each field's indexed words (space-separated, with a space
    at each end so " word " finds a whole word) with the field's weight, weakest field first; and
    its normalised plain text."""

    fields: tuple[tuple[str, float], ...]
    plain: str


_EVIDENCE_SQL = f"SELECT slug, {', '.join(_FIELD_WEIGHT)}, plain FROM article_index WHERE slug IN ({{marks}})"
_WEAKEST_FIRST = sorted(_FIELD_WEIGHT, key=_FIELD_WEIGHT.__getitem__)


def _read_evidence(db: sqlite_utils.Database, slugs: list[str]) -> dict[str, _Evidence]:
    sql = _EVIDENCE_SQL.format(marks=", ".join("?" for _ in slugs))
    found = {}
    for slug, *words, plain in db.execute(sql, slugs):
        fields = dict(zip(_FIELD_WEIGHT, words, strict=True))
        found[slug] = _Evidence(tuple((f" {fields[f]} ", _FIELD_WEIGHT[f]) for f in _WEAKEST_FIRST), plain)
    return found


class _Corpus:
    """One build of the index as this process has read it: its article count, and the evidence and
    displayed text of the EVIDENCE_CACHE articles used most recently, so a search re-reads no text
    it has seen lately (at 71 articles that halves a search's time)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.evidence = Recent(EVIDENCE_CACHE)
        self.displayed = Recent(EVIDENCE_CACHE)


_CORPORA = Recent(4)  # builds (databases) a process searches in turn: tests and benchmarks open several


def _corpus(db: sqlite_utils.Database) -> _Corpus:
    """The index build this database holds now (`kb_build`, stamped by every change to it).

    An index without a stamp (from before stamps) gets a corpus of its own each time: nothing read
    from it can be told apart from a later build's."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [BUILD_KEY]).fetchone()

    def new() -> _Corpus:
        return _Corpus(db.execute("SELECT count(*) FROM article_index").fetchone()[0])

    if row is None:
        return new()
    return _CORPORA.get_many([row[0]], lambda builds: {row[0]: new()})[row[0]]


class _Coverage:
    """How much of one query (idf-weighted) articles cover: the query's totals worked out once."""

    def __init__(self, q: _Query, idf: dict[str, float]) -> None:
        self.q = q
        self.idf = idf
        self.asked = {w: f" {w} " for w in {*q.words, *q.corrections}}  # word -> how it stands in a field
        self.word_total = sum(idf[w] for w in q.words) or 1.0
        self.gram_total = sum(idf[g] for g in q.grams) or 1.0

    def of(self, evidence: _Evidence) -> tuple[float, float, bool]:
        """(covered share, covered amount, whether a query word is in the title or tags): an
        article that mentions the words only in passing is not about them."""
        q, idf = self.q, self.idf
        # Each query word's best field: weakest field first, so a stronger one overwrites it. A
        # substring search per word costs less than splitting the field into words.
        weights: dict[str, float] = {}
        for words, field_weight in evidence.fields:
            weights.update((w, field_weight) for w, spaced in self.asked.items() if spaced in words)
        plain = evidence.plain
        for w in self.asked.keys() - weights.keys():
            if len(w) > 1 and w in plain:
                weights[w] = _PARTIAL
        word_hit = sum(idf[w] * weights[w] for w in q.words if w in weights)
        word_hit += sum(idf[w] * weights[w] * _CORRECTION for w in q.corrections if w in weights)
        word_hit = min(word_hit, self.word_total)
        gram_hit = sum(idf[g] for g in q.grams if g in plain)
        topical = any(weight >= _FIELD_WEIGHT["tags_w"] for weight in weights.values())
        return 0.85 * word_hit / self.word_total + 0.15 * gram_hit / self.gram_total, word_hit, topical


@cache
def _variants_by_head() -> dict[str, tuple[str, ...]]:
    """Canonical word -> the colloquial variants folded into it (from the synonym groups)."""
    variants: dict[str, list[str]] = {}
    for variant, head in text.lexicon().canonical.items():
        variants.setdefault(head, []).append(variant)
    return {head: tuple(v) for head, v in variants.items()}


@lru_cache(maxsize=1024)
def _highlighter(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for the query words and their variants, longest first (built once per query)."""
    variants = {w for w in words if len(w) > 1 or not w.isascii()}
    by_head = _variants_by_head()
    variants.update(v for head in list(variants) for v in by_head.get(head, ()))
    terms = sorted((t for t in variants if t), key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None


def snippet(plain: str, words: list[str], width: int = SNIPPET_CHARS) -> str:
    """Cut the window of `plain` richest in query words and mark them with <mark> (HTML-escaped)."""
    pattern = _highlighter(tuple(words))
    if pattern is None:
        return html.escape(plain[:width])
    hits = [m.start() for m in pattern.finditer(plain)]
    if not hits:
        return html.escape(plain[:width])
    # Hits are in order: the count in each window is a difference of two binary searches.
    best = max(hits, key=lambda start: bisect_left(hits, start + width) - bisect_left(hits, start))
    start = max(0, best - width // 4)
    window = plain[start : start + width]
    marked = pattern.sub(lambda m: "\0" + m.group(0) + "\1", window)
    escaped = html.escape(marked).replace("\0", "<mark>").replace("\1", "</mark>")
    return ("…" if start else "") + escaped + ("…" if start + width < len(plain) else "")


@dataclass(frozen=True)
class Candidate:
    """An article the lexical search retrieved, with its evidence.

    `score` is coverage plus a bm25 share plus any response-code lift; `relevant` is whether it
    clears the lexical relevance rule (the floor used when no learned model is at hand).
    """

    slug: str
    title: str
    category: str
    audience: str
    score: float
    relevant: bool


def _visible(audience: str) -> str:
    return "" if audience == "agent" else "AND a.audience = 'merchant'"


def candidates(
    db: sqlite_utils.Database,
    analysis: text.Analysis,
    audience: str = "merchant",
    known_only: bool = False,
    learned: Sequence[str] = (),
) -> tuple[list[str], list[Candidate]]:
    """Retrieve and score articles by word, character-piece and code evidence (no floor applied).

    Returns the query words used (for highlighting) and the candidates, best first. With
    `known_only`, words no article uses weigh nothing: an extra word the knowledge base does not
    know (急, xyz, a brand) can then neither empty nor reorder a result. Bounded: at most
    CANDIDATES rows per retrieval step, whatever the corpus size.

    `learned`: slugs another ranker already found (the learned model's). When every query word is
    too common to retrieve (in more than SELECTIVE_SHARE of a large corpus), those words score these
    articles instead of ranking every article holding them by bm25 (16,000 rows for "pos机" at
    50,000 articles: 18 ms for nothing a coverage score would keep); rarer character pieces of the
    query still retrieve beside them.
    """
    q = _parse(db, analysis)
    words = q.words + q.corrections
    if not (words or q.grams or q.codes):
        return words, []
    audience_sql = _visible(audience)
    corpus = _corpus(db)
    total = corpus.total
    df = _document_frequencies(db, words + q.grams)
    limit = _selective_limit(total)
    indexed = [w for w in words if df.get(w)]
    # The learned articles stand in for words too common to retrieve; rarer pieces still retrieve.
    stand_in = bool(learned and indexed) and all(df[w] > limit for w in indexed)
    rows = _rows_of(db, list(learned)[:CANDIDATES], audience_sql) if stand_in else {}
    chosen, pieces = _selective(words, q.grams, df, total, fallback=not stand_in)
    retrieved = {}
    for match in _retrieval_plan(chosen, pieces, df, total):
        retrieved = {r["slug"]: r for r in db.query(_CANDIDATE_SQL.format(audience=audience_sql), [match])}
        if len(retrieved) >= CANDIDATES // 4:
            break
    rows.update(retrieved)
    code_boost = _code_boosts(db, q.codes, audience_sql, rows)
    idf = {t: 0.0 if known_only and not df.get(t) else _idf(t, df.get(t, 0), total) for t in words + q.grams}
    top_bm25 = max((r["bm25"] for r in rows.values()), default=0.0) or 1.0
    coverage_of = _Coverage(q, idf).of
    evidence = corpus.evidence.get_many(list(rows), lambda slugs: _read_evidence(db, slugs))
    found = []
    for slug, row in rows.items():
        if slug not in evidence:
            continue  # removed from the index since it was retrieved
        coverage, mass, topical = coverage_of(evidence[slug])
        boost = code_boost.get(slug, 0.0)
        score = coverage + _BM25_SHARE * max(row["bm25"], 0.0) / top_bm25 + boost
        relevant = bool(boost) or (topical and (coverage >= RELEVANCE_FLOOR or mass >= RELEVANT_MASS))
        found.append(Candidate(slug, row["title"], row["category"], row["audience"], round(score, 4), relevant))
    found.sort(key=lambda c: (-c.score, c.slug))
    return words, found


def hits(db: sqlite_utils.Database, words: list[str], ranked: list[tuple[str, float]]) -> list[SearchHit]:
    """SearchHits for (slug, score) pairs in the given order, with snippets of the text as displayed."""
    if not ranked:
        return []
    slugs = [slug for slug, _ in ranked]
    sql = f"SELECT slug, title, category, audience, body FROM articles WHERE slug IN ({', '.join('?' for _ in slugs)})"
    rows = {row[0]: row for row in db.execute(sql, slugs)}
    displayed = _corpus(db).displayed.get_many(list(rows), lambda fresh: {s: displayed_text(rows[s][4]) for s in fresh})
    return [
        SearchHit(
            slug=slug,
            title=rows[slug][1],
            category=rows[slug][2],
            audience=rows[slug][3],
            score=round(score, 4),
            snippet=snippet(displayed[slug], words),
        )
        for slug, score in ranked
        if slug in rows
    ]


def search(
    db: sqlite_utils.Database, query: str | text.Analysis, audience: str = "merchant", limit: int = 10
) -> list[SearchHit]:
    """Lexical search alone: the best articles for a query, best first; [] when no article covers
    enough of it (the relevance floor).

    This is what a desk without a trained model uses; `triage.relevance.search` combines it with
    the learned model. `query` is raw text (its first MAX_QUERY_CHARS characters count) or a
    `kb.text.Analysis` of it. Merchant searches never see agent-only articles. Any input is safe:
    it is never parsed as FTS syntax.
    """
    analysis = query if isinstance(query, text.Analysis) else text.analyse(query or "", MAX_QUERY_CHARS)
    if limit <= 0:
        return []
    words, found = candidates(db, analysis, audience)
    return hits(db, words, [(c.slug, c.score) for c in found if c.relevant][:limit])


# The articles listing a code, fewest codes first: read in (code, listed, slug) index order and
# stopped at the LIMIT, so bounded at any corpus size (at 50,000 articles a code can be listed by
# thousands).
_CODE_SQL = f"""
    SELECT a.slug, a.title, a.category, a.audience, 0.0 AS bm25, c.listed
    FROM article_codes c JOIN articles a ON a.slug = c.slug
    WHERE c.code = ? {{audience}}
    ORDER BY c.listed, c.slug LIMIT {CANDIDATES}
"""


def _code_boosts(db, codes: list[str], audience_sql: str, rows: dict) -> dict[str, float]:
    """Lift the articles answering a code in the query: its primary article most, then the ones
    listing it among the fewest codes (an article about the code beats a table naming dozens)."""
    boosts: dict[str, float] = {}
    for rank, code in enumerate(codes[:3]):
        lift = 1.0 / (rank + 1)
        primary = db.execute("SELECT article FROM response_codes WHERE code = ?", [code]).fetchone()
        found = _rows_of(db, [primary[0]], audience_sql) if primary else {}
        listing = {r["slug"]: r for r in db.query(_CODE_SQL.format(audience=audience_sql), [code])}
        for slug, row in {**found, **listing}.items():
            rows.setdefault(slug, row)
            gain = _CODE_PRIMARY if slug in found else _CODE_LISTED if row["listed"] <= 8 else _CODE_LISTED / 2
            boosts[slug] = max(boosts.get(slug, 0.0), lift * gain)
    return boosts
