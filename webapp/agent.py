"""The agent desk (login required on every route): the ticket queue, a ticket with its triage and
actions, and search over all articles, internal ones included."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user

from kb.store import get_article, get_articles, get_category, get_code, list_articles, list_categories
from triage.prediction import OUT_OF_SCOPE
from webapp.agent_replies import post_reply, reply_context
from webapp.audit_views import audit
from webapp.auth import require_login
from webapp.db import get_desk, get_kb
from webapp.desk.accounts import authenticate, list_users, set_password
from webapp.desk.attachments import list_attachments
from webapp.desk.feedback import recent_comments, vote_summary
from webapp.desk.listing import list_page, view_counts
from webapp.desk.ownership import assign, merchant_history
from webapp.desk.replies import merchant_replied_last
from webapp.desk.sessions import LoginThrottled, end_session, log_in, start_session
from webapp.desk.tickets import (
    TicketError,
    add_note,
    get_ticket,
    history,
    mark_answer,
    set_category,
    set_status,
    similar_tickets,
)
from webapp.errors import person_message
from webapp.extensions import limiter
from webapp.forms import (
    OUT_OF_SCOPE_NAME,
    ROLE_LABELS,
    STATUS_LABELS,
    ActionForm,
    AnswerForm,
    CategoryForm,
    LoginForm,
    NoteForm,
    OwnPasswordForm,
    ReplyForm,
    StatusForm,
)
from webapp.jobs import enqueue_delivery
from webapp.queue_views import AssignForm, queue_sort, queue_view, read_listing
from webapp.render import percent
from webapp.search import find_articles, suggested_articles

bp = Blueprint("agent", __name__, url_prefix="/agent")

SEARCH_RESULTS = 20


@bp.before_request
def _login_required():
    """Every desk page but the login page needs a logged-in agent."""
    if request.endpoint != "agent.login":
        return require_login()
    return None


@bp.context_processor
def desk_context() -> dict:
    """What every desk page's layout needs: category names, status and role labels, the logout button."""
    categories = list_categories(get_kb(), "agent")
    return {
        "category_names": {c.slug: c.name for c in categories} | {OUT_OF_SCOPE: OUT_OF_SCOPE_NAME},
        "desk_categories": categories,
        "status_labels": STATUS_LABELS,
        "role_labels": ROLE_LABELS,
        # Not read from the request: an error page for a too-large post must not read the body again.
        "logout_form": ActionForm(formdata=None),
    }


def _safe_next(target: str | None) -> str | None:
    """Only follow a `next` that stays on this site's desk."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/agent"):
        return None
    return target


def _login_target(username: str | None) -> str:
    """The account a login tried, as the audit log names it (what was typed, cut short)."""
    return f"user:{(username or '').strip()[:64]}"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    """The desk login page."""
    if current_user.is_authenticated:
        return redirect(url_for(".queue"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        address, free = get_remote_address(), current_app.config["LOGIN_FREE_FAILURES"]
        try:
            user = log_in(get_desk(), form.username.data, form.password.data, address, free)
        except LoginThrottled as e:
            audit("login.failure", _login_target(form.username.data), {"reason": "throttled"}, actor="anonymous")
            flash(f"登录失败次数太多，请 {e.wait} 秒后再试。", "error")
            return render_template("agent/login.html", form=form), 429
        if user:
            login_user(user)
            audit("login.success", f"user:{user.username}", actor=user.username)
            return redirect(_safe_next(form.next.data) or url_for(".queue"))
        audit("login.failure", _login_target(form.username.data), {"reason": "password"}, actor="anonymous")
        flash("用户名或密码不正确。", "error")
    return render_template("agent/login.html", form=form)


@bp.post("/logout")
def logout():
    """Log out (ending the session on the server too) and return to the login page."""
    end_session(get_desk(), current_user.session_id)
    logout_user()
    flash("您已退出登录。", "info")
    return redirect(url_for(".login"))


@bp.get("/")
def queue():
    """The ticket queue: a view (unresolved by default, needing review or overdue first, then the
    oldest) with every view's count, combined filters and pages, all in a bookmarkable URL."""
    page = request.args.get("page", 1, type=int) or 1
    view = queue_view(request.args)
    categories = {c.slug for c in list_categories(get_kb(), "agent")}
    query = read_listing(request.args, categories, current_user.username, view).query
    per_page = current_app.config["TICKETS_PER_PAGE"]
    result = list_page(get_desk(), query, queue_sort(request.args, view), page, per_page)
    filters = {k: v for k, v in request.args.items() if k != "page" and v}
    replied = merchant_replied_last(get_desk(), [t.id for t in result.tickets])
    return render_template(
        "agent/queue.html",
        result=result,
        filters=filters,
        merchant_replied=replied,
        view=view,
        counts=view_counts(get_desk(), query),
        agents=[u.username for u in list_users(get_desk()) if u.active],
    )


