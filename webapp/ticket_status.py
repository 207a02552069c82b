"""The merchant following a ticket without an account (routes of the merchant blueprint): the lookup by
ticket number and phone at /tickets/status, and the private status page /tickets/track/<key> with the
merchant's reply (text and photos), "问题已解决" and the rating.

The status page shows the merchant's own ticket only: their text, masked contact details, public
replies, the answer article and photos; never internal notes, the triage or another ticket. Every page
here is `no-store` (the /tickets/ prefix in `webapp._PRIVATE_PATHS`) and every post carries a CSRF token.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for

from kb.store import get_article
from webapp.attachment_views import accepts_photos, attachments_folder, checked_photos
from webapp.db import get_desk, get_kb
from webapp.desk.attachments import attachments_by_reply, store_photos
from webapp.desk.duplicates import followed_ticket
from webapp.desk.following import mark_solved, rate, ticket_by_key, ticket_by_number_and_phone
from webapp.desk.replies import MERCHANT, add_merchant_reply, list_replies
from webapp.desk.tickets import Ticket, TicketError
from webapp.extensions import limiter
from webapp.forms import ActionForm, LookupForm, MerchantReplyForm, RatingForm
from webapp.images import ImageRefused
from webapp.jobs import enqueue_delivery
from webapp.merchant import bp
from webapp.reply_articles import article_insert

# What a merchant reads for each status.
MERCHANT_STATUS_LABELS = {
    "new": "已受理",
    "open": "处理中",
    "pending": "等待您补充",
    "resolved": "已解决",
    "closed": "已关闭",
}
LOOKUP_FAILED = "没有找到匹配的工单，请核对工单号和提交工单时留的联系电话。"
MERGED_NOTICE = "这个工单与另一个相同问题的工单已合并，客服会一并处理；如需补充信息，请在下方回复。"


def status_url(ticket: Ticket, external: bool = True) -> str:
    """The ticket's private status link (absolute unless `external` is False)."""
    return url_for("merchant.track", key=ticket.status_key, _external=external)


def _mask(value: str, keep_start: int, keep_end: int) -> str:
    """A value with its middle starred ("8983******0001"); short values keep less."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        keep_start, keep_end = min(keep_start, 1), 0
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end :]


def masked_contact(ticket: Ticket) -> dict[str, str]:
    """The ticket's contact details as the status page shows them: enough to recognise, not to copy."""
    local, _, domain = ticket.email.partition("@")
    return {
        "联系人": _mask(ticket.name, 1, 0),
        "联系电话": _mask(ticket.phone, 3, 4),
        "商户号": _mask(ticket.merchant_no, 4, 4),
        "终端号": _mask(ticket.terminal_no, 2, 2),
        "电子邮箱": f"{_mask(local, 1, 0)}@{domain}" if ticket.email else "",
    }


@bp.route("/tickets/status", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["TICKET_LOOKUP_RATE_LIMIT"], methods=["POST"])
def lookup():
    """Find a ticket by its number and the phone given on it; the same answer for a wrong number and a
    wrong phone. Found: on to its status page."""
    form = LookupForm()
    status = 200
    if form.validate_on_submit():
        ticket = ticket_by_number_and_phone(get_desk(), form.number.data, form.phone.data)
        if ticket is not None:
            return redirect(url_for(".track", key=ticket.status_key))
        flash(LOOKUP_FAILED, "error")
        status = 404
    elif form.errors:
        status = 400
    form.phone.data = ""  # never echoed back
    return render_template("merchant/ticket_lookup.html", form=form), status


def _tracked(key: str) -> Ticket:
    """The ticket of this status key; 404 for any other key."""
    return ticket_by_key(get_desk(), key) or abort(404)


@bp.get("/tickets/track/<key>")
def track(key: str):
    """The merchant's status page for one ticket; a merged ticket's page goes on to the surviving
    ticket's when that one carries the same phone, else stays here saying it was merged (another
    merchant's ticket is never shown)."""
    ticket = _tracked(key)
    if ticket.duplicate_of is not None:
        survivor = followed_ticket(get_desk(), ticket)
        if survivor is not None:
            return redirect(url_for(".track", key=survivor.status_key))
        flash(MERGED_NOTICE, "info")
    return _status_page(ticket)


