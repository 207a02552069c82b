"""Serving ticket photos: to logged-in agents under /agent/tickets/<id>/attachments/<aid>, to the
merchant through the ticket's status link under /tickets/track/<key>/attachments/<aid>; and the larger
request-body limit of the few routes that take photos (`accepts_photos`)."""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, request, send_file, url_for

from webapp.auth import require_login
from webapp.db import get_desk
from webapp.desk.attachments import Attachment, attachment_path, check_photos, get_attachment
from webapp.desk.tickets import get_ticket
from webapp.images import ImageRefused, Photo

bp = Blueprint("attachments", __name__)

_NO_KEY = "\x00" * 32  # compared against when there is no ticket, so that every miss costs the same


def accepts_photos(view):
    """Mark a view that takes photo uploads: its requests may be UPLOAD_MAX_CONTENT_LENGTH bytes,
    every other route keeps MAX_CONTENT_LENGTH."""
    view.accepts_photos = True
    return view


def _upload_limit() -> None:
    """Before the body is read (registered ahead of the app's body check): raise the limit for a
    multipart upload to a view that takes photos (its other fields stay bounded by Werkzeug's
    MAX_FORM_MEMORY_SIZE); any other body, there too, keeps MAX_CONTENT_LENGTH."""
    if request.mimetype != "multipart/form-data":
        return
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and getattr(view, "accepts_photos", False):
        request.max_content_length = int(current_app.config["UPLOAD_MAX_CONTENT_LENGTH"])


def attachments_folder() -> Path:
    """The folder holding the photos (ATTACHMENTS_DIR, a relative one inside the instance folder;
    shared storage when several nodes serve)."""
    return Path(current_app.instance_path, current_app.config["ATTACHMENTS_DIR"])


def checked_photos(field) -> list[Photo] | None:
    """A form's photos (a MultipleFileField) checked and re-encoded; None when refused, with the
    Chinese message added to the field's errors (and so to the form's)."""
    try:
        return check_photos(field.data or [])
    except ImageRefused as e:
        field.errors = [*field.errors, e.message]
        return None


def send_attachment(attachment: Attachment, thumbnail: bool = False):
    """The stored image (or its JPEG thumbnail), inline, never sniffed, never cached."""
    path = attachment_path(attachments_folder(), attachment, thumbnail)
    if not path.is_file():
        abort(404)
    name = attachment.download_name()
    if thumbnail:
        name = name.rsplit(".", 1)[0] + "-thumb.jpg"
    response = send_file(
        path,
        mimetype="image/jpeg" if thumbnail else attachment.content_type,
        download_name=name,
        as_attachment=False,
        conditional=False,
        etag=False,
        max_age=None,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _ticket_attachment(ticket_id: int, attachment_id: int) -> Attachment:
    attachment = get_attachment(get_desk(), attachment_id)
    if attachment is None or attachment.ticket_id != ticket_id:
        abort(404)
    return attachment


@bp.get("/agent/tickets/<id:ticket_id>/attachments/<id:attachment_id>")
def agent_file(ticket_id: int, attachment_id: int):
    """A ticket's photo, for a logged-in agent."""
    return require_login() or send_attachment(_ticket_attachment(ticket_id, attachment_id))


@bp.get("/agent/tickets/<id:ticket_id>/attachments/<id:attachment_id>/thumb")
def agent_thumb(ticket_id: int, attachment_id: int):
    """A ticket photo's thumbnail, for a logged-in agent."""
    return require_login() or send_attachment(_ticket_attachment(ticket_id, attachment_id), thumbnail=True)


def _tracked_attachment(key: str, attachment_id: int) -> Attachment:
    """The attachment, when `key` is its ticket's status key (compared in constant time); else 404,
    the same for a wrong key, another ticket's photo and no photo at all."""
    attachment = get_attachment(get_desk(), attachment_id)
    ticket = get_ticket(get_desk(), attachment.ticket_id) if attachment else None
    expected = ticket.status_key if ticket and ticket.status_key else _NO_KEY
    if not hmac.compare_digest(key.encode("utf-8", "replace"), expected.encode()) or ticket is None:
        abort(404)
    return attachment


@bp.get("/tickets/track/<key>/attachments/<id:attachment_id>")
def merchant_file(key: str, attachment_id: int):
    """A ticket's photo, through the ticket's status link."""
    return send_attachment(_tracked_attachment(key, attachment_id))


@bp.get("/tickets/track/<key>/attachments/<id:attachment_id>/thumb")
def merchant_thumb(key: str, attachment_id: int):
    """A ticket photo's thumbnail, through the ticket's status link."""
    return send_attachment(_tracked_attachment(key, attachment_id), thumbnail=True)


def agent_attachment_url(attachment: Attachment, thumbnail: bool = False) -> str:
    """The desk's URL of an attachment (or its thumbnail)."""
    endpoint = "attachments.agent_thumb" if thumbnail else "attachments.agent_file"
    return url_for(endpoint, ticket_id=attachment.ticket_id, attachment_id=attachment.id)


def merchant_attachment_url(status_key: str, attachment: Attachment, thumbnail: bool = False) -> str:
    """The URL of an attachment (or its thumbnail) under the ticket's status link /tickets/track/<key>."""
    endpoint = "attachments.merchant_thumb" if thumbnail else "attachments.merchant_file"
    return url_for(endpoint, key=status_key, attachment_id=attachment.id)


def init_app(app: Flask) -> None:
    """Register the photo routes, the upload limit hook (before the app's body check: call this first)
    and the URL helpers for templates."""
    app.before_request(_upload_limit)
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        agent_attachment_url=agent_attachment_url, merchant_attachment_url=merchant_attachment_url
    )
