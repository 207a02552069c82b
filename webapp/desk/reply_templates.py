"""Reply templates: canned public replies that admins keep per category (or for every category), with
the placeholders {商户号}, {工单号} and {文章链接} filled in for one ticket."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete, insert, or_, select, update

from webapp.desk.replies import REPLY_MAX_CHARS
from webapp.desk.schema import reply_templates
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import required_text

NAME_MAX_CHARS = 40
PLACEHOLDERS = ("商户号", "工单号", "文章链接")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


@dataclass(frozen=True)
class ReplyTemplate:
    """One template: its name, the category it is for (None: every category) and its body."""

    id: int
    category: str | None
    name: str
    body: str
    updated: str
    updated_by: str


def fill(body: str, values: Mapping[str, str]) -> str:
    """The body with each known placeholder replaced by its value (a missing one by nothing), in one
    pass: braces inside a value are never expanded again, and unknown {words} stay as written."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or "", body)


def _clean(name: str, body: str) -> tuple[str, str]:
    return (
        required_text(name or "", "name", "模板名称", NAME_MAX_CHARS),
        required_text(body or "", "body", "模板内容", REPLY_MAX_CHARS),
    )


def _template(row) -> ReplyTemplate:
    return ReplyTemplate(**row._mapping)


def list_templates(desk: Desk, category: str | None = None, every: bool = False) -> list[ReplyTemplate]:
    """Every template (`every`), or those for `category` and for all categories, by name."""
    query = select(reply_templates).order_by(reply_templates.c.name, reply_templates.c.id)
    if not every:
        query = query.where(or_(reply_templates.c.category.is_(None), reply_templates.c.category == category))
    with desk.read() as conn:
        return [_template(r) for r in conn.execute(query).all()]


def get_template(desk: Desk, template_id: int) -> ReplyTemplate | None:
    """One template, or None."""
    with desk.read() as conn:
        row = conn.execute(select(reply_templates).where(reply_templates.c.id == template_id)).first()
    return _template(row) if row else None


def save_template(
    desk: Desk, name: str, body: str, category: str | None, actor: str, template_id: int | None = None
) -> ReplyTemplate:
    """Create a template, or replace template `template_id`'s fields (LookupError when it is gone);
    TicketError for an empty or too long name or body."""
    name, body = _clean(name, body)
    values = {"name": name, "body": body, "category": category or None, "updated": now(), "updated_by": actor}
    with desk.write() as conn:
        if template_id is None:
            template_id = conn.execute(
                insert(reply_templates).values(**values).returning(reply_templates.c.id)
            ).scalar_one()
        else:
            changed = conn.execute(update(reply_templates).where(reply_templates.c.id == template_id).values(**values))
            if changed.rowcount != 1:
                raise LookupError(f"no template {template_id}")
    return get_template(desk, template_id)


def delete_template(desk: Desk, template_id: int) -> bool:
    """Delete a template; False when there was none."""
    with desk.write() as conn:
        return conn.execute(delete(reply_templates).where(reply_templates.c.id == template_id)).rowcount == 1
