"""The JSON API under /api/v1 for integrations (bearer tokens) and the page script, plus its OpenAPI
document. Errors are shaped by `webapp.errors`."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

from flask import Blueprint, abort, current_app, jsonify, request, url_for

from kb.store import get_article, list_articles, list_categories
from webapp.attachment_views import accepts_photos, attachments_folder, send_attachment
from webapp.auth import request_token, require_token
from webapp.dashboard import current_stats
from webapp.db import get_desk, get_kb
from webapp.desk.attachments import Attachment, get_attachment, list_attachments, save_photos
from webapp.desk.replies import REPLY_MAX_CHARS, TicketClosed, add_agent_reply, list_replies
from webapp.desk.stats import RangeError
from webapp.desk.tickets import (
    NOTE_MAX_CHARS,
    RequestKey,
    RequestKeyReused,
    TicketError,
    add_note,
    file_ticket_once,
    get_ticket,
    history,
    validate_text,
)
from webapp.errors import refuse
from webapp.extensions import limiter
from webapp.images import ImageRefused
from webapp.jobs import enqueue_delivery, enqueue_triage
from webapp.model import current_triager
from webapp.openapi import SEARCH_MAX_RESULTS, document
from webapp.ratelimits import api_rate_key
from webapp.render import render_markdown
from webapp.search import find_articles
from webapp.ticket_api import list_from_args, ownership_json, patch_ticket
from webapp.ticket_input import TicketInput, TicketInputError, ticket_from_json

bp = Blueprint("api", __name__, url_prefix="/api")
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=api_rate_key)(bp)

IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_LIMIT = re.compile(r"[0-9]{1,3}")
_SEARCH_FIELDS = ("q", "audience", "limit")
API_DISPLAY_NAME = "客服"  # what a merchant sees of a reply an integration posted


def _json_object() -> dict:
    """The request's JSON body; 400 unless it is a UTF-8 JSON object (malformed or too deeply nested too)."""
    if not request.is_json:
        refuse(
            400, "the request body must be a JSON object", "请求体必须是 JSON 对象（Content-Type: application/json）"
        )
    data = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH, chunked bodies included
    try:
        body = json.loads(data)
    except RecursionError:
        refuse(400, "the request body must be a JSON object: it is nested too deeply", "JSON 嵌套层数太多")
    except UnicodeDecodeError:
        refuse(400, "the request body must be a JSON object in UTF-8", "请求体必须是 UTF-8 编码的 JSON")
    except ValueError:
        refuse(400, "the request body must be a JSON object: it is not valid JSON", "请求体不是有效的 JSON")
    if not isinstance(body, dict):
        refuse(400, "the request body must be a JSON object", "请求体必须是 JSON 对象")
    return body


def _refuse_unknown(fields: dict, allowed) -> None:
    unknown = sorted(ascii(name) for name in fields if name not in allowed)
    if unknown:
        names = ", ".join(unknown)
        refuse(400, f"unknown fields: {names}", f"不认识的字段：{names}")


def _text(body: dict) -> str:
    if "text" not in body:
        refuse(400, "text is required", "请填写 text")
    try:
        return validate_text(body["text"])
    except TicketError as e:
        refuse(400, str(e), "text 必须是 1 到 2000 个字的文字")


def _request_key(token, ticket_input: TicketInput) -> RequestKey | None:
    """The request's Idempotency-Key (scoped to its token) with a fingerprint of the ticket it files."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        refuse(
            400,
            "Idempotency-Key must be 1-255 printable ASCII characters",
            "Idempotency-Key 必须是 1-255 个可见 ASCII 字符",
        )
    fields = dataclasses.asdict(ticket_input)
    if not fields["email"]:
        del fields["email"]  # fingerprints of requests without one stay what they were before email existed
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return RequestKey(f"token:{token.id}", key, hashlib.sha256(canonical.encode()).hexdigest())


def _search_params() -> dict:
    """The search's q, audience and limit: from the query string, or from a JSON body when POSTed
    (which keeps what a merchant types out of URLs and access logs)."""
    if request.method != "POST":
        return request.args
    body = _json_object()
    _refuse_unknown(body, _SEARCH_FIELDS)
    for field in _SEARCH_FIELDS:
        value = body.get(field)
        if field == "limit" and isinstance(value, int) and not isinstance(value, bool):
            continue
        if value is not None and not isinstance(value, str):
            refuse(400, f"{field} must be a string", f"{field} 必须是文字")
    return {k: str(v) for k, v in body.items() if v is not None}


def _audience(params) -> str:
    """The audience asked for: agent content needs a token (401 without one)."""
    audience = params.get("audience", "merchant")
    if audience not in ("merchant", "agent"):
        refuse(400, "audience must be merchant or agent", "audience 只能是 merchant 或 agent")
    if audience == "agent":
        require_token()
    return audience


def _article_json(article) -> dict:
    return {
        "slug": article.slug,
        "title": article.title,
        "category": article.category,
        "audience": article.audience,
        "tags": list(article.tags),
        "codes": list(article.codes),
        "related": list(article.related),
        "updated": article.updated,
        "body": article.body,
        "html": str(render_markdown(article.body)),
        "url": url_for("merchant.article", slug=article.slug) if article.is_public else None,
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of this API."""
    config = current_app.config
    limits = (config["TEXT_MAX_CHARS"], config["MAX_CONTENT_LENGTH"], config["UPLOAD_MAX_CONTENT_LENGTH"])
    return jsonify(document(*limits))


