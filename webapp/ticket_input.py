"""The one input schema of a new ticket, shared by the merchant form and the API: every field is
trimmed, then checked by its kind with the same limits, and a refusal carries a Chinese message for
people and an English one for the API's `error`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from triage.redact import card_numbers
from webapp.desk.tickets import EMAIL, FIELD_MAX_CHARS, TEXT_MAX_CHARS

TEXT_MIN_CHARS = 5
NAME_MAX_CHARS = 32
FIELDS = ("text", "name", "phone", "merchant_no", "terminal_no", "email")
CONTACT_FIELDS = FIELDS[1:]
LABELS = {
    "text": "问题描述",
    "name": "联系人",
    "phone": "联系电话",
    "merchant_no": "商户号",
    "terminal_no": "终端号",
    "email": "电子邮箱",
}

_PHONE_SEPARATORS = re.compile(r"[\s\-()（）]")
_PHONES = (
    re.compile(r"(?:\+?86)?1[3-9]\d{9}"),  # mainland mobile
    re.compile(r"0\d{9,11}(?:(?:转|#|ext)\d{1,6})?"),  # landline with its area code, maybe an extension
    re.compile(r"[48]00\d{7}"),  # 400 and 800 service numbers
)
_MERCHANT_NO = re.compile(r"[0-9A-Za-z]{6,20}")
_TERMINAL_NO = re.compile(r"[0-9A-Za-z]{4,16}")
_DIGIT_RUN_IN_NAME = re.compile(r"\d{7,}")
# 15-digit merchant numbers pass Luhn one time in ten: only longer all-digit ones are taken for cards.
_CARD_LIKE_MERCHANT_NO = re.compile(r"\d{16,19}")
_CARD_LIKE_TERMINAL_NO = re.compile(r"\d{13,16}")


class FieldError(ValueError):
    """One field refused: `message` for the person (Chinese), `error` for the API (English)."""

    def __init__(self, field: str, error: str, message: str) -> None:
        super().__init__(error)
        self.field = field
        self.error = error
        self.message = message


class TicketInputError(ValueError):
    """A ticket refused: every field's FieldError, in field order."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(e.error for e in errors))
        self.errors = errors

    @property
    def message(self) -> str:
        """All the Chinese messages, in one line."""
        return "；".join(e.message for e in self.errors)


@dataclass(frozen=True)
class TicketInput:
    """A new ticket's fields after trimming and checking (empty strings for contact fields not given)."""

    text: str
    name: str = ""
    phone: str = ""
    merchant_no: str = ""
    terminal_no: str = ""
    email: str = ""  # where the status link is sent, when given

    def contact(self) -> dict[str, str]:
        """The contact fields, as `webapp.desk.tickets.file_ticket` takes them."""
        return {field: getattr(self, field) for field in CONTACT_FIELDS}


def _check_text(value: str) -> None:
    if not TEXT_MIN_CHARS <= len(value) <= TEXT_MAX_CHARS:
        english = (
            f"text is longer than {TEXT_MAX_CHARS} characters"
            if len(value) > TEXT_MAX_CHARS
            else f"text is shorter than {TEXT_MIN_CHARS} characters"
        )
        raise FieldError("text", english, f"问题描述需要 {TEXT_MIN_CHARS} 到 {TEXT_MAX_CHARS} 个字")


def _check_name(value: str) -> None:
    if len(value) > NAME_MAX_CHARS:
        raise FieldError("name", f"name is longer than {NAME_MAX_CHARS} characters", "姓名太长")
    if _DIGIT_RUN_IN_NAME.search(value) or card_numbers(value):
        raise FieldError("name", "name must not hold phone, card or ID numbers", "姓名里请不要填写电话、卡号等号码")


def _check_phone(value: str) -> None:
    if card_numbers(value):
        raise FieldError("phone", "phone looks like a card number", "联系电话里填的像是银行卡号，请填写手机号或座机号")
    bare = _PHONE_SEPARATORS.sub("", value)
    if not any(pattern.fullmatch(bare) for pattern in _PHONES):
        raise FieldError("phone", "phone must be a mainland mobile or landline number", "请填写有效的手机号或座机号")


