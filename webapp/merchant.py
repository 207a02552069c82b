"""The merchant (public) pages: home, categories, articles with votes, response codes, search and the
ticket form. Internal (agent) articles are invisible here. The FAQ pages are the same for every
visitor and cacheable (webapp.caching); an article's vote form, which is not, is a page of its own."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from kb.search import MAX_QUERY_CHARS
from kb.store import (
    articles_for_code,
    get_article,
    get_articles,
    get_category,
    get_code,
    list_articles,
    list_categories,
    list_codes,
)
from kb.text import analyse
from webapp import CONTENT_SECURITY_POLICY
from webapp.attachment_views import accepts_photos, attachments_folder, checked_photos
from webapp.caching import render_public
from webapp.db import get_desk, get_kb
from webapp.deferred import deferred
from webapp.desk.attachments import store_photos
from webapp.desk.feedback import has_voted, most_viewed, record_vote
from webapp.desk.tickets import file_ticket, get_ticket
from webapp.extensions import limiter
from webapp.forms import TicketForm, VoteForm
from webapp.jobs import enqueue_delivery, enqueue_triage
from webapp.notices import current_notices
from webapp.ratelimits import vote_rate_key
from webapp.search import find_articles, suggested_articles
from webapp.site_events import note_site_event, visitor_of

bp = Blueprint("merchant", __name__)
bp.context_processor(lambda: {"notices": current_notices()})  # the banner on every merchant page

VISITOR_COOKIE = "posdesk_visitor"
VISITOR_COOKIE_AGE = 365 * 24 * 3600
SEARCH_RESULTS = 20
SUGGESTIONS = 5


def _most_read(db, limit: int) -> list:
    """The `limit` most-read articles merchants may see, most views first (ties by slug), filled up
    with unread ones in slug order: the view counts are the desk's, the articles this node's index."""
    asked = limit
    while True:  # ask for more when read articles are gone or internal now
        ranked = most_viewed(get_desk(), asked)
        found = get_articles(db, ranked)
        if len(found) >= limit or len(ranked) < asked:
            break
        asked *= 2
    found = found[:limit]
    if len(found) < limit:
        shown = {a.slug for a in found}
        # The first (needed + shown) in slug order hold enough unread ones: no loading every article.
        first = list_articles(db, limit=limit - len(found) + len(shown))
        found += [a for a in first if a.slug not in shown][: limit - len(found)]
    return found


@bp.get("/")
def index():
    """Home: search box, the categories with their article counts, the most-read articles."""
    db = get_kb()
    popular = _most_read(db, 8)
    return render_public(
        "merchant/index.html", tuple(a.slug for a in popular), categories=list_categories(db), popular=popular
    )


@bp.get("/categories/<slug>")
def category(slug: str):
    """One category: what it covers, its articles and its response codes."""
    db = get_kb()
    found = get_category(db, slug) or abort(404)
    codes = [c for c in (get_code(db, code) for code in found.codes) if c]
    return render_public(
        "merchant/category.html", (slug,), category=found, articles=list_articles(db, slug), codes=codes
    )


@bp.get("/articles/<slug>")
def article(slug: str):
    """One public article, rendered and sanitised, with its codes, related articles and the vote form."""
    db = get_kb()
    found = get_article(db, slug) or abort(404)
    deferred().count_view(slug)  # in memory: the background worker writes the counts in batches
    return render_public(
        "merchant/article.html",
        (slug,),
        article=found,
        category=get_category(db, found.category),
        codes=[c for c in (get_code(db, code) for code in found.codes) if c],
        related=get_articles(db, list(found.related)),
    )


# The vote form may be framed by this site's own article pages only (the CSP's frame-ancestors).
_FRAMED_BY_SELF = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


@bp.get("/articles/<slug>/feedback")
def feedback(slug: str):
    """An article's "这篇文章有帮助吗？" form (or "感谢您的反馈"), framed into the article page: the
    visitor's own CSRF token and vote, so never stored by any cache."""
    db = get_kb()
    found = get_article(db, slug) or abort(404)
    voted = has_voted(get_desk(), slug, request.cookies.get(VISITOR_COOKIE))
    response = make_response(render_template("merchant/feedback.html", article=found, form=VoteForm(), voted=voted))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _FRAMED_BY_SELF
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@bp.post("/articles/<slug>/vote")
@limiter.limit(lambda: current_app.config["VOTE_RATE_LIMIT"])
@limiter.limit(lambda: current_app.config["ARTICLE_VOTE_RATE_LIMIT"], key_func=vote_rate_key)
def vote(slug: str):
    """Record "这篇文章有帮助吗？" once per visitor (identified by a cookie)."""
    db = get_kb()
    get_article(db, slug) or abort(404)
    form = VoteForm()
    if not form.validate():
        abort(400, description="请选择“有帮助”或“没有帮助”")
    visitor = request.cookies.get(VISITOR_COOKIE) or secrets.token_urlsafe(16)
    if record_vote(get_desk(), slug, visitor, form.helpful.data == "yes", form.comment.data or ""):
        flash("感谢您的反馈，我们会持续改进这篇文章。", "success")
    else:
        flash("您已经评价过这篇文章，感谢支持。", "info")
    response = redirect(url_for(".feedback", slug=slug))
    if VISITOR_COOKIE not in request.cookies:
        response.set_cookie(
            VISITOR_COOKIE,
            visitor,
            max_age=VISITOR_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


@bp.get("/codes/")
def codes():
    """Every response code, grouped by who has to act on it, each linking to its own page."""
    groups: dict[str, list] = {}
    for found in list_codes(get_kb()):
        groups.setdefault(found.who_acts, []).append(found)
    return render_public("merchant/codes.html", (), groups=groups)


@bp.get("/codes/<code>")
def code(code: str):
    """One response code: its meaning, what the terminal shows, who acts, and the articles about it."""
    db = get_kb()
    found = get_code(db, code) or abort(404)
    if found.code != code:
        return redirect(url_for(".code", code=found.code), 301)
    return render_public(
        "merchant/code.html",
        (found.code,),
        code=found,
        category=get_category(db, found.category),
        articles=articles_for_code(db, found.code),
    )


@bp.get("/search")
def search_page():
    """Search results with highlighted snippets; with none, ways to browse or ask for help."""
    db = get_kb()
    query = request.args.get("q", "").strip()
    analysis = analyse(query, MAX_QUERY_CHARS)
    hits = find_articles(analysis, "merchant", SEARCH_RESULTS) if query else []
    if query:
        note_site_event("search", visitor_of(request.args.get("visitor")), query=query, results=len(hits))
    # A code in the query ("58", "应答码 58") gets its card above the articles.
    codes = [c for c in (get_code(db, code) for code in analysis.codes) if c] if hits else []
    categories = list_categories(db) if not hits else []
    return render_template("merchant/search.html", query=query, hits=hits, codes=codes, categories=categories)


@bp.route("/tickets/new", methods=["GET", "POST"])
@accepts_photos
@limiter.limit(lambda: current_app.config["TICKET_RATE_LIMIT"], methods=["POST"])
def new_ticket():
    """The ticket form; without the page script, a first submit shows "先看看这些文章", a second files it."""
    form = TicketForm()
    suggestions = []
    valid = form.validate_on_submit()
    # Every submit checks the photos: a refused one is reported at once, with the typed text kept.
    photos = checked_photos(form.photos) if form.is_submitted() else []
    if valid and photos is not None:
        visitor = visitor_of(form.visitor.data)
        if not form.reviewed.data:  # the deflection step: a search for what the merchant wrote
            suggestions = find_articles(form.description.data, "merchant", SUGGESTIONS)
            note_site_event("search", visitor, query=form.description.data, results=len(suggestions))
        if not suggestions:
            desk = get_desk()
            with desk.write():  # the ticket and its photos, in one commit
                ticket = file_ticket(
                    desk,
                    form.description.data,
                    name=form.name.data,
                    phone=form.phone.data,
                    merchant_no=form.merchant_no.data or "",
                    terminal_no=form.terminal_no.data or "",
                    email=form.email.data or "",
                )
                store_photos(desk, ticket.id, None, photos, "merchant", attachments_folder())
            note_site_event("ticket", visitor, ticket_id=ticket.id)
            enqueue_triage()
            enqueue_delivery()
            session["filed_ticket"] = ticket.id
            return redirect(url_for(".ticket_filed"))
        form.reviewed.data = "1"
    # A browser never re-fills a file input: good photos sent with a page shown again are chosen again.
    reselect = len(photos or []) if suggestions or form.errors else 0
    # A refused submission is a 400 (with the form's Chinese messages), as the API answers.
    status = 400 if form.errors else 200
    page = render_template("merchant/ticket_new.html", form=form, suggestions=suggestions, reselect_photos=reselect)
    return page, status


@bp.get("/tickets/filed")
def ticket_filed():
    """After filing: the ticket number and the articles that may already answer it."""
    ticket = get_ticket(get_desk(), session.get("filed_ticket", 0))
    if ticket is None:
        return redirect(url_for(".new_ticket"))
    suggestions = suggested_articles(ticket.text, ticket.prediction, "merchant", SUGGESTIONS)
    return render_template(
        "merchant/ticket_filed.html",
        ticket=ticket,
        suggestions=suggestions,
        status_url=url_for(".track", key=ticket.status_key, _external=True),
        hotline=current_app.config.get("SUPPORT_HOTLINE"),
    )


from webapp import ticket_status  # noqa: E402, F401  (its routes: the status page and lookup, on this blueprint)
