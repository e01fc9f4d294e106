from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection

from sessioncloud.lib.secretbox import SecretBox, SecretBoxError, generate_key
from sessioncloud.providers import fields
from sessioncloud.providers.models import App
from tests.factories import make_app, migration_module

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


def stored_mfa(user_id: int) -> dict[str, str]:
    from allauth.mfa.models import Authenticator

    return {
        a.type: a.data.get("secret") or a.data.get("seed")
        for a in Authenticator.objects.filter(user_id=user_id)
    }


@pytest.fixture
def mfa_user(db: Any) -> User:
    from allauth.mfa.models import Authenticator

    user = User.objects.create_user("ann", "ann@acme.example", "pw")
    Authenticator.objects.create(
        user=user, type="totp", data={"secret": "JBSWY3DPEHPK3PXP"}
    )  # from before encryption
    Authenticator.objects.create(
        user=user,
        type="recovery_codes",
        data={"seed": fields.secret_box().encrypt("ab" * 40), "used_mask": 0},
    )
    return user


def test_reencrypt_moves_two_factor_secrets_to_the_first_key_and_encrypts_clear_ones(mfa_user, settings):
    old = settings.SESSIONCLOUD_ENCRYPTION_KEYS[0]
    new = generate_key()
    settings.SESSIONCLOUD_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("reencrypt", stdout=out)
    assert out.getvalue() == "Re-encrypted the secrets of 2 rows.\n"
    stored = stored_mfa(mfa_user.pk)
    assert {kind: SecretBox([new]).decrypt(value) for kind, value in stored.items()} == {
        "totp": "JBSWY3DPEHPK3PXP",
        "recovery_codes": "ab" * 40,
    }
    fields._box.cache_clear()


def test_the_upgrade_encrypts_two_factor_secrets_kept_in_clear(mfa_user):

    from django.apps import apps

    migration = migration_module(
        "sessioncloud.accounts.migrations", "verified_organizations_and_encrypted_mfa"
    )
    migration.encrypt_mfa_secrets(apps, None)
    stored = stored_mfa(mfa_user.pk)
    assert {kind: fields.secret_box().decrypt(value) for kind, value in stored.items()} == {
        "totp": "JBSWY3DPEHPK3PXP",
        "recovery_codes": "ab" * 40,
    }
    migration.decrypt_mfa_secrets(apps, None)
    assert stored_mfa(mfa_user.pk) == {"totp": "JBSWY3DPEHPK3PXP", "recovery_codes": "ab" * 40}
