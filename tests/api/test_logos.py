from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.test import Client
from PIL import Image

from sessioncloud.providers.models import App, Logo

pytestmark = pytest.mark.django_db
LOGO_URL = "/api/v1/manage/apps/AcmeInc/logo"


def image_bytes(fmt: str, size: tuple[int, int] = (64, 32), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (10, 124, 255)).save(out, format=fmt)
    return out.getvalue()


def png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_it_accepts_png_jpeg_and_webp_and_stores_a_png(api, app, fmt, content_type):
    response = api.put_bytes(LOGO_URL, image_bytes(fmt), content_type)
    assert response.status_code == 200, response.content
    logo = response.json()["branding"]["logo"]
    assert (logo["width"], logo["height"]) == (64, 32)
    stored = Logo.objects.get()
    assert logo["url"] == f"http://127.0.0.1:8000/media/logos/{stored.sha256}.png"
    assert Image.open(io.BytesIO(bytes(stored.content))).format == "PNG"


def test_the_logo_is_served_with_immutable_caching(api, app):
    api.put_bytes(LOGO_URL, image_bytes("PNG"), "image/png")
    path = "/media/logos/" + Logo.objects.get().filename
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(response.content)).size == (64, 32)


def test_the_phone_config_shows_the_new_logo(api, app):
    api.put_bytes(LOGO_URL, image_bytes("PNG"), "image/png")
    api.put_bytes(LOGO_URL + "?variant=dark", image_bytes("PNG", (32, 32)), "image/png")
    branding = Client().get("/api/v1/providers/AcmeInc/config").json()["branding"]
    assert branding["logo"]["width"] == 64
    assert branding["logoDark"]["width"] == 32


def test_unknown_logo_names_are_404(db):
    for path in ("/media/logos/" + "0" * 64 + ".png", "/media/logos/../../etc/passwd", "/media/logos/x.svg"):
        assert Client().get(path).status_code == 404


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "image/svg+xml",
            415,
            "Send the logo as image/png, image/jpeg or image/webp.",
        ),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "image/png",
            422,
            "The logo must be a PNG, JPEG or WebP image.",
        ),
        (b"just text", "image/png", 422, "The logo must be a PNG, JPEG or WebP image."),
        (b"", "image/png", 422, "The logo file is empty."),
        (image_bytes("GIF"), "image/png", 422, "The logo must be a PNG, JPEG or WebP image."),
        (image_bytes("PNG", (4097, 10)), "image/png", 422, "The logo may be at most 4096×4096 pixels."),
        (png_bomb(60000, 60000), "image/png", 422, "The logo must be a PNG, JPEG or WebP image."),
        (png_bomb(5000, 5000), "image/png", 422, "The logo may be at most 4096×4096 pixels."),
        (image_bytes("PNG", (200, 200))[:300], "image/png", 422, "The logo file is damaged or truncated."),
    ],
)
def test_it_refuses_bad_logos_and_changes_nothing(api, app, data, content_type, status, message):
    response = api.put_bytes(LOGO_URL, data, content_type)
    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert Logo.objects.count() == 0
    assert App.objects.get(pk=app.pk).logo is None


def test_it_refuses_a_logo_over_one_megabyte(api, app):
    noise = Image.frombytes("RGB", (1000, 1000), bytes(range(256)) * 11718 + b"\x00" * 192)
    out = io.BytesIO()
    noise.save(out, format="PNG", compress_level=0)
    assert len(out.getvalue()) > 1024 * 1024
    response = api.put_bytes(LOGO_URL, out.getvalue(), "image/png")
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "The logo is larger than 1 MB."


def test_rendering_the_config_never_loads_logo_bytes(api, app):
    from sessioncloud.providers.config import load_enabled_app

    api.put_bytes(LOGO_URL, image_bytes("PNG"), "image/png")
    loaded = load_enabled_app("acmeinc")
    assert loaded.logo.get_deferred_fields() == {"content"}
