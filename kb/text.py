"""The one text pipeline: normalising, finding response codes, segmenting and canonicalising
synonyms, once per text, in `analyse`.

Search, triage and ticket filing all call `analyse`, so the knowledge base and triage can never
disagree about what a word or a code is. Dictionaries are loaded once per process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import logging
import re
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path

import opencc

from kb import pinyin, tablecache
from kb.articles import ArticleError, parse_article
from kb.codes import extract_codes
from kb.paths import data_dir


def _import_jieba():
    """Import jieba without setuptools' pkg_resources.

    jieba 0.42 imports pkg_resources only to open the files it ships, and opens them by path when
    pkg_resources is missing (its own fallback; upstream fxsjy/jieba#1044 replaces it). Importing
    pkg_resources costs 0.25-0.3 s, a fifth of every command's start, and setuptools deprecates it.
    It is hidden during jieba's import alone: anything else importing it later still gets it.
    """
    if "jieba" in sys.modules or "pkg_resources" in sys.modules:
        return importlib.import_module("jieba")
    sys.modules["pkg_resources"] = None  # `import pkg_resources` raises ImportError meanwhile
    try:
        return importlib.import_module("jieba")
    finally:
        del sys.modules["pkg_resources"]


jieba = _import_jieba()

MAX_TEXT_CHARS = 2000
_T2S = opencc.OpenCC("t2s")
_SPACE = re.compile(r"\s+")
_LATIN_NEXT_TO_HAN = re.compile(r"[\u4e00-\u9fff][a-z]|[a-z][\u4e00-\u9fff]")
_WORDLIKE = re.compile(r"[\w+#.-]*\w", re.UNICODE)
# Four or more Latin letters in a row, or two Latin words: maybe a query typed in full pinyin.
_PINYIN_LIKE = re.compile(r"[a-z]{4}|[a-z]{2} [a-z]{2}")
_HAN_ONLY = re.compile(r"[\u4e00-\u9fff]+")
_HAN_WORD = re.compile(r"[\u4e00-\u9fff]{2,4}")
_READING_WORD = re.compile(r"[\u4e00-\u9fff]{2,6}")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
# Words jieba's dictionary counts this often or more are common enough to be read back from pinyin.
EVERYDAY_MIN_FREQ = 50
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Lexicon:
    """The domain vocabulary: canonical forms of colloquial variants, the stopwords, the filler
    phrases (courtesy and urgency, longest first) that never decide whether a text is in scope, and
    the question words (`data/jieba/questions.txt`) that the scope check never reads."""

    canonical: dict[str, str]
    stopwords: frozenset[str]
    filler: tuple[str, ...] = ()
    questions: frozenset[str] = frozenset()

    @cached_property
    def _filler_pattern(self) -> re.Pattern[str] | None:
        return re.compile("|".join(map(re.escape, self.filler))) if self.filler else None

    def without_filler(self, normalised: str) -> str:
        """The normalised text with its filler phrases removed (spaces folded)."""
        pattern = self._filler_pattern
        return _SPACE.sub(" ", pattern.sub(" ", normalised)).strip() if pattern else normalised


def _read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@cache
def lexicon(root: Path | None = None) -> Lexicon:
    """Load the synonym groups, stopwords, filler phrases and question words from `data/jieba/`."""
    folder = (root or data_dir()) / "jieba"
    canonical: dict[str, str] = {}
    for line in _read_lines(folder / "synonyms.txt"):
        head, *variants = line.lower().split()
        for word in (head, *variants):
            canonical.setdefault(word, head)
    stopwords = frozenset(_read_lines(folder / "stopwords.txt"))
    filler = sorted({line.lower() for line in _read_lines(folder / "filler.txt")}, key=lambda f: (-len(f), f))
    questions = frozenset(line.lower() for line in _read_lines(folder / "questions.txt"))
    return Lexicon(canonical=canonical, stopwords=stopwords, filler=tuple(filler), questions=questions)


_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()
DICTIONARY_FORMAT = 4  # bump when what the cached dictionary holds changes


def tokenizer() -> jieba.Tokenizer:
    """Return this process's jieba tokenizer with the domain dictionary loaded.

    The merged dictionary (jieba's own, the user dictionary, every synonym variant but plain
    Latin words at frequency 5,000 or more) is built once and kept in the cache folder
    (`kb.tablecache`), keyed by its sources: a later process reads it in about 0.2 s, where
    jieba's own loader takes about 0.7 s and the user dictionary another 0.1 s. A cache that cannot
    be read or written is rebuilt or skipped, never an error.
    """
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                key = _dictionary_key()
                match tablecache.read("jieba", key):
                    case (dict() as freq, int() as total) if freq and total > 0:
                        tok.FREQ, tok.total = freq, total
                        tok.initialized = True
                    case _:
                        _build_dictionary(tok)
                        tablecache.write("jieba", key, (tok.FREQ, tok.total))
                _tokenizer = tok
    return _tokenizer


def preload() -> None:
    """Load every table `analyse` may need (the dictionary, the pinyin and homophone tables) now
    instead of at a first text that needs it: a server calls this before forking its workers, which
    then share the pages."""
    tokenizer()
    pinyin.preload(domain_terms())
    pinyin_index()
    initials_index()


def _build_dictionary(tok: jieba.Tokenizer) -> None:
    tok.initialize()
    with (data_dir() / "jieba" / "userdict.txt").open("rb") as f:  # jieba leaves a path open
        tok.load_userdict(f)
    for word in lexicon().canonical:
        # A run of Latin letters and digits stays one word without an entry (jieba's cut keeps such
        # runs whole); with one, jieba would cut it out of longer words: "coffee" -> "cof" + "fee".
        if tok.FREQ.get(word, 0) < 5000 and not _LATIN_WORD.fullmatch(word):
            tok.add_word(word, freq=5000)


def _dictionary_key() -> str:
    """A digest of everything the merged dictionary is built from (jieba's dictionary by version,
    size and mtime; the domain files by content)."""
    digest = hashlib.sha256(f"{DICTIONARY_FORMAT} {jieba.__version__}".encode())
    jieba_dict = Path(jieba.__file__).with_name("dict.txt")
    stat = jieba_dict.stat()
    digest.update(f"{jieba_dict} {stat.st_size} {stat.st_mtime_ns}".encode())
    for name in ("userdict.txt", "synonyms.txt"):
        digest.update((data_dir() / "jieba" / name).read_bytes())
    return digest.hexdigest()[:20]


def normalise(text: str) -> str:
    """Fold width and case, convert Traditional to Simplified and undo pinyin obfuscation. A lone
    surrogate (from bytes that were not UTF-8, or a JSON escape) becomes U+FFFD: no text can make
    the analysis fail."""
    text = unicodedata.normalize("NFKC", _LONE_SURROGATE.sub("\ufffd", text)).lower()
    text = _T2S.convert(text)
    if _LATIN_NEXT_TO_HAN.search(text):
        text = pinyin.undo_obfuscation(text, _frequency())
    if _PINYIN_LIKE.search(text):
        text = pinyin.restore_full_pinyin(text, pinyin_index())
    if pinyin.may_hold_initials(text):
        text = pinyin.restore_initials(text, initials_index())
    return _SPACE.sub(" ", text).strip()


def _frequency():
    """How common a word is, domain words first: restoring 打yin picks 打印 over 打听."""
    freq, domain = tokenizer().FREQ, domain_terms()
    return lambda word: freq.get(word, 0) + (10**8 if word in domain else 0)


# What one occurrence in the knowledge base's titles and tags adds to a reading term's frequency
# when pinyin is read back: 换机 (three occurrences) over 缓急 for "huanji".
KB_OCCURRENCE_WEIGHT = 10**4
# How much more common in everyday Chinese than in the knowledge base a title or tag word may be
# and still be read back from pinyin on its own (`reading_terms`).
KB_SPECIFICITY = 100


@cache
def initials_index() -> dict[str, tuple[str, bool]]:
    """What pinyin initials may stand for (`pinyin.initials_index`): the reading terms, domain terms
    first, then by occurrences in the knowledge base, then by jieba's frequency (商户 over 时候 for
    "sh"). Kept in the cache folder like the dictionary (`_reader_table`)."""

    def build() -> dict[str, tuple[str, bool]]:
        freq, domain, counts = tokenizer().FREQ, domain_terms(), reading_terms()
        return pinyin.initials_index(counts, lambda w: (w in domain, counts[w], freq.get(w, 0)), domain=domain)

    return _reader_table("initials", build)


@cache
def pinyin_index() -> dict:
    """What full pinyin may spell (`pinyin.full_pinyin_index`): the reading terms (their frequency
    raised by KB_OCCURRENCE_WEIGHT per occurrence in the knowledge base), and jieba's common words
    of 2-4 Han characters (frequency EVERYDAY_MIN_FREQ or more, about 46,000). Kept in the cache
    folder like the dictionary (`_reader_table`): reading it takes about 0.05 s, building it 0.9 s."""

    def build() -> dict:
        freq, counts = tokenizer().FREQ, reading_terms()
        everyday = (w for w, f in freq.items() if f >= EVERYDAY_MIN_FREQ and w not in counts and _HAN_WORD.fullmatch(w))
        spelled = ((w, freq.get(w, 0) + KB_OCCURRENCE_WEIGHT * counts[w], True) for w in sorted(counts))
        latin = sorted(w for w in lexicon().canonical if _LATIN_WORD.fullmatch(w))
        return pinyin.full_pinyin_index((*spelled, *((w, freq[w], False) for w in sorted(everyday))), latin)

    return _reader_table("pinyin", build)


def _reader_table(kind: str, build: Callable[[], dict]) -> dict:
    """A pinyin reader's table from the cache folder (`kb.tablecache`), built and stored when
    missing. Keyed by everything it is built from: the dictionary's sources, the articles (titles
    and tags give the reading terms), pypinyin's version and the code that builds it."""
    digest = hashlib.sha256(f"{_dictionary_key()} {importlib.metadata.version('pypinyin')}".encode())
    try:
        for path in (Path(__file__), Path(pinyin.__file__), *sorted((data_dir() / "articles").glob("*.md"))):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    except OSError:  # an article removed while it was read: build, and let the next process cache
        return build()
    key = digest.hexdigest()[:20]
    table = tablecache.read(kind, key)
    if not isinstance(table, dict) or not table:
        table = build()
        tablecache.write(kind, key, table)
    return table


