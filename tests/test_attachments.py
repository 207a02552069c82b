"""Photo attachments: checked by content, re-encoded without EXIF (no GPS leaves the desk), stored
under random names outside the web root, served to agents, through the status link and the API."""

from __future__ import annotations

import html
import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import ticket_form
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from webapp.desk.attachments import list_attachments, save_photos
from webapp.desk.schema import ticket_attachments, tickets
from webapp.desk.tickets import file_ticket, get_ticket
from webapp.images import ImageRefused, process_photo

GPS = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 9.0)}
TEXT = "今天做退货的时候，终端提示该商户没有权限，应答码58"


def jpeg_with_gps(size=(640, 480), orientation: int | None = None) -> bytes:
    """A phone-like JPEG: a camera maker, GPS coordinates and (maybe) an orientation in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = GPS  # GPSInfo
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG", exif=exif)
    data = out.getvalue()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the test image must carry GPS"
    return data


def image_bytes(kind: str, size=(300, 200), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 40, 40)).save(out, kind)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    """A photo whose upload broke off: the header is whole, the pixels stop two thirds of the way."""
    out = io.BytesIO()
    Image.effect_noise((640, 480), 64).convert("RGB").save(out, "JPEG")
    return out.getvalue()[: out.tell() * 2 // 3]


def png_bomb(width=100_000, height=100_000) -> bytes:
    """A tiny PNG claiming huge dimensions (its pixels are never there: it must be refused unread)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("photo.jpg", jpeg_with_gps())
    return out.getvalue()


HTML_AS_JPG = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"


