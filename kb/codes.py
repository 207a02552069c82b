"""UnionPay response codes: the code table in `data/response_codes.csv` and finding codes in text."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kb.paths import data_dir

OWNERS = {
    "issuer": "持卡人联系发卡行",
    "merchant": "商户或收单机构处理",
    "terminal": "商户在终端上处理",
    "system": "银联或收单主机，稍后重试",
    "settlement": "收单机构结算处理",
    "none": "无需处理",
}

# A code stands alone: two digits, or a letter and a digit, not part of a longer number, a
# decimal, a date, an amount or a count ("58元", "12笔", "11点", "0.58").
_CANDIDATE = re.compile(r"(?<![0-9A-Za-z.])([0-9]{2}|[A-Za-z][0-9])(?![0-9A-Za-z.%])")
_NOT_A_CODE_AFTER = set("元块万千百号日月年点时分秒笔次天个张台岁周期倍斤折度人家条位楼岁小毛角")
_NOT_A_CODE_BEFORE = set("第约共近每前后扣收交付花要¥$￥")


@dataclass(frozen=True)
class ResponseCode:
    """One response code: what it means, what the terminal shows, who acts, where to read more."""

    code: str
    meaning: str
    terminal_display: str
    owner: str
    category: str
    article: str
    note: str

    @property
    def who_acts(self) -> str:
        """Say in Chinese who has to act on this code."""
        return OWNERS.get(self.owner, self.owner)


@cache
def load_codes(path: Path | None = None) -> dict[str, ResponseCode]:
    """Read the code table, keyed by code ("58", "A0")."""
    path = path or data_dir() / "response_codes.csv"
    return codes_from_text(path.read_text(encoding="utf-8"))


def codes_from_text(source: str) -> dict[str, ResponseCode]:
    """Parse the code table's CSV source, keyed by code."""
    rows = [ResponseCode(**row) for row in csv.DictReader(io.StringIO(source, newline=""))]
    return {row.code: row for row in rows}


def extract_codes(text: str, known: dict[str, ResponseCode] | None = None) -> list[str]:
    """Return the known response codes mentioned in text, in order of appearance, each once."""
    known = load_codes() if known is None else known
    text = unicodedata.normalize("NFKC", text)
    found: list[str] = []
    for match in _CANDIDATE.finditer(text):
        code = match.group(1).upper()
        after = text[match.end() : match.end() + 1]
        before = text[match.start() - 1 : match.start()]
        if code in known and code not in found and after not in _NOT_A_CODE_AFTER and before not in _NOT_A_CODE_BEFORE:
            found.append(code)
    return found
