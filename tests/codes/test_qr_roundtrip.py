"""Rendered QR codes scan back (zxing-cpp) to the very code they were drawn from.

No SVG rasteriser (cairosvg, rsvg) is a dependency, so `rasterise_segno_svg` below draws the
SVG's path data itself: segno writes each dark run as an `h` stroke one module high, which
makes the drawing exact, and zxing-cpp then reads the result like any PNG.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from xml.etree import ElementTree

import pytest
import segno
import zxingcpp
from PIL import Image

from sessioncloud.codes.formats import CodeError, encode, parse_code
from sessioncloud.codes.qr import (
    MAX_IMAGE_BYTES,
    decode_image,
    render_png,
    render_svg,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
SHORT_CODE = "scsc:1000:1234:AcmeInc"


def png_bytes(image: Image.Image, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def rasterise_segno_svg(svg: bytes, pixels_per_unit: int = 1) -> bytes:
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own renderer's output
    width, height = int(root.attrib["width"]), int(root.attrib["height"])
    path = root.find(f"{SVG_NS}path")
    assert path is not None
    scale_match = re.fullmatch(r"scale\((\d+)\)", path.attrib.get("transform", "scale(1)"))
    assert scale_match is not None
    scale = int(scale_match.group(1))
    modules = Image.new("L", (width // scale, height // scale), 255)
    for row, start, length in dark_runs(path.attrib["d"]):
        modules.paste(0, (start, row, start + length, row + 1))
    size = (modules.width * scale * pixels_per_unit, modules.height * scale * pixels_per_unit)
    return png_bytes(modules.resize(size, Image.Resampling.NEAREST))


def dark_runs(path_data: str) -> list[tuple[int, int, int]]:
    """(row, first column, length) of each horizontal stroke in segno's M/m/h path data."""
    x = y = 0.0
    runs = []
    for command, first, second in re.findall(r"([MmHh])(-?[\d.]+)(?: (-?[\d.]+))?", path_data):
        if command == "M":
            x, y = float(first), float(second)
        elif command == "m":
            x, y = x + float(first), y + float(second)
        else:
            length = float(first) - x if command == "H" else float(first)
            runs.append((int(y), int(x), int(length)))
            x += length
    return runs


def test_it_reads_back_a_png_of_every_format_to_the_same_value(any_code: str) -> None:
    assert parse_code(decode_image(render_png(any_code))) == parse_code(any_code)


def test_it_reads_back_an_svg_of_every_format_to_the_same_value(any_code: str) -> None:
    scanned = decode_image(rasterise_segno_svg(render_svg(any_code)))

    assert parse_code(scanned) == parse_code(any_code)


def test_it_reads_back_the_encoders_output_drawn_as_a_qr_code(any_code: str) -> None:
    text = encode(parse_code(any_code))

    assert decode_image(render_png(text)) == text


def test_the_svg_rasteriser_draws_the_same_modules_as_segno() -> None:
    # Guards the test helper itself: a wrong rasteriser could hide a broken SVG.
    qr = segno.make(SHORT_CODE, error="m", micro=False, encoding="utf-8")
    expected = Image.open(io.BytesIO(render_png(SHORT_CODE, scale=1))).convert("L")

    drawn = Image.open(io.BytesIO(rasterise_segno_svg(render_svg(SHORT_CODE)))).convert("L")

    assert drawn.resize(expected.size, Image.Resampling.NEAREST).tobytes() == expected.tobytes()
    assert expected.size == (qr.symbol_size(scale=1, border=4))


def test_it_renders_a_well_formed_svg_with_one_path_and_a_declared_size() -> None:
    svg = render_svg(SHORT_CODE)
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own renderer's output

    assert svg.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert root.tag == f"{SVG_NS}svg"
    assert (root.attrib["width"], root.attrib["height"]) == ("264", "264")
    assert len(root.findall(f"{SVG_NS}path")) == 1


def test_it_draws_eight_pixels_per_module_inside_a_four_module_quiet_zone() -> None:
    image = Image.open(io.BytesIO(render_png(SHORT_CODE))).convert("L")
    # Version 2 is 25 modules; with 4 blank modules each side that is 33 modules of 8 pixels.

    assert image.size == (33 * 8, 33 * 8)
    assert image.crop((0, 0, image.width, 32)).getextrema() == (255, 255)
    assert image.crop((0, 0, 32, image.height)).getextrema() == (255, 255)
    assert image.getpixel((32, 32)) == 0  # the finder pattern starts right after the margin


def test_it_scales_the_png_on_request() -> None:
    image = Image.open(io.BytesIO(render_png(SHORT_CODE, scale=3)))

    assert image.size == (33 * 3, 33 * 3)


@pytest.mark.parametrize("scale", [0, 41])
def test_it_refuses_a_scale_phones_cannot_use_or_servers_should_not_draw(scale: int) -> None:
    with pytest.raises(CodeError) as caught:
        render_png(SHORT_CODE, scale=scale)

    assert str(caught.value) == "the scale must be between 1 and 40 pixels per module"


