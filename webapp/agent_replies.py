"""The desk's side of public replies: what the ticket page needs to show the conversation and the reply
form (articles to insert, the category's reply templates, a chosen template filled in for the ticket),
and posting a reply."""

from __future__ import annotations

from flask import request, url_for
from wtforms import SelectChoice

from kb.store import get_article, list_articles
from webapp.db import get_desk, get_kb
from webapp.desk.replies import add_agent_reply, list_replies
from webapp.desk.reply_templates import fill, get_template, list_templates
from webapp.desk.tickets import Ticket
from webapp.forms import ReplyForm
from webapp.reply_articles import article_insert


def public_article_slugs() -> set[str]:
    """Every merchant article's slug: the only ones a public reply may insert."""
    return {a.slug for a in list_articles(get_kb())}


def _article_choices(ticket: Ticket, suggestions) -> list[SelectChoice]:
    """Public articles worth inserting: the answer, the suggestions, then the rest of the category."""
    db = get_kb()
    first = [get_article(db, ticket.answer_article)] if ticket.answer_article else []
    candidates = [*first, *suggestions, *(list_articles(db, ticket.category) if ticket.category else [])]
    seen, choices = set(), [SelectChoice("", "不插入文章")]
    for article in candidates:
        if article is not None and article.is_public and article.slug not in seen:
            seen.add(article.slug)
            choices.append(SelectChoice(article.slug, article.title))
    return choices


def template_values(ticket: Ticket, article_slug: str | None) -> dict[str, str]:
    """The placeholders' values for this ticket: {文章链接} is the chosen article's public link, else
    the ticket's answer article's (empty when there is neither)."""
    inserted = article_insert(get_kb(), article_slug or ticket.answer_article)
    return {"商户号": ticket.merchant_no, "工单号": ticket.number, "文章链接": inserted.url if inserted else ""}


def reply_context(ticket: Ticket, suggestions) -> dict:
    """The ticket page's conversation and reply form; `?template=<id>` fills the form with that
    template for this ticket, `?article=<slug>` preselects an article to insert."""
    desk, db = get_desk(), get_kb()
    replies = list_replies(desk, ticket.id)
    form = ReplyForm(formdata=None)
    form.article.choices = _article_choices(ticket, suggestions)
    article = request.args.get("article", "")
    if article in {c.value for c in form.article.choices}:
        form.article.data = article
    template = get_template(desk, request.args.get("template", 0, type=int))
    if template is not None:
        form.body.data = fill(template.body, template_values(ticket, form.article.data))
    return {
        "replies": replies,
        "reply_articles": {r.article: article_insert(db, r.article) for r in replies if r.article},
        "reply_form": form,
        "reply_templates": list_templates(desk, ticket.category),
        "template_url": lambda t: url_for("agent.ticket", ticket_id=ticket.id, template=t.id, _anchor="reply"),
    }


def post_reply(ticket_id: int, form: ReplyForm, author: str) -> None:
    """Post the form's public reply (TicketError for an internal or unknown article)."""
    add_agent_reply(
        get_desk(),
        ticket_id,
        form.body.data,
        author,
        article=form.article.data or None,
        asks_info=bool(form.asks_info.data),
        public_articles=public_article_slugs(),
    )