def _status_page(ticket, reply_form: MerchantReplyForm | None = None, status: int = 200):
    """The status page; `reply_form` is a refused reply shown again with what the merchant typed."""
    db = get_kb()
    replies = list_replies(get_desk(), ticket.id)
    articles = {r.article: article_insert(db, r.article) for r in replies if r.article}
    answer = get_article(db, ticket.answer_article) if ticket.answer_article else None
    response = current_app.make_response(
        render_template(
            "merchant/ticket_status.html",
            ticket=ticket,
            status_label=MERCHANT_STATUS_LABELS.get(ticket.status, ticket.status),
            contact={k: v for k, v in masked_contact(ticket).items() if v},
            replies=replies,
            articles=articles,
            answer=answer,
            attachments=attachments_by_reply(get_desk(), ticket.id),
            merchant=MERCHANT,
            reply_form=reply_form or MerchantReplyForm(formdata=None),
            solved_form=ActionForm(formdata=None),
            rating_form=RatingForm(formdata=None),
        )
    )
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.status_code = status
    return response


def _back(key: str):
    return redirect(url_for(".track", key=key))


@bp.post("/tickets/track/<key>/reply")
@accepts_photos
@limiter.limit(lambda: current_app.config["TICKET_RATE_LIMIT"])
def track_reply(key: str):
    """The merchant's reply (text and photos): the ticket goes back to the desk as open."""
    ticket = _tracked(key)
    form = MerchantReplyForm()
    # A refused reply is a 400 showing the page again with the merchant's text kept.
    if not form.validate_on_submit():
        flash("；".join(e for errors in form.errors.values() for e in errors) or "请填写回复内容。", "error")
        return _status_page(ticket, form, 400)
    photos = checked_photos(form.photos)
    if photos is None:
        flash(f"照片未能上传：{'；'.join(form.photos.errors)}", "error")
        return _status_page(ticket, form, 400)
    desk = get_desk()
    try:
        with desk.write():  # the reply and its photos: both or neither
            reply = add_merchant_reply(desk, ticket.id, form.body.data)
            store_photos(desk, ticket.id, reply.id, photos, MERCHANT, attachments_folder())
    except ImageRefused as e:  # too many photos on the ticket
        flash(f"照片未能上传：{e.message}", "error")
        return _status_page(ticket, form, 400)
    except TicketError:
        flash("工单已关闭，不能再回复。如有新问题，请重新提交工单。", "error")
        return _back(key)
    enqueue_delivery()
    flash("您的回复已发送，客服会尽快处理。", "success")
    return _back(key)


@bp.post("/tickets/track/<key>/solved")
@limiter.limit(lambda: current_app.config["TICKET_RATE_LIMIT"])
def track_solved(key: str):
    """The merchant marks the ticket solved."""
    ticket = _tracked(key)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        mark_solved(get_desk(), ticket.id)
        enqueue_delivery()
        flash("已标记为已解决，感谢您的反馈。欢迎为这次处理打分。", "success")
    except TicketError:
        flash("这个工单已经解决或关闭。", "info")
    return _back(key)


@bp.post("/tickets/track/<key>/rating")
@limiter.limit(lambda: current_app.config["TICKET_RATE_LIMIT"])
def track_rating(key: str):
    """The merchant rates the answer of a solved or closed ticket, once."""
    ticket = _tracked(key)
    form = RatingForm()
    if not form.validate_on_submit():
        flash("请选择 1 到 5 分。", "error")
        return _back(key)
    try:
        rate(get_desk(), ticket.id, int(form.rating.data), form.comment.data or "")
    except TicketError:
        flash("您已经评价过这个工单，感谢支持。" if ticket.rating is not None else "工单解决后才能评价。", "info")
        return _back(key)
    flash("感谢您的评价！", "success")
    return _back(key)
