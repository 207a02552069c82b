"""Pinyin readings: undoing pinyin obfuscation (刷ka卡, 冻jie了) and finding domain words that a
homophone typo stands for (通迅 -> 通讯, 密马 -> 密码).

pypinyin's character table is loaded lazily: only texts with Latin letters next to Han characters,
and search queries looking for homophones, ever need it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache

# A run of Latin letters touching a Han character on at least one side.
_LATIN_BY_HAN = re.compile(r"(?<=[\u4e00-\u9fff])[a-z]{1,6}(?![a-z0-9])|(?<![a-z0-9])[a-z]{1,6}(?=[\u4e00-\u9fff])")
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")


def _toneless(reading: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c))


@cache
def _table() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(character -> toneless readings, toneless reading -> characters)."""
    from pypinyin.pinyin_dict import pinyin_dict

    readings: dict[str, tuple[str, ...]] = {}
    chars: dict[str, list[str]] = {}
    for codepoint, value in pinyin_dict.items():
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
    from pypinyin.pinyin_dict import pinyin_dict

    return {chr(cp): tuple(dict.fromkeys(value.split(","))) for cp, value in pinyin_dict.items()}


@cache
def _homophone_index(terms: frozenset[str]) -> dict[tuple[str, ...], tuple[str, ...]]:
    index: dict[tuple[str, ...], list[str]] = {}
    for term in terms:
        if 2 <= len(term) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in term):
            for key in _keys(term):
                index.setdefault(key, []).append(term)
    return {k: tuple(v) for k, v in index.items()}


def _keys(word: str) -> list[tuple[str, ...]]:
    """Every pinyin spelling of a word (one per combination of its characters' readings)."""
    keys: list[tuple[str, ...]] = [()]
    toned = _toned()
    for char in word:
        options = toned.get(char, ())[:3] or (char,)
        keys = [k + (r,) for k in keys for r in options][:16]
    return keys


def homophone_terms(text: str, terms: Iterable[str]) -> list[str]:
    """Domain terms that sound like a stretch of text written with other characters (typos)."""
    index = _homophone_index(frozenset(terms))
    found: list[str] = []
    for run in _HAN_RUN.findall(text):
        for size in (2, 3, 4):
            for start in range(len(run) - size + 1):
                window = run[start : start + size]
                for key in _keys(window):
                    for term in index.get(key, ()):
                        if term != window and term not in found and term not in text:
                            found.append(term)
    return found
