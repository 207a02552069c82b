"""The triage model as it is used: one linear model over `triage.features` that scores, for a text,
every cause category (calibrated), every article (a ranking) and whether it is about POS acquiring
at all (scope); saving it crash-safely and loading it with a version check.

Prediction needs NumPy only: the weights are plain arrays, fitted by `triage.training`.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kb.paths import data_dir
from kb.text import Analysis, analyse, domain_terms, lexicon
from triage.features import Featuriser, analyse_many
from triage.prediction import OUT_OF_SCOPE, Alternative, Prediction

FORMAT = 3  # 3: the scope block reads statements (question words left out: Analysis.asks)
MODEL_FILE = "model.npz"
SIDECAR_FILE = "model.json"
SUGGESTED_ARTICLES = 5
DIAGNOSIS_HUB = "no-permission-diagnosis"
# How sharply the ranker's margins separate articles, and how much an article's category matters.
RANK_SHARPNESS = 3.0
CATEGORY_FLOOR = 0.25
STALE_TEMP_SECONDS = 3600
# Words that only restate the "no permission" symptom; a ticket with nothing else is a bare symptom.
_SYMPTOM = "无权限"


class ModelError(Exception):
    """No usable model: missing, unreadable or from an incompatible version (the message says what to do)."""


def versions() -> dict[str, str]:
    """The versions that decide whether a saved model can be loaded (and a record of the rest)."""
    import jieba

    return {
        "format": str(FORMAT),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jieba": jieba.__version__,
    }


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def bare_symptom_words() -> frozenset[str]:
    """Words that only restate "no permission" (`data/jieba/symptom_words.txt`)."""
    return _bare_words(data_dir())


@cache
def _bare_words(root: Path) -> frozenset[str]:
    lines = (root / "jieba" / "symptom_words.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


@dataclass
class Scores:
    """What the model says about one text: category probabilities, article scores, scope probability."""

    categories: np.ndarray
    articles: np.ndarray
    in_scope: float


class TriageModel:
    """Weights over one feature space, in column blocks: categories | articles | scope.

    A category's margin is its own block's plus `article_evidence` (meta, default 0) times the best
    margin the article ranker gives any of the category's articles: the ranker also learned from
    the articles' titles and the code table, which is how people name a problem. `calibration`
    holds per-category sigmoid parameters (a, b) mapping that margin m to 1 / (1 + exp(a·m + b));
    the probabilities are then normalised to sum to 1.
    """

    def __init__(
        self,
        featuriser: Featuriser,
        labels: list[str],
        slugs: list[str],
        weights: np.ndarray,
        bias: np.ndarray,
        calibration: np.ndarray,
        meta: dict,
    ) -> None:
        self.featuriser = featuriser
        self.labels = labels
        self.slugs = slugs
        self.weights = weights
        self.bias = bias
        self.calibration = calibration
        self.meta = meta
        self.version: str = meta.get("model_version", "")
        self.review_threshold: float = float(meta.get("review_threshold", 0.5))
        self.scope_threshold: float = float(meta.get("scope_threshold", 0.5))
        self.article_category: dict[str, str] = meta.get("article_category", {})
        self.public_articles = frozenset(meta.get("public_articles", ()))
        self.article_evidence = float(meta.get("article_evidence", 0.0))
        column = {label: i for i, label in enumerate(labels)}
        self._article_column = np.array([column.get(self.article_category.get(s, ""), -1) for s in slugs])
        # Each category's articles, as columns of the article block (a category without one: none).
        self._category_articles = [np.flatnonzero(self._article_column == j) for j in range(len(labels))]

    @property
    def n_categories(self) -> int:
        """How many cause categories the model knows."""
        return len(self.labels)

    def scores(self, doc: Analysis) -> Scores:
        """Score one analysed text (NumPy only: what a search pays)."""
        cols, vals = self.featuriser.vector(doc)
        raw = vals @ self.weights[cols] + self.bias if len(cols) else self.bias.copy()
        if doc.asks:  # the scope check reads the text without its question words
            cols, vals = self.featuriser.vector(doc, statement=True)
            raw[-1] = vals @ self.weights[cols, -1] + self.bias[-1]
        return self.scores_of(raw[None, :])[0]

    def scores_many(self, docs: list[Analysis]) -> list[Scores]:
        """Score many analysed texts with one sparse product (SciPy, loaded on first batch)."""
        if len(docs) < 2:
            return [self.scores(d) for d in docs]
        return self.scores_of(self.raw_many(docs))

    def raw_many(self, docs: list[Analysis], matrix=None) -> np.ndarray:
        """The raw margins of many analysed texts, shape (texts, categories + articles + 1), float
        (`matrix`: their `featuriser.matrix`, when the caller made it already). The scope margin of
        a text that asks is that of its statement (`Analysis.asks`, `Featuriser.matrix`)."""
        matrix = self.featuriser.matrix(docs) if matrix is None else matrix
        raw = np.asarray(matrix @ self.weights) + self.bias
        asking = [i for i, doc in enumerate(docs) if doc.asks]
        if asking:
            statements = self.featuriser.matrix([docs[i] for i in asking], statement=True)
            raw[asking, -1] = np.asarray(statements @ self.weights[:, -1]).ravel() + self.bias[-1]
        return raw

    def scores_of(self, raw: np.ndarray) -> list[Scores]:
        """The `Scores` of each row of raw margins (see `raw_many`)."""
        categories, articles, scope = self._from_raw(raw)
        return [Scores(c, a, float(s)) for c, a, s in zip(categories, articles, scope, strict=True)]

    def category_margins(self, raw: np.ndarray) -> np.ndarray:
        """Rows of raw margins -> each category's margin before calibration, shape (texts, categories):
        its own block's, plus `article_evidence` times its best article's (a category without
        articles gets the text's lowest article margin)."""
        c = self.n_categories
        margins = raw[:, :c]
        if not self.article_evidence or not self.slugs:
            return margins
        articles = raw[:, c : c + len(self.slugs)]
        lowest = articles.min(axis=1)
        best = np.stack([articles[:, cols].max(axis=1) if len(cols) else lowest for cols in self._category_articles], 1)
        combined = margins + self.article_evidence * best
        if c == 2:  # one margin decides between two categories (see _from_raw): their difference
            half = (combined[:, 1] - combined[:, 0]) / 2
            return np.stack([-half, half], axis=1)
        return combined

    def _from_raw(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of raw margins -> (category probabilities, article scores, scope probabilities)."""
        c, a = self.n_categories, len(self.slugs)
        p = _expit(-(self.calibration[0] * self.category_margins(raw) + self.calibration[1]))
        if c == 2:  # one calibrated margin decides between the two
            p = np.stack([1.0 - p[:, 1], p[:, 1]], axis=1)
        total = p.sum(axis=1, keepdims=True)
        p = np.divide(p, total, out=np.full_like(p, 1.0 / c), where=total > 0)
        rank = raw[:, c : c + a] * RANK_SHARPNESS
        weights = np.exp(rank - rank.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        index = self._article_column
        category_p = np.where(index >= 0, p[:, np.maximum(index, 0)], 0.0)
        return p, weights * (CATEGORY_FLOOR + category_p), _expit(raw[:, -1])

    def in_scope(self, doc: Analysis, scores: Scores) -> bool:
        """True when the text is about POS acquiring: a response code, or the scope score clears the threshold."""
        return bool(doc.codes) or scores.in_scope >= self.scope_threshold

    def scores_in_scope(self, doc: Analysis, scores: Scores | None = None, typos: bool = False) -> Scores | None:
        """The scores of the text, or of its first reading that is about POS acquiring; None when
        neither it nor any reading is. `scores`: the text's own, when the caller has them.

        The readings: with its homophone typos corrected (only with `typos`: search's business, see
        `word_ngrams`), and without its filler phrases (`data/jieba/filler.txt`: courtesy, thanks,
        urgency), so "钱没到账 谢谢" is in scope when "钱没到账" is, while a text that is only filler
        ("你好，在吗") has nothing left and stays out.
        """
        scores = self.scores(doc) if scores is None else scores
        if self.in_scope(doc, scores):
            return scores
        readings = [doc.corrected()] if typos and doc.typos else []
        core = lexicon().without_filler(doc.normalised)
        if core != doc.normalised:
            readings.append(core)
        for text in readings:
            reading = analyse(text)
            if not (reading.words or reading.codes):
                continue
            found = self.scores(reading)
            if self.in_scope(reading, found):
                return found
        return None

    def _article_order(self, ranked: list[int], doc: Analysis, category: str, confidence: float) -> list[str]:
        order = [self.slugs[i] for i in ranked]
        public = [s for s in order if s in self.public_articles][:SUGGESTED_ARTICLES]
        # The agent's own procedure for the chosen category, if the knowledge base has one.
        internal = [s for s in order if s not in self.public_articles and self.article_category.get(s) == category]
        if _SYMPTOM in doc.terms and (self._is_bare(doc) or confidence < self.review_threshold):
            public = [DIAGNOSIS_HUB, *[s for s in public if s != DIAGNOSIS_HUB]][:SUGGESTED_ARTICLES]
        return public + internal[:1]

    @staticmethod
    def _is_bare(doc: Analysis) -> bool:
        bare = bare_symptom_words()
        return not doc.codes and all(w in bare for w in doc.terms)

    def explain(self, doc: Analysis, category_index: int, limit: int = 6) -> tuple[str, ...]:
        """The words and codes that pushed this text towards the category, strongest first.

        Stopwords, bare numbers and single characters that are not domain terms say nothing a
        person can act on and are left out (a word pair too, when either of its words is such).
        """
        cols, vals = self.featuriser.vector(doc)
        if not len(cols):
            return ()
        contributions = vals * self.weights[cols, category_index]
        terms: list[str] = []
        for k in np.argsort(-contributions):
            if contributions[k] <= 0 or len(terms) >= limit:
                break
            name = self.featuriser.label(int(cols[k]))
            if not name or not _telling(name):
                continue
            if not any(name in t or t in name for t in terms):
                terms.append(name)
        return tuple(terms)

    def predict_analysed(
        self, docs: list[Analysis], explain: bool = True, scores: list[Scores] | None = None
    ) -> list[Prediction]:
        """Triage texts already run through `kb.text.analyse` (`scores`: their `scores_many`, when
        the caller has them already)."""
        out = []
        scores = self.scores_many(docs) if scores is None else scores
        if not scores:
            return out
        # A text out of scope as written may be in scope without its filler (`scores_in_scope`).
        scores = list(scores)  # the caller's list stays as it was
        scopes = [self.in_scope(doc, s) for doc, s in zip(docs, scores, strict=True)]
        for i in (i for i, ok in enumerate(scopes) if not ok):
            rescued = self.scores_in_scope(docs[i], scores[i])
            if rescued is not None:
                scores[i], scopes[i] = rescued, True
        # Sorting once for the whole batch: argsort per text would cost more than the model.
        top3 = np.argsort(-np.stack([s.categories for s in scores]), axis=1)[:, :3].tolist()
        ranked = np.argsort(-np.stack([s.articles for s in scores]), axis=1)[:, :20].tolist()
        for doc, s, in_scope, top, order in zip(docs, scores, scopes, top3, ranked, strict=True):
            p = s.categories.tolist()
            category, confidence = self.labels[top[0]], p[top[0]]
            alternatives = tuple(Alternative(self.labels[j], round(p[j], 4)) for j in top if round(p[j], 4) > 0)
            out.append(
                Prediction(
                    category=category if in_scope else OUT_OF_SCOPE,
                    confidence=round(confidence if in_scope else 1.0 - s.in_scope, 4),
                    alternatives=alternatives,
                    codes=doc.codes,
                    articles=tuple(self._article_order(order, doc, category, confidence)) if in_scope else (),
                    needs_review=confidence < self.review_threshold or not in_scope,
                    explanation=self.explain(doc, top[0]) if explain and in_scope else (),
                    model_version=self.version,
                    in_scope=in_scope,
                )
            )
        return out

    def predict(self, texts: list[str], explain: bool = True) -> list[Prediction]:
        """Triage a batch of ticket texts."""
        return self.predict_analysed(analyse_many(texts), explain)


def _telling(name: str) -> bool:
    """True when a feature's name tells a person something: a response code, or words none of which
    is a stopword, a bare number or a single character outside the domain vocabulary."""
    if name.startswith("应答码 "):
        return True
    stop, domain = lexicon().stopwords, domain_terms()
    return all(w not in stop and not w.isdigit() and (len(w) > 1 or w in domain) for w in name.split())


class Triager:
    """A loaded model ready to classify: what the web app and CLI hold on to."""

    def __init__(self, model: TriageModel, sidecar: dict) -> None:
        self.model = model
        self.sidecar = sidecar
        self.version = model.version

    def classify(self, ticket: str | Analysis) -> Prediction:
        """Triage one ticket, raw or already run through `kb.text.analyse`, with the explanation."""
        doc = ticket if isinstance(ticket, Analysis) else analyse_many([ticket])[0]
        return self.model.predict_analysed([doc])[0]

    def classify_many(self, texts: list[str], explain: bool = False) -> list[Prediction]:
        """Triage many ticket texts at once (explanations only when asked: they cost time)."""
        return self.model.predict(texts, explain=explain) if texts else []


def model_exists(model_dir: Path) -> bool:
    """True when a saved model (and its sidecar) is in model_dir."""
    return (Path(model_dir) / MODEL_FILE).exists() and (Path(model_dir) / SIDECAR_FILE).exists()


def _write_atomically(path: Path, payload: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, rename over path, fsync the folder."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # readable like any file open() makes, not mkstemp's owner-only mode
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _remove_stale_temporaries(model_dir: Path) -> None:
    """Temporary files a crashed save left behind (older than an hour, so never a save under way)."""
    cutoff = time.time() - STALE_TEMP_SECONDS
    for path in model_dir.glob(".model.*.tmp"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


def save_model(model: TriageModel, model_dir: Path, details: dict) -> dict:
    """Write the model, then its sidecar (library versions, labels, data hash, metrics, ...).

    Each file goes to a temporary name, is fsynced and renamed, the model first: a crash at any
    moment leaves the old model or the new one complete (the model file carries its own copy of
    the sidecar, so a stale sidecar beside a new model still describes a loadable model).
    """
    import io

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(model_dir)
    sidecar = {**details, **model.meta, "versions": versions(), "labels": model.labels}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        weights=model.weights.astype(np.float32),
        bias=model.bias.astype(np.float32),
        calibration=model.calibration.astype(np.float64),
        idf=model.featuriser.idf,
        names=np.frombuffer("\n".join(model.featuriser.names).encode("utf-8"), dtype=np.uint8),
        meta=np.frombuffer(json.dumps({**sidecar, "slugs": model.slugs}, ensure_ascii=False).encode(), np.uint8),
    )
    _write_atomically(model_dir / MODEL_FILE, buffer.getvalue())
    _write_atomically(model_dir / SIDECAR_FILE, json.dumps(sidecar, ensure_ascii=False, indent=2).encode("utf-8"))
    return sidecar


def read_sidecar(model_dir: Path) -> dict:
    """Return the sidecar of the saved model; ModelError when there is none."""
    path = Path(model_dir) / SIDECAR_FILE
    if not path.exists():
        raise ModelError(f"no triage model in {model_dir}: run `posdesk triage train` (or `posdesk init`)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ModelError(f"the model sidecar {path} is unreadable: run `posdesk triage train`") from e


def _refuse_incompatible(saved: dict) -> None:
    if str(saved.get("format")) != str(FORMAT):
        raise ModelError(
            f"the triage model was saved in posdesk model format {saved.get('format')}; this is format "
            f"{FORMAT}: run `posdesk triage train` to retrain it"
        )


def load_model(model_dir: Path) -> Triager:
    """Load the saved model, refusing one saved in an incompatible format (the message says to retrain)."""
    sidecar = read_sidecar(model_dir)
    _refuse_incompatible(sidecar.get("versions", {}))
    try:
        with (Path(model_dir) / MODEL_FILE).open("rb") as f, np.load(f, allow_pickle=False) as saved:
            meta = json.loads(saved["meta"].tobytes().decode("utf-8"))
            _refuse_incompatible(meta.get("versions", {}))
            featuriser = Featuriser(saved["names"].tobytes().decode("utf-8").split("\n"), saved["idf"])
            model = TriageModel(
                featuriser,
                meta["labels"],
                meta["slugs"],
                saved["weights"],
                saved["bias"],
                saved["calibration"],
                meta,
            )
    except ModelError:
        raise
    except Exception as e:  # a truncated or foreign file: any read error means the same
        raise ModelError(f"the triage model in {model_dir} cannot be read ({e}): run `posdesk triage train`") from e
    return Triager(model, meta)
