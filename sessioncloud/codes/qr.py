"""QR images of codes: rendering with segno, reading with zxing-cpp and Pillow.

The portal renders setup codes for phones to scan; the reference phone client and the tests
read them back, so both directions live here and agree on the text encoding (UTF-8).
"""

from __future__ import annotations

import io

import segno
import zxingcpp
from PIL import Image

from sessioncloud.codes.formats import CodeError

# Level M restores up to 15 % of damaged modules: enough for glare on a screen or a creased
# print, while keeping the symbol (and so each module) larger than level Q or H would for
# the same payload. segno may still raise the level when that costs no extra size.
ERROR_LEVEL = "m"
# ISO/IEC 18004 asks for a quiet zone of four modules; phone scanners locate the finder
# patterns by that blank margin and fail far more often without it.
BORDER = 4
# Eight pixels per module keeps even a dense version-10 code (57 modules) at ~520 px, which
# a phone camera resolves from arm's length on a laptop screen or in an e-mail.
DEFAULT_SCALE = 8
MAX_SCALE = 40

MAX_IMAGE_BYTES = 20 * 1024 * 1024
# A 48-megapixel phone photo still fits; beyond this, decoding would cost hundreds of MB.
MAX_IMAGE_PIXELS = 50_000_000
# Pillow reads many more formats; the ones phones and browsers produce are enough, and each
# extra parser is extra attack surface for uploaded files.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")


def render_png(text: str, *, scale: int = DEFAULT_SCALE) -> bytes:
    if not 1 <= scale <= MAX_SCALE:
        raise CodeError(f"the scale must be between 1 and {MAX_SCALE} pixels per module")
    buffer = io.BytesIO()
    _make(text).save(buffer, kind="png", scale=scale, border=BORDER)
    return buffer.getvalue()


def render_svg(text: str) -> bytes:
    """An SVG of DEFAULT_SCALE user units per module; it scales without loss for print."""
    buffer = io.BytesIO()
    _make(text).save(
        buffer, kind="svg", scale=DEFAULT_SCALE, border=BORDER, xmldecl=True, svgclass=None, lineclass=None
    )
    return buffer.getvalue()


def qr_modules(text: str) -> tuple[bytearray, ...]:
    """The symbol's modules, row by row (1 = dark), without the quiet zone; for vector drawing."""
    return tuple(_make(text).matrix)


def _make(text: str) -> segno.QRCode:
    # Without an explicit encoding segno writes Latin-1 whenever the text allows it, and
    # scanners would then read "é" differently from what the code says.
    try:
        return segno.make(text, error=ERROR_LEVEL, micro=False, encoding="utf-8")
    except segno.DataOverflowError:
        raise CodeError("the code is too long to fit in a QR code") from None
    except ValueError as error:
        raise CodeError(f"the code cannot be drawn as a QR code: {error}") from None


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """The text of the one QR code in a PNG/JPEG/GIF/WebP/BMP image, decoded as UTF-8."""
    image = _load_image(data, max_pixels)
    payloads = {barcode.bytes for barcode in _read_qr_codes(image)}
    if not payloads:
        raise CodeError("no QR code was found in the image")
    if len(payloads) > 1:
        raise CodeError(f"the image holds {len(payloads)} different QR codes; crop it to one")
    try:
        return payloads.pop().decode("utf-8")
    except UnicodeDecodeError:
        raise CodeError("the QR code does not hold UTF-8 text") from None


def _load_image(data: bytes, max_pixels: int) -> Image.Image:
    if len(data) > MAX_IMAGE_BYTES:
        raise CodeError(f"the image is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    image = _open_image(data)
    # open() reads only the header, so the size is known before any pixel is decoded.
    if image.width * image.height > max_pixels:
        raise CodeError(
            f"the image has {image.width}x{image.height} pixels; at most {max_pixels} are allowed"
        )
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError):
        # Pillow's decoders signal truncated or corrupt data with any of these.
        raise CodeError("the image is damaged or truncated and cannot be read") from None
    return _to_grey(image)


def _open_image(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # The warning only arrives as an exception where warnings are errors (the tests).
        raise CodeError("the image is too large to decode safely") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        # UnidentifiedImageError is an OSError; the others come from malformed headers.
        raise CodeError("the file is not a readable PNG, JPEG, GIF, WebP or BMP image") from None


def _to_grey(image: Image.Image) -> Image.Image:
    # Transparent pixels would turn black and swallow a QR code drawn on a transparent
    # background, so flatten onto white first.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L")


def _read_qr_codes(image: Image.Image) -> list[zxingcpp.Barcode]:
    try:
        return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    except (ValueError, RuntimeError):
        raise CodeError("the image could not be scanned for a QR code") from None
