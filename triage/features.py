"""Turning analysed text into features: word uni/bigram and character 1-3-gram TF-IDF plus
response-code indicators, over vocabularies learned from the training texts.

Every score posdesk learns (category, article relevance, scope) reads these features. Fitting
counts document frequencies; applying them is dictionary look-ups and NumPy, so search and the
command line use a trained model without importing scikit-learn or SciPy. A text becomes a sparse
vector `(columns, values)`: each block is TF-IDF with sublinear term frequency, scaled to unit
length on its own, so a long ticket's many character n-grams cannot drown its few words.
"""

from __future__ import annotations

import bisect
import itertools
import math
import multiprocessing
import os
import sys
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from operator import itemgetter

import numpy as np

from kb import text
from kb.codes import load_codes
from kb.text import Analysis, analyse

CODE_WEIGHT = 1.5
# An n-gram seen in fewer training texts than this says more about one writer than about a problem.
MIN_DF = 2
PARALLEL_FROM = 20_000
MATRIX_CHUNK = 4096
_WORD, _CHAR, _CODE = "w\x1f", "c\x1f", "code:"


def analyse_many(texts: list[str], processes: int | None = None) -> list[Analysis]:
    """`kb.text.analyse` for a large list, spread over `processes` processes (default: all cores;
    segmentation dominates training time). 1 analyses in this process.

    The words of the analyses share one string object per distinct word (`sys.intern`): a word
    comes out of jieba, or out of a worker's pickle, as a new string each time it occurs, and
    100,000 tickets' analyses took 241 MiB that way against 85 MiB shared.
    """
    workers = processes or os.cpu_count() or 1
    if workers == 1 or len(texts) < PARALLEL_FROM:
        return [_shared_words(analyse(t)) for t in texts]
    _load_before_fork()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        # imap: each chunk's unshared copies are dropped as soon as it is compacted.
        return [_shared_words(doc) for doc in pool.imap(analyse, texts, chunksize=1000)]


def featurise_many(
    blocks: Sequence[Sequence[str]],
    fitted_on: int,
    dtype=np.float32,
    processes: int | None = None,
    statements: Sequence[tuple[int, Sequence[int]]] = (),
):
    """([the CSR feature matrix of each block of texts, then of each of `statements`], the
    Featuriser learned from the texts of the first `fitted_on` blocks): `Featuriser.fit` then
    `matrix`, rows in the order of the texts. A statement (block, rows) is the matrix of those rows
    of that block (ascending) read as statements (`matrix(statement=True)`), from the same analyses.

    From PARALLEL_FROM texts on, `processes` forked workers (default: all cores) each take a slice:
    a worker analyses its texts and counts their n-grams, this process adds the counts up into the
    vocabulary and sends it back, and each worker returns its rows of each block. The analyses never
    leave the worker that made them (pickled back and forth they cost more time than the counting
    they spread), and go back to the system when it ends. RuntimeError when a worker fails.
    """
    import scipy.sparse as sp

    texts = [t for block in blocks for t in block]
    bounds = np.cumsum([0, *map(len, blocks)]).tolist()
    counted = bounds[fitted_on]
    # Each statement's rows as indices into `texts`.
    asked = [bounds[block] + np.sort(np.asarray(rows, dtype=np.int64)) for block, rows in statements]
    workers = processes or os.cpu_count() or 1
    if workers == 1 or len(texts) < PARALLEL_FROM:
        docs = [analyse(t) for t in texts]
        featuriser = Featuriser.fit(docs[:counted])
        matrices = [featuriser.matrix(docs[a:b], dtype) for a, b in itertools.pairwise(bounds)]
        matrices += [featuriser.matrix([docs[i] for i in rows], dtype, statement=True) for rows in asked]
        return matrices, featuriser
    _load_before_fork()
    context = multiprocessing.get_context("fork")
    links, started = [], []
    for start, end in itertools.pairwise(np.linspace(0, len(texts), workers + 1).astype(int).tolist()):
        here, there = context.Pipe()
        worker = context.Process(target=_featurise_slice, args=(there, texts, start, end, counted, bounds, asked))
        worker.start()
        there.close()
        links.append(here)
        started.append(worker)
    try:
        featuriser = Featuriser.from_counts(NgramCounts.merged(_received(link) for link in links))
        for link in links:
            link.send(featuriser)
        n = len(blocks) + len(asked)
        pieces = [[_received(link) for _ in range(n)] for link in links]  # each worker's rows of each piece
        return [sp.vstack(rows, format="csr", dtype=dtype) for rows in zip(*pieces, strict=True)], featuriser
    finally:
        for worker in started:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()