def is_word(chars: str) -> bool:
    """True when jieba's dictionary (with the domain words) knows chars as a word of its own."""
    return tokenizer().FREQ.get(chars, 0) > 0


def reading_terms() -> dict[str, int]:
    """What a run of pinyin may be read back as on its own -> how often it occurs in the knowledge
    base's titles and tags: the domain terms, and the words of 2-6 Han characters in those titles
    and tags (商户, 报修, 换机: words merchants ask with that are too common for the domain
    dictionary). A title or tag word counts only when it is specific to the knowledge base: jieba's
    frequency at most KB_SPECIFICITY times its occurrences there (商户 70 against 50 occurrences;
    not 时候, 31,521 against 2). Read from the article files in `data/articles/`; a file that does
    not parse adds nothing (the knowledge-base build reports it)."""
    return _reading_terms(data_dir())


@cache
def _reading_terms(root: Path) -> dict[str, int]:
    domain, tok = _domain_terms(root), tokenizer()
    counts = dict.fromkeys(domain, 0)
    for path in sorted((root / "articles").glob("*.md")):
        try:
            article = parse_article(path)
        except (ArticleError, OSError, UnicodeDecodeError):
            continue
        for phrase in (article.title, *article.tags):
            for word in tok.lcut(unicodedata.normalize("NFKC", phrase).lower()):
                if _READING_WORD.fullmatch(word):
                    counts[word] = counts.get(word, 0) + 1
    return {w: n for w, n in counts.items() if w in domain or tok.FREQ.get(w, 0) <= KB_SPECIFICITY * n}