@bp.post("/v1/tickets")
def create_ticket():
    """File a ticket (token required): 201 with the stored ticket, its triage following within
    seconds (`triage_status` says "pending" until then).

    With an Idempotency-Key header, a retry of the same request gets 200 and the ticket filed the
    first time; the same key with another body gets 422.
    """
    token = require_token()
    try:
        ticket_input = ticket_from_json(_json_object())
    except TicketInputError as e:
        refuse(400, str(e), e.message)
    try:
        ticket, created = file_ticket_once(
            get_desk(),
            _request_key(token, ticket_input),
            ticket_input.text,
            **ticket_input.contact(),
            source="api",
            actor=f"api:{token.name}",
        )
    except RequestKeyReused as e:
        refuse(422, str(e), "这个 Idempotency-Key 已用于另一个不同的请求")
    except TicketError as e:
        refuse(400, str(e), "工单内容有误")
    if created:
        enqueue_triage()
        enqueue_delivery()
        ticket = get_ticket(get_desk(), ticket.id) or ticket  # triaged already when jobs run at once
    response = jsonify({"ok": True, "ticket": _ticket_json(ticket)})
    response.status_code = 201 if created else 200
    response.headers["Location"] = url_for(".read_ticket", ticket_id=ticket.id)
    return response


@bp.get("/v1/tickets")
def list_tickets():
    """List tickets (token required) with the desk queue's filters, newest or oldest first, by
    `page` or by `cursor` (`next_cursor` of the page before)."""
    require_token()
    categories = {c.slug for c in list_categories(get_kb(), "agent")}
    listing = list_from_args(get_desk(), request.args, categories)
    result = listing.result
    return jsonify(
        {
            "ok": True,
            "tickets": [{**t.to_dict(), **ownership_json(t)} for t in result.tickets],
            "total": result.total,
            "page": result.page,
            "pages": result.pages,
            "limit": result.per_page,
            "order": listing.order,
            "next_cursor": result.next_cursor,
        }
    )


def update_ticket(ticket_id: int):
    """Change a ticket's status, category, assignee, team or priority (token required): every change
    in its history and one `ticket.update` entry in the audit log; 400 naming every bad field."""
    token = require_token()
    body = _json_object()
    ticket = get_ticket(get_desk(), ticket_id)
    if ticket is None:
        abort(404, description=f"no ticket {ticket_id}")
    categories = {c.slug for c in list_categories(get_kb(), "agent")}
    ticket, _ = patch_ticket(get_desk(), ticket, body, f"api:{token.name}", categories)
    enqueue_delivery()  # a status change writes an event
    return jsonify({"ok": True, "ticket": _ticket_json(ticket)})


@bp.post("/v1/tickets/<id:ticket_id>/notes")
def create_note(ticket_id: int):
    """Add an internal note to a ticket (token required; never shown to the merchant): 201."""
    token = require_token()
    body = _json_object()
    _refuse_unknown(body, ("note",))
    if get_ticket(get_desk(), ticket_id) is None:
        abort(404, description=f"no ticket {ticket_id}")
    note = body.get("note")
    if not isinstance(note, str) or "\x00" in note:
        refuse(400, "note must be a string without NUL characters", "note 必须是文字")
    actor = f"api:{token.name}"
    try:
        add_note(get_desk(), ticket_id, note, actor)
    except TicketError as e:
        refuse(400, str(e), f"备注有误：必须是 1 到 {NOTE_MAX_CHARS} 个字")
    event = [e for e in history(get_desk(), ticket_id) if e.action == "note" and e.actor == actor][-1]
    stored = {"id": event.id, "ticket_id": ticket_id, "at": event.at, "actor": actor, "text": event.new}
    response = jsonify({"ok": True, "note": stored})
    response.status_code = 201
    response.headers["Location"] = url_for(".read_ticket", ticket_id=ticket_id)
    return response