def _check_merchant_no(value: str) -> None:
    if _CARD_LIKE_MERCHANT_NO.fullmatch(value) and card_numbers(value):
        raise FieldError("merchant_no", "merchant_no looks like a card number", "商户号填的像是银行卡号，请核对")
    if not _MERCHANT_NO.fullmatch(value):
        raise FieldError("merchant_no", "merchant_no must be 6-20 letters or digits", "商户号应为 6-20 位数字或字母")


def _check_terminal_no(value: str) -> None:
    if _CARD_LIKE_TERMINAL_NO.fullmatch(value) and card_numbers(value):
        raise FieldError("terminal_no", "terminal_no looks like a card number", "终端号填的像是银行卡号，请核对")
    if not _TERMINAL_NO.fullmatch(value):
        raise FieldError("terminal_no", "terminal_no must be 4-16 letters or digits", "终端号应为 4-16 位数字或字母")


def _check_email(value: str) -> None:
    if len(value) > FIELD_MAX_CHARS or not EMAIL.fullmatch(value):
        raise FieldError("email", "email must be an email address", "请填写有效的电子邮箱，如 name@example.com")


_CHECKS = {
    "text": _check_text,
    "name": _check_name,
    "phone": _check_phone,
    "merchant_no": _check_merchant_no,
    "terminal_no": _check_terminal_no,
    "email": _check_email,
}
_REQUIRED_MESSAGES = {"text": "请描述您遇到的问题", "name": "请填写联系人姓名", "phone": "请填写联系电话"}


def clean_field(field: str, value: object, required: bool = False) -> str:
    """Trim one field and check it by its kind; FieldError when it is refused. None counts as empty."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise FieldError(field, f"{field} must be a string", f"{LABELS[field]}必须是文字")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise FieldError(
            field, f"{field} holds a character that is not valid Unicode", f"{LABELS[field]}里有无法识别的字符"
        ) from None
    value = value.strip()
    if not value:
        if required:
            english = f"{field} is empty" if field == "text" else f"{field} is required"
            raise FieldError(field, english, _REQUIRED_MESSAGES.get(field, f"请填写{LABELS[field]}"))
        return ""
    _CHECKS[field](value)
    return value


def clean_ticket(values: Mapping[str, object], required: Iterable[str] = ("text",)) -> TicketInput:
    """Check a new ticket's fields (absent ones are empty); TicketInputError lists every refusal."""
    required = set(required)
    cleaned, errors = {}, []
    for field in FIELDS:
        if field == "text" and "text" not in values and "text" in required:
            errors.append(FieldError("text", "text is required", _REQUIRED_MESSAGES["text"]))
            continue
        try:
            cleaned[field] = clean_field(field, values.get(field), field in required)
        except FieldError as e:
            errors.append(e)
    if errors:
        raise TicketInputError(errors)
    return TicketInput(**cleaned)


def _unknown(fields: Mapping[str, object], allowed: Iterable[str], inside: str = "") -> FieldError | None:
    unknown = sorted(ascii(name) for name in fields if name not in allowed)  # ascii(): a lone surrogate prints
    if not unknown:
        return None
    names = ", ".join(unknown)
    where_en, where_zh = (f" in {inside}", f"{inside} 里") if inside else ("", "")
    return FieldError("body", f"unknown fields{where_en}: {names}", f"{where_zh}不认识的字段：{names}")


def ticket_from_json(body: Mapping[str, object]) -> TicketInput:
    """A new ticket from the API's JSON object: `text`, and the contact fields either at the top level
    or in a `contact` object shaped as the API returns it. Unknown fields are refused by name."""
    if error := _unknown(body, ("text", "contact", *CONTACT_FIELDS)):
        raise TicketInputError([error])
    values = {name: value for name, value in body.items() if name != "contact"}
    contact = body.get("contact")
    if contact is not None:
        if not isinstance(contact, dict):
            raise TicketInputError([FieldError("contact", "contact must be an object", "contact 必须是 JSON 对象")])
        if error := _unknown(contact, CONTACT_FIELDS, "contact"):
            raise TicketInputError([error])
        for field, value in contact.items():
            if values.get(field) not in (None, "", value):
                twice = FieldError(
                    field, f"{field} is given twice, with different values", f"{LABELS[field]}重复填写且不一致"
                )
                raise TicketInputError([twice])
            values[field] = value
    return clean_ticket(values, required=("text",))