def test_it_uses_at_least_error_correction_level_m() -> None:
    barcodes = zxingcpp.read_barcodes(Image.open(io.BytesIO(render_png(SHORT_CODE))))

    assert [barcode.ec_level in ("M", "Q", "H") for barcode in barcodes] == [True]


def test_it_writes_non_ascii_text_as_utf8_so_scanners_read_the_same_characters() -> None:
    code = "scsc:josé:pässwörd€:AcmeInc"

    assert decode_image(render_png(code)) == code


def test_it_refuses_to_draw_a_code_too_long_for_a_qr_code() -> None:
    code = (
        "scloc:"
        + '{"sipaccounts":['
        + ",".join([f'{{"sipusername":"{n:04}","sippassword":"{"x" * 120}"}}' for n in range(20)])
        + "]}"
    )
    assert parse_code(code)  # a valid code, only too big to draw

    with pytest.raises(CodeError) as caught:
        render_png(code)

    assert str(caught.value) == "the code is too long to fit in a QR code"


def test_it_reads_a_rotated_jpeg_photo_of_a_code() -> None:
    image = Image.open(io.BytesIO(render_png(SHORT_CODE))).convert("RGB").rotate(90)
    photo = image.resize((900, 900), Image.Resampling.BILINEAR)

    assert decode_image(png_bytes(photo, "JPEG")) == SHORT_CODE


def test_it_flattens_a_transparent_background_onto_white() -> None:
    grey = Image.open(io.BytesIO(render_png(SHORT_CODE))).convert("L")
    # Dark modules opaque black; light ones transparent black, as some editors export them.
    transparent = Image.new("RGBA", grey.size, (0, 0, 0, 0))
    transparent.putalpha(grey.point(lambda value: 255 - value))

    assert decode_image(png_bytes(transparent)) == SHORT_CODE


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"scsc:\xff\xfe:1234", "bytes that are not UTF-8"),
        ("scsc:josé:1234".encode("latin-1"), "Latin-1 text, segno's default for such text"),
    ],
)
def test_it_refuses_a_qr_code_that_does_not_hold_utf8(payload: bytes, why: str) -> None:
    image = segno.make(payload, error="m", micro=False)
    buffer = io.BytesIO()
    image.save(buffer, kind="png", scale=8)

    with pytest.raises(CodeError) as caught:
        decode_image(buffer.getvalue())

    assert str(caught.value) == "the QR code does not hold UTF-8 text", why


def png_header_only(width: int, height: int) -> bytes:
    """A 60-byte PNG that claims a huge size: the shape of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is not a readable PNG, JPEG, GIF, WebP or BMP image"),
        (b"scsc:1000:1234:AcmeInc", "the file is not a readable PNG, JPEG, GIF, WebP or BMP image"),
        (b"%PDF-1.7\n", "the file is not a readable PNG, JPEG, GIF, WebP or BMP image"),
        (png_header_only(8000, 7000), "the image has 8000x7000 pixels; at most 50000000 are allowed"),
        (png_header_only(20000, 20000), "the image is too large to decode safely"),
        (b"x" * (MAX_IMAGE_BYTES + 1), "the image is larger than 20 MB"),
    ],
)
def test_it_refuses_files_that_are_not_usable_images(data: bytes, message: str) -> None:
    with pytest.raises(CodeError) as caught:
        decode_image(data)

    assert str(caught.value) == message


def test_it_refuses_a_truncated_image() -> None:
    data = render_png(SHORT_CODE)

    with pytest.raises(CodeError) as caught:
        decode_image(data[: len(data) // 2])

    assert str(caught.value) == "the image is damaged or truncated and cannot be read"


def test_it_refuses_an_image_over_the_callers_pixel_limit() -> None:
    with pytest.raises(CodeError) as caught:
        decode_image(render_png(SHORT_CODE), max_pixels=10_000)

    assert str(caught.value) == "the image has 264x264 pixels; at most 10000 are allowed"


def test_it_refuses_an_image_without_a_qr_code() -> None:
    with pytest.raises(CodeError) as caught:
        decode_image(png_bytes(Image.new("L", (300, 300), 255)))

    assert str(caught.value) == "no QR code was found in the image"


def test_it_refuses_an_image_holding_two_different_codes() -> None:
    first = Image.open(io.BytesIO(render_png(SHORT_CODE))).convert("L")
    second = Image.open(io.BytesIO(render_png("scsc:2000:5678:AcmeInc"))).convert("L")
    both = Image.new("L", (first.width + second.width, max(first.height, second.height)), 255)
    both.paste(first, (0, 0))
    both.paste(second, (first.width, 0))

    with pytest.raises(CodeError) as caught:
        decode_image(png_bytes(both))

    assert str(caught.value) == "the image holds 2 different QR codes; crop it to one"


def test_it_reads_an_image_holding_the_same_code_twice() -> None:
    single = Image.open(io.BytesIO(render_png(SHORT_CODE))).convert("L")
    twice = Image.new("L", (single.width * 2, single.height), 255)
    twice.paste(single, (0, 0))
    twice.paste(single, (single.width, 0))

    assert decode_image(png_bytes(twice)) == SHORT_CODE
