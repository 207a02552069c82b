"""Reading a ticket listing's view, filters, order and page from a query string (the agent queue's
bookmarkable URL, leniently; `GET /api/v1/tickets`, strictly, naming each bad parameter), and the
ticket page's assignment form."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from wtforms import StringField
from wtforms.validators import Length

from triage.prediction import OUT_OF_SCOPE
from webapp.desk.listing import NOBODY, TicketQuery
from webapp.desk.tickets import PRIORITIES, STATUSES
from webapp.forms import DeskForm
from webapp.render import CHINA_TIME

VIEW_LABELS = {
    "mine": "我的工单",
    "unassigned": "未分配",
    "review": "待复核",
    "waiting": "等待商户",
    "overdue": "已超时",
    "open": "全部未解决",
    "all": "全部",
}
PRIORITY_LABELS = {"low": "低", "normal": "普通", "high": "高", "urgent": "紧急"}
SOURCE_LABELS = {"web": "网页", "api": "API"}
SCOPE_LABELS = {"in": "POS 问题", "out": "非 POS 问题"}
SORT_LABELS = {"attention": "需关注的优先", "newest": "最新在前", "oldest": "最早在前"}
FILTERS = ("status", "category", "assignee", "priority", "source", "scope", "review", "from", "to")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,31}")
_FIRST_DAY, _LAST_DAY = dt.date(1970, 1, 2), dt.date(9998, 12, 30)


@dataclass
class ListingRequest:
    """A listing asked for: the query, and the parameters refused (strict reading only)."""

    query: TicketQuery
    errors: list[str] = field(default_factory=list)


def _day(value: str) -> dt.datetime | None:
    """The start of that day in China time; ValueError for a malformed date. Days no ticket can have
    (before 1970, after 9998) are no bound at all (and never an overflow)."""
    day = dt.date.fromisoformat(value)
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError(value)
    if not _FIRST_DAY <= day <= _LAST_DAY:
        return None
    return dt.datetime.combine(day, dt.time(), CHINA_TIME)


def read_listing(args, categories: set[str], user: str | None = None, view: str | None = None) -> ListingRequest:
    """The TicketQuery the parameters ask for, with `view` as given; every parameter optional. A bad
    value is left out of the query and named in `errors` (the queue ignores them, the API refuses).
    `categories` is the known category slugs (OUT_OF_SCOPE is one too)."""
    errors: list[str] = []
    values: dict = {}
    choices = {
        "status": STATUSES,
        "category": (*categories, OUT_OF_SCOPE),
        "priority": PRIORITIES,
        "source": tuple(SOURCE_LABELS),
        "scope": tuple(SCOPE_LABELS),
    }
    for name, allowed in choices.items():
        value = args.get(name, "")
        if value and value not in allowed:
            errors.append(name)
        elif value:
            values[name] = value
    assignee = args.get("assignee", "").strip().lower()
    if assignee and assignee != NOBODY and not _USERNAME.fullmatch(assignee):
        errors.append("assignee")
    elif assignee:
        values["assignee"] = assignee
    review = args.get("review", "")
    if review:
        flag = {"1": True, "true": True, "0": False, "false": False}.get(review)
        if flag is None:
            errors.append("review")
        else:
            values["needs_review"] = flag
    for name, key in (("from", "since"), ("to", "until")):
        raw = args.get(name, "")
        if not raw:
            continue
        try:
            day = _day(raw)
        except ValueError:
            errors.append(name)
            continue
        if day is not None:
            values[key] = day + dt.timedelta(days=1) if name == "to" else day
    return ListingRequest(TicketQuery(view=view, user=user, **values), errors)


def queue_view(args) -> str:
    """The queue's view: as asked, else unresolved tickets (all of them when a status is asked for,
    so that choosing 已解决 shows the resolved ones)."""
    view = args.get("view", "")
    if view in VIEW_LABELS:
        return view
    return "all" if args.get("status") in STATUSES else "open"


def queue_sort(args, view: str) -> str:
    """The queue's order: as asked, else what needs attention first (newest first in 全部)."""
    sort = args.get("sort", "")
    if sort in SORT_LABELS:
        return sort
    return "newest" if view == "all" else "attention"


class AssignForm(DeskForm):
    """Assign a ticket (an empty assignee unassigns it)."""

    assignee = StringField("处理人", validators=[Length(max=32)])