def _received(link):
    """The next thing a `_featurise_slice` worker sent; RuntimeError when it failed or ended."""
    try:
        status, payload = link.recv()
    except EOFError:
        raise RuntimeError("a featurising process ended without a result") from None
    if status != "ok":
        raise RuntimeError(f"featurising failed:\n{payload}")
    return payload


def _featurise_slice(link, texts: list[str], start: int, end: int, counted: int, bounds: list[int], asked) -> None:
    """A forked `featurise_many` worker for texts[start:end]: send their n-gram counts (those
    before `counted`), receive the Featuriser, send their rows of each block (blocks start at
    `bounds`) and of each statement (`asked`: indices into texts), float32 (half the bytes to send),
    one message each."""
    try:
        docs = [_shared_words(analyse(t)) for t in texts[start:end]]
        link.send(("ok", NgramCounts.of(docs[: max(0, counted - start)])))
        featuriser = link.recv()
        local = (np.clip(bounds, start, end) - start).tolist()
        # Each piece is sent as soon as it is made and dropped: never all of them held, or pickled, at once.
        for a, b in itertools.pairwise(local):
            link.send(("ok", featuriser.matrix(docs[a:b])))
        for rows in asked:
            mine = rows[(rows >= start) & (rows < end)] - start
            link.send(("ok", featuriser.matrix([docs[i] for i in mine], statement=True)))
    except BaseException:
        link.send(("error", traceback.format_exc()))
    finally:
        link.close()


def _load_before_fork() -> None:
    """Load the dictionary and the pinyin spellings once, before forking, so workers share them."""
    text.tokenizer()
    text.pinyin_index()


def _shared_words(doc: Analysis) -> Analysis:
    words, terms = tuple(map(sys.intern, doc.words)), tuple(map(sys.intern, doc.terms))
    statement = terms if doc.statement is doc.terms else tuple(map(sys.intern, doc.statement))
    return replace(doc, words=words, terms=terms, statement=statement)


def word_ngrams(doc: Analysis, statement: bool = False) -> list[str]:
    """Unigrams and bigrams of the meaningful words (typo corrections are search's business: a
    tone-blind guess such as 店搬 -> 电板 must not move a ticket's category). `statement`: of the
    words without question words (`Analysis.statement`, what the scope check reads)."""
    words = doc.statement if statement else doc.terms
    return [*words, *(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))]


def char_stretches(doc: Analysis, statement: bool = False) -> tuple[str, ...]:
    """The stretches of text the character n-grams come from: the normalised text, or with
    `statement` its stretches between question words (`Analysis.content`)."""
    return doc.content if statement else (doc.normalised,)


def char_ngrams(doc: Analysis, statement: bool = False) -> list[str]:
    """Character 1- to 3-grams of the text's stretches (`char_stretches`), spaces removed; no
    n-gram crosses from one stretch to the next."""
    return [
        gram
        for s in (s.replace(" ", "") for s in char_stretches(doc, statement))
        for gram in (*s, *(s[i : i + 2] for i in range(len(s) - 1)), *(s[i : i + 3] for i in range(len(s) - 2)))
    ]


