from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from sessioncloud.accounts.models import ApiKey, Membership, Organization, hash_api_key
from sessioncloud.providers.models import App, EndUser

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_orgs_create_makes_an_organization_with_an_owner():
    user = get_user_model().objects.create_user("owner", "owner@acme.example", "pw-123456789")
    out, _ = run("orgs", "create", "acme", "--name", "Acme Telecom", "--owner", "owner@acme.example")
    assert out == "Created organization acme.\n"
    org = Organization.objects.get(slug="acme")
    assert org.name == "Acme Telecom"
    assert Membership.objects.get(organization=org).user == user


def test_orgs_create_refuses_a_bad_slug():
    with pytest.raises(CommandError, match="slug: Use 1 to 50 lowercase letters"):
        run("orgs", "create", "Not A Slug")
    assert Organization.objects.count() == 0


def test_apikeys_create_prints_the_key_once_and_stores_its_hash():
    org = Organization.objects.create(slug="acme", name="Acme")
    out, err = run("apikeys", "create", "--org", "acme", "--name", "ci")
    plain = out.strip()
    assert plain.startswith("sck_")
    assert "not shown again" in err
    key = ApiKey.objects.get(organization=org)
    assert key.key_hash == hash_api_key(plain)
    listing, _ = run("apikeys", "list", "--org", "acme")
    assert plain not in listing and "ci\tactive" in listing


def test_apikeys_create_refuses_an_unknown_org():
    with pytest.raises(CommandError, match="No organization with the slug nope"):
        run("apikeys", "create", "--org", "nope", "--name", "x")


def test_the_demo_seed_is_idempotent():
    run("seed_demo")
    run("seed_demo")
    assert sorted(App.objects.values_list("provider_id", flat=True)) == [
        "DemoExternal",
        "DemoGeneric",
        "DemoWhitelabel",
    ]
    assert EndUser.objects.count() == 3
    user = get_user_model().objects.get(email="demo@example.com")
    assert user.check_password("demo-password")


def test_the_demo_banner_says_where_e_mails_are_kept_without_a_mail_server(settings):
    from sessioncloud.demo_runner import banner

    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = settings.OUTBOX_BACKEND, "/srv/sc/outbox"
    assert "kept as files in /srv/sc/outbox, not sent and not logged." in banner("127.0.0.1", 8000)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert "outbox" not in banner("127.0.0.1", 8000)
