"""The triage model: a calibrated linear classifier for the cause category and a linear ranker for
the articles, both over `triage.features`; saving and loading it with a version-checked sidecar.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
from functools import cached_property
from pathlib import Path

import jieba
import joblib
import numpy as np
import scipy
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC

from kb.articles import Article
from kb.text import Analysis
from triage.features import Featuriser, analyse_many
from triage.prediction import Alternative, Prediction

FORMAT = 1
MODEL_FILE = "model.pkl"
SIDECAR_FILE = "model.json"
SUGGESTED_ARTICLES = 5
RANKER_TICKETS_PER_ARTICLE = 200
DIAGNOSIS_HUB = "no-permission-diagnosis"
# Words that only restate the "no permission" symptom; a ticket with nothing else is a bare symptom.
_SYMPTOM = "无权限"
_BARE_WORDS = frozenset(
    [
        "无权限",
        "权限",
        "该",
        "商户",
        "pos机",
        "显示",
        "提示",
        "出现",
        "报",
        "刷卡",
        "刷",
        "交易",
        "机器",
        "突然",
        "老是",
        "总是",
        "又",
        "说",
        "怎么",
        "咋",
        "了",
        "不能",
        "用",
        "收款",
        "一直",
        "问题",
        "怎么弄",
        "弄",
        "处理",
        "解决",
        "帮忙",
        "帮",
        "看看",
        "看",
        "急",
        "急急",
        "啊啊",
        "啥",
        "意思",
        "什么",
        "情况",
        "我的",
        "我家",
        "店里",
        "店",
        "客户",
        "顾客",
        "卡",
        "付款",
        "付钱",
        "今天",
        "昨天",
        "早上",
        "下午",
        "晚上",
    ]
)


class ModelError(Exception):
    """No usable model: missing, unreadable or from an incompatible version (the message says what to do)."""


def _versions() -> dict[str, str]:
    return {
        "format": str(FORMAT),
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "jieba": jieba.__version__,
    }


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


class TriageModel:
    """The fitted category classifier and article ranker (what gets pickled)."""

    def __init__(self, review_threshold: float = 0.5) -> None:
        self.featuriser = Featuriser()
        self.classifier = CalibratedClassifierCV(
            LinearSVC(C=0.5, class_weight="balanced", tol=1e-3), method="sigmoid", cv=3
        )
        self.ranker = LinearSVC(C=0.5, tol=1e-3)
        self.review_threshold = review_threshold
        self.article_category: dict[str, str] = {}
        self.public_articles: frozenset[str] = frozenset()
        self.version = ""

    @cached_property
    def _coef(self) -> np.ndarray:
        """The category weights, averaged over the cross-validated models the calibration keeps."""
        return np.mean([c.estimator.coef_ for c in self.classifier.calibrated_classifiers_], axis=0)

    @cached_property
    def _article_category_column(self) -> np.ndarray:
        """For each ranked article, the classifier column of its category (-1 if unknown)."""
        column = {label: i for i, label in enumerate(self.labels)}
        return np.array([column.get(self.article_category.get(s, ""), -1) for s in self._slugs])

    @cached_property
    def _slugs(self) -> list[str]:
        return [str(s) for s in self.ranker.classes_]

    @property
    def labels(self) -> list[str]:
        """The categories the classifier knows, in column order."""
        return [str(c) for c in self.classifier.classes_]

    def fit(self, texts: list[str], categories: list[str], articles: list[tuple[str, ...]], kb: list[Article]) -> None:
        """Train on labelled tickets; every article also stands in as a document of its own."""
        self.article_category = {a.slug: a.category for a in kb}
        self.public_articles = frozenset(a.slug for a in kb if a.is_public)
        kb_texts = [" ".join([a.title, *a.tags, a.plain_text]) for a in kb]
        # Only the matrix outlives this line: the analysed texts would double peak memory.
        x_all = self.featuriser.fit_transform(analyse_many(list(texts) + kb_texts))
        n = len(texts)
        x_tickets = x_all[:n]
        # liblinear releases the GIL: threads fit the calibration folds side by side while sharing
        # one copy of the matrix (worker processes would each need their own).
        with joblib.parallel_backend("threading", n_jobs=os.cpu_count() or 1):
            self.classifier.fit(x_tickets, categories)
        # The ranker learns which article answers which ticket; articles' own text covers slugs
        # that no ticket names yet.
        # Past a few hundred tickets an article's ranking stops improving while the 57-way fit
        # keeps growing, so each article contributes at most RANKER_TICKETS_PER_ARTICLE.
        seen: dict[str, int] = {}
        rank_rows = []
        for i, answers in enumerate(articles):
            if answers and answers[0] in self.article_category:
                seen[answers[0]] = seen.get(answers[0], 0) + 1
                if seen[answers[0]] <= RANKER_TICKETS_PER_ARTICLE:
                    rank_rows.append(i)
        rank_x = x_all[rank_rows + list(range(n, n + len(kb)))]
        rank_y = [articles[i][0] for i in rank_rows] + [a.slug for a in kb]
        self.ranker.fit(rank_x, rank_y)
        # Single precision halves the largest part of the saved model at no cost in ranking.
        self.ranker.coef_ = self.ranker.coef_.astype(np.float32)

    def _article_scores(self, probs: np.ndarray, rank_scores: np.ndarray) -> np.ndarray:
        """Score every article for every ticket: a softmax over the ranker's margins, weighted by
        how likely the article's category is."""
        index = self._article_category_column
        weights = np.exp((rank_scores - rank_scores.max(axis=1, keepdims=True)) * 3.0)
        weights /= weights.sum(axis=1, keepdims=True)
        category_p = np.where(index >= 0, probs[:, np.maximum(index, 0)], 0.0)
        return weights * (0.25 + category_p)

    def _article_order(self, ranked: list[int], doc: Analysis, category: str, confidence: float) -> list[str]:
        slugs = self._slugs
        order = [slugs[i] for i in ranked]
        public = [s for s in order if s in self.public_articles][:SUGGESTED_ARTICLES]
        # The agent's own procedure for the chosen category, if the knowledge base has one.
        internal = [s for s in order if s not in self.public_articles and self.article_category[s] == category][:1]
        if _SYMPTOM in doc.terms and (self._is_bare(doc) or confidence < self.review_threshold):
            public = [DIAGNOSIS_HUB, *[s for s in public if s != DIAGNOSIS_HUB]][:SUGGESTED_ARTICLES]
        return public + internal

    @staticmethod
    def _is_bare(doc: Analysis) -> bool:
        return not doc.codes and all(w in _BARE_WORDS for w in doc.terms)

    def _explain(self, row, category_index: int, limit: int = 6) -> tuple[str, ...]:
        """The words and codes that pushed this ticket towards the category, strongest first."""
        coef = self._coef[category_index] if self._coef.shape[0] > 1 else self._coef[0]
        contributions = row.multiply(coef).tocsr()
        names = self.featuriser.names
        ranked = sorted(zip(contributions.data, contributions.indices, strict=True), reverse=True)
        terms: list[str] = []
        for weight, col in ranked:
            name = str(names[col]).replace("code:", "应答码 ")
            if weight <= 0 or len(terms) >= limit:
                break
            # A code's category feature restates the code itself; the code is the readable reason.
            if name and not name.startswith("codecat:") and not any(name in t or t in name for t in terms):
                terms.append(name)
        return tuple(terms)

    def predict(self, texts: list[str], explain: bool = True) -> list[Prediction]:
        """Triage a batch of ticket texts."""
        return self.predict_analysed(analyse_many(texts), explain)

    def predict_analysed(self, docs: list[Analysis], explain: bool = True) -> list[Prediction]:
        """Triage a batch of texts already run through `kb.text.analyse`."""
        x = self.featuriser.transform(docs)
        probs = self.classifier.predict_proba(x)
        top3 = np.argsort(-probs, axis=1)[:, :3]
        # Enough candidates that five merchant articles and one internal one survive the split.
        ranked = np.argsort(-self._article_scores(probs, self.ranker.decision_function(x)), axis=1)[:, :20]
        labels = self.labels
        out = []
        # Python lists: indexing numpy scalars one at a time would cost more than the models.
        rows = zip(docs, probs.tolist(), top3.tolist(), ranked.tolist(), strict=True)
        for i, (doc, p, top, order) in enumerate(rows):
            category, confidence = labels[top[0]], p[top[0]]
            out.append(
                Prediction(
                    category=category,
                    confidence=round(confidence, 4),
                    alternatives=tuple(Alternative(labels[j], round(p[j], 4)) for j in top),
                    codes=doc.codes,
                    articles=tuple(self._article_order(order, doc, category, confidence)),
                    needs_review=confidence < self.review_threshold,
                    explanation=self._explain(x[i], top[0]) if explain else (),
                    model_version=self.version,
                )
            )
        return out


