"""Development only: variants of the triage category block against the character-gram SVC peer.

    .venv/bin/python bench/triage_variants.py [VARIANT ...]

A VARIANT is comma-separated `name=value` settings (default: the model as it is, then a small grid):
    ww     weight of the word n-gram block (the character block has length 1)      default 1.0
    w3     weight of character 3-grams before the character block is renormalised  default 1.0
    wbig   weight of word bigrams before the word block is renormalised            default 1.0
    C      LinearSVC's C                                                            default 0.5
    own    1: the articles' and response codes' own text join as category rows     default 0
    art    weight of the article ranker's evidence: each category's best article margin,
           added to the category margin                                             default 0
e.g. `bench/triage_variants.py "ww=0.5,C=1" "w3=0"`.

Every variant and the peer train on the training split of data/tickets and are scored (macro-F1
over the categories, the category's argmax only: no scope check, no review threshold) on the
held-out split, the independent set and the spent blind ticket sets a-d. Those sets have been read:
figures from here choose what to try, never what to claim. The last column is the mean over the
natural sets (the independent and blind tickets, written by people who never saw the corpus),
leaving out the held-out split of the corpus the model trains on. The sealed sets (bench/blind/sealed/)
are not read here; `triage_bench.py quality --blind` measures a change once, at its end.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC
from triage_bench import CHAR_PEER, REPO, peers, scores

from kb.articles import load_articles
from kb.codes import load_codes
from triage.dataset import read_tickets, split, ticket_files
from triage.features import _CHAR, _WORD, Featuriser, analyse_many
from triage.prediction import OUT_OF_SCOPE
from triage.training import CATEGORY_C, RANKER_C, article_documents, code_documents, ranker_rows

BLIND = REPO / "bench" / "blind"
SETS = {
    "held-out": None,
    "independent": [REPO / "bench" / "tickets_independent.jsonl"],
    "blind a+b": [BLIND / "tickets-a.jsonl", BLIND / "tickets-b.jsonl"],
    "blind c+d": [BLIND / "tickets-c.jsonl", BLIND / "tickets-d.jsonl"],
}
NATURAL = ("independent", "blind a+b", "blind c+d")
SETTINGS = {"ww": 1.0, "w3": 1.0, "wbig": 1.0, "C": CATEGORY_C, "own": 0.0, "art": 0.0}
GRID = ["", "ww=0.7", "ww=0.5", "w3=0", "C=1", "ww=0.5,C=1", "own=1", "art=0.25", "art=0.5", "art=1"]


class Data:
    """The training split and evaluation sets, featurised once by posdesk's featuriser."""

    def __init__(self) -> None:
        train, held = split(read_tickets(ticket_files()))
        self.train = train
        self.sets = {name: held if paths is None else read_tickets(paths) for name, paths in SETS.items()}
        self.sets = {name: [t for t in s if t.category != OUT_OF_SCOPE] for name, s in self.sets.items()}
        self.labels = sorted({t.category for t in train})
        self.y = np.array([t.category for t in train])
        docs = analyse_many([t.text for t in train])
        self.featuriser = f = Featuriser.fit(docs)
        self.x = f.matrix(docs, dtype=np.float64)
        self.xs = {name: f.matrix(analyse_many([t.text for t in s]), dtype=np.float64) for name, s in self.sets.items()}
        kb = load_articles()
        category = {a.slug: a.category for a in kb}
        own = [(text, category[slug]) for text, slug in article_documents(kb) + code_documents(load_codes())]
        self.x_own = f.matrix(analyse_many([text for text, _ in own]), dtype=np.float64)
        self.y_own = np.array([c for _, c in own])
        # The article ranker as training fits it (RANKER_TICKETS_PER_ARTICLE tickets per article,
        # then the articles' and codes' own text), scored on every set, best article per category.
        rows = ranker_rows(train, set(category))
        own_slugs = [slug for _, slug in article_documents(kb) + code_documents(load_codes())]
        ranker = LinearSVC(C=RANKER_C, tol=1e-3, random_state=0)
        ranker.fit(sp.vstack([self.x[rows], self.x_own]), [train[i].articles[0] for i in rows] + own_slugs)
        owner = np.array([self.labels.index(category[s]) for s in ranker.classes_])
        self.article_evidence = {}
        for name, x in self.xs.items():
            margins = ranker.decision_function(x)
            best = np.full((x.shape[0], len(self.labels)), -np.inf)
            for j, label in enumerate(owner):
                best[:, label] = np.maximum(best[:, label], margins[:, j])
            self.article_evidence[name] = np.where(np.isfinite(best), best, margins.min())
        names = f.names
        self.n_words = sum(1 for n in names if n.startswith(_WORD))
        self.n_chars = sum(1 for n in names if n.startswith(_CHAR))
        self.bigram = np.array([" " in n for n in names[: self.n_words]])
        self.char_len = np.array([len(n) - len(_CHAR) for n in names[self.n_words : self.n_words + self.n_chars]])

    def macro_f1(self, name: str, guess) -> float:
        return scores([t.category for t in self.sets[name]], list(guess), self.labels)["macro_f1"]

    def reweighted(self, x, s: dict):
        """The rows with the word and character blocks reweighted (each renormalised, then the word
        block scaled by ww against the character block's unit length); codes as they are."""
        w, c = self.n_words, self.n_chars
        scale = np.ones(x.shape[1])
        scale[:w] = np.where(self.bigram, s["wbig"], 1.0)
        scale[w : w + c] = np.where(self.char_len == 3, s["w3"], 1.0)
        x = (x @ sp.diags(scale)).tocsr()
        return sp.hstack([normalize(x[:, :w]) * s["ww"], normalize(x[:, w : w + c]), x[:, w + c :]], format="csr")


