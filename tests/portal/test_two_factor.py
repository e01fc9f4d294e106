from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client

from sessioncloud.providers.fields import secret_box
from tests.portal.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def current_code(secret: str) -> str:
    counter = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, counter))


def log_in(email: str) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response["Location"] == "/portal/"
    return client


def activate_totp(client: Client) -> str:
    # Changing two-factor settings asks for the password again, even right after logging in.
    reauthenticate = client.get("/accounts/2fa/totp/activate/")["Location"]
    assert reauthenticate == "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F"
    page = client.post(reauthenticate, {"password": PASSWORD}, follow=True)
    assert page.redirect_chain[-1][0] == "/accounts/2fa/totp/activate/"
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.content.decode()).group(1)
    response = client.post("/accounts/2fa/totp/activate/", {"code": current_code(secret)})
    assert response.status_code == 302
    return secret


def test_activating_totp_creates_recovery_codes_too():
    make_user("ann@acme.example")
    activate_totp(log_in("ann@acme.example"))
    assert sorted(Authenticator.objects.values_list("type", flat=True)) == ["recovery_codes", "totp"]


def test_after_activation_logging_in_asks_for_a_code():
    make_user("ann@acme.example")
    secret = activate_totp(log_in("ann@acme.example"))
    client = Client()
    response = client.post("/accounts/login/", {"login": "ann@acme.example", "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in client.session
    assert client.get("/portal/")["Location"] == "/accounts/login/?next=/portal/"
    wrong = client.post(
        "/accounts/2fa/authenticate/", {"code": "000000" if current_code(secret) != "000000" else "111111"}
    )
    assert wrong.context["form"].errors == {"code": ["Incorrect code."]}
    response = client.post("/accounts/2fa/authenticate/", {"code": current_code(secret)})
    assert response["Location"] == "/portal/"
    assert "_auth_user_id" in client.session


def test_a_recovery_code_also_completes_the_login():
    user = make_user("ann@acme.example")
    activate_totp(log_in("ann@acme.example"))
    recovery = Authenticator.objects.get(user=user, type="recovery_codes").wrap().get_unused_codes()[0]
    client = Client()
    client.post("/accounts/login/", {"login": "ann@acme.example", "password": PASSWORD})
    response = client.post("/accounts/2fa/authenticate/", {"code": recovery})
    assert response["Location"] == "/portal/"


# --- The secrets behind two-factor: encrypted like every other secret ----------------------------


def test_the_totp_secret_is_stored_encrypted():
    user = make_user("ann@acme.example")
    secret = activate_totp(log_in("ann@acme.example"))
    stored = Authenticator.objects.get(user=user, type="totp").data["secret"]
    assert stored.startswith("gAAAAA") and secret not in stored
    assert secret_box().decrypt(stored) == secret


def test_the_recovery_codes_seed_is_stored_encrypted():
    user = make_user("ann@acme.example")
    activate_totp(log_in("ann@acme.example"))
    recovery = Authenticator.objects.get(user=user, type="recovery_codes")
    assert recovery.data["seed"].startswith("gAAAAA")
    assert re.fullmatch(r"[0-9a-f]{80}", secret_box().decrypt(recovery.data["seed"]))


def test_a_secret_stored_in_clear_before_encryption_still_works():
    user = make_user("ann@acme.example")
    Authenticator.objects.create(user=user, type="totp", data={"secret": "JBSWY3DPEHPK3PXP"})
    client = Client()
    client.post("/accounts/login/", {"login": "ann@acme.example", "password": PASSWORD})
    response = client.post("/accounts/2fa/authenticate/", {"code": current_code("JBSWY3DPEHPK3PXP")})
    assert response["Location"] == "/portal/"
