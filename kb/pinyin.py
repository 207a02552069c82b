"""Pinyin readings: undoing pinyin obfuscation (刷ka卡, 冻jie了), reading text typed in full pinyin
back as Chinese (shua ka mei you quan xian -> 刷卡没有权限) and finding domain words that a homophone
typo stands for (通迅 -> 通讯, 密马 -> 密码).

pypinyin's character table is loaded lazily: only texts with Latin letters, and search queries
looking for homophones, ever need it.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable
from functools import cache
from typing import Any

# A run of Latin letters touching a Han character on at least one side.
_LATIN_BY_HAN = re.compile(r"(?<=[\u4e00-\u9fff])[a-z]{1,6}(?![a-z0-9])|(?<![a-z0-9])[a-z]{1,6}(?=[\u4e00-\u9fff])")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def _toneless(reading: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))


def _pinyin_dict() -> dict[int, str]:
    """pypinyin's character table: code point -> comma-separated readings with tone marks.

    Only the character table is used, so pypinyin is told (by its documented environment switches,
    read when it is first imported) not to load its phrase dictionary nor copy the tables: that
    saves every process that meets a pinyin-looking query about 60 MB.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    from pypinyin.pinyin_dict import pinyin_dict

    return pinyin_dict


@cache
def _table() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(character -> toneless readings, toneless reading -> characters)."""
    readings: dict[str, tuple[str, ...]] = {}
    chars: dict[str, list[str]] = {}
    for codepoint, value in _pinyin_dict().items():
        char = chr(codepoint)
        options = tuple(dict.fromkeys(_toneless(r) for r in value.split(",")))
        readings[char] = options
        for reading in options:
            chars.setdefault(reading, []).append(char)
    return readings, {k: tuple(v) for k, v in chars.items()}


def readings(char: str) -> tuple[str, ...]:
    """The toneless pinyin readings of one Han character ('' tuple when unknown)."""
    return _table()[0].get(char, ())


def _spells(letters: str, char: str) -> bool:
    """True when the letters spell (the start of) a reading of char."""
    return any(r == letters or (len(letters) >= 2 and r.startswith(letters)) for r in readings(char))


def undo_obfuscation(text: str, frequency: Callable[[str], int]) -> str:
    """Remove pinyin written into Chinese text to dodge filters, where that is unambiguous.

    Two forms: the reading doubled next to its character (刷ka卡 -> 刷卡, 信xi息 -> 信息), and the
    reading standing in for a character (冻jie了 -> 冻结了, dao账 -> 到账), undone only when the
    restored character forms a dictionary word with its neighbour. Anything else (pos机, wifi)
    is left alone.
    """

    def replace(match: re.Match[str]) -> str:
        letters = match.group(0)
        left = text[match.start() - 1] if match.start() else ""
        right = text[match.end()] if match.end() < len(text) else ""
        if (left and _spells(letters, left)) or (right and _spells(letters, right)):
            return ""
        if len(letters) < 2:
            return letters
        best, best_freq = letters, 0
        for char in _table()[1].get(letters, ()):
            freq = max(frequency(left + char) if left else 0, frequency(char + right) if right else 0)
            if freq > best_freq:
                best, best_freq = char, freq
        return best

    return _LATIN_BY_HAN.sub(replace, text)


@cache
def _toned() -> dict[str, tuple[str, ...]]:
    """Character -> readings with tone marks (homophone typos keep the tone: IMEs show same-sound
    candidates, and a tone-blind match would turn 四级 into 死机)."""
    return {chr(cp): tuple(dict.fromkeys(value.split(","))) for cp, value in _pinyin_dict().items()}


@cache
def _homophone_index(terms: frozenset[str], toned: bool) -> dict[tuple[str, ...], tuple[str, ...]]:
    index: dict[tuple[str, ...], list[str]] = {}
    for term in terms:
        if 2 <= len(term) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in term):
            for key in _keys(term, toned):
                index.setdefault(key, []).append(term)
    return {k: tuple(v) for k, v in index.items()}


def _keys(word: str, toned: bool = True) -> list[tuple[str, ...]]:
    """Every pinyin spelling of a word (one per combination of its characters' readings)."""
    keys: list[tuple[str, ...]] = [()]
    table = _toned() if toned else _table()[0]
    for char in word:
        options = table.get(char, ())[:3] or (char,)
        keys = [k + (r,) for k in keys for r in options][:16]
    return keys


def sounds_like(chars: str, terms: Iterable[str], tones_must_match: bool) -> list[str]:
    """Domain terms (of 2-4 Han characters) that sound like chars written with other characters.

    A stretch that is a word of its own must match with its tones too: IMEs offer same-sound
    candidates, and a tone-blind match would turn 四级 into 死机. A stretch that is no word
    (东结, 通迅) may differ in tone: 东结 is 冻结 typed with the wrong tone.
    """
    terms = frozenset(terms)
    keys = [(_homophone_index(terms, True), k) for k in _keys(chars, True)]
    if not tones_must_match:
        keys += [(_homophone_index(terms, False), k) for k in _keys(chars, False)]
    found: list[str] = []
    for index, key in keys:
        for term in index.get(key, ()):
            if term != chars and term not in found:
                found.append(term)
    return found


_LATIN_RUN = re.compile(r"[a-z]+(?: [a-z]+)*")
# What a pinyin spelling reads as: (the word, whether it is or holds a domain term, the offsets where
# its syllables meet as bits (tui|huo: 1 << 3), its cost: -log of how common the word is, plus
# RARE_READING per rare reading).
_Spelling = tuple[str, bool, int, float]
# Keyboards have no ü: people type lv, nv (绿, 女); the toneless table spells them lu, nu.
_U_UMLAUT_AS_V = re.compile(r"(?<=[ln])v")
_HAN_START = re.compile(r"[\u4e00-\u9fff]")
_LONGEST_KEY = 24
# How many Latin words one restored piece may span ("shua ka" is two, "mei you quan xian" four).
MAX_PIECE_WORDS = 8
# Costs, in nats: a reading other than a character's commonest (调 read diao before tiao), and a
# Latin word left as typed (about three rare words: "fukuan tishi bu" keeps "bu" rather than reading
# 复古 + 安达 + 师部).
RARE_READING = 3.0
UNRESTORED = 25.0
LATIN_COST = math.log(1e8 / 1e5)  # a Latin word of the trade glued to pinyin: as common as 手机
_READINGS = 2


def full_pinyin_index(words: Iterable[tuple[str, int, bool]], latin: Iterable[str] = ()) -> dict[str, _Spelling]:
    """Toneless pinyin written together ("tuihuo") -> its cheapest reading (see `_Spelling`): what
    `restore_full_pinyin` reads with. Built once per vocabulary by the caller (about 0.5 s for
    46,000 words): hashing the vocabulary on every call to look a cached index up cost 5 ms a text.

    `words`: (word, frequency, whether a domain term). Each word is spelled with its characters'
    two commonest readings; an everyday word holding a domain term counts as one (分期付款 holds
    分期). `latin`: Latin words of the trade that may be glued to pinyin and stay as they are
    ("poszenmetuihuo" -> pos怎么退货), at the cost of a common word; they make no run a domain one."""
    words = list(words)
    index: dict[str, _Spelling] = {}
    known = frozenset(w for w, _, domain in words if domain)
    table = _table()[0]
    for word, freq, is_domain in words:
        if not (2 <= len(word) <= 6 and all("\u4e00" <= c <= "\u9fff" for c in word)):
            continue
        domain = is_domain or any(word[i:j] in known for i in range(len(word)) for j in range(i + 2, len(word) + 1))
        base = math.log(1e8 / max(freq, 1))
        options = [table.get(c, ())[:_READINGS] or (c,) for c in word]
        for choice in itertools.islice(itertools.product(*(enumerate(o) for o in options)), 16):
            key = "".join(r for _, r in choice)
            cost = base + RARE_READING * sum(1 for rank, _ in choice if rank)
            cuts = sum(1 << at for at in itertools.accumulate(len(r) for _, r in choice[:-1]))
            if key not in index or cost < index[key][3]:
                index[key] = (word, domain, cuts, cost)
    for word in latin:
        if len(word) >= 3 and word.isascii() and word.isalpha():
            index.setdefault(word, (word, False, 0, LATIN_COST))
    return index


def preload(terms: frozenset[str]) -> None:
    """Build the tables `undo_obfuscation` and `sounds_like(…, terms, …)` use, now rather than at
    the first text needing them."""
    _table()
    _homophone_index(terms, True)
    _homophone_index(terms, False)


def restore_full_pinyin(text: str, index: dict[str, _Spelling]) -> str:
    """Turn Latin words that spell Chinese words in pinyin back into Chinese: "tuihuo meiyou
    quanxian" -> "退货没有权限", "shua ka xian shi mei you quan xian" -> "刷卡显示没有权限".

    `index`: the vocabulary's spellings (`full_pinyin_index`). Within a run of Latin words the
    likeliest reading is taken: each restored word costs -log of how common it is, a rare
    character reading RARE_READING more, a word left as typed UNRESTORED. Consecutive typed words
    may be read together, but a typed space must fall between two syllables ("fukuan tishi" is
    付款 提示, never 复古 + "antishi"); "lv" reads lü. A run is restored only when it spells a
    domain term, and a single word alone only when it has four or more letters, so English and
    abbreviations (pos, wifi, "long time no see") stay as typed. Linear in the text: a piece spans
    at most MAX_PIECE_WORDS words.
    """

    def spell(typed: list[str]) -> list[tuple[float, list[str], bool] | None]:
        """For each k, the cheapest reading of all the letters of typed[:k + 1] as words: (cost,
        words, whether one is a domain term), None when none spells them."""
        letters = _U_UMLAUT_AS_V.sub("u", "".join(typed))
        ends = list(itertools.accumulate(len(w) for w in typed))
        spaces = set(ends[:-1])
        best: list[tuple[float, list[str], bool] | None] = [(0.0, [], False)] + [None] * len(letters)
        for end in range(1, len(letters) + 1):
            for start in range(max(0, end - _LONGEST_KEY), end - 1):
                found, before = index.get(letters[start:end]), best[start]
                if not found or before is None:
                    continue
                cost = before[0] + found[3]
                if (best[end] is None or cost < best[end][0]) and all(
                    found[2] >> (at - start) & 1 for at in spaces if start < at < end
                ):
                    best[end] = (cost, [*before[1], found[0]], before[2] or found[1])
        return [best[end] for end in ends]

    def replace(match: re.Match[str]) -> str:
        typed = match.group(0).split(" ")
        # cost[i]: the cheapest reading of typed[:i]; back[i]: its last piece (where it starts, its
        # text, whether it spells a domain term). A piece is one word as typed or words restored.
        cost = [0.0] + [math.inf] * len(typed)
        back: list[tuple[int, str, bool]] = [(0, "", False)] * (len(typed) + 1)
        for i, word in enumerate(typed):
            if cost[i] + UNRESTORED < cost[i + 1]:
                cost[i + 1], back[i + 1] = cost[i] + UNRESTORED, (i, word, False)
            for j, spelled in enumerate(spell(typed[i : i + MAX_PIECE_WORDS]), start=i + 1):
                if spelled is None or (j - i == 1 and len(word) < 4):  # a short word alone: English
                    continue
                if cost[i] + spelled[0] < cost[j]:
                    cost[j], back[j] = cost[i] + spelled[0], (i, "".join(spelled[1]), spelled[2])
        out, domain, end = [], False, len(typed)
        while end:
            end, piece, has_term = back[end]
            out.append(piece)
            domain = domain or has_term
        if not domain:
            return match.group(0)
        out.reverse()
        # Restored pieces next to each other read as one phrase; Latin words keep their spaces.
        return "".join(
            piece if k == 0 or (_HAN_START.match(piece) and _HAN_START.match(out[k - 1][-1])) else " " + piece
            for k, piece in enumerate(out)
        )

    return _LATIN_RUN.sub(replace, text)


# A Latin word of three to ten letters none of which is a vowel: pinyin initials (qdsb, jsk, shmyqx)
# rather than English or full pinyin, which always hold one.
_INITIALS_WORD = re.compile(r"(?<![a-z0-9])[bcdfghjklmnpqrstwxyz]{3,10}(?![a-z0-9])")
_SHORTEST_INITIALS = 2
# Initials people type as two letters: 商户 is "sh" or "shh", 出错 "cc" or "chc".
_DIGRAPHS = ("zh", "ch", "sh")


def _initials(reading: str) -> tuple[str, ...]:
    """How a reading's initial may be typed: its first letter, and zh/ch/sh whole."""
    return (reading[0], reading[:2]) if reading[:2] in _DIGRAPHS else (reading[0],)


def initials_index(
    terms: Iterable[str], rank: Callable[[str], Any], domain: Collection[str] = ()
) -> dict[str, tuple[str, bool]]:
    """Each term's initials (its characters' commonest readings' first letters: 签到失败 -> qdsb,
    or with zh/ch/sh typed whole: qdshb) -> (the term ranked highest by `rank` with them, whether
    it is in `domain`). Terms of 2-6 Han characters; what `restore_initials` reads with."""
    table = _table()[0]
    domain = frozenset(domain)
    index: dict[str, tuple[str, bool]] = {}
    for term in sorted(terms, key=lambda t: (rank(t), t), reverse=True):
        if 2 <= len(term) <= 6 and all(c in table for c in term):
            for spelling in itertools.product(*(_initials(table[c][0]) for c in term)):
                index.setdefault("".join(spelling), (term, term in domain))
    return index


def may_hold_initials(text: str) -> bool:
    """True when text has a word `restore_initials` would try to read (so the index is worth
    building)."""
    return _INITIALS_WORD.search(text) is not None


def restore_initials(text: str, index: dict[str, tuple[str, bool]]) -> str:
    """Read Latin words typed as pinyin initials back as the terms they abbreviate: "pos qdsb" ->
    "pos 签到失败", "jsk genghuan" -> "结算卡 genghuan", "shmyqx" -> "商户没有权限".

    Only a word of three to ten consonants (`_INITIALS_WORD`) that splits whole into terms'
    initials, in the fewest pieces, one of them a domain term, is read; two letters alone (sb, dy,
    ok) say too little, a word with a vowel is English or full pinyin, and everyday words alone are
    more often slang (xswl, yyds). `index`: `initials_index` of the terms. Linear in the text."""

    def read(match: re.Match[str]) -> str:
        letters = match.group(0)
        # best[i]: the fewest terms spelling letters[:i] and whether one is a domain term (fewer
        # pieces first, then with a domain term), None when none do.
        best: list[tuple[list[str], bool] | None] = [([], False)] + [None] * len(letters)
        for end in range(_SHORTEST_INITIALS, len(letters) + 1):
            for start in range(0, end - _SHORTEST_INITIALS + 1):
                found, before = index.get(letters[start:end]), best[start]
                if not found or before is None:
                    continue
                candidate = ([*before[0], found[0]], before[1] or found[1])
                if best[end] is None or (len(candidate[0]), not candidate[1]) < (len(best[end][0]), not best[end][1]):
                    best[end] = candidate
        return "".join(best[-1][0]) if best[-1] and best[-1][1] else letters

    return _INITIALS_WORD.sub(read, text)
