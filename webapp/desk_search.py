"""The desk's ticket search and duplicate merging (routes of the agent blueprint, login required):
the top bar's search box at /agent/find, /agent/tickets/PD000001 opening a ticket by its number, and
marking a ticket as a duplicate of another."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from webapp.agent import bp
from webapp.audit_views import audit
from webapp.db import get_desk
from webapp.desk.duplicates import mark_duplicate, merged_into
from webapp.desk.following import parse_number
from webapp.desk.ticket_search import find_tickets
from webapp.desk.tickets import Ticket, TicketError, get_ticket
from webapp.forms import DeskForm
from webapp.jobs import enqueue_delivery

QUERY_MAX_CHARS = 200


class DuplicateForm(DeskForm):
    """Merge this ticket into another: the surviving ticket's number."""

    target = StringField(
        "合并到工单", validators=[DataRequired("请填写要合并到的工单号"), Length(max=24, message="工单号太长")]
    )


def duplicate_context(ticket: Ticket) -> dict:
    """What the ticket page shows of merging: the ticket it went to, the tickets merged into it, the form."""
    desk = get_desk()
    return {
        "merged_target": get_ticket(desk, ticket.duplicate_of) if ticket.duplicate_of else None,
        "merged_tickets": merged_into(desk, ticket.id),
        "duplicate_form": DuplicateForm(formdata=None),
    }


@bp.get("/find")
def find():
    """The desk's one search box: a ticket number opens the ticket, a phone, 商户号 or 终端号 lists that
    merchant's tickets, other text searches ticket text (highlighted)."""
    query = request.args.get("q", "").strip()[:QUERY_MAX_CHARS]
    found = find_tickets(get_desk(), query) if query else None
    if found is not None and found.ticket_id is not None:
        return redirect(url_for(".ticket", ticket_id=found.ticket_id))
    return render_template("agent/find.html", query=query, found=found)


@bp.get("/tickets/<number>")
def ticket_by_number(number: str):
    """A ticket by the number merchants quote (/agent/tickets/PD000001): on to the ticket's page."""
    ticket_id = parse_number(number)
    if ticket_id is None or ticket_id >= 2**63:
        abort(404)
    return redirect(url_for(".ticket", ticket_id=ticket_id))


@bp.post("/tickets/<id:ticket_id>/duplicate")
def ticket_duplicate(ticket_id: int):
    """Merge this ticket into another (the survivor): both record it and this one is resolved."""
    form = DuplicateForm()
    if form.validate_on_submit():
        try:
            with get_desk().write():  # the merge and its audit entry: both or neither
                merged = mark_duplicate(get_desk(), ticket_id, form.target.data, current_user.username)
                audit("ticket.merge", f"ticket:{ticket_id}", {"into": f"PD{merged.duplicate_of:06d}"})
            enqueue_delivery()  # the status change wrote an event
            flash(f"已合并到 PD{merged.duplicate_of:06d}。", "success")
        except TicketError as e:
            flash(f"合并未完成：{e}", "error")
        except LookupError:
            abort(404)
    else:
        flash("合并未完成：请填写要合并到的工单号。", "error")
    return redirect(url_for(".ticket", ticket_id=ticket_id))