@bp.get("/tickets/<id:ticket_id>")
def ticket(ticket_id: int):
    """One ticket: text, contact, triage, suggested articles, similar tickets, actions and history."""
    db, desk = get_kb(), get_desk()
    found = get_ticket(desk, ticket_id) or abort(404)
    category_form = CategoryForm(category=found.category).with_categories(list_categories(db, "agent"))
    prediction = found.prediction
    suggestions = suggested_articles(found.text, prediction, "agent", 6)
    shown = {a.slug for a in suggestions}
    procedures = list_articles(db, found.category, "agent") if found.category else []
    events = history(desk, ticket_id)
    answered = {e.new for e in events if e.action == "answer" and e.new}
    return render_template(
        "agent/ticket.html",
        ticket=found,
        history=events,
        article_titles={a.slug: a.title for a in (get_article(db, s, "agent") for s in answered) if a},
        # An alternative that would read "0%" tells the agent nothing.
        alternatives=[a for a in prediction.alternatives[1:] if percent(a.confidence) != "0%"] if prediction else [],
        attachments=list_attachments(desk, ticket_id),
        similar=similar_tickets(desk, found),
        merchant_tickets=merchant_history(desk, found),
        assign_form=AssignForm(assignee=found.assignee or ""),
        agents=[u.username for u in list_users(desk) if u.active],
        suggestions=suggestions,
        procedures=[a for a in procedures if not a.is_public and a.slug not in shown],
        codes=[c for c in (get_code(db, code) for code in (prediction.codes if prediction else ())) if c],
        answer=get_article(db, found.answer_article, "agent") if found.answer_article else None,
        category_form=category_form,
        status_form=StatusForm(status=found.status),
        note_form=NoteForm(),
        answer_form=AnswerForm(),
        **reply_context(found, suggestions),
        **duplicate_context(found),
    )


# The fields whose new value the audit log keeps for a desk action (a note's or reply's text stays in
# the ticket's history only).
_AUDITED_VALUES = ("category", "status", "assignee", "priority", "slug")


def _act(ticket_id: int, form, action, success: str):
    """Run one ticket action from a posted form (recorded in the audit log as the API's changes are),
    then show the ticket again."""
    if form.validate_on_submit():
        try:
            with get_desk().write():  # the change and its audit entry: both or neither
                action(form)
                change = request.endpoint.rsplit(".ticket_", 1)[-1]
                values = {f: form[f].data for f in _AUDITED_VALUES if f in form}
                audit("ticket.update", f"ticket:{ticket_id}", {"change": change, **values})
            enqueue_delivery()  # a status change (or another action) may have written events
            flash(success, "success")
        except TicketError as e:
            flash(f"操作未完成：{person_message(e)}", "error")
        except LookupError:
            abort(404)
    else:
        flash("操作未完成：请检查填写的内容。", "error")
    return redirect(url_for(".ticket", ticket_id=ticket_id))


@bp.post("/tickets/<id:ticket_id>/category")
def ticket_category(ticket_id: int):
    """Confirm or correct the ticket's category (recorded with who and when)."""
    categories = list_categories(get_kb(), "agent")
    form = CategoryForm().with_categories(categories)
    known = {c.slug for c in categories}
    return _act(
        ticket_id,
        form,
        lambda f: set_category(get_desk(), ticket_id, f.category.data, current_user.username, known),
        "分类已保存。",
    )


