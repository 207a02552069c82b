"""Training the triage model: corpus, agent decisions and the out-of-scope corpus in, a saved model
with its held-out metrics out.

scikit-learn fits three linear blocks over one feature space and is imported here only: a
LinearSVC for the cause category, a LinearSVC ranking articles (trained on which article answers
which ticket, and on the articles' and response codes' own text), and a logistic regression
telling POS-acquiring text from everything else. Their weights become the plain arrays of
`triage.model.TriageModel`; a category's margin there adds its best article's, and one Platt
sigmoid fitted on the held-out tickets turns margins into probabilities.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import gc
import hashlib
import json
import multiprocessing
import multiprocessing.connection
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from kb.articles import Article, load_articles
from kb.codes import ResponseCode, load_codes
from kb.text import Analysis
from triage.dataset import (
    LabelledTicket,
    read_agent_searches,
    read_out_of_scope,
    split,
    split_texts,
    stratified_sample,
)
from triage.evaluation import choose_threshold, evaluate, scope_report
from triage.features import PARALLEL_FROM, Featuriser, analyse_many, featurise_many
from triage.model import FORMAT, TriageModel, save_model
from triage.prediction import OUT_OF_SCOPE

STAGES = ("prepare", "fit", "evaluate", "save")
# Past a few hundred tickets an article's ranking stops improving while the fit keeps growing.
RANKER_TICKETS_PER_ARTICLE = 200
# Held-out in-scope tickets that must pass the scope check; the threshold follows from it.
SCOPE_RECALL = 0.985
# How much a category's best article margin adds to its own (see TriageModel): on the development
# sets read so far (held-out split, independent tickets, spent blind sets; bench/triage_variants.py)
# every natural set gained from 1 on, flat beyond 2.
ARTICLE_EVIDENCE = 2.0
# Tickets the scope block learns in-scope text from, at most (see `fit`).
SCOPE_TICKETS = 30_000
# Held-out tickets the sigmoid and the thresholds are fitted on, at most (a category-stratified
# sample past it): two sigmoid parameters and two thresholds are as settled by 10,000 tickets as by
# 25,000, and analysing the rest was a fifth of training time at 100,000 tickets.
HELD_OUT_TICKETS = 10_000
# The three blocks' regularisation (liblinear shuffles with a fixed seed: the same data, the same model).
CATEGORY_C = 0.5
# The category fit's stopping tolerance: LIBLINEAR's own default for this solver is 0.1; 0.001 gave
# the same predictions on every real set as 0.01 and took 15% longer at 100,000 tickets.
CATEGORY_TOL = 1e-2
RANKER_C = 0.5
SCOPE_C = 1.0


@dataclass(frozen=True)
class TrainReport:
    """What a training run produced: sizes, held-out metrics, the review threshold and model version."""

    n_train: int
    n_heldout: int
    n_agent: int
    metrics: dict
    review_threshold: float
    model_version: str


def data_hash(tickets: Sequence[LabelledTicket], out_of_scope: Sequence[str] = ()) -> str:
    """A digest of the labelled data, independent of file order."""
    lines = sorted(json.dumps([t.id, t.text, t.category, list(t.articles)], ensure_ascii=False) for t in tickets)
    lines += sorted(out_of_scope)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def article_documents(kb: Sequence[Article]) -> list[tuple[str, str]]:
    """(text, slug) pairs that teach the ranker each article's own words: title, title with tags, all."""
    docs = []
    for a in kb:
        docs += [(a.title, a.slug), (" ".join([a.title, *a.tags]), a.slug), (" ".join([a.title, a.plain_text]), a.slug)]
    return docs


def code_documents(codes: dict[str, ResponseCode]) -> list[tuple[str, str]]:
    """(text, slug) pairs from the response-code table: a terminal's message leads to its code's article."""
    return [
        (f"应答码{c.code} {c.meaning} {c.terminal_display} {c.note}".strip(), c.article)
        for c in codes.values()
        if c.article
    ]


