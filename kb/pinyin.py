"""Pinyin readings: undoing pinyin obfuscation (刷ka卡, 冻jie了) and finding domain words that a
homophone typo stands for (通迅 -> 通讯, 密马 -> 密码).

pypinyin's character table is loaded lazily: only texts with Latin letters next to Han characters,
and search queries looking for homophones, ever need it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache

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
_LONGEST_KEY = 24


@cache
def _full_pinyin_index(terms: tuple[str, ...]) -> dict[str, str]:
    """Toneless pinyin written together ("tuihuo") -> the domain term it spells; the first
    (most frequent, as ordered by the caller) term wins a shared spelling."""
    index: dict[str, str] = {}
    for term in terms:
        if 2 <= len(term) <= 6 and all("\u4e00" <= c <= "\u9fff" for c in term):
            for key in _keys(term, toned=False):
                index.setdefault("".join(key), term)
    return index


def preload(terms: frozenset[str], by_frequency: tuple[str, ...]) -> None:
    """Build the tables `undo_obfuscation`, `sounds_like(…, terms, …)` and
    `restore_full_pinyin(…, by_frequency)` use, now rather than at the first text needing them."""
    _table()
    _homophone_index(terms, True)
    _homophone_index(terms, False)
    _full_pinyin_index(by_frequency)


def restore_full_pinyin(text: str, terms: Iterable[str]) -> str:
    """Turn runs of Latin words that spell domain terms in pinyin back into Chinese
    ("tuihuo meiyou quanxian" -> "退货 没有权限"). A run is replaced only when all of it spells
    domain terms, so English words and abbreviations (pos, wifi, app) stay as they are."""
    index = _full_pinyin_index(tuple(terms))

    def spell(letters: str) -> list[str] | None:
        # best[i]: the terms spelling letters[:i], fewest first (linear: keys are at most _LONGEST_KEY long)
        best: list[list[str] | None] = [[]] + [None] * len(letters)
        for end in range(1, len(letters) + 1):
            for start in range(max(0, end - _LONGEST_KEY), end - 1):
                term = index.get(letters[start:end])
                if term and best[start] is not None and (best[end] is None or len(best[start]) + 1 < len(best[end])):
                    best[end] = [*best[start], term]
        return best[-1]

    def replace(match: re.Match[str]) -> str:
        words = match.group(0).split(" ")
        joined = spell("".join(words)) if len(words) > 1 else None
        if joined:
            return "".join(joined)
        # Word by word: a word of four or more letters that spells domain terms is restored.
        out = []
        for word in words:
            spelled = spell(word) if len(word) >= 4 else None
            out.append("".join(spelled) if spelled else word)
        return " ".join(out)

    return _LATIN_RUN.sub(replace, text)