def assert_no_metadata(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert not image.getexif(), "EXIF must be gone"
    assert b"Exif" not in data and b"PhoneMaker" not in data
    return image


def count(desk, table) -> int:
    with desk.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def stored_files(app) -> list[Path]:
    folder = Path(app.config["ATTACHMENTS_DIR"])
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def multipart(client, url: str, fields: dict, headers=None):
    """POST fields as multipart/form-data, encoded in memory (Werkzeug's test client would spool a large
    body to a temporary file it never closes)."""
    values = MultiDict()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            values.add(name, FileStorage(io.BytesIO(item[1]), item[0]) if isinstance(item, tuple) else item)
    boundary, body = encode_multipart(values)
    return client.post(url, data=body, headers=headers, content_type=f"multipart/form-data; boundary={boundary}")


def status(client, url: str, headers=None) -> int:
    """The status of a GET, its body read and closed."""
    return client.get(url, headers=headers, buffered=True).status_code


def post_ticket(client, token, photos, reviewed="1", **overrides):
    data = ticket_form(token, reviewed=reviewed, **overrides)
    data["photos"] = list(photos)
    return multipart(client, "/tickets/new", data)


# --- checking and re-encoding -----------------------------------------------------------------------


def test_gps_exif_is_stripped_and_orientation_applied():
    photo = process_photo(jpeg_with_gps((640, 480), orientation=6))  # 6: rotate 90° to show it upright
    image = assert_no_metadata(photo.data)
    assert (photo.width, photo.height) == image.size == (480, 640)
    assert photo.content_type == "image/jpeg"
    thumb = Image.open(io.BytesIO(photo.thumbnail))
    assert thumb.format == "JPEG" and max(thumb.size) == 320


@pytest.mark.parametrize(
    ("kind", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp"), ("HEIF", "image/jpeg")]
)
def test_png_webp_keep_their_format_and_heic_becomes_jpeg(kind, content_type):
    photo = process_photo(image_bytes(kind, mode="RGBA"))
    assert photo.content_type == content_type
    assert Image.open(io.BytesIO(photo.data)).format == content_type.split("/")[1].upper()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HTML_AS_JPG, "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        (zip_bytes(), "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        (image_bytes("GIF"), "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        (png_bomb(), "图片尺寸太大"),
        (png_bomb(8000, 6000), "图片尺寸太大"),  # under Pillow's own guard, over ours
        (truncated_jpeg(), "图片文件已损坏"),
    ],
    ids=["html", "zip", "gif", "bomb", "48mp", "truncated"],
)
def test_refused_content_has_a_chinese_message(content, message):
    with pytest.raises(ImageRefused) as refused:
        process_photo(content)
    assert message in refused.value.message


def test_a_refused_file_among_good_ones_stores_nothing(desk, tmp_path):
    ticket = file_ticket(desk, TEXT)
    files = [
        FileStorage(io.BytesIO(jpeg_with_gps()), "a.jpg"),
        FileStorage(io.BytesIO(HTML_AS_JPG), "b.jpg"),
    ]
    with pytest.raises(ImageRefused):
        save_photos(desk, ticket.id, None, files, "merchant", tmp_path / "photos")
    assert list_attachments(desk, ticket.id) == []
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").iterdir())

    saved = save_photos(
        desk, ticket.id, None, [FileStorage(io.BytesIO(jpeg_with_gps()), "a.jpg")], "merchant", tmp_path / "photos"
    )
    assert [a.id for a in list_attachments(desk, ticket.id)] == [saved[0].id]
    names = sorted(p.name for p in (tmp_path / "photos").iterdir())
    assert names == sorted([saved[0].stored_name, saved[0].thumb_name])
    assert saved[0].stored_name != "a.jpg" and len(saved[0].stored_name) == 32 + len(".jpg")


# --- the merchant form ------------------------------------------------------------------------------


def test_form_files_photos_served_to_agents_without_exif(app, client, csrf, agent_client, app_desk):
    token = csrf(client, "/tickets/new")
    photos = [("IMG_0001.jpg", jpeg_with_gps()), ("screen.png", image_bytes("PNG")), ("w.webp", image_bytes("WEBP"))]
    response = post_ticket(client, token, photos)
    assert response.status_code == 302, response.get_data(as_text=True)
    (ticket_id,) = [row.id for row in app_desk.engine.connect().execute(select(tickets.c.id))]
    attachments = list_attachments(app_desk, ticket_id)
    assert [a.content_type for a in attachments] == ["image/jpeg", "image/png", "image/webp"]
    assert all(a.uploaded_by == "merchant" and a.reply_id is None for a in attachments)

    # Stored in the instance folder under random names, never in the web root.
    files = stored_files(app)
    assert len(files) == 6
    assert all(Path(app.instance_path) in f.parents for f in files)
    assert not any("IMG_0001" in f.name for f in files)
    static = Path(app.root_path) / "static"
    assert not any(static in f.parents for f in files)

    page = agent_client.get(f"/agent/tickets/{ticket_id}").get_data(as_text=True)
    first = attachments[0]
    thumb_url = f"/agent/tickets/{ticket_id}/attachments/{first.id}/thumb"
    assert f'src="{thumb_url}"' in page

    served = agent_client.get(f"/agent/tickets/{ticket_id}/attachments/{first.id}", buffered=True)
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Cache-Control"] == "no-store"
    assert served.headers["Content-Disposition"] == f"inline; filename=PD{ticket_id:06d}-{first.id}.jpg"
    assert_no_metadata(served.data)

    thumb = agent_client.get(thumb_url, buffered=True)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    assert len(thumb.data) < len(served.data) or len(thumb.data) < 20_000


@pytest.mark.parametrize(
    ("photos", "message"),
    [
        ([("x.jpg", HTML_AS_JPG)], "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        ([("photos.zip", zip_bytes())], "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        ([("big.jpg", b"\xff\xd8\xff\xe0" + b"\0" * (6 * 1024 * 1024))], "每张图片不超过 5 MB"),
        ([(f"{n}.png", image_bytes("PNG")) for n in range(4)], "每条消息最多 3 张图片"),
        ([("bomb.png", png_bomb())], "图片尺寸太大"),
    ],
    ids=["html-named-jpg", "zip", "6mb", "four-photos", "bomb"],
)
def test_refused_photo_reshows_the_form_with_the_text_kept(app, client, csrf, app_desk, photos, message):
    token = csrf(client, "/tickets/new")
    response = post_ticket(client, token, photos, description=TEXT + "（补充说明）")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html.unescape(page)
    assert TEXT + "（补充说明）" in page and "13812345678" in page  # nothing the merchant typed is lost
    assert count(app_desk, tickets) == 0 and count(app_desk, ticket_attachments) == 0
    assert stored_files(app) == []


def test_the_form_says_not_to_photograph_the_card(client):
    page = client.get("/tickets/new").get_data(as_text=True)
    assert "请勿拍摄银行卡卡面" in page
    assert 'enctype="multipart/form-data"' in page
    assert 'type="file"' in page and "multiple" in page and 'name="photos"' in page


def test_deflection_step_checks_photos_and_asks_to_choose_them_again(client, csrf, app_desk):
    token = csrf(client, "/tickets/new")
    first = post_ticket(client, token, [("a.jpg", jpeg_with_gps())], reviewed="")  # first submit: articles
    page = first.get_data(as_text=True)
    assert first.status_code == 200 and "先看看这些文章" in page
    assert "您刚才选择的 1 张照片没有保留" in page
    assert count(app_desk, tickets) == 0 and count(app_desk, ticket_attachments) == 0

    refused = post_ticket(client, token, [("a.jpg", HTML_AS_JPG)], reviewed="")
    assert refused.status_code == 400 and "先看看这些文章" not in refused.get_data(as_text=True)

    # A good photo sent with a refused field is asked for again too.
    bad_phone = post_ticket(client, token, [("a.jpg", jpeg_with_gps())], phone="abc")
    assert bad_phone.status_code == 400 and "您刚才选择的 1 张照片没有保留" in bad_phone.get_data(as_text=True)
    assert count(app_desk, tickets) == 0 and count(app_desk, ticket_attachments) == 0


def test_only_upload_routes_take_large_bodies(client, csrf):
    token = csrf(client, "/tickets/new")
    # Other routes keep the 64 KiB limit.
    vote = client.post("/articles/merchant-frozen/vote", data={"csrf_token": token, "comment": "字" * 70_000})
    assert vote.status_code == 413
    # An upload larger than the whole upload limit is a 413 with a Chinese page.
    huge = post_ticket(client, token, [(f"{n}.jpg", b"\0" * (5 * 1024 * 1024)) for n in range(4)])
    assert huge.status_code == 413
    assert "提交的内容太大" in huge.get_data(as_text=True)


# --- serving: agents and the status link ------------------------------------------------------------


@pytest.fixture
def two_tickets(app, app_desk):
    """Two tickets, each with one photo: (ticket, attachment) pairs."""
    made = []
    for _ in range(2):
        ticket = file_ticket(app_desk, TEXT)
        (attachment,) = save_photos(
            app_desk,
            ticket.id,
            None,
            [FileStorage(io.BytesIO(jpeg_with_gps()), "a.jpg")],
            "merchant",
            app.config["ATTACHMENTS_DIR"],
        )
        made.append((get_ticket(app_desk, ticket.id), attachment))
    return made


def test_agent_routes_need_a_login(client, agent_client, two_tickets):
    (ticket, attachment), (other, _) = two_tickets
    for suffix in ("", "/thumb"):
        url = f"/agent/tickets/{ticket.id}/attachments/{attachment.id}{suffix}"
        anonymous = client.get(url, buffered=True)
        assert anonymous.status_code == 302 and "/agent/login" in anonymous.headers["Location"]
        assert status(agent_client, url) == 200
        # Another ticket's number with this photo's id: not found.
        assert (
            agent_client.get(
                f"/agent/tickets/{other.id}/attachments/{attachment.id}{suffix}", buffered=True
            ).status_code
            == 404
        )


def test_status_link_serves_photos_with_the_right_key_only(client, two_tickets):
    from webapp.attachment_views import merchant_attachment_url

    (ticket, attachment), (other, other_attachment) = two_tickets
    with client.application.test_request_context():
        url = merchant_attachment_url(ticket.status_key, attachment)
        thumb = merchant_attachment_url(ticket.status_key, attachment, thumbnail=True)
    assert url == f"/tickets/track/{ticket.status_key}/attachments/{attachment.id}"
    served = client.get(url, buffered=True)
    assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"].startswith("inline; filename=PD")
    assert served.headers["Cache-Control"] == "no-store"
    assert_no_metadata(served.data)
    assert status(client, thumb) == 200

    wrong_key = ticket.status_key[:-1] + ("A" if ticket.status_key[-1] != "A" else "B")
    assert status(client, f"/tickets/track/{wrong_key}/attachments/{attachment.id}") == 404
    # The other ticket's key does not open this ticket's photo, nor this key the other's.
    assert status(client, f"/tickets/track/{other.status_key}/attachments/{attachment.id}") == 404
    assert (
        client.get(
            f"/tickets/track/{ticket.status_key}/attachments/{other_attachment.id}/thumb", buffered=True
        ).status_code
        == 404
    )
    assert status(client, f"/tickets/track/{ticket.status_key}/attachments/999999") == 404


# --- the API ----------------------------------------------------------------------------------------


def upload(client, headers, ticket_id, content, name="photo.jpg", **extra):
    return multipart(client, f"/api/v1/tickets/{ticket_id}/attachments", {"file": (name, content), **extra}, headers)


def test_api_upload_then_fetch_returns_the_image_without_exif(app, client, api_headers, app_desk):
    ticket = file_ticket(app_desk, TEXT)
    response = upload(client, api_headers, ticket.id, jpeg_with_gps())
    assert response.status_code == 201, response.get_json()
    attachment = response.get_json()["attachment"]
    assert attachment["ticket_id"] == ticket.id and attachment["content_type"] == "image/jpeg"
    assert (attachment["width"], attachment["height"]) == (640, 480)
    assert attachment["url"] == f"/api/v1/tickets/{ticket.id}/attachments/{attachment['id']}"
    assert response.headers["Location"] == attachment["url"]

    fetched = client.get(attachment["url"], headers=api_headers, buffered=True)
    assert fetched.status_code == 200 and fetched.mimetype == "image/jpeg"
    assert fetched.headers["X-Content-Type-Options"] == "nosniff"
    assert len(fetched.data) == attachment["size"]
    assert_no_metadata(fetched.data)
    thumb = client.get(attachment["thumbnail_url"], headers=api_headers, buffered=True)
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.data)).size) == 320

    assert client.get(attachment["url"], buffered=True).status_code == 401
    listed = client.get(f"/api/v1/tickets/{ticket.id}", headers=api_headers).get_json()["ticket"]["attachments"]
    assert [a["id"] for a in listed] == [attachment["id"]]
    assert list_attachments(app_desk, ticket.id)[0].uploaded_by == "api:tests"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HTML_AS_JPG, "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        (zip_bytes(), "只能上传 JPEG、PNG、WebP 或 HEIC 图片"),
        (b"\xff\xd8" + b"\0" * (6 * 1024 * 1024), "每张图片不超过 5 MB"),
        (png_bomb(), "图片尺寸太大"),
    ],
    ids=["html-named-jpg", "zip", "6mb", "bomb"],
)
def test_api_refuses_what_the_form_refuses(app, client, api_headers, app_desk, content, message):
    ticket = file_ticket(app_desk, TEXT)
    response = upload(client, api_headers, ticket.id, content)
    body = response.get_json()
    assert response.status_code == 400
    assert body["ok"] is False and body["status"] == 400 and message in body["message"]
    assert count(app_desk, ticket_attachments) == 0 and stored_files(app) == []