def ranker_rows(training: Sequence[LabelledTicket], known: set[str]) -> list[int]:
    """Indices (ascending) of the tickets the article ranker fits on: those whose first article is
    one of `known` slugs, at most RANKER_TICKETS_PER_ARTICLE per article, the earliest kept."""
    seen: dict[str, int] = {}
    rows = []
    for i, ticket in enumerate(training):
        first = ticket.articles[0] if ticket.articles else None
        if first in known:
            seen[first] = seen.get(first, 0) + 1
            if seen[first] <= RANKER_TICKETS_PER_ARTICLE:
                rows.append(i)
    return rows


def _stratified_sample(labels: np.ndarray, size: int) -> np.ndarray:
    """Row indices of at most `size` rows, each label keeping its share (all rows when few enough)."""
    if len(labels) <= size:
        return np.arange(len(labels))
    rng = np.random.default_rng(0)
    keep = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        keep.append(rng.choice(rows, max(3, round(len(rows) * size / len(labels))), replace=False))
    return np.sort(np.concatenate(keep))


def _columns(coef: np.ndarray, intercept: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One weight column per class: scikit-learn keeps a single row for two classes (the second's)."""
    if n_classes == 2 and coef.shape[0] == 1:
        return np.hstack([-coef.T, coef.T]), np.array([-intercept[0], intercept[0]])
    return coef.T, np.asarray(intercept)


def _sigmoids(margins: np.ndarray, labels: np.ndarray) -> list:
    """Platt sigmoids (objects with `a_`, `b_`) for margins of shape (n, categories) (or (n,) for two
    categories: one sigmoid, the second category's) and the true labels, every category among them,
    fitted by scikit-learn's CalibratedClassifierCV on a frozen stand-in classifier whose decision
    function is its input."""
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Margins(ClassifierMixin, BaseEstimator):
        def fit(self, x, y):
            self.classes_ = np.unique(y)
            return self

        def decision_function(self, x):
            return x

        def predict(self, x):
            return self.classes_[np.argmax(x, axis=1) if x.ndim == 2 else (x > 0).astype(int)]

    calibrated = CalibratedClassifierCV(FrozenEstimator(Margins().fit(None, labels)), method="sigmoid")
    calibrated.fit(margins, labels)
    return calibrated.calibrated_classifiers_[0].calibrators


def _featurise(tickets: list[str], own: list[str], out_of_scope: Sequence[str], tags: list[str], scope_rows):
    """Analyse every text once, learn the vocabulary from all but the tags; return the tickets' and
    the own texts' float64 CSR matrices (what liblinear fits on: no estimator makes its own copy),
    the scope check's (`scope_rows` of the tickets, the own texts, the tags and the out-of-scope
    texts, read as statements: `Featuriser.matrix`) and the featuriser (`featurise_many`: the
    analyses stay in the processes that made them)."""
    statements = [(0, scope_rows), (1, range(len(own))), (3, range(len(tags))), (2, range(len(out_of_scope)))]
    blocks, featuriser = featurise_many([tickets, own, out_of_scope, tags], 3, np.float64, statements=statements)
    x_tickets, x_own, _, _, *scope = blocks
    # Float32 until the scope fit widens them in its own process: this process holds them through
    # every fit, at the peak of training's memory.
    return x_tickets, x_own, [m.astype(np.float32) for m in scope], featuriser


# What `fit` hands its forked fitting processes: name -> the fit, ready to call.
_FITS: dict[str, Callable[[], object]] = {}


@dataclass(frozen=True)
class _Linear:
    """A fitted linear block as the model keeps it: class labels, float32 coefficients
    (classes x features, one row for two classes) and intercepts."""

    classes: list[str]
    coef: np.ndarray
    intercept: np.ndarray


# The fits below take the whole tickets' matrix and the rows they need: in a forked fit the rows
# are copied in the child, when its earlier fits' memory is back, not in the parent for all along.


def calibrate(model: TriageModel, raw: np.ndarray, truth: Sequence[str]) -> None:
    """Fit the model's category sigmoid on raw margins of held-out tickets (`TriageModel.raw_many`)
    and their true categories: Platt scaling on text the model never saw, through the same combined
    margins it predicts with. One sigmoid serves every category (fitted on each ticket's margin for
    each category, against whether it is the ticket's): being monotone, it keeps the category the
    margins rank first, where one sigmoid per category moved it (development sets, macro-F1 down
    0.004-0.007). With no held-out ticket the plain logistic stays (a = -1, b = 0)."""
    labels, truth = model.labels, np.array(truth)
    if not len(truth):
        return
    margins = model.category_margins(raw)
    if len(labels) == 2:  # the second category's margin decides (see TriageModel._from_raw)
        flat, positive = margins[:, 1], truth == labels[1]
    else:
        flat, positive = margins.ravel(), (truth[:, None] == np.array(labels)[None, :]).ravel()
    if positive.all() or not positive.any():
        return
    (sigmoid,) = _sigmoids(flat, positive)
    model.calibration = np.array([[sigmoid.a_] * len(labels), [sigmoid.b_] * len(labels)])


def _scope_fit(estimator, in_scope: list, out_of_scope) -> _Linear:
    """The scope block: the in-scope matrices (label 1) against the out-of-scope matrix (label 0)."""
    import scipy.sparse as sp

    x = sp.vstack([*in_scope, out_of_scope], format="csr", dtype=np.float64)
    n_out = out_of_scope.shape[0]
    return _fitted(estimator, x, np.r_[np.ones(x.shape[0] - n_out), np.zeros(n_out)])


def _fitted(estimator, x, y) -> _Linear:
    """Fit a linear estimator and keep its block in float32 (what the model stores, and half the
    bytes for a forked fit to send back)."""
    estimator.fit(x, y)
    return _Linear([str(c) for c in estimator.classes_], estimator.coef_.astype(np.float32), estimator.intercept_)


def _used_columns(x) -> tuple[object, np.ndarray]:
    """(x with only the columns some row uses, those columns' indices in x): the same rows, indices
    renumbered in order. A linear SVM's weight on a column no row uses is exactly 0 (liblinear's
    weights are a weighted sum of rows), so a fit on the narrow matrix gives the same weights, and
    liblinear's classes x columns float64 weights shrink with it."""
    import scipy.sparse as sp

    used = np.flatnonzero(np.bincount(x.indices, minlength=x.shape[1]))
    renumber = np.zeros(x.shape[1], dtype=x.indices.dtype)
    renumber[used] = np.arange(len(used), dtype=x.indices.dtype)
    return sp.csr_matrix((x.data, renumber[x.indices], x.indptr), shape=(x.shape[0], len(used))), used


def _widened(linear: _Linear, used: np.ndarray, width: int) -> _Linear:
    """A block fitted on `_used_columns`, with zero weights put back for the unused columns."""
    coef = np.zeros((linear.coef.shape[0], width), dtype=linear.coef.dtype)
    coef[:, used] = linear.coef
    return replace(linear, coef=coef)


def _run_fits(names: tuple[str, ...]) -> list:
    """Run these of `_FITS` in turn (in a forked child, on the rows the parent left it); return
    their results in order. Popped, each fit and the fitted estimator it holds are dropped before
    the next starts or the results are sent back (50 MB less at peak), and the heap they used is
    handed back in between."""
    results = []
    for name in names:
        results.append(_FITS.pop(name)())
        gc.collect()  # the cycle collector is off while training (`_cycle_collector_paused`)
        _return_freed_memory()
    return results


def _fit_in_child(names: tuple[str, ...], send) -> None:
    """A forked fitting process: run these fits, send ("ok", results) or ("error", traceback) through
    the pipe, and end (its memory goes back to the system with it)."""
    try:
        payload = ("ok", _run_fits(names))
    except BaseException:
        payload = ("error", traceback.format_exc())
    send.send(payload)
    send.close()


def _fit_in_parallel(groups: list[tuple[str, ...]], while_waiting: Callable[[], object]) -> list[list]:
    """Run each group of `_FITS` in a forked process of its own; call `while_waiting()` here as soon
    as the first group is back (that process has ended, its core and memory are free), and return
    the groups' results in order. RuntimeError when a fit fails or its process dies."""
    context = multiprocessing.get_context("fork")
    pending, results = {}, {}
    try:
        for index, names in enumerate(groups):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_fit_in_child, args=(names, send), name=f"posdesk-fit-{index}")
            process.start()
            send.close()
            pending[receive] = (index, names, process)
        while pending:
            for receive in multiprocessing.connection.wait(list(pending)):
                index, names, process = pending.pop(receive)
                try:
                    status, payload = receive.recv()
                except EOFError:
                    process.join()
                    code = process.exitcode
                    raise RuntimeError(f"fitting {names} ended without a result (exit code {code})") from None
                process.join()
                if status != "ok":
                    raise RuntimeError(f"fitting {names} failed:\n{payload}")
                if not results:
                    while_waiting()
                results[index] = payload
    finally:
        for _, _, process in pending.values():
            process.terminate()
            process.join()
    return [results[i] for i in range(len(groups))]


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Keep Python's cycle collector off for the block (and in processes forked in it).

    Training builds millions of objects (analyses, n-gram counts) of which none form a cycle: the
    collector's full passes over them found nothing and took 2.9 s of about 40 at 100,000 tickets
    (12 passes). Garbage is freed by reference counting meanwhile; the collector runs as before
    once the block ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _return_freed_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere).

    The analysed texts, freed once featurised, leave about 150 MB of free heap at 100,000 tickets
    that the C allocator keeps; the fitting processes forked next would otherwise count it too."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def fit(
    training: Sequence[LabelledTicket],
    kb: Sequence[Article],
    out_of_scope: Sequence[str],
    version: str,
    while_fitting: Callable[[Featuriser], object] = lambda featuriser: None,
) -> TriageModel:
    """Fit the category, article and scope blocks; return the model (thresholds at their defaults,
    sigmoid the plain logistic: `set_thresholds` calibrates it on held-out tickets).

    `while_fitting(featuriser)` is called once in this process: when the fits run in forked
    processes, as soon as the first of them is done (its core is free while the other fits on),
    else after the fits.
    """
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    # The articles' and codes' own words, and how agents search for them (internal procedures have
    # no tickets: without these the ranker would not know an agent's "转风控条件" means one).
    known = {a.slug for a in kb}
    own = article_documents(kb) + code_documents(load_codes())
    own += [(text, slug) for text, slug in read_agent_searches() if slug in known]
    # Short in-scope text too (every tag is a phrase merchants use), or the detector would learn
    # "short means chatter" from the out-of-scope corpus. Tags are scope rows only, not vocabulary.
    tags = [tag for a in kb for tag in a.tags if not tag.isascii()]
    categories = np.array([t.category for t in training])
    # In-scope rows (tickets, the articles' and codes' own text, tags) against the out-of-scope
    # corpus, every text read as a statement (its question words left out: the corpus is mostly
    # questions and tickets mostly statements, and asking is no sign of another subject). Past
    # SCOPE_TICKETS tickets (a category-stratified sample) more of them only restate what in scope
    # looks like beside a corpus of a few thousand out-of-scope lines.
    scope_rows = _stratified_sample(categories, SCOPE_TICKETS)
    x_tickets, x_own, scope_x, featuriser = _featurise(
        [t.text for t in training], [t for t, _ in own], out_of_scope, tags, scope_rows
    )

    # The ranker learns which article answers which ticket; the articles' and codes' own text
    # covers slugs no ticket names yet.
    rank_rows = ranker_rows(training, known)
    # A few hundred tickets per article use a third of the columns: fitted on those alone (the same
    # weights), the ranker's 57 classes' weights take a third of the memory.
    rank_x, rank_columns = _used_columns(sp.vstack([x_tickets[rank_rows], x_own], format="csr"))
    rank_y = [training[i].articles[0] for i in rank_rows] + [s for _, s in own]

    # The three fits are independent: on two or more cores they run in two forked processes, the
    # category fit and then the scope fit in one, the ranker in the other (at 100,000 tickets 13 +
    # 1 s against 8.5 s); the ranker's process ends when it is done, and this process analyses the
    # held-out text on the freed core meanwhile (`while_fitting`). Processes, not threads, though
    # liblinear releases the GIL: its random generator is one per process, and fits sharing it give
    # a different model each run. Each child copies the rows it fits on itself (liblinear copies
    # them again), so the parent holds the tickets' matrix alone: 820-830 MiB in all at 100,000
    # tickets while the category fit's and the ranker's copies are side by side. The scope fit
    # beside the category fit instead saved no time (interleaved A/B, two runs each). The sigmoid is
    # fitted later, on held-out tickets (`calibrate`, called by `set_thresholds`).
    svc = LinearSVC(C=CATEGORY_C, class_weight="balanced", tol=CATEGORY_TOL, random_state=0)
    regression = LogisticRegression(C=SCOPE_C, class_weight="balanced", solver="liblinear", random_state=0)
    _FITS.update(
        final=partial(_fitted, svc, x_tickets, categories),
        ranker=partial(_fitted, LinearSVC(C=RANKER_C, tol=1e-3, random_state=0), rank_x, rank_y),
        scope=partial(_scope_fit, regression, scope_x[:3], scope_x[3]),
    )
    del x_tickets, x_own, scope_x, rank_x
    _return_freed_memory()
    groups = [("final", "scope"), ("ranker",)]
    try:
        if (os.cpu_count() or 1) == 1 or len(training) < PARALLEL_FROM:  # a process costs more than a small fit
            results = [_run_fits(group) for group in groups]
            while_fitting(featuriser)
        else:
            # Frozen, the parent's objects stay out of the children's garbage collections, which
            # would otherwise write to (and so copy) every page holding one.
            gc.freeze()
            results = _fit_in_parallel(groups, partial(while_fitting, featuriser))
    finally:
        gc.unfreeze()
        _FITS.clear()
    (final, scope), (ranker,) = results
    ranker = _widened(ranker, rank_columns, featuriser.size)

    labels = final.classes
    category_w, category_b = _columns(final.coef, final.intercept, len(labels))
    # The plain logistic until `calibrate` fits the sigmoid on held-out tickets.
    calibration = np.array([[-1.0] * len(labels), [0.0] * len(labels)])
    slugs = ranker.classes
    article_w, article_b = _columns(ranker.coef, ranker.intercept, len(slugs))

    weights = np.hstack([category_w, article_w, scope.coef.T])
    bias = np.r_[category_b, article_b, scope.intercept].astype(np.float32)
    meta = {
        "model_version": version,
        "format": FORMAT,
        "article_evidence": ARTICLE_EVIDENCE,
        "article_category": {a.slug: a.category for a in kb},
        "public_articles": sorted(a.slug for a in kb if a.is_public),
    }
    return TriageModel(featuriser, labels, slugs, weights, bias, calibration, meta)