# The character block works on integer keys, not strings: a 1-3-gram is three 21-bit slots holding
# code point + 1 (0: no character), so a batch's n-grams are NumPy arithmetic over its code points
# instead of millions of new strings hashed one by one (featurising 2x faster, the same columns).
_SLOT = 21
_SLOT_MASK = (1 << _SLOT) - 1


def _code_points(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(code point + 1 of every character of the strings, one after another; each string's length)."""
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    codes = np.frombuffer("".join(strings).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codes.astype(np.uint64) + 1, lengths


def char_gram_keys(texts: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(keys, owners): every character 1-, 2- and 3-gram of each text, a text being its stretches
    (`Analysis.content`; spaces removed and no n-gram crossing stretches, as `char_ngrams`), as a
    uint64 key, and the index of the text it comes from."""
    codes, lengths = _code_points([s.replace(" ", "") for text in texts for s in text])
    stretch_owner = np.repeat(np.arange(len(texts), dtype=np.int64), [len(text) for text in texts])
    owner = np.repeat(stretch_owner, lengths)
    ends = np.repeat(np.cumsum(lengths), lengths)  # one past each character's stretch
    at = np.arange(len(codes))
    two, three = at[at + 1 < ends], at[at + 2 < ends]
    first = codes << np.uint64(2 * _SLOT)
    second = codes << np.uint64(_SLOT)
    keys = np.concatenate([first, first[two] | second[two + 1], first[three] | second[three + 1] | codes[three + 2]])
    return keys, np.concatenate([owner, owner[two], owner[three]])


def _char_gram_text(key: int) -> str:
    slots = (key >> 2 * _SLOT, (key >> _SLOT) & _SLOT_MASK, key & _SLOT_MASK)
    return "".join(chr(slot - 1) for slot in slots if slot)


def _char_gram_keys_of(grams: list[str]) -> np.ndarray:
    """The key of each 1-3-character n-gram (a vocabulary's names, vectorised: models load in ms)."""
    codes, lengths = _code_points(grams)
    at = np.cumsum(lengths) - lengths
    keys = np.zeros(len(grams), dtype=np.uint64)
    for slot, shift in ((0, 2 * _SLOT), (1, _SLOT), (2, 0)):
        longer = lengths > slot
        keys[longer] |= codes[at[longer] + slot] << np.uint64(shift)
    return keys


@dataclass(frozen=True)
class NgramCounts:
    """Document frequencies of some texts, what a vocabulary is learned from: `n` texts, word
    n-gram -> texts holding it, and each character n-gram key (sorted, see `char_gram_keys`) with
    the texts holding it."""

    n: int
    words: Counter
    char_keys: np.ndarray
    char_df: np.ndarray

    @classmethod
    def of(cls, docs: list[Analysis]) -> NgramCounts:
        """Count these texts' n-grams (each text counts an n-gram once)."""
        words: Counter = Counter()
        for doc in docs:
            words.update(set(word_ngrams(doc)))
        keys, owners = char_gram_keys([char_stretches(doc) for doc in docs])
        order = np.lexsort((owners, keys))
        keys, owners = keys[order], owners[order]
        first = np.ones(len(keys), dtype=bool)  # each (key, text) pair once
        first[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
        keys, df = np.unique(keys[first], return_counts=True)
        return cls(len(docs), words, keys, df)

    @classmethod
    def merged(cls, parts: Iterable[NgramCounts]) -> NgramCounts:
        """The counts of all these parts' texts together."""
        n, words, keys, dfs = 0, Counter(), [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
        for part in parts:
            n += part.n
            words.update(part.words)
            keys.append(part.char_keys)
            dfs.append(part.char_df)
        keys, where = np.unique(np.concatenate(keys), return_inverse=True)
        df = np.bincount(where, weights=np.concatenate(dfs), minlength=len(keys)).astype(np.int64)
        return cls(n, words, keys, df)


class Featuriser:
    """The fitted vocabulary (feature name -> column) and inverse document frequencies.

    Columns are ordered words, then characters, then one per response code in the code table (so
    a code no training ticket names still counts).
    """

    def __init__(self, names: list[str], idf: np.ndarray) -> None:
        self.names = names
        self.idf = idf.astype(np.float32)
        # One dictionary per block, n-gram -> column: no prefixed key to build per n-gram. Names come
        # in block order (words, characters, codes), so each dictionary is built in C from a slice.
        self.blocks: dict[str, dict[str, int]] = {}
        start = 0
        for prefix in (_WORD, _CHAR, _CODE):
            end = bisect.bisect_left(names, True, lo=start, key=lambda n, p=prefix: not n.startswith(p))
            strip = itemgetter(slice(len(prefix), None))
            if prefix == _CHAR:  # sorted integer keys and their columns (see char_gram_keys)
                keys = _char_gram_keys_of(list(map(strip, names[start:end])))
                order = np.argsort(keys)
                self.char_keys, self.char_columns = keys[order], order + start
            else:
                self.blocks[prefix] = dict(zip(map(strip, names[start:end]), range(start, end), strict=True))
            start = end
        if start != len(names):
            raise ValueError("feature names are not in block order (words, characters, codes)")

    def __reduce__(self):
        """Pickled as its names and idf (the look-up tables are rebuilt from them in ms)."""
        return (Featuriser, (self.names, self.idf))

    @classmethod
    def fit(cls, docs: Iterable[Analysis], min_df: int = MIN_DF) -> Featuriser:
        """Learn the vocabulary and idf from training texts (n-grams in fewer than min_df texts are dropped)."""
        docs = iter(docs)
        chunks = iter(lambda: list(itertools.islice(docs, MATRIX_CHUNK)), [])
        return cls.from_counts(NgramCounts.merged(map(NgramCounts.of, chunks)), min_df)

    @classmethod
    def from_counts(cls, counts: NgramCounts, min_df: int = MIN_DF) -> Featuriser:
        """The vocabulary and idf of the texts these are the counts of (see `fit`)."""
        frequent = counts.char_df >= min_df
        char_df = {
            _char_gram_text(int(k)): int(c)
            for k, c in zip(counts.char_keys[frequent], counts.char_df[frequent], strict=True)
        }
        names, idf = [], []
        for prefix, df in ((_WORD, counts.words), (_CHAR, char_df)):
            kept = sorted(g for g, k in df.items() if k >= min_df)
            names += [prefix + g for g in kept]
            idf += [math.log((1 + counts.n) / (1 + df[g])) + 1.0 for g in kept]
        codes = [_CODE + c for c in load_codes()]
        return cls(names + codes, np.array(idf + [1.0] * len(codes), dtype=np.float32))

    @property
    def size(self) -> int:
        """How many columns a vector has."""
        return len(self.names)

    def vector(self, doc: Analysis, statement: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The sparse feature vector of one analysed text: (column indices, values); `statement`:
        of the text without its question words (see `word_ngrams`, `char_stretches`)."""
        parts_cols, parts_vals = [], []
        counts = Counter(word_ngrams(doc, statement))
        # Look-ups in C (map over dict.get), arithmetic in NumPy: a Python loop per n-gram is the slow part.
        words = np.fromiter(map(self.blocks[_WORD].get, counts, repeat(-1)), dtype=np.int64, count=len(counts))
        keys, char_tf = np.unique(char_gram_keys([char_stretches(doc, statement)])[0], return_counts=True)
        chars = self._char_columns_of(keys)
        for cols, tf in ((words, np.fromiter(counts.values(), dtype=np.float32, count=len(counts))), (chars, char_tf)):
            known = cols >= 0
            cols = cols[known]
            vals = (1.0 + np.log(tf[known].astype(np.float32))) * self.idf[cols]
            norm = float(np.sqrt(vals @ vals)) or 1.0
            parts_cols.append(cols)
            parts_vals.append(vals / norm)
        codes = [self.blocks[_CODE][c] for c in doc.codes if c in self.blocks[_CODE]]
        parts_cols.append(np.array(codes, dtype=np.int64))
        parts_vals.append(np.full(len(codes), CODE_WEIGHT, dtype=np.float32))
        return np.concatenate(parts_cols).astype(np.int32), np.concatenate(parts_vals).astype(np.float32)

    def matrix(self, docs: Iterable[Analysis], dtype=np.float32, statement: bool = False):
        """The feature vectors of many texts as a SciPy CSR matrix, rows equal to `vector`'s (with
        the same `statement`).

        Vectorised over the whole batch: one C-level look-up over every n-gram, term counts by
        `np.unique`, block norms by `np.bincount` (a per-text loop would cost more than the model).
        Values are float32; `dtype=np.float64` widens them chunk by chunk (what liblinear fits on,
        without a float64 copy of the whole matrix beside the float32 one).
        """
        import scipy.sparse as sp

        docs = list(docs)
        if len(docs) > MATRIX_CHUNK:  # every n-gram string of a chunk is alive at once: bound it
            chunks = (docs[i : i + MATRIX_CHUNK] for i in range(0, len(docs), MATRIX_CHUNK))
            parts = [self.matrix(chunk, dtype, statement) for chunk in chunks]
            return sp.vstack(parts, format="csr")
        rows, cols, vals = [], [], []
        grams, owner = [], []
        for i, doc in enumerate(docs):
            found = word_ngrams(doc, statement)
            grams += found
            owner.append(np.full(len(found), i, dtype=np.int64))
        words = np.fromiter(map(self.blocks[_WORD].get, grams, repeat(-1)), dtype=np.int64, count=len(grams))
        keys, char_owner = char_gram_keys([char_stretches(doc, statement) for doc in docs])
        word_owner = np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64)
        for ids, owner in ((words, word_owner), (self._char_columns_of(keys), char_owner)):
            known = ids >= 0
            pairs, tf = np.unique(owner[known] * self.size + ids[known], return_counts=True)
            row, col = pairs // self.size, pairs % self.size
            val = (1.0 + np.log(tf.astype(np.float32))) * self.idf[col]
            norm = np.sqrt(np.bincount(row, weights=val * val, minlength=len(docs)))
            rows.append(row)
            cols.append(col)
            vals.append(val / np.where(norm > 0, norm, 1.0)[row])
        codes = [(i, self.blocks[_CODE][c]) for i, doc in enumerate(docs) for c in doc.codes if c in self.blocks[_CODE]]
        rows.append(np.array([i for i, _ in codes], dtype=np.int64))
        cols.append(np.array([j for _, j in codes], dtype=np.int64))
        vals.append(np.full(len(codes), CODE_WEIGHT))
        matrix = sp.csr_matrix(
            (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(len(docs), self.size),
        )
        matrix.sort_indices()
        return matrix.astype(dtype, copy=False)

    def _char_columns_of(self, keys: np.ndarray) -> np.ndarray:
        """The column of each character n-gram key, -1 for one outside the vocabulary."""
        if not len(self.char_keys):
            return np.full(len(keys), -1, dtype=np.int64)
        keys, repeated = np.unique(keys, return_inverse=True)  # sorted and fewer: searching is 2x faster
        at = np.minimum(np.searchsorted(self.char_keys, keys), len(self.char_keys) - 1)
        return np.where(self.char_keys[at] == keys, self.char_columns[at], -1)[repeated]

    def label(self, column: int) -> str:
        """A readable name for a column: the word n-gram, the code as "应答码 58", '' for characters."""
        name = self.names[column]
        if name.startswith(_WORD):
            return name[len(_WORD) :]
        if name.startswith(_CODE):
            return "应答码 " + name[len(_CODE) :]
        return ""
