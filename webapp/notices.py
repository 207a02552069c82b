"""The notice banner on the merchant pages: the notices active now, read from the desk at most once
every NOTICE_CACHE_SECONDS per process (never a query per page view), with what public pages' caching
needs from them: a key for the ETag, and how long until the banner changes (a cap on max-age)."""

from __future__ import annotations

import datetime as dt
import threading
import time

from flask import Flask, current_app, g

from webapp.db import get_desk
from webapp.desk.notices import Notice, showing
from webapp.desk.storage import now

_EXTENSION = "posdesk.notices"


class NoticeCache:
    """The notices not yet ended (active and scheduled), as this process last read them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._notices: list[Notice] = []
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def notices(self, read) -> list[Notice]:
        """The cached notices; `read()` gives them afresh once the copy is older than `seconds`."""
        with self._lock:
            if self._read_at is None or time.monotonic() - self._read_at >= self.seconds:
                self._notices, self._read_at = read(), time.monotonic()
            return self._notices

    def forget(self) -> None:
        """Read again at the next page (this process published or withdrew a notice)."""
        with self._lock:
            self._read_at = None


def notice_cache(app: Flask | None = None) -> NoticeCache:
    """The app's notice cache."""
    return (app or current_app).extensions[_EXTENSION]


def _upcoming() -> tuple[str, list[Notice]]:
    """Now (as stored) and the notices not ended then, once per request."""
    if "notices_upcoming" not in g:
        at = now()
        g.notices_upcoming = at, [n for n in notice_cache().notices(lambda: showing(get_desk(), at)) if at < n.ends]
    return g.notices_upcoming


def current_notices() -> list[Notice]:
    """The notices merchants see now (earliest start first)."""
    at, upcoming = _upcoming()
    return [n for n in upcoming if n.starts <= at]


def notices_key() -> str:
    """What a public page's ETag takes from the banner: the active notices' ids and end times."""
    return ",".join(f"{n.id}@{n.ends}" for n in current_notices())


def seconds_until_change() -> int | None:
    """Seconds until the banner next changes by the clock (an active notice ends or a scheduled one
    starts); None when nothing is due to change."""
    at, upcoming = _upcoming()
    moments = [n.ends if n.starts <= at else n.starts for n in upcoming]
    if not moments:
        return None
    change = dt.datetime.fromisoformat(min(moments).replace("Z", "+00:00"))
    return max(0, int((change - dt.datetime.fromisoformat(at.replace("Z", "+00:00"))).total_seconds()))


def init_app(app: Flask) -> None:
    """Give the app its notice cache."""
    app.extensions[_EXTENSION] = NoticeCache(float(app.config["NOTICE_CACHE_SECONDS"]))