def domain_terms() -> frozenset[str]:
    """The domain vocabulary: the user dictionary and every synonym variant."""
    return _domain_terms(data_dir())


@cache
def _domain_terms(root: Path) -> frozenset[str]:
    words = {line.split()[0] for line in _read_lines(root / "jieba" / "userdict.txt")}
    return frozenset(words | set(lexicon().canonical))


@dataclass(frozen=True)
class Typo:
    """A run of words that is no word of the dictionary but sounds like a domain term (东结 -> 冻结)."""

    words: tuple[str, ...]
    term: str


@dataclass(frozen=True)
class Analysis:
    """One text after the pipeline.

    `normalised` is the folded, Simplified, de-obfuscated text; `words` its canonical words in
    order (stopwords kept, punctuation dropped); `terms` the words that carry meaning (stopwords
    dropped); `codes` the known response codes it names, in order of appearance, each once;
    `typos` the homophone typos found, each with the domain term it stands for. `content` is the
    normalised text cut at its question words and question marks (`data/jieba/questions.txt`),
    which are left out, spaces removed; `statement` the terms without question words: the text as
    a statement, which the scope check reads, so that asking ("手续费怎么涨了") and telling
    ("手续费涨了") are alike to it.
    """

    normalised: str
    words: tuple[str, ...]
    terms: tuple[str, ...]
    codes: tuple[str, ...]
    content: tuple[str, ...]
    statement: tuple[str, ...]

    @property
    def asks(self) -> bool:
        """True when the text holds question words: its statement differs from the text."""
        return self.statement != self.terms or "".join(self.content) != self.normalised.replace(" ", "")

    @cached_property
    def typos(self) -> tuple[Typo, ...]:
        """Found on first use: search needs them, batch triage does not."""
        return find_typos(self.words)

    @property
    def pieces(self) -> list[str]:
        """Two-character pieces of the meaningful words (see `word_pieces`)."""
        return word_pieces(list(self.terms))

    def corrected(self) -> str:
        """The normalised text with each typo replaced by the term it stands for."""
        fixed = self.normalised
        for typo in self.typos:
            fixed = fixed.replace("".join(typo.words), typo.term, 1)
        return fixed

    @property
    def corrections(self) -> tuple[str, ...]:
        """The canonical terms the typos stand for, each once."""
        canonical = lexicon().canonical
        return tuple(dict.fromkeys(canonical.get(t.term, t.term) for t in self.typos))


