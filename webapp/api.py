"""The JSON API under /api/v1 for integrations (bearer tokens) and the page script, plus its OpenAPI
document. Errors are shaped by `webapp.errors`."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, request, url_for

from kb.search import search
from kb.store import get_article, list_categories
from triage.tickets import TicketError, file_ticket, get_ticket, validate_text
from webapp.auth import request_token, require_token
from webapp.db import get_db
from webapp.extensions import limiter
from webapp.model import current_triager
from webapp.openapi import SEARCH_MAX_RESULTS, document
from webapp.render import render_markdown

bp = Blueprint("api", __name__, url_prefix="/api")
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"])(bp)

CONTACT_FIELDS = ("name", "phone", "merchant_no", "terminal_no")


def _json_object() -> dict:
    """The request's JSON body; 400 unless it is a JSON object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the request body must be a JSON object")
    return body


def _text(body: dict) -> str:
    if "text" not in body:
        abort(400, description="text is required")
    try:
        return validate_text(body["text"])
    except TicketError as e:
        abort(400, description=str(e))


def _audience() -> str:
    """The audience asked for: agent content needs a token (401 without one)."""
    audience = request.args.get("audience", "merchant")
    if audience not in ("merchant", "agent"):
        abort(400, description="audience must be merchant or agent")
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
    return jsonify(document(current_app.config["TEXT_MAX_CHARS"], current_app.config["MAX_CONTENT_LENGTH"]))


@bp.post("/v1/tickets")
def create_ticket():
    """File a ticket (token required): 201 with the stored ticket and its triage, or pending triage."""
    token = require_token()
    body = _json_object()
    ticket_text = _text(body)
    contact = {}
    for field in CONTACT_FIELDS:
        value = body.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            abort(400, description=f"{field} must be a string")
        contact[field] = value
    try:
        ticket = file_ticket(
            get_db(), ticket_text, **contact, source="api", actor=f"api:{token.name}", triager=current_triager()
        )
    except TicketError as e:
        abort(400, description=str(e))
    response = jsonify({"ok": True, "ticket": ticket.to_dict()})
    response.status_code = 201
    response.headers["Location"] = url_for(".read_ticket", ticket_id=ticket.id)
    return response


@bp.get("/v1/tickets/<int:ticket_id>")
def read_ticket(ticket_id: int):
    """One ticket with its triage and the desk's decisions (token required)."""
    require_token()
    ticket = get_ticket(get_db(), ticket_id)
    if ticket is None:
        abort(404, description=f"no ticket {ticket_id}")
    return jsonify({"ok": True, "ticket": ticket.to_dict()})


@bp.post("/v1/triage")
def triage():
    """Classify a text without storing it (token required); 503 while no model is trained."""
    require_token()
    ticket_text = _text(_json_object())
    triager = current_triager()
    if triager is None:
        abort(503, description="no triage model has been trained yet: run `posdesk triage train`")
    return jsonify({"ok": True, "triage": triager.classify(ticket_text).to_dict()})


@bp.get("/v1/search")
def search_articles():
    """Search the knowledge base: merchant articles for everyone, all articles with a token."""
    request_token()
    audience = _audience()
    query = request.args.get("q", "").strip()
    if not query:
        abort(400, description="q is required")
    limit = request.args.get("limit", "10")
    limit = int(limit) if limit.isdigit() else 0
    if not 1 <= limit <= SEARCH_MAX_RESULTS:
        abort(400, description=f"limit must be an integer from 1 to {SEARCH_MAX_RESULTS}")
    hits = search(get_db(), query, audience, limit)
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
    article = get_article(get_db(), slug, audience)
    if article is None:
        abort(404, description=f"no article {slug!r}")
    return jsonify({"ok": True, "article": _article_json(article)})


@bp.get("/v1/categories")
def categories():
    """The categories with their article counts for the audience (agent counts need a token)."""
    request_token()
    audience = _audience()
    rows = [
        {
            "slug": c.slug,
            "name": c.name,
            "definition": c.definition,
            "codes": list(c.codes),
            "article_count": c.article_count,
        }
        for c in list_categories(get_db(), audience)
    ]
    return jsonify({"ok": True, "audience": audience, "categories": rows})