@bp.post("/tickets/<id:ticket_id>/status")
def ticket_status(ticket_id: int):
    """Change the ticket's status."""
    form = StatusForm()
    return _act(
        ticket_id,
        form,
        lambda f: set_status(get_desk(), ticket_id, f.status.data, current_user.username),
        "状态已更新。",
    )


@bp.post("/tickets/<id:ticket_id>/assignee")
def ticket_assignee(ticket_id: int):
    """Assign the ticket to an agent (oneself with 指派给我), or unassign it (an empty assignee)."""
    form = AssignForm()
    return _act(
        ticket_id,
        form,
        lambda f: assign(get_desk(), ticket_id, f.assignee.data or None, current_user.username),
        "处理人已更新。",
    )


@bp.post("/tickets/<id:ticket_id>/reply")
def ticket_reply(ticket_id: int):
    """Post a public reply (the merchant sees it on the status page), maybe with an article."""
    form = ReplyForm()  # the article may be any public one: post_reply checks it
    return _act(ticket_id, form, lambda f: post_reply(ticket_id, f, current_user.username), "回复已发送给商户。")


@bp.post("/tickets/<id:ticket_id>/note")
def ticket_note(ticket_id: int):
    """Add an internal note."""
    form = NoteForm()
    return _act(
        ticket_id, form, lambda f: add_note(get_desk(), ticket_id, f.note.data, current_user.username), "备注已添加。"
    )


@bp.post("/tickets/<id:ticket_id>/answer")
def ticket_answer(ticket_id: int):
    """Mark an article as the ticket's answer."""
    form = AnswerForm()
    return _act(
        ticket_id,
        form,
        lambda f: mark_answer(get_desk(), ticket_id, f.slug.data, current_user.username, _article_slugs()),
        "已标记为答案。",
    )


def _article_slugs() -> set[str]:
    """Every article's slug, internal ones included."""
    return {a.slug for a in list_articles(get_kb(), audience="agent")}


@bp.get("/search")
def search_page():
    """Search every article, internal ones included, with highlighted snippets."""
    db = get_kb()
    query = request.args.get("q", "").strip()
    hits = find_articles(query, "agent", SEARCH_RESULTS) if query else []
    internal = [] if query else [a for a in list_articles(db, audience="agent") if not a.is_public]
    return render_template("agent/search.html", query=query, hits=hits, internal=internal)


@bp.get("/articles/<slug>")
def article(slug: str):
    """Read any article (internal ones too) with merchants' feedback on it."""
    db = get_kb()
    found = get_article(db, slug, "agent") or abort(404)
    return render_template(
        "agent/article.html",
        article=found,
        category=get_category(db, found.category, "agent"),
        codes=[c for c in (get_code(db, code) for code in found.codes) if c],
        related=get_articles(db, list(found.related), "agent"),
        votes=vote_summary(get_desk(), slug),
        comments=recent_comments(get_desk(), slug),
    )


@bp.route("/password", methods=["GET", "POST"])
def password():
    """Change one's own password (which ends the other sessions of this account)."""
    form = OwnPasswordForm()
    if form.validate_on_submit():
        if authenticate(get_desk(), current_user.username, form.current.data) is None:
            flash("当前密码不正确。", "error")
            return render_template("agent/password.html", form=form)
        user = set_password(get_desk(), current_user.username, form.password.data)  # ends every session
        login_user(start_session(get_desk(), user))
        flash("密码已修改。", "success")
        return redirect(url_for(".queue"))
    return render_template("agent/password.html", form=form)


# Their routes (setting a ticket's priority, bulk actions from the queue, the dashboard and its CSV
# files) are on this blueprint.
from webapp import bulk, dashboard, ticket_priority  # noqa: E402, F401

# Its routes (ticket search, /agent/tickets/PD000001, merging duplicates) are on this blueprint.
from webapp.desk_search import duplicate_context  # noqa: E402
