"""The article editor of the desk (/agent/articles, editors and admins; agents get 403): the list with
re-verify dates, editing an article's whole source with a live preview, new articles, the history of
revisions with diffs and "恢复到此版本", publishing and unpublishing."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from kb.articles import ArticleError, parse_article_text
from webapp import knowledge
from webapp.agent import desk_context
from webapp.auth import require_login
from webapp.db import get_desk, recheck_knowledge
from webapp.desk import article_edits
from webapp.desk.article_edits import ArticleNotFound, EditConflict, EditError
from webapp.errors import refuse
from webapp.forms import ActionForm, ArticleSourceForm, NewArticleForm
from webapp.render import render_markdown_uncached

bp = Blueprint("articles", __name__, url_prefix="/agent/articles")
bp.context_processor(desk_context)

NEW_ARTICLE_SOURCE = """---
title:
category:
audience: merchant
tags: []
codes: []
related: []
updated: {today}
reverify_by:
---
## 症状

## 原因

## 处理步骤

## 何时联系客服

"""


@bp.before_request
def _editors_only():
    """Anonymous visitors log in first; agents who are not editors get 403."""
    if not current_user.is_authenticated:
        return require_login()
    if not current_user.can_edit_articles:
        refuse(403, "editors and admins only", "只有编辑和管理员可以编辑知识库文章，请联系管理员开通编辑角色。")
    return None


def _html(article):
    """The body as the public article page renders it: the same renderer and sanitiser, not cached
    (every keystroke of a preview is a new text)."""
    return render_markdown_uncached(article.body) if article else None


def _address() -> str | None:
    return request.remote_addr


def _changed(message: str, slug: str):
    """After a stored change: this process's index catches up at its next request (other processes
    within KNOWLEDGE_CHECK_SECONDS), and the editor goes back to the article."""
    recheck_knowledge()
    flash(message, "success")
    return redirect(url_for(".edit", slug=slug))


@bp.get("/")
def index():
    """Every article (published or not) with its audience, who changed it last and its re-verify
    date; `?due=1` shows only those past it."""
    today = article_edits.today()
    items = article_edits.list_articles(get_desk())
    due_only = request.args.get("due") == "1"
    overdue = sum(1 for a in items if a.overdue(today))
    if due_only:
        items = sorted((a for a in items if a.overdue(today)), key=lambda a: (a.article.reverify_by, a.slug))
    return render_template(
        "agent/articles.html", items=items, today=today, due_only=due_only, overdue=overdue, total=len(items)
    )


def _preview(slug: str, source: str) -> tuple[object, list[str]]:
    """The article as the public page would render it (or None when it does not parse), and the
    validation errors in Chinese."""
    source = article_edits.normalise_source(source)
    try:
        article = parse_article_text(f"{slug}.md", source)
    except ArticleError:
        article = None
    try:
        article_edits.check(get_desk(), slug, source, current_user.is_admin)
        errors = []
    except EditError as e:
        errors = e.messages
    return article, errors


def _editor_page(form, slug: str | None, found=None, preview=None, errors=(), status: int = 200):
    page = render_template(
        "agent/article_edit.html",
        form=form,
        slug=slug,
        found=found,
        preview=preview,
        errors=errors,
        action_form=ActionForm(),
        html=_html(preview),
    )
    return page, status


@bp.route("/<slug>/edit", methods=["GET", "POST"])
def edit(slug: str):
    """Edit an article's whole source: "预览" shows it as merchants will see it, "保存" stores it as the
    next revision; refused text comes back with the errors beside it, as typed."""
    found = article_edits.get_article(get_desk(), slug) or abort(404)
    form = ArticleSourceForm(data={"source": found.source, "base": knowledge.digest(found.source)})
    if request.method == "GET":
        return _editor_page(form, slug, found, found.article)
    if not form.validate_on_submit():
        return _editor_page(form, slug, found, None, [e for errs in form.errors.values() for e in errs], 400)
    if "preview" in request.form:
        preview, errors = _preview(slug, form.source.data)
        return _editor_page(form, slug, found, preview, errors)
    try:
        revision = article_edits.save(
            get_desk(),
            slug,
            form.source.data,
            current_user.username,
            current_user.is_admin,
            _address(),
            base=form.base.data or None,
        )
    except EditConflict as e:  # the typed text comes back; a second save knowingly replaces theirs
        form.base.data = e.current
        preview, _ = _preview(slug, form.source.data)
        return _editor_page(form, slug, found, preview, e.messages, 409)
    except EditError as e:
        preview, _ = _preview(slug, form.source.data)
        return _editor_page(form, slug, found, preview, e.messages, 400)
    return _changed(f"已保存为第 {revision.number} 版。", slug)


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Write a new article: its slug and its whole source."""
    form = NewArticleForm(data={"source": NEW_ARTICLE_SOURCE.format(today=article_edits.today().isoformat())})
    if request.method == "GET":
        return _editor_page(form, None)
    if not form.validate_on_submit():
        return _editor_page(form, None, errors=[e for errs in form.errors.values() for e in errs], status=400)
    slug = (form.slug.data or "").strip()
    if "preview" in request.form:
        preview, errors = _preview(slug or "new-article", form.source.data)
        return _editor_page(form, None, preview=preview, errors=errors)
    try:
        article_edits.create(
            get_desk(), slug, form.source.data, current_user.username, current_user.is_admin, _address()
        )
    except EditError as e:
        preview, _ = _preview(slug or "new-article", form.source.data)
        return _editor_page(form, None, preview=preview, errors=e.messages, status=400)
    return _changed("文章已新建。", slug)


