from __future__ import annotations

import io
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.providers.models import Logo
from tests.portal.conftest import audit_changes, form_data

pytestmark = pytest.mark.django_db
URL = "/portal/apps/AcmeInc/branding/"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 124, 255)).save(out, format=fmt)
    return out.getvalue()


def upload(client: Client, **files: tuple[str, bytes, str]) -> Any:
    data = form_data(client.get(URL))
    for name, (filename, content, content_type) in files.items():
        data[name] = SimpleUploadedFile(filename, content, content_type)
    return client.post(URL, data)


def test_a_png_logo_is_stored_and_shown_to_phones(owner_client, app):
    response = upload(owner_client, logo_file=("logo.png", image(), "image/png"))
    assert response.status_code == 302
    app.refresh_from_db()
    logo = Logo.objects.get()
    assert (app.logo, logo.width, logo.height) == (logo, 64, 32)
    assert audit_changes(AuditEntry.objects.get()) == {"branding.logo": (None, logo.sha256)}
    page = owner_client.get(URL).content.decode()
    assert f'src="/media/logos/{logo.sha256}.png"' in page


def test_a_jpeg_dark_logo_is_reencoded_as_png(owner_client, app):
    upload(owner_client, logo_dark_file=("dark.jpg", image("JPEG", (20, 20)), "image/jpeg"))
    app.refresh_from_db()
    assert (app.logo, app.logo_dark.width) == (None, 20)
    assert Image.open(io.BytesIO(bytes(app.logo_dark.content))).format == "PNG"


def test_an_svg_logo_is_refused(owner_client, app):
    response = upload(owner_client, logo_file=("logo.svg", SVG, "image/svg+xml"))
    assert response.status_code == 200
    assert response.context["form"].errors == {"logo_file": ["The logo must be a PNG, JPEG or WebP image."]}
    assert not Logo.objects.exists()
    assert not AuditEntry.objects.exists()


def test_a_logo_over_one_megabyte_is_refused(owner_client, app):
    too_big = image() + b"\0" * settings.LOGO_MAX_BYTES
    response = upload(owner_client, logo_file=("big.png", too_big, "image/png"))
    assert response.context["form"].errors == {"logo_file": ["The logo is larger than 1 MB."]}
    app.refresh_from_db()
    assert app.logo is None


def test_a_logo_larger_than_4096_pixels_is_refused(owner_client, app):
    response = upload(owner_client, logo_file=("wide.png", image("PNG", (4097, 1)), "image/png"))
    assert response.context["form"].errors == {"logo_file": ["The logo may be at most 4096×4096 pixels."]}


def test_a_logo_can_be_removed(owner_client, app):
    upload(owner_client, logo_file=("logo.png", image(), "image/png"))
    response = owner_client.post(URL, form_data(owner_client.get(URL), remove_logo="on"))
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.logo is None
