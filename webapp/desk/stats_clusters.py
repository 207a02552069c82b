"""Low-confidence tickets grouped by similar text: what merchants ask that the knowledge base and the
model do not yet cover well, each group named by its top words, with a count and examples.

Low confidence: the triage asked for review at triage time (the stored prediction's `needs_review`)
while judging the ticket in scope. The features are the triage model's own (`triage.features`), or,
with no model trained, TF-IDF over the same analysed word and character n-grams. Clusters come from
average-linkage agglomerative clustering on cosine distance, their number (2 to MAX_K) chosen by the
best silhouette, so the data decide how many there are. scikit-learn is imported only when clusters
are asked for. Results are cached in-process per (desk, range, newest ticket, triaged count, model).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from kb.recent import Recent
from triage.features import analyse_many, char_ngrams, word_ngrams
from triage.prediction import OUT_OF_SCOPE
from webapp.desk.schema import tickets
from webapp.desk.stats import StatsRange
from webapp.desk.storage import Desk

MAX_TICKETS = 300  # the most recent low-confidence tickets clustered, at most
SCAN_FACTOR = 10  # recent triaged tickets read to find them, at most this many times MAX_TICKETS
MAX_K = 15  # the most clusters tried; the silhouette picks how many from 2 to this
MIN_SIZE = 2
MAX_CLUSTERS = 10
TERMS = 3
EXAMPLES = 3
CACHE_SIZE = 32


@dataclass(frozen=True)
class Cluster:
    """One group: its top words, how many tickets, and the newest few as (id, masked preview)."""

    terms: list[str]
    count: int
    examples: list[tuple[int, str]]


@dataclass(frozen=True)
class Clustering:
    """The groups, largest first (at most MAX_CLUSTERS, each of at least MIN_SIZE tickets); `tickets`
    the low-confidence tickets clustered, `unclustered` those in no group; `features` says whose
    features were used: "model <version>" or "tfidf" (no model trained)."""

    tickets: int
    unclustered: int
    features: str
    clusters: list[Cluster]


_cache: Recent[tuple, Clustering] = Recent(CACHE_SIZE)


def _low_confidence(desk: Desk, span: StatsRange, limit: int) -> list[tuple[int, str, str]]:
    """(id, text, preview) of the range's most recent low-confidence tickets, newest first."""
    query = (
        select(tickets.c.id, tickets.c.text, tickets.c.preview, tickets.c.prediction)
        .where(
            tickets.c.created >= span.since,
            tickets.c.created < span.until,
            tickets.c.prediction.is_not(None),
            tickets.c.predicted_category != OUT_OF_SCOPE,
        )
        .order_by(tickets.c.id.desc())
        .limit(limit * SCAN_FACTOR)
    )
    found = []
    with desk.read() as conn:
        for ticket_id, text, preview, raw in conn.execute(query):
            if json.loads(raw).get("needs_review"):
                found.append((ticket_id, text or "", preview or ""))
                if len(found) >= limit:
                    break
    return found


def _features(texts: list[str], featuriser):
    """Row-normalised feature matrix and a readable name per column ('' for columns with none)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    docs = analyse_many(texts)
    if featuriser is not None:
        return normalize(featuriser.matrix(docs)), featuriser.label
    # The model's two blocks (word and character n-grams, each of unit length), fitted on these texts.
    words = TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True)
    chars = TfidfVectorizer(analyzer=char_ngrams, sublinear_tf=True)
    matrix = sp.hstack([words.fit_transform(docs), chars.fit_transform(docs)], format="csr")
    vocabulary = words.get_feature_names_out()
    return normalize(matrix), lambda column: str(vocabulary[column]) if column < len(vocabulary) else ""


def _readable(name: str) -> bool:
    return bool(name) and not any(ch.isdigit() for ch in name.replace("应答码 ", ""))


def _name(centroid, names) -> list[str]:
    """The cluster's TERMS heaviest readable words (word pairs joined, codes as "应答码 58")."""
    terms: list[str] = []
    for column in centroid.argsort()[::-1]:
        if centroid[column] <= 0 or len(terms) >= TERMS:
            break
        name = names(int(column))
        if not _readable(name):
            continue
        name = name if name.startswith("应答码") else name.replace(" ", "")
        if not any(name in t or t in name for t in terms):
            terms.append(name)
    return terms


def _best_labels(distances):
    """Average-linkage clusters on the precomputed distances, their number (2 to MAX_K) chosen by the
    best silhouette."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    n = len(distances)
    best, best_score = [0] * n, -2.0
    for k in range(2, min(MAX_K, n - 1) + 1):
        labels = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(distances)
        score = silhouette_score(distances, labels, metric="precomputed")
        if score > best_score:
            best, best_score = labels, score
    return best


def _cluster(found: list[tuple[int, str, str]], featuriser) -> list[Cluster]:
    import numpy as np

    matrix, names = _features([text for _, text, _ in found], featuriser)
    distances = np.clip(1.0 - (matrix @ matrix.T).toarray(), 0.0, 2.0)
    labels = _best_labels(distances)
    groups: dict[int, list[int]] = {}
    for row, label in enumerate(labels):
        groups.setdefault(int(label), []).append(row)
    kept = sorted((rows for rows in groups.values() if len(rows) >= MIN_SIZE), key=lambda r: (-len(r), r[0]))
    out = []
    for rows in kept[:MAX_CLUSTERS]:
        centroid = np.asarray(matrix[rows].mean(axis=0)).ravel()
        examples = [(found[r][0], found[r][2]) for r in rows[:EXAMPLES]]  # rows are newest first
        out.append(Cluster(_name(centroid, names), len(rows), examples))
    return out


def clusters(desk: Desk, span: StatsRange, triager=None, limit: int = MAX_TICKETS) -> Clustering:
    """Cluster the range's most recent low-confidence tickets (at most `limit`) by their text, over the
    features of `triager`'s model (a `triage.model.Triager`; TF-IDF of the analysed words without one)."""
    featuriser = getattr(getattr(triager, "model", None), "featuriser", None)
    with desk.read() as conn:
        newest, triaged = conn.execute(
            select(func.max(tickets.c.id), func.count(tickets.c.prediction)).where(
                tickets.c.created >= span.since, tickets.c.created < span.until
            )
        ).one()
    features = f"model {triager.version}" if featuriser is not None else "tfidf"

    def make() -> Clustering:
        found = _low_confidence(desk, span, limit)
        groups = _cluster(found, featuriser) if len(found) >= 3 else []
        return Clustering(len(found), len(found) - sum(g.count for g in groups), features, groups)

    return _cache.get((desk.url, span, newest, triaged, features, limit), make)
