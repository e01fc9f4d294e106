from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from sessioncloud.lib.secretbox import SecretBox, SecretBoxError, generate_key
from sessioncloud.providers import fields
from sessioncloud.providers.models import App
from tests.factories import make_app

pytestmark = pytest.mark.django_db


def stored(app: App) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT provisioning_auth_header FROM providers_app WHERE id = %s", [app.pk])
        return cursor.fetchone()[0]


def test_any_key_decrypts_and_the_first_encrypts():
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt("s3cret")
    rotated = SecretBox([new, old])
    assert rotated.decrypt(token) == "s3cret"
    assert SecretBox([new]).decrypt(rotated.rotate(token)) == "s3cret"
    with pytest.raises(SecretBoxError, match="cannot be decrypted"):
        SecretBox([new]).decrypt(token)


def stored_turn_password(app: App) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT turn_password FROM providers_app WHERE id = %s", [app.pk])
        return cursor.fetchone()[0]


def test_reencrypt_moves_the_turn_password_to_the_first_key(org, settings):
    old = settings.SESSIONCLOUD_ENCRYPTION_KEYS[0]
    app = make_app(org, turn_server="turn.acme.example", turn_username="relay", turn_password="turn-s3cret")
    before = stored_turn_password(app)
    assert SecretBox([old]).decrypt(before) == "turn-s3cret"
    new = generate_key()
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = [new, old]
    call_command("reencrypt", stdout=open("/dev/null", "w"))
    assert SecretBox([new]).decrypt(stored_turn_password(app)) == "turn-s3cret"
    fields._box.cache_clear()


def test_reencrypt_moves_every_secret_to_the_first_key(org, settings):
    old = settings.SESSIONCLOUD_ENCRYPTION_KEYS[0]
    app = make_app(org, provisioning_auth_header="Bearer s3cret")
    before = stored(app)
    new = generate_key()
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = [new, old]
    call_command("reencrypt", stdout=open("/dev/null", "w"))
    after = stored(app)
    assert after != before
    assert SecretBox([new]).decrypt(after) == "Bearer s3cret"
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = [new]
    assert App.objects.get(pk=app.pk).provisioning_auth_header == "Bearer s3cret"
    fields._box.cache_clear()
