"""Logo uploads: PNG, JPEG or WebP in, a clean re-encoded PNG named by its hash out."""

from __future__ import annotations

import hashlib
import io
import warnings

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from sessioncloud.providers.models import Logo

ACCEPTED_FORMATS = {"PNG", "JPEG", "WEBP"}
ACCEPTED_CONTENT_TYPES = {"image/png", "image/jpeg", "image/webp"}


class LogoError(ValueError):
    pass


def _open_checked(data: bytes) -> Image.Image:
    if len(data) > settings.LOGO_MAX_BYTES:
        raise LogoError("The logo is larger than 1 MB.")
    if not data:
        raise LogoError("The logo file is empty.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # formats= stops Pillow from trying every decoder it has (and SVG is never one).
            image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoError("The logo must be a PNG, JPEG or WebP image.") from None
    except OSError:
        raise LogoError("The logo file could not be read as an image.") from None
    return image


def _decoded(image: Image.Image) -> Image.Image:
    limit = settings.LOGO_MAX_DIMENSION
    # The header's size is checked before any pixel is decoded: that is what stops a bomb.
    if image.width > limit or image.height > limit:
        raise LogoError(f"The logo may be at most {limit}×{limit} pixels.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise LogoError("The logo file is damaged or truncated.") from None
    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    return image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image


def reencode_png(data: bytes) -> tuple[bytes, int, int]:
    """Validate an upload and re-encode it as PNG without metadata."""
    image = _decoded(_open_checked(data))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue(), image.width, image.height


def store_logo(data: bytes) -> Logo:
    png, width, height = reencode_png(data)
    digest = hashlib.sha256(png).hexdigest()
    logo, _ = Logo.objects.get_or_create(
        sha256=digest, defaults={"content": png, "width": width, "height": height}
    )
    return logo
