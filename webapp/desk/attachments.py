"""Photo attachments of tickets and replies: the files, re-encoded, under random names in one folder
(ATTACHMENTS_DIR: shared storage when several nodes serve), and their rows in the desk.

    photos = check_photos(request.files.getlist("photos"))      # ImageRefused: nothing stored
    store_photos(desk, ticket.id, None, photos, "merchant", folder)
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, insert, select

from webapp.desk.schema import ticket_attachments, ticket_replies, tickets
from webapp.desk.storage import Desk, now
from webapp.images import MAX_PHOTO_BYTES, ImageRefused, Photo, check_count, check_size, process_photo

# A ticket's photos in all its messages: what one merchant or integration can put on the desk's disk.
MAX_PER_TICKET = 30
# The only names ever joined to the folder (as written by `_write`): a row cannot point elsewhere.
_STORED_NAME = re.compile(r"[0-9a-f]{32}(?:-thumb)?\.(?:jpg|png|webp)")


@dataclass(frozen=True)
class Attachment:
    """One stored photo of a ticket (reply_id None: filed with the ticket itself)."""

    id: int
    ticket_id: int
    reply_id: int | None
    at: str
    uploaded_by: str
    stored_name: str
    thumb_name: str
    content_type: str
    size: int
    width: int
    height: int

    @property
    def extension(self) -> str:
        """The stored file's extension (".jpg", ".png", ".webp")."""
        return Path(self.stored_name).suffix

    def download_name(self) -> str:
        """The name a browser saves it under: the ticket number and the attachment's id ("PD000001-1.jpg")."""
        return f"PD{self.ticket_id:06d}-{self.id}{self.extension}"


class AttachmentError(ValueError):
    """The photos cannot be attached: no such ticket, a reply of another ticket."""


def _attachment(row) -> Attachment:
    return Attachment(**{column: row[column] for column in Attachment.__dataclass_fields__})


def _read_upload(upload) -> bytes:
    """An uploaded file's bytes (a werkzeug FileStorage or a file object), refused past the size limit
    without reading further."""
    stream = getattr(upload, "stream", upload)
    data = stream.read(MAX_PHOTO_BYTES + 1)
    check_size(len(data))
    return data


def _chosen(files: Iterable) -> list:
    """The files actually chosen: a form's empty file input arrives as a part without name or content."""
    return [f for f in files if f is not None and (getattr(f, "filename", None) or getattr(f, "content_length", 0))]


def check_photos(files: Iterable) -> list[Photo]:
    """Check and re-encode every uploaded file (FileStorage objects) of one message; ImageRefused
    (with a Chinese message) at the first refusal, before anything is stored."""
    chosen = _chosen(files)
    check_count(len(chosen))
    return [process_photo(_read_upload(upload)) for upload in chosen]


def _write(folder: Path, data: bytes, name: str) -> None:
    """Write a file atomically: a temporary file in the same folder, flushed, then renamed."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, folder / name)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def store_photos(
    desk: Desk, ticket_id: int, reply_id: int | None, photos: list[Photo], uploaded_by: str, folder: str | Path
) -> list[Attachment]:
    """Write checked photos to `folder` under random names and record them on the ticket (and reply),
    in one transaction (it joins the caller's); the files are removed again if recording fails.
    AttachmentError for an unknown ticket, a reply of another ticket or too many photos on the ticket."""
    if not photos:
        return []
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        names = []
        for photo in photos:
            stem = secrets.token_hex(16)
            stored, thumb = f"{stem}{photo.extension}", f"{stem}-thumb.jpg"
            for data, name in ((photo.data, stored), (photo.thumbnail, thumb)):
                _write(folder, data, name)
                written.append(folder / name)
            names.append((stored, thumb))
        with desk.write() as conn:
            if conn.execute(select(tickets.c.id).where(tickets.c.id == ticket_id)).first() is None:
                raise AttachmentError(f"no ticket {ticket_id}")
            if reply_id is not None:
                owner = conn.execute(select(ticket_replies.c.ticket_id).where(ticket_replies.c.id == reply_id))
                if owner.scalar_one_or_none() != ticket_id:
                    raise AttachmentError(f"reply {reply_id} is not a reply of ticket {ticket_id}")
            held = conn.execute(
                select(func.count()).select_from(ticket_attachments).where(ticket_attachments.c.ticket_id == ticket_id)
            ).scalar_one()
            if held + len(photos) > MAX_PER_TICKET:
                raise ImageRefused(
                    f"a ticket may hold at most {MAX_PER_TICKET} photos", f"每个工单最多 {MAX_PER_TICKET} 张图片"
                )
            stamp = now()
            ids = []
            for photo, (stored, thumb) in zip(photos, names, strict=True):
                row = {
                    "ticket_id": ticket_id,
                    "reply_id": reply_id,
                    "at": stamp,
                    "uploaded_by": uploaded_by,
                    "stored_name": stored,
                    "thumb_name": thumb,
                    "content_type": photo.content_type,
                    "size": len(photo.data),
                    "width": photo.width,
                    "height": photo.height,
                }
                ids.append(
                    conn.execute(
                        insert(ticket_attachments).values(**row).returning(ticket_attachments.c.id)
                    ).scalar_one()
                )
            rows = conn.execute(select(ticket_attachments).where(ticket_attachments.c.id.in_(ids))).mappings()
            return sorted((_attachment(row) for row in rows), key=lambda a: a.id)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def save_photos(
    desk: Desk, ticket_id: int, reply_id: int | None, files: Iterable, uploaded_by: str, folder: str | Path
) -> list[Attachment]:
    """Check every uploaded file (werkzeug FileStorage objects) of one message, then store them all:
    a refused file (ImageRefused, with a Chinese `message`) stores none of them."""
    return store_photos(desk, ticket_id, reply_id, check_photos(files), uploaded_by, folder)


def list_attachments(desk: Desk, ticket_id: int) -> list[Attachment]:
    """A ticket's attachments (its own and its replies'), oldest first."""
    query = (
        select(ticket_attachments).where(ticket_attachments.c.ticket_id == ticket_id).order_by(ticket_attachments.c.id)
    )
    with desk.read() as conn:
        return [_attachment(row) for row in conn.execute(query).mappings()]


def attachments_by_reply(desk: Desk, ticket_id: int) -> dict[int | None, list[Attachment]]:
    """A ticket's attachments grouped by the reply that carried them (None: filed with the ticket)."""
    grouped: dict[int | None, list[Attachment]] = {}
    for attachment in list_attachments(desk, ticket_id):
        grouped.setdefault(attachment.reply_id, []).append(attachment)
    return grouped


def get_attachment(desk: Desk, attachment_id: int) -> Attachment | None:
    """One attachment by its id, or None."""
    with desk.read() as conn:
        query = select(ticket_attachments).where(ticket_attachments.c.id == attachment_id)
        row = conn.execute(query).mappings().first()
    return _attachment(row) if row else None


def attachment_path(folder: str | Path, attachment: Attachment, thumbnail: bool = False) -> Path:
    """Where an attachment's file (or its thumbnail) is stored in `folder`."""
    name = attachment.thumb_name if thumbnail else attachment.stored_name
    if not _STORED_NAME.fullmatch(name):
        raise AttachmentError(f"attachment {attachment.id} has an unexpected file name")
    return Path(folder) / name
