"""Checking and re-encoding an uploaded photo (a slip, a terminal's screen): the format is read from
the content by Pillow, never from the name or the declared type; the pixels are bounded before
decoding; the result is re-encoded without any metadata (phone photos carry GPS) and gets a thumbnail."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

MAX_PHOTOS = 3  # per message
MAX_PHOTO_BYTES = 5 * 1024 * 1024
# 40 megapixels (a 48 MP sensor saves 12 MP by default); decoding one takes about 120 MB as RGB.
MAX_PIXELS = 40_000_000
THUMBNAIL_PX = 320
JPEG_QUALITY = 85
THUMBNAIL_QUALITY = 80

# What Pillow calls each accepted format -> (the stored format, its content type, its extension).
_OUTPUT = {
    "JPEG": ("JPEG", "image/jpeg", ".jpg"),
    "PNG": ("PNG", "image/png", ".png"),
    "WEBP": ("WEBP", "image/webp", ".webp"),
    "HEIF": ("JPEG", "image/jpeg", ".jpg"),
}
EXTENSIONS = {content_type: extension for _, content_type, extension in _OUTPUT.values()}

TYPE_MESSAGE = "只能上传 JPEG、PNG、WebP 或 HEIC 图片"
SIZE_MESSAGE = "每张图片不超过 5 MB"
COUNT_MESSAGE = f"每条消息最多 {MAX_PHOTOS} 张图片"
PIXELS_MESSAGE = "图片尺寸太大（超过 4000 万像素），请缩小后再上传"
BROKEN_MESSAGE = "图片文件已损坏或不完整，请重新拍摄或导出后再上传"


class ImageRefused(ValueError):
    """An upload refused: `message` for the person (Chinese), `error` for the API (English)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(error)
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Photo:
    """A checked photo, re-encoded without metadata, with its JPEG thumbnail."""

    data: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int


def check_count(count: int) -> None:
    """ImageRefused when one message carries more photos than allowed."""
    if count > MAX_PHOTOS:
        raise ImageRefused(f"at most {MAX_PHOTOS} photos per message", COUNT_MESSAGE)


def check_size(size: int) -> None:
    """ImageRefused when one photo is larger than allowed (bytes as uploaded)."""
    if size > MAX_PHOTO_BYTES:
        raise ImageRefused(f"a photo may be at most {MAX_PHOTO_BYTES} bytes", SIZE_MESSAGE)


@cache
def _pillow():
    """Pillow's Image and ImageOps, imported with the first photo: the command line and the pages
    without uploads never pay its 0.2 s of imports. HEIC/HEIF (iPhone photos) goes through the
    maintained libheif plugin and is stored as JPEG, which every browser shows."""
    import pillow_heif
    from PIL import Image, ImageOps

    pillow_heif.register_heif_opener(thumbnails=False)
    return Image, ImageOps


def _open(data: bytes) -> Image.Image:
    """Open (the header only) as one of the accepted formats, bounding the pixel count before decoding."""
    Image, _ = _pillow()
    with warnings.catch_warnings():
        # Pillow's own bomb guard warns (and raises past twice its limit): both are refusals here.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(_OUTPUT))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(f"a photo may have at most {MAX_PIXELS} pixels", PIXELS_MESSAGE) from None
        except (OSError, ValueError, SyntaxError, EOFError):  # UnidentifiedImageError is an OSError
            raise ImageRefused("only JPEG, PNG, WebP or HEIC images are accepted", TYPE_MESSAGE) from None
    width, height = image.size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise ImageRefused(f"a photo may have at most {MAX_PIXELS} pixels", PIXELS_MESSAGE)
    return image


def _decoded(image: Image.Image) -> Image.Image:
    """The first frame's pixels turned upright (EXIF orientation), as a new image with no metadata."""
    Image, ImageOps = _pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRefused(f"a photo may have at most {MAX_PIXELS} pixels", PIXELS_MESSAGE) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ImageRefused("the image is damaged or truncated", BROKEN_MESSAGE) from None
    if upright.mode == "P":  # a palette (and its transparency) would not survive the copy below
        upright = upright.convert("RGBA" if "transparency" in upright.info else "RGB")
    elif upright.mode not in ("1", "L", "LA", "RGB", "RGBA"):
        upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    # Only the pixels: EXIF (GPS, camera), XMP, ICC, comments and text chunks all stay behind.
    return Image.frombytes(upright.mode, upright.size, upright.tobytes())


def _encode(image: Image.Image, kind: str) -> bytes:
    out = io.BytesIO()
    if kind == "JPEG":
        if image.mode not in ("L", "RGB"):
            image = _flatten(image)
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif kind == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, "WEBP", quality=JPEG_QUALITY)
    else:
        image.save(out, "PNG")
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """RGB, with any transparency laid over white (a screenshot's transparent parts stay readable)."""
    if "A" not in image.getbands():
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = _pillow()[0].new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _thumbnail(image: Image.Image) -> bytes:
    small = _flatten(image)
    small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def process_photo(data: bytes) -> Photo:
    """Check one uploaded photo by its content and re-encode it (JPEG, PNG and WebP as themselves,
    HEIC as JPEG) without metadata, with a thumbnail; ImageRefused with a Chinese message if refused."""
    check_size(len(data))
    image = _open(data)
    kind, content_type, extension = _OUTPUT[image.format]
    with image:
        clean = _decoded(image)
    return Photo(
        data=_encode(clean, kind),
        thumbnail=_thumbnail(clean),
        content_type=content_type,
        extension=extension,
        width=clean.width,
        height=clean.height,
    )
