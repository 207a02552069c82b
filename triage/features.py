"""Turning ticket text into features: word and character n-gram TF-IDF plus response-code features.

Everything goes through the shared text pipeline (`kb.text`), so triage and search agree on what
a word is. Each text is analysed once; the three feature blocks read the parts they need. The
character block is hashed (sklearn's HashingVectorizer counts in compiled code, where a vocabulary
would cost a Python dict lookup per n-gram, a third of the time of the whole transform); it needs
no names, since explanations are given in words and codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer, TfidfVectorizer

from kb import text
from kb.codes import extract_codes, load_codes

MAX_TEXT_CHARS = 2000
CODE_WEIGHT = 1.5
CHAR_FEATURES = 2**18


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
    return Analysed(tuple(words), normalised, tuple(extract_codes(normalised)))


def _word_ngrams(doc: Analysed) -> list[str]:
    """Word unigrams and bigrams (the word block's analyser)."""
    words = doc.words
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


def _char_ngrams(doc: Analysed) -> list[str]:
    """Character 1- to 3-grams of the normalised text, spaces removed (the character block's analyser)."""
    s = doc.normalised.replace(" ", "")
    return [*s, *(s[i : i + 2] for i in range(len(s) - 1)), *(s[i : i + 3] for i in range(len(s) - 2))]


def _code_tokens(doc: Analysed) -> list[str]:
    """A feature per code and per code's category (the code block's analyser)."""
    table = load_codes()
    return [f"code:{c}" for c in doc.codes] + [f"codecat:{table[c].category}" for c in doc.codes if c in table]


class Featuriser:
    """Fits and applies the three feature blocks; names the word and code columns."""

    def __init__(self) -> None:
        self.word = TfidfVectorizer(analyzer=_word_ngrams, sublinear_tf=True, dtype=np.float32)
        self.char_counts = HashingVectorizer(
            analyzer=_char_ngrams, n_features=CHAR_FEATURES, alternate_sign=False, norm=None, dtype=np.float32
        )
        self.char = TfidfTransformer(sublinear_tf=True)
        self.code = CountVectorizer(analyzer=_code_tokens, binary=True, dtype=np.float32)
        self._names: np.ndarray | None = None

    def fit_transform(self, docs: list[Analysed]) -> sp.csr_matrix:
        """Learn vocabularies and weights from docs and return their feature matrix."""
        words = self.word.fit_transform(docs)
        chars = self.char.fit_transform(self.char_counts.transform(docs))
        # The code vocabulary comes from the code table, so a code no training ticket names still counts.
        table = load_codes()
        self.code.fit([Analysed((), "", tuple(table))])
        return sp.hstack([words, chars, self.code.transform(docs) * CODE_WEIGHT], format="csr")

    def transform(self, docs: list[Analysed]) -> sp.csr_matrix:
        """Return the feature matrix of docs with the fitted vocabularies and weights."""
        chars = self.char.transform(self.char_counts.transform(docs))
        return sp.hstack([self.word.transform(docs), chars, self.code.transform(docs) * CODE_WEIGHT], format="csr")

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