# One rule for both methods: Werkzeug would answer a GET of an id past 2**63-1 with a 405, not a
# 404, if another rule of the same path (with another method) matched it before its converter.
@bp.route("/v1/tickets/<id:ticket_id>", methods=["GET", "PATCH"])
def read_ticket(ticket_id: int):
    """One ticket with its triage and the desk's decisions (token required); PATCH changes it."""
    if request.method == "PATCH":
        return update_ticket(ticket_id)
    require_token()
    ticket = get_ticket(get_desk(), ticket_id)
    if ticket is None:
        abort(404, description=f"no ticket {ticket_id}")
    return jsonify({"ok": True, "ticket": _ticket_json(ticket)})


def _attachment_json(attachment: Attachment) -> dict:
    urls = {"ticket_id": attachment.ticket_id, "attachment_id": attachment.id}
    return {
        "id": attachment.id,
        "ticket_id": attachment.ticket_id,
        "reply_id": attachment.reply_id,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "created": attachment.at,
        "url": url_for(".read_attachment", **urls),
        "thumbnail_url": url_for(".read_attachment_thumbnail", **urls),
    }


@bp.post("/v1/tickets/<id:ticket_id>/attachments")
@accepts_photos
def upload_attachment(ticket_id: int):
    """Attach one photo (multipart/form-data, field `file`) to a ticket (token required): it is checked
    and re-encoded as the merchant form's photos are; 201 with the attachment and its `url`."""
    token = require_token()
    if get_ticket(get_desk(), ticket_id) is None:
        abort(404, description=f"no ticket {ticket_id}")
    if request.mimetype != "multipart/form-data":
        refuse(
            400, "send the photo as multipart/form-data, field 'file'", "请用 multipart/form-data 上传，字段名为 file"
        )
    _refuse_unknown({**request.form, **request.files}, ("file",))
    files = request.files.getlist("file")
    if len(files) != 1:
        refuse(400, "send exactly one file, in the field 'file'", "请在 file 字段上传一张图片")
    try:
        (attachment,) = save_photos(get_desk(), ticket_id, None, files, f"api:{token.name}", attachments_folder())
    except ImageRefused as e:
        refuse(400, e.error, e.message)
    response = jsonify({"ok": True, "attachment": _attachment_json(attachment)})
    response.status_code = 201
    response.headers["Location"] = url_for(".read_attachment", ticket_id=ticket_id, attachment_id=attachment.id)
    return response


