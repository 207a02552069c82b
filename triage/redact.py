"""Masking personal data in ticket text: card numbers before a ticket is stored, ID and mobile numbers
in the form of a ticket shown in lists (computed once, when the ticket is filed).

Every function here costs time linear in the text's length: one pass over the characters, and at
most 19 candidate windows per group of digits, each checked in constant time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

CARD_MIN_DIGITS = 13
CARD_MAX_DIGITS = 19
UNIONPAY_MIN_DIGITS = 16
# Between the digit groups of one number: spaces, dashes, dots and slashes (also full width), at most
# two in a row ("6222 0212 3456 7890", "6222-0212…", "6222.0212…", "6222  0212…").
_SEPARATORS = frozenset(" -./\u3000\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d\uff0e\uff0f")
_MAX_SEPARATOR_RUN = 2
# Numbers that merchants are asked for and that are not cards, when named just before the digits.
_NOT_A_CARD_BEFORE = re.compile(r"(商户号|商户编号|终端号|订单号|流水号|参考号|凭证号|批次号)[:：\s]*$")
_NAME_LOOKBACK = 12
_SEP = r"[ \u3000.\-/]{0,2}"
# 18-digit resident ID: 17 digits and a digit or X check character (6-8-4, optionally grouped).
_ID_NUMBER = re.compile(rf"(?<!\d)(\d{{6}}){_SEP}\d{{8}}{_SEP}(\d{{3}}[\dXx])(?!\d)")
# Mainland mobile numbers, optionally with +86 and grouped 3-4-4.
_MOBILE = re.compile(rf"(?<!\d)((?:\+?86{_SEP})?1[3-9]\d){_SEP}\d{{4}}{_SEP}(\d{{4}})(?!\d)")
# 86 then a mobile number: "+86 138 1234 5678" has 13 digits and may pass Luhn, but is no card.
_MOBILE_WITH_COUNTRY_CODE = re.compile(r"861[3-9]\d{9}")


def _digit_value(char: str) -> int:
    return unicodedata.decimal(char)


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = _digit_value(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _runs(text: str) -> Iterator[list[tuple[int, int]]]:
    """Each run of digit groups in text (groups joined by short separators), as (start, end) spans."""
    groups: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if not text[i].isdecimal():
            i += 1
            continue
        start = i
        while i < n and text[i].isdecimal():
            i += 1
        groups.append((start, i))
        gap = i
        while gap < n and gap - i < _MAX_SEPARATOR_RUN and text[gap] in _SEPARATORS:
            gap += 1
        if gap > i and gap < n and text[gap].isdecimal():
            i = gap
            continue
        yield groups
        groups = []


def _card_windows(text: str, groups: list[tuple[int, int]]) -> Iterator[tuple[int, int, str]]:
    """The card numbers in one run: (start, end, digits) of whole groups, longest first from the left."""
    start = groups[0][0]
    if _NOT_A_CARD_BEFORE.search(text[max(0, start - _NAME_LOOKBACK) : start]):
        return
    digits = "".join(text[s:e] for s, e in groups)
    # Luhn sums of any window in O(1): prefix sums with even and odd positions weighted both ways.
    even_plain, odd_plain = [0], [0]
    for k, char in enumerate(digits):
        value = _digit_value(char)
        doubled = value * 2 - 9 if value > 4 else value * 2
        even_plain.append(even_plain[-1] + (value if k % 2 == 0 else doubled))
        odd_plain.append(odd_plain[-1] + (doubled if k % 2 == 0 else value))
    offsets = [0]
    for s, e in groups:
        offsets.append(offsets[-1] + e - s)
    i = 0
    while i < len(groups):
        found = None
        j = i
        while j < len(groups) and offsets[j + 1] - offsets[i] <= CARD_MAX_DIGITS:
            a, b = offsets[i], offsets[j + 1]
            sums = even_plain if (b - 1) % 2 == 0 else odd_plain
            luhn = b - a >= CARD_MIN_DIGITS and (sums[b] - sums[a]) % 10 == 0
            # A UnionPay card (62…, 16-19 digits) typed with one digit wrong is still a card number.
            unionpay = b - a >= UNIONPAY_MIN_DIGITS and digits[a : a + 2] == "62"
            if luhn or unionpay:
                found = j
            j += 1
        if found is None:
            i += 1
            continue
        window = digits[offsets[i] : offsets[found + 1]]
        if not _MOBILE_WITH_COUNTRY_CODE.fullmatch(window):
            yield groups[i][0], groups[found][1], window
        i = found + 1


def _mask_digits(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def card_numbers(text: str) -> list[str]:
    """The card numbers in text, as bare digits: 13-19 digits passing Luhn, or 16-19 digits starting
    with 62 (UnionPay) whether or not they pass it, grouped or not."""
    return [digits for groups in _runs(text) for _, _, digits in _card_windows(text, groups)]


def mask_card_numbers(text: str) -> str:
    """Replace every card number (see `card_numbers`; spaces, dashes, dots or slashes allowed between
    groups; letters may touch it) by its first 6 and last 4 digits with stars between."""
    out, cursor = [], 0
    for groups in _runs(text):
        for start, end, digits in _card_windows(text, groups):
            out.append(text[cursor:start])
            out.append(_mask_digits(digits))
            cursor = end
    out.append(text[cursor:])
    return "".join(out)


def mask_id_numbers(text: str) -> str:
    """Replace 18-digit resident ID numbers by their first 6 and last 4 characters."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)


def mask_mobile_numbers(text: str) -> str:
    """Replace mainland mobile numbers by their first 3 and last 4 digits ("138****5678")."""
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def mask_personal(text: str) -> str:
    """Mask card, ID and mobile numbers: the form of a ticket's text shown in lists."""
    return mask_mobile_numbers(mask_id_numbers(mask_card_numbers(text)))