def parse(variant: str) -> dict:
    settings = dict(SETTINGS)
    for part in filter(None, variant.split(",")):
        key, _, value = part.partition("=")
        if key.strip() not in SETTINGS:
            raise SystemExit(f"unknown setting {key!r}: use {', '.join(SETTINGS)}")
        settings[key.strip()] = float(value)
    return settings


def row(label: str, f1: dict[str, float]) -> str:
    natural = np.mean([f1[n] for n in NATURAL])
    return f"| {label} | " + " | ".join(f"{f1[n]:.3f}" for n in SETS) + f" | {natural:.3f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", default=GRID)
    args = parser.parse_args()
    settings = [parse(v) for v in args.variants]
    data = Data()
    print(f"training tickets: {len(data.train)}; " + ", ".join(f"{n}: {len(s)}" for n, s in data.sets.items()))
    print("| model | " + " | ".join(SETS) + " | mean of the natural sets |")
    print("|---|" + "---:|" * (len(SETS) + 1))
    vectoriser, peer = peers()[CHAR_PEER]
    peer.fit(vectoriser.fit_transform([t.text for t in data.train]), data.y)
    guesses = {n: peer.predict(vectoriser.transform([t.text for t in s])) for n, s in data.sets.items()}
    print(row(f"peer: {CHAR_PEER}", {n: data.macro_f1(n, guess) for n, guess in guesses.items()}))
    for variant, s in zip(args.variants, settings, strict=True):
        x, y = data.reweighted(data.x, s), data.y
        if s["own"]:
            x, y = sp.vstack([x, data.reweighted(data.x_own, s)], format="csr"), np.r_[y, data.y_own]
        model = LinearSVC(C=s["C"], class_weight="balanced", tol=1e-3, random_state=0).fit(x, y)
        assert list(model.classes_) == data.labels
        f1 = {}
        for n in SETS:
            margins = model.decision_function(data.reweighted(data.xs[n], s)) + s["art"] * data.article_evidence[n]
            f1[n] = data.macro_f1(n, model.classes_[margins.argmax(axis=1)])
        print(row(f"posdesk {variant or '(as it is)'}", f1))


if __name__ == "__main__":
    main()