def test_api_upload_needs_a_token_a_ticket_and_one_file(client, api_headers, app_desk):
    ticket = file_ticket(app_desk, TEXT)
    assert upload(client, {}, ticket.id, jpeg_with_gps()).status_code == 401
    assert upload(client, api_headers, ticket.id + 100, jpeg_with_gps()).status_code == 404
    not_multipart = client.post(f"/api/v1/tickets/{ticket.id}/attachments", json={"file": "x"}, headers=api_headers)
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.get_json()["error"]
    two_files = {"file": [("a.jpg", jpeg_with_gps()), ("b.jpg", jpeg_with_gps())]}
    two = multipart(client, f"/api/v1/tickets/{ticket.id}/attachments", two_files, api_headers)
    assert two.status_code == 400
    other = upload(client, api_headers, ticket.id, jpeg_with_gps(), note="hi")
    assert other.status_code == 400 and "note" in other.get_json()["error"]
    assert count(app_desk, ticket_attachments) == 0


def test_api_attachment_of_another_ticket_is_not_found(client, api_headers, two_tickets):
    (ticket, attachment), (other, _) = two_tickets
    assert (
        client.get(
            f"/api/v1/tickets/{ticket.id}/attachments/{attachment.id}", headers=api_headers, buffered=True
        ).status_code
        == 200
    )
    assert (
        client.get(
            f"/api/v1/tickets/{other.id}/attachments/{attachment.id}", headers=api_headers, buffered=True
        ).status_code
        == 404
    )