def _ticket_attachment(ticket_id: int, attachment_id: int) -> Attachment:
    require_token()
    attachment = get_attachment(get_desk(), attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        abort(404, description=f"no attachment {attachment_id} on ticket {ticket_id}")
    return attachment


@bp.get("/v1/tickets/<id:ticket_id>/attachments/<id:attachment_id>")
def read_attachment(ticket_id: int, attachment_id: int):
    """A ticket's photo as stored (token required)."""
    return send_attachment(_ticket_attachment(ticket_id, attachment_id))


@bp.get("/v1/tickets/<id:ticket_id>/attachments/<id:attachment_id>/thumbnail")
def read_attachment_thumbnail(ticket_id: int, attachment_id: int):
    """A ticket photo's JPEG thumbnail (token required)."""
    return send_attachment(_ticket_attachment(ticket_id, attachment_id), thumbnail=True)


def _ticket_json(ticket) -> dict:
    """A ticket as the API answers it: its fields, the merchant's private status link and its public replies."""
    return {
        **ticket.to_dict(),
        **ownership_json(ticket),
        "status_url": url_for("merchant.track", key=ticket.status_key, _external=True),
        "replies": [r.to_dict() for r in list_replies(get_desk(), ticket.id)],
        "attachments": [_attachment_json(a) for a in list_attachments(get_desk(), ticket.id)],
    }


@bp.post("/v1/tickets/<id:ticket_id>/replies")
def create_reply(ticket_id: int):
    """Add a public reply to a ticket (token required): `body`, optionally a public `article` to insert
    and `asks_info` (the ticket then waits for the merchant); 201 with the reply."""
    token = require_token()
    body = _json_object()
    _refuse_unknown(body, ("body", "article", "asks_info"))
    if get_ticket(get_desk(), ticket_id) is None:
        abort(404, description=f"no ticket {ticket_id}")
    article, asks_info = body.get("article"), body.get("asks_info", False)
    if article is not None and not isinstance(article, str):
        refuse(400, "article must be an article slug", "article 必须是文章的 slug")
    if not isinstance(asks_info, bool):
        refuse(400, "asks_info must be true or false", "asks_info 只能是 true 或 false")
    try:
        reply = add_agent_reply(
            get_desk(),
            ticket_id,
            body.get("body"),
            f"api:{token.name}",
            article=article,
            asks_info=asks_info,
            public_articles={a.slug for a in list_articles(get_kb())},
            display_name=API_DISPLAY_NAME,
        )
    except TicketClosed as e:
        refuse(409, str(e), "工单已关闭，不能再回复")
    except TicketError as e:
        refuse(400, str(e), f"回复内容有误：body 必须是 1 到 {REPLY_MAX_CHARS} 个字，article 必须是公开文章")
    enqueue_delivery()
    response = jsonify({"ok": True, "reply": reply.to_dict()})
    response.status_code = 201
    response.headers["Location"] = url_for(".read_ticket", ticket_id=ticket_id)
    return response


@bp.post("/v1/triage")
def triage():
    """Classify a text without storing it (token required); 503 while no model is trained."""
    require_token()
    ticket_text = _text(_json_object())
    triager = current_triager()
    if triager is None:
        abort(503, description="no triage model has been trained yet: run `posdesk triage train`")
    return jsonify({"ok": True, "triage": triager.classify(ticket_text).to_dict()})


@bp.route("/v1/search", methods=["GET", "POST"])
def search_articles():
    """Search the knowledge base: merchant articles for everyone, all articles with a token. POST takes
    the same fields as a JSON object. Not a site event (the ticket form's live suggestions are
    webapp.site_events')."""
    request_token()
    params = _search_params()
    audience = _audience(params)
    query = params.get("q", "").strip()
    if not query:
        refuse(400, "q is required", "请填写搜索内容 q")
    limit = params.get("limit", "10")
    limit = int(limit) if _LIMIT.fullmatch(limit) else 0  # ASCII digits only: "²".isdigit() is True
    if not 1 <= limit <= SEARCH_MAX_RESULTS:
        refuse(
            400,
            f"limit must be an integer from 1 to {SEARCH_MAX_RESULTS}",
            f"limit 必须是 1 到 {SEARCH_MAX_RESULTS} 的整数",
        )
    hits = find_articles(query, audience, limit)
    results = [
        {
            "slug": h.slug,
            "title": h.title,
            "category": h.category,
            "audience": h.audience,
            "score": h.score,
            "snippet": h.snippet,
            "url": url_for("merchant.article", slug=h.slug) if h.audience == "merchant" else None,
        }
        for h in hits
    ]
    return jsonify({"ok": True, "query": query, "audience": audience, "results": results})


@bp.get("/v1/articles/<slug>")
def read_article(slug: str):
    """One article: public ones for everyone, internal ones only with a token."""
    audience = "agent" if request_token() else "merchant"
    article = get_article(get_kb(), slug, audience)
    if article is None:
        abort(404, description=f"no article {slug!r}")
    return jsonify({"ok": True, "article": _article_json(article)})


@bp.get("/v1/stats")
def stats():
    """The dashboard's figures for `from`-`to` (China days, default the last 30; token required):
    volumes, backlog, response and resolution times, triage accuracy from agents' decisions, the
    deflection funnel, article votes, content gaps and bursts; 400 for bad dates."""
    require_token()
    _refuse_unknown(request.args, ("from", "to"))
    try:
        _, figures = current_stats(request.args)
    except RangeError as e:
        refuse(400, str(e), e.message)
    return jsonify({"ok": True, **figures.to_dict()})


@bp.get("/v1/categories")
def categories():
    """The categories with their article counts for the audience (agent counts need a token)."""
    request_token()
    audience = _audience(request.args)
    rows = [
        {
            "slug": c.slug,
            "name": c.name,
            "definition": c.definition,
            "codes": list(c.codes),
            "article_count": c.article_count,
        }
        for c in list_categories(get_kb(), audience)
    ]
    return jsonify({"ok": True, "audience": audience, "categories": rows})
