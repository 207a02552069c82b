"""Notices: the banners an admin publishes on the merchant pages ("部分终端签到失败，正在处理") from a
start to an end time, and may withdraw sooner. Times are stored as ISO 8601 UTC text, so that a
notice is active while `starts <= now < ends` compares as text. The caller audits publish and
withdraw in the same write transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, insert, select, update

from webapp.desk.schema import notices
from webapp.desk.storage import Desk

TEXT_MIN_CHARS = 2
TEXT_MAX_CHARS = 200
MAX_DAYS_AHEAD = 30  # a notice ends at most this many days from now
LIST_LIMIT = 100  # the admin page lists the current and scheduled ones and this many in all


class NoticeError(ValueError):
    """A notice refused; the message is Chinese, for the admin who typed it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Notice:
    """One banner: its text, when it shows (starts <= t < ends, stored UTC), who published it and
    when it was withdrawn (None: it was not)."""

    id: int
    text: str
    starts: str
    ends: str
    created: str
    created_by: str
    withdrawn: str | None

    def state(self, at: str) -> str:
        """ "active", "scheduled", "ended" or "withdrawn" at the stored time `at`."""
        if self.withdrawn:
            return "withdrawn"
        if at < self.starts:
            return "scheduled"
        return "active" if at < self.ends else "ended"


def _stored(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def publish(desk: Desk, text: str, starts: dt.datetime, ends: dt.datetime, author: str, at: dt.datetime) -> Notice:
    """Store a notice shown from `starts` to `ends` (aware datetimes); `at` is now. NoticeError when
    the text is not 2-200 characters after trimming, or the end is not after the start and after now,
    or is more than MAX_DAYS_AHEAD days ahead."""
    text = " ".join((text or "").split())
    if not TEXT_MIN_CHARS <= len(text) <= TEXT_MAX_CHARS:
        raise NoticeError(f"公告内容须为 {TEXT_MIN_CHARS} 到 {TEXT_MAX_CHARS} 个字")
    if ends <= starts:
        raise NoticeError("结束时间必须晚于开始时间")
    if ends <= at:
        raise NoticeError("结束时间必须晚于现在")
    if ends > at + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise NoticeError(f"结束时间最多在 {MAX_DAYS_AHEAD} 天之后")
    row = {
        "text": text,
        "starts": _stored(starts),
        "ends": _stored(ends),
        "created": _stored(at),
        "created_by": author,
        "withdrawn": None,
    }
    with desk.write() as conn:
        notice_id = conn.execute(insert(notices).values(**row).returning(notices.c.id)).scalar_one()
    return Notice(id=notice_id, **row)


def withdraw(desk: Desk, notice_id: int, at: dt.datetime) -> Notice | None:
    """Take a notice down at `at` (it stops showing at once); None when there is no such notice or it
    was withdrawn or had ended already."""
    when = _stored(at)
    live = (notices.c.id == notice_id) & notices.c.withdrawn.is_(None) & (notices.c.ends > when)
    with desk.write() as conn:
        if conn.execute(update(notices).where(live).values(withdrawn=when)).rowcount == 0:
            return None
        row = conn.execute(select(notices).where(notices.c.id == notice_id)).one()
    return Notice(**row._mapping)


def showing(desk: Desk, at: str) -> list[Notice]:
    """The notices not withdrawn that have not ended at the stored time `at`: the active ones and the
    scheduled ones, earliest start first (what a page process keeps for a few seconds)."""
    query = (
        select(notices)
        .where(notices.c.withdrawn.is_(None), notices.c.ends > at)
        .order_by(notices.c.starts, notices.c.id)
    )
    with desk.read() as conn:
        return [Notice(**r._mapping) for r in conn.execute(query)]


def active(desk: Desk, at: str) -> list[Notice]:
    """The notices merchants see at the stored time `at`: starts <= at < ends and not withdrawn."""
    return [n for n in showing(desk, at) if n.starts <= at]


def list_notices(desk: Desk, at: str) -> list[Notice]:
    """For the admin page, LIST_LIMIT at most: the notices active or scheduled at `at`, then the
    ended and withdrawn ones, each group latest start first."""
    current = case((notices.c.withdrawn.is_(None) & (notices.c.ends > at), 0), else_=1)
    query = select(notices).order_by(current, notices.c.starts.desc(), notices.c.id.desc()).limit(LIST_LIMIT)
    with desk.read() as conn:
        return [Notice(**r._mapping) for r in conn.execute(query)]
