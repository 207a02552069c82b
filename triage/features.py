"""Turning ticket text into features: word and character n-gram TF-IDF plus response-code features.

Everything goes through the shared text pipeline (`kb.text`), so triage and search agree on what
a word is. Each text is analysed once; the three vectorisers read the parts they need.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from kb import text
from kb.codes import extract_codes, load_codes

MAX_TEXT_CHARS = 2000
CODE_WEIGHT = 1.5


@dataclass(frozen=True)
class Analysed:
    """A ticket text after the pipeline: its words, its normalised form and the codes it names."""

    words: tuple[str, ...]
    normalised: str
    codes: tuple[str, ...]


def analyse(raw: str) -> Analysed:
    """Run one text through the shared pipeline once."""
    raw = raw[:MAX_TEXT_CHARS]
    normalised = text.normalise(raw)
    words = text.drop_stopwords(text.cut_normalised(normalised))
    return Analysed(tuple(words), normalised, tuple(extract_codes(raw)))


def _words(doc: Analysed) -> tuple[str, ...]:
    return doc.words


def _normalised(doc: Analysed) -> str:
    return doc.normalised.replace(" ", "")


def _code_tokens(doc: Analysed) -> list[str]:
    table = load_codes()
    tokens = [f"code:{c}" for c in doc.codes]
    tokens += [f"codecat:{table[c].category}" for c in doc.codes if c in table]
    return tokens


class Featuriser:
    """Fits and applies the three feature blocks; knows the human-readable name of each column."""

    def __init__(self) -> None:
        self.word = TfidfVectorizer(analyzer=_word_ngrams, sublinear_tf=True, min_df=1, dtype=np.float32)
        self.char = TfidfVectorizer(
            analyzer="char", preprocessor=_normalised, ngram_range=(1, 3), sublinear_tf=True, min_df=2, dtype=np.float32
        )
        self.code = CountVectorizer(analyzer=_code_tokens, binary=True, dtype=np.float32)
        self._names: np.ndarray | None = None

    def fit_transform(self, docs: list[Analysed]) -> sp.csr_matrix:
        """Learn the vocabularies from docs and return their feature matrix."""
        blocks = [self.word.fit_transform(docs), self.char.fit_transform(docs)]
        blocks.append(self.code.fit_transform(docs) * CODE_WEIGHT if any(d.codes for d in docs) else None)
        if blocks[2] is None:
            self.code.fit([Analysed((), "", ("58",))])
            blocks[2] = sp.csr_matrix((len(docs), len(self.code.vocabulary_)), dtype=np.float32)
        return sp.hstack(blocks, format="csr")

    def transform(self, docs: list[Analysed]) -> sp.csr_matrix:
        """Return the feature matrix of docs with the fitted vocabularies."""
        blocks = [self.word.transform(docs), self.char.transform(docs), self.code.transform(docs) * CODE_WEIGHT]
        return sp.hstack(blocks, format="csr")

    @property
    def char_columns(self) -> range:
        """The column range of the character n-gram block."""
        start = len(self.word.vocabulary_)
        return range(start, start + len(self.char.vocabulary_))

    @property
    def names(self) -> np.ndarray:
        """Readable names of every column: words, character n-grams, codes."""
        if self._names is None:
            self._names = np.concatenate(
                [
                    self.word.get_feature_names_out(),
                    self.char.get_feature_names_out(),
                    self.code.get_feature_names_out(),
                ]
            )
        return self._names


def _word_ngrams(doc: Analysed) -> list[str]:
    """Word unigrams and bigrams of an analysed ticket (the word block's analyser)."""
    words = doc.words
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]
