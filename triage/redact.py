"""Masking personal data in ticket text: card numbers before a ticket is stored, ID and mobile numbers
wherever tickets are listed.
"""

from __future__ import annotations

import re

# A run of digits, possibly grouped by single spaces or dashes ("6222 0212 3456 7890").
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z])\d+(?:[ -]\d+)*(?![0-9A-Za-z])")
_GROUP = re.compile(r"\d+")
# Numbers that merchants are asked for and that are not cards, when named just before the digits.
_NOT_A_CARD_BEFORE = re.compile(r"(商户号|商户编号|终端号|订单号|流水号|参考号|凭证号|批次号)[:：\s]*$")
# 18-digit resident ID: 17 digits and a digit or X check character.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
# Mainland mobile numbers, optionally with +86 and grouped 3-4-4.
_MOBILE = re.compile(r"(?<![0-9A-Za-z])((?:\+?86[ -]?)?1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?![0-9A-Za-z])")

CARD_MIN_DIGITS = 13
CARD_MAX_DIGITS = 19


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment card numbers."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_digits(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def _mask_run(run: str) -> str:
    """Mask the card numbers inside one run of digit groups, trying the longest spans first."""
    groups = list(_GROUP.finditer(run))
    out, cursor, i = [], 0, 0
    while i < len(groups):
        for j in range(len(groups) - 1, i - 1, -1):
            digits = "".join(g.group(0) for g in groups[i : j + 1])
            if CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS and luhn_valid(digits):
                out.append(run[cursor : groups[i].start()])
                out.append(_mask_digits(digits))
                cursor = groups[j].end()
                i = j
                break
        i += 1
    out.append(run[cursor:])
    return "".join(out)


def mask_card_numbers(text: str) -> str:
    """Replace every card number (13-19 digits passing Luhn, spaces or dashes allowed) by its
    first 6 and last 4 digits with stars between."""

    def replace(match: re.Match) -> str:
        if _NOT_A_CARD_BEFORE.search(text[max(0, match.start() - 12) : match.start()]):
            return match.group(0)
        return _mask_run(match.group(0))

    return _DIGIT_RUN.sub(replace, text)


def mask_id_numbers(text: str) -> str:
    """Replace 18-digit resident ID numbers by their first 6 and last 4 characters."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 8 + m.group(2), text)


def mask_mobile_numbers(text: str) -> str:
    """Replace mainland mobile numbers by their first 3 and last 4 digits ("138****5678")."""
    return _MOBILE.sub(lambda m: m.group(1) + "****" + m.group(2), text)


def mask_personal(text: str) -> str:
    """Mask card, ID and mobile numbers: the form of a ticket's text shown in lists."""
    return mask_mobile_numbers(mask_id_numbers(mask_card_numbers(text)))