@dataclass(frozen=True)
class HeldOutText:
    """Held-out tickets' and out-of-scope texts' analyses, and the tickets' feature matrix when the
    featuriser was known (None: `raw_many` makes it)."""

    docs: list[Analysis]
    outside: list[Analysis]
    matrix: object | None = None

    @classmethod
    def prepare(
        cls,
        tickets: Sequence[str],
        outside: Sequence[str],
        featuriser: Featuriser | None = None,
        processes: int | None = None,
    ) -> HeldOutText:
        """Analyse both lists (over `processes` processes, default all cores: `analyse_many`)."""
        docs = analyse_many(list(tickets), processes)
        matrix = featuriser.matrix(docs) if featuriser else None
        return cls(docs, analyse_many(list(outside), processes), matrix)


def set_thresholds(
    model: TriageModel,
    held_out: Sequence[LabelledTicket],
    outside_held: Sequence[str],
    has_scope: bool = True,
    analysed: HeldOutText | None = None,
) -> dict:
    """Calibrate the model on held-out tickets (`calibrate`), then set its scope and review
    thresholds from held-out text; return the held-out metrics. `analysed`: these texts analysed
    already (`HeldOutText.prepare`).

    Scope: the score SCOPE_RECALL of held-out in-scope tickets reach (0 when there is no
    out-of-scope corpus: then everything is in scope). Review: the lowest confidence above which
    in-scope predictions are right AUTO_PRECISION of the time.
    """
    if not held_out:
        return {}
    analysed = analysed or HeldOutText.prepare([t.text for t in held_out], outside_held)
    docs, outside_docs = analysed.docs, analysed.outside
    raw = model.raw_many(docs, analysed.matrix)
    calibrate(model, raw, [t.category for t in held_out])
    scores = model.scores_of(raw)
    scope_in = [s.in_scope for s in scores]
    scope_out = [s.in_scope for s in model.scores_many(outside_docs)]
    model.scope_threshold = round(float(np.quantile(scope_in, 1 - SCOPE_RECALL)), 4) if has_scope else 0.0
    # The thresholds do not move the scores: predict from the ones just computed.
    predictions = model.predict_analysed(docs, explain=False, scores=scores)
    in_scope = [(p, t) for p, t in zip(predictions, held_out, strict=True) if p.in_scope]
    model.review_threshold = choose_threshold(
        [p.confidence for p, _ in in_scope], [p.category == t.category for p, t in in_scope]
    )
    threshold = model.review_threshold
    predictions = [replace(p, needs_review=p.confidence < threshold or not p.in_scope) for p in predictions]
    metrics = evaluate(held_out, predictions, model.labels)
    metrics["scope"] = scope_report(scope_in, scope_out, model.scope_threshold)
    return metrics


