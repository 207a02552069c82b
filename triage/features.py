"""Turning ticket text into features: word and character n-gram TF-IDF plus response-code features.

Everything goes through the shared text pipeline (`kb.text`), so triage and search agree on what
a word is. Each text is analysed once; the three feature blocks read the parts they need. The
character block is hashed (sklearn's FeatureHasher over per-text n-gram counts works in compiled
code, where a vocabulary costs a Python dict lookup per n-gram, a third of the transform time);
it needs no names, since explanations are given in words and codes.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer

from kb import text
from kb.codes import load_codes
from kb.text import Analysis, analyse

CODE_WEIGHT = 1.5
CHAR_FEATURES = 2**18
PARALLEL_FROM = 20_000


def analyse_many(texts: list[str]) -> list[Analysis]:
    """`kb.text.analyse` for a large list, spread over all cores (segmentation dominates training time)."""
    workers = os.cpu_count() or 1
    if workers == 1 or len(texts) < PARALLEL_FROM:
        return [analyse(t) for t in texts]
    text.tokenizer()  # load the dictionary once, before forking, so workers share it
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(analyse, texts, chunksize=1000)


def _word_ngrams(doc: Analysis) -> list[str]:
    """Word unigrams and bigrams of the meaningful words (the word block's analyser)."""
    words = doc.terms
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


def _char_ngrams(doc: Analysis) -> list[str]:
    """Character 1- to 3-grams of the normalised text, spaces removed (the character block's analyser)."""
    s = doc.normalised.replace(" ", "")
    return [*s, *(s[i : i + 2] for i in range(len(s) - 1)), *(s[i : i + 3] for i in range(len(s) - 2))]


def _code_tokens(doc: Analysis) -> list[str]:
    """A feature per code and per code's category (the code block's analyser)."""
    table = load_codes()
    return [f"code:{c}" for c in doc.codes] + [f"codecat:{table[c].category}" for c in doc.codes if c in table]


class Featuriser:
    """Fits and applies the three feature blocks; names the word and code columns."""

    def __init__(self) -> None:
        self.word = TfidfVectorizer(analyzer=_word_ngrams, sublinear_tf=True, dtype=np.float32)
        self.char_counts = FeatureHasher(
            n_features=CHAR_FEATURES, input_type="dict", alternate_sign=False, dtype=np.float32
        )
        self.char = TfidfTransformer(sublinear_tf=True)
        self.code = CountVectorizer(analyzer=_code_tokens, binary=True, dtype=np.float32)
        self._names: np.ndarray | None = None

    def fit_transform(self, docs: list[Analysis]) -> sp.csr_matrix:
        """Learn vocabularies and weights from docs and return their feature matrix."""
        words = self.word.fit_transform(docs)
        chars = self.char.fit_transform(self._char_counts(docs))
        # The code vocabulary comes from the code table, so a code no training ticket names still counts.
        table = load_codes()
        self.code.fit([Analysis("", (), (), tuple(table))])
        return sp.hstack([words, chars, self.code.transform(docs) * CODE_WEIGHT], format="csr")

    def transform(self, docs: list[Analysis]) -> sp.csr_matrix:
        """Return the feature matrix of docs with the fitted vocabularies and weights."""
        chars = self.char.transform(self._char_counts(docs))
        return sp.hstack([self.word.transform(docs), chars, self.code.transform(docs) * CODE_WEIGHT], format="csr")

    def _char_counts(self, docs: list[Analysis]) -> sp.csr_matrix:
        # n-gram -> count dicts (Counter counts in C) keep the hasher's loop out of Python bytecode.
        return self.char_counts.transform(Counter(_char_ngrams(d)) for d in docs)

    @property
    def names(self) -> np.ndarray:
        """Readable names of every column ('' for the hashed character block)."""
        if self._names is None:
            self._names = np.concatenate(
                [
                    self.word.get_feature_names_out(),
                    np.full(CHAR_FEATURES, "", dtype=object),
                    self.code.get_feature_names_out(),
                ]
            )
        return self._names