@bp.post("/preview")
def preview():
    """The live preview (JSON, for the editor's script): `source` (and `slug`) in a form body with the
    page's CSRF token; {"html": the rendered body or "", "title", "errors": [Chinese messages]}."""
    slug = (request.form.get("slug") or "").strip() or "new-article"
    source = request.form.get("source") or ""
    if len(source) > article_edits.SOURCE_MAX_CHARS:
        return jsonify({"html": "", "title": "", "errors": [f"全文过长：最多 {article_edits.SOURCE_MAX_CHARS} 个字符"]})
    article, errors = _preview(slug, source)
    html = render_template("agent/_article_preview.html", preview=article, html=_html(article)) if article else ""
    response = jsonify({"html": html, "title": article.title if article else "", "errors": errors})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<slug>/history")
def history(slug: str):
    """An article's revisions, newest first, each with its diff and a "恢复到此版本" button."""
    found = article_edits.get_article(get_desk(), slug) or abort(404)
    revisions = article_edits.history(get_desk(), slug)
    return render_template("agent/article_history.html", found=found, revisions=revisions, action_form=ActionForm())


def _action(slug: str, change, done: str, back: str = ".edit"):
    """Run one button's change (CSRF-checked): flash what happened, or why not and go `back`."""
    if not ActionForm().validate_on_submit():
        flash("操作未完成：页面已过期，请刷新后重试。", "error")
        return redirect(url_for(back, slug=slug))
    try:
        change()
    except ArticleNotFound:
        abort(404)
    except EditError as e:
        flash("未能完成：" + "；".join(e.messages), "error")
        return redirect(url_for(back, slug=slug))
    return _changed(done, slug)


@bp.post("/<slug>/revert/<int:number>")
def revert(slug: str, number: int):
    """Make an earlier revision current again, as a new revision."""
    return _action(
        slug,
        lambda: article_edits.revert(
            get_desk(), slug, number, current_user.username, current_user.is_admin, _address()
        ),
        f"已恢复到第 {number} 版（保存为新的一版）。",
        ".history",
    )


@bp.post("/<slug>/publish")
def publish(slug: str):
    """Publish an article: merchants (or agents, for an internal one) see it again."""
    return _action(
        slug,
        lambda: article_edits.set_published(get_desk(), slug, True, current_user.username, address=_address()),
        "文章已发布。",
    )


@bp.post("/<slug>/unpublish")
def unpublish(slug: str):
    """Unpublish an article: it leaves every page, search and suggestion until published again."""
    done = "文章已下线，商户和客服都看不到它了。"
    linking = article_edits.linking_to(get_desk(), slug)
    if linking:
        names = "、".join(f"《{title}》" for _, title in linking)
        done += f"注意：{names}仍链接到它，读者点开会看到“找不到页面”，请修改这些文章。"
    return _action(
        slug,
        lambda: article_edits.set_published(get_desk(), slug, False, current_user.username, address=_address()),
        done,
    )