def train(
    model_dir: Path,
    corpus: Sequence[LabelledTicket],
    agent_labels: Sequence[LabelledTicket] = (),
    progress: Callable[[str], None] = lambda stage: None,
    out_of_scope: Sequence[tuple[str, str]] | None = None,
    articles: Sequence[Article] | None = None,
) -> TrainReport:
    """Train on the corpus's training split plus agents' decisions, measure on the held-out split, save.

    `articles` are the knowledge base's articles, internal ones included, as search has them (the
    web app passes its index's; default: data/articles).

    `out_of_scope` is (id, text) pairs of text that is not about POS acquiring (default: the
    committed `data/scope/` corpus); agents' "not a POS problem" decisions join it. A quarter of
    each is held out to set and measure the scope threshold. Raises ValueError when fewer than two
    categories have tickets.
    """
    progress("prepare")
    causes = [t for t in agent_labels if t.category != OUT_OF_SCOPE]
    rejected = [(t.id, t.text) for t in agent_labels if t.category == OUT_OF_SCOPE]
    outside = list(read_out_of_scope() if out_of_scope is None else out_of_scope) + rejected
    training, held_out = split(list(corpus))
    held_out = stratified_sample(held_out, HELD_OUT_TICKETS)
    training += causes
    outside_train, outside_held = split_texts(outside)
    if len({t.category for t in training}) < 2:
        raise ValueError("training needs labelled tickets of at least two categories")
    digest = data_hash([*corpus, *agent_labels], [text for _, text in outside])
    version = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M}-{digest[:8]}"
    progress("fit")
    articles = load_articles() if articles is None else articles
    held_texts, outside_texts = [t.text for t in held_out], [text for _, text in outside_held]
    analysed: list[HeldOutText] = []

    def analyse_held_out(featuriser: Featuriser) -> None:  # in this process, on the core a finished fit left
        analysed.append(HeldOutText.prepare(held_texts, outside_texts, featuriser, processes=1))

    with _cycle_collector_paused():
        model = fit(training, articles, [text for _, text in outside_train], version, while_fitting=analyse_held_out)
        progress("evaluate")
        metrics = set_thresholds(model, held_out, outside_texts, has_scope=bool(outside), analysed=analysed[0])
    model.meta.update(review_threshold=model.review_threshold, scope_threshold=model.scope_threshold)
    progress("save")
    save_model(
        model,
        model_dir,
        {
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "data_hash": digest,
            "n_train": len(training),
            "n_heldout": len(held_out),
            "n_agent": len(agent_labels),
            "n_out_of_scope": len(outside_train),
            "metrics": metrics,
        },
    )
    return TrainReport(len(training), len(held_out), len(agent_labels), metrics, model.review_threshold, version)
