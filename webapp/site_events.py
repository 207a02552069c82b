"""Noting what merchants do on the FAQ site (the rows are webapp.desk.site_events'): the ticket form's
live suggestions (`POST /tickets/suggestions`, answered and noted here), the article opens the page
script reports (`POST /events`, a `navigator.sendBeacon`), and the helper the merchant views call for
searches and filed tickets. Nothing is written inside a request: events wait in memory
(webapp.deferred) for the background worker's next batch.

The visitor id is made by the page script (static/js/events.js) and kept in the browser's
localStorage: public pages stay cacheable and cookie-free. A request with `DNT: 1` or `Sec-GPC: 1`
is noted without it; so is one without the script.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from kb.store import get_article
from webapp.db import get_kb
from webapp.deferred import deferred
from webapp.desk.site_events import QUERY_MAX_CHARS, VISITOR_ID, SiteEvent
from webapp.desk.storage import now
from webapp.errors import refuse
from webapp.extensions import csrf, limiter
from webapp.search import find_articles

bp = Blueprint("site_events", __name__)

SUGGESTIONS = 5  # articles shown beside the ticket form while the merchant types
_BEACON_FIELDS = {"kind", "slug", "query", "visitor"}


def tracking_refused() -> bool:
    """True when the browser asks not to be tracked (Do-Not-Track or Global Privacy Control)."""
    return request.headers.get("DNT", "").strip() == "1" or request.headers.get("Sec-GPC", "").strip() == "1"


def visitor_of(value: str | None) -> str | None:
    """The visitor id a page sent, when it is one and the browser allows tracking; else None."""
    value = (value or "").strip()
    if tracking_refused() or not VISITOR_ID.fullmatch(value):
        return None
    return value


def note_site_event(kind: str, visitor: str | None = None, **fields) -> None:
    """Note one event of this request (kind and fields as in webapp.desk.site_events), now."""
    deferred().note_event(SiteEvent(kind=kind, at=now(), visitor=visitor, **fields))


@bp.post("/tickets/suggestions")
@limiter.limit(lambda: current_app.config["SUGGEST_RATE_LIMIT"])
def suggestions():
    """The articles that may answer what the merchant is typing (JSON `{"q", "visitor"}`, the form's
    CSRF token in X-CSRFToken): `{"ok": true, "results": [{slug, title, snippet, url}]}`."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("q"), str) or not body["q"].strip():
        refuse(400, "a JSON object with the text q is required", "请填写问题描述")
    query = body["q"].strip()[:QUERY_MAX_CHARS]
    hits = find_articles(query, "merchant", SUGGESTIONS)
    results = [
        {"slug": h.slug, "title": h.title, "snippet": h.snippet, "url": url_for("merchant.article", slug=h.slug)}
        for h in hits
    ]
    visitor = body.get("visitor") if isinstance(body.get("visitor"), str) else None
    note_site_event("suggest", visitor_of(visitor), query=query, results=len(results))
    return jsonify({"ok": True, "results": results})


@bp.post("/events")
@csrf.exempt  # sent by navigator.sendBeacon from cacheable pages, which carry no CSRF token
@limiter.limit(lambda: current_app.config["EVENT_RATE_LIMIT"])
def beacon():
    """Note that a merchant opened an article (form fields kind=article, slug, and optionally the
    query that led there and the visitor id); 204, or 400 with the reason for anything else."""
    fields = request.form
    unknown = sorted(set(fields) - _BEACON_FIELDS)
    if unknown:
        refuse(400, f"unknown fields: {', '.join(map(ascii, unknown))}", "不认识的字段：" + "、".join(unknown))
    if fields.get("kind") != "article":
        refuse(400, "kind must be article", "只接受打开文章（kind=article）的记录")
    slug = fields.get("slug", "")
    if not slug or get_article(get_kb(), slug, "merchant") is None:
        refuse(400, "slug must be a published public article", "文章不存在或未公开")
    query = fields.get("query", "").strip()
    if len(query) > QUERY_MAX_CHARS:
        refuse(400, f"query is longer than {QUERY_MAX_CHARS} characters", f"搜索内容不能超过 {QUERY_MAX_CHARS} 个字")
    visitor = fields.get("visitor", "")
    if visitor and not VISITOR_ID.fullmatch(visitor):
        refuse(400, "visitor is not a visitor id", "访客标识格式不正确")
    note_site_event("article", visitor_of(visitor), slug=slug, query=query or None)
    return "", 204