class Triager:
    """A loaded model ready to classify: what the web app and CLI hold on to."""

    def __init__(self, model: TriageModel, sidecar: dict) -> None:
        self.model = model
        self.sidecar = sidecar
        self.version = model.version

    def classify(self, text: str | Analysis) -> Prediction:
        """Triage one ticket, raw or already run through `kb.text.analyse`, with the explanation."""
        if isinstance(text, Analysis):
            return self.model.predict_analysed([text])[0]
        return self.model.predict([text])[0]

    def classify_many(self, texts: list[str], explain: bool = False) -> list[Prediction]:
        """Triage many ticket texts at once (explanations only when asked: they cost time)."""
        return self.model.predict(texts, explain=explain) if texts else []


def model_exists(model_dir: Path) -> bool:
    """True when a saved model (and its sidecar) is in model_dir."""
    return (Path(model_dir) / MODEL_FILE).exists() and (Path(model_dir) / SIDECAR_FILE).exists()


def save_model(model: TriageModel, model_dir: Path, details: dict) -> dict:
    """Write the model and its sidecar (library versions, labels, data hash, metrics, ...)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    sidecar = {**details, "versions": _versions(), "labels": model.labels, "model_version": model.version}
    tmp = model_dir / (MODEL_FILE + ".tmp")
    # Plain pickle (protocol 5, C unpickler): loads in a tenth of joblib's time, and start-up counts.
    with tmp.open("wb") as f:
        pickle.dump(model, f, protocol=5)
    tmp.replace(model_dir / MODEL_FILE)
    (model_dir / SIDECAR_FILE).write_text(json.dumps(sidecar, ensure_ascii=False, indent=2), encoding="utf-8")
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


def load_model(model_dir: Path) -> Triager:
    """Load the saved model, refusing one trained by an incompatible version."""
    sidecar = read_sidecar(model_dir)
    saved = sidecar.get("versions", {})
    now = _versions()
    if saved.get("format") != now["format"] or _major_minor(saved.get("scikit-learn", "")) != _major_minor(
        now["scikit-learn"]
    ):
        raise ModelError(
            f"the triage model was trained with posdesk model format {saved.get('format')} and "
            f"scikit-learn {saved.get('scikit-learn')}; this is format {now['format']} with scikit-learn "
            f"{now['scikit-learn']}: run `posdesk triage train` to retrain it"
        )
    try:
        with (Path(model_dir) / MODEL_FILE).open("rb") as f:
            model = pickle.load(f)
    except Exception as e:  # a truncated or foreign file: any unpickling error means the same
        raise ModelError(f"the triage model in {model_dir} cannot be read ({e}): run `posdesk triage train`") from e
    return Triager(model, sidecar)