def analyse(raw: str, max_chars: int = MAX_TEXT_CHARS) -> Analysis:
    """Run a text through the whole pipeline once; only its first `max_chars` characters count.

    Cost is linear in the text's length (bounded by max_chars).
    """
    normalised = normalise(raw[:max_chars])
    pieces = tokenizer().lcut(normalised, HMM=False)
    words = tuple(canonical_words(pieces))
    terms = tuple(drop_stopwords(list(words)))
    questions = lexicon().questions
    statement = tuple(w for w in terms if w not in questions)
    statement = terms if len(statement) == len(terms) else statement  # most texts: one tuple, not two
    content = _stretches(pieces, questions) if any(p in questions for p in pieces) else (normalised.replace(" ", ""),)
    return Analysis(normalised, words, terms, tuple(extract_codes(normalised)), tuple(filter(None, content)), statement)


def _stretches(pieces: list[str], questions: frozenset[str]) -> tuple[str, ...]:
    """The text between its question words, spaces removed."""
    found, current = [], []
    for piece in pieces:
        if piece in questions:
            found.append("".join(current))
            current = []
        elif not piece.isspace():
            current.append(piece)
    found.append("".join(current))
    return tuple(found)


def find_typos(words: tuple[str, ...]) -> tuple[Typo, ...]:
    """Homophone typos: consecutive words that together sound like a domain term they are not
    (东结 -> 冻结, 通迅 -> 通讯, 跳马 -> 跳码), with the term each stands for.

    Candidates are whole words or runs of whole words of 2-4 characters, never a stretch that
    cuts a word in two, so 刷卡不跳商户 offers no false 客服. Linear in the number of words.
    """
    stop, domain = lexicon().stopwords, domain_terms()
    found: list[Typo] = []
    i = 0
    while i < len(words):
        best = None
        for j in range(i + 1, min(len(words), i + _LONGEST_TYPO_WORDS) + 1):
            run = words[i:j]
            chars = "".join(run)
            if len(chars) > 4 or any(w in stop or w in domain or not _HAN_ONLY.fullmatch(w) for w in run):
                break
            if len(chars) >= 2:
                fixes = _homophones(chars, is_word(chars))
                if fixes:
                    best = Typo(run, max(fixes, key=len))
        if best:
            found.append(best)
            i += len(best.words)
        else:
            i += 1
    return tuple(found)


_LONGEST_TYPO_WORDS = 4


@lru_cache(maxsize=65536)
def _homophones(chars: str, known_word: bool) -> tuple[str, ...]:
    return tuple(pinyin.sounds_like(chars, domain_terms(), tones_must_match=known_word))


def canonical_words(pieces: Iterable[str]) -> list[str]:
    """The canonical forms of the pieces jieba cut that are words (punctuation and spaces dropped)."""
    canonical = lexicon().canonical
    return [canonical.get(w, w) for w in pieces if _WORDLIKE.fullmatch(w)]


def drop_stopwords(words: list[str]) -> list[str]:
    """Remove the stopwords from a list of canonical words."""
    stop = lexicon().stopwords
    return [w for w in words if w not in stop]


def word_pieces(words: list[str]) -> list[str]:
    """Two-character pieces of each word (Latin and digit words stay whole).

    Sub-word evidence: a query for 权限 still meets a document that says 无权限, while pieces that
    straddle two words (货显 in 退货显示) are never made.
    """
    pieces: list[str] = []
    for word in words:
        if word.isascii() or len(word) < 3:
            pieces.append(word)
        else:
            pieces.extend(word[i : i + 2] for i in range(len(word) - 1))
    return pieces
