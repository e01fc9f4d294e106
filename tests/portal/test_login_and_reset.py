from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from tests.portal.conftest import PASSWORD, make_user

pytestmark = pytest.mark.django_db
WRONG_LOGIN = "The email address and/or password you specified are not correct."


def login_errors(response: Any) -> list[str]:
    return response.context["form"].non_field_errors()


def test_logging_in_with_the_right_password_opens_the_portal(db):
    make_user("ann@acme.example")
    client = Client()
    response = client.post("/accounts/login/", {"login": "ann@acme.example", "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/portal/")


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(db):
    make_user("ann@acme.example")
    known = Client().post("/accounts/login/", {"login": "ann@acme.example", "password": "wrong-password"})
    unknown = Client().post(
        "/accounts/login/", {"login": "nobody@acme.example", "password": "wrong-password"}
    )
    assert (known.status_code, login_errors(known)) == (200, [WRONG_LOGIN])
    assert (unknown.status_code, login_errors(unknown)) == (200, [WRONG_LOGIN])


def test_failed_logins_for_one_address_are_rate_limited_and_logged(db, caplog):
    make_user("ann@acme.example")
    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"login": "ann@acme.example", "password": "wrong-password"})
    response = client.post("/accounts/login/", {"login": "ann@acme.example", "password": PASSWORD})
    assert login_errors(response) == ["Too many failed login attempts. Try again later."]
    assert "_auth_user_id" not in client.session
    security = [(r.getMessage(), r.ip) for r in caplog.records if r.name == "sessioncloud.security"]
    assert security == [("login failed", "127.0.0.1")] * 5 + [("login throttled", "127.0.0.1")]
    assert "ann@acme.example" not in caplog.text and "wrong-password" not in caplog.text


def test_password_reset_answers_the_same_for_known_and_unknown_addresses(db):
    make_user("ann@acme.example")
    known = Client().post("/accounts/password/reset/", {"email": "ann@acme.example"})
    unknown = Client().post("/accounts/password/reset/", {"email": "nobody@acme.example"})
    assert (known.status_code, known["Location"]) == (302, "/accounts/password/reset/done/")
    assert (unknown.status_code, unknown["Location"]) == (302, "/accounts/password/reset/done/")
    # Only the mailbox owner learns which it was.
    assert [(m.subject, m.to) for m in mail.outbox] == [
        ("[SessionCloud] Password reset email", ["ann@acme.example"]),
        ("[SessionCloud] Unknown account", ["nobody@acme.example"]),
    ]


def test_the_reset_link_sets_a_new_password(db):
    make_user("ann@acme.example")
    client = Client()
    client.post("/accounts/password/reset/", {"email": "ann@acme.example"})
    link = re.search(
        rf"{re.escape(settings.PUBLIC_URL)}(/accounts/password/reset/key/\S+/)", mail.outbox[0].body
    ).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(
        form_url, {"password1": "a-new-long-passphrase", "password2": "a-new-long-passphrase"}
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/password/reset/key/done/")
    login = Client().post(
        "/accounts/login/", {"login": "ann@acme.example", "password": "a-new-long-passphrase"}
    )
    assert login["Location"] == "/portal/"


def test_password_reset_requests_are_rate_limited_per_address(db):
    make_user("ann@acme.example")
    statuses = [
        Client().post("/accounts/password/reset/", {"email": "ann@acme.example"}).status_code
        for _ in range(6)
    ]
    assert statuses == [302, 302, 302, 302, 302, 429]
    assert len(mail.outbox) == 5


def test_logging_out_takes_a_post(owner_client):
    assert owner_client.get("/accounts/logout/").status_code == 200
    assert "_auth_user_id" in owner_client.session
    response = owner_client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, "/accounts/login/")
    assert "_auth_user_id" not in owner_client.session


def test_anonymous_visitors_are_sent_to_the_login_page(db):
    assert Client().get("/portal/apps/AcmeInc/general/")["Location"] == (
        "/accounts/login/?next=/portal/apps/AcmeInc/general/"
    )


def test_the_site_root_leads_to_the_portal(db):
    response = Client().get("/")
    assert (response.status_code, response["Location"]) == (302, "/portal/")


def test_a_host_header_does_not_choose_where_the_reset_link_points(db):
    make_user("ann@acme.example")
    Client(HTTP_HOST="evil.example").post("/accounts/password/reset/", {"email": "ann@acme.example"})
    [message] = mail.outbox
    links = re.findall(r"https?://[^/\s]+", message.body)
    assert links and set(links) == {settings.PUBLIC_URL}
    assert "evil.example" not in message.body


def test_a_host_header_does_not_choose_where_the_sign_up_link_of_an_unknown_address_points(db):
    Client(HTTP_HOST="evil.example:8000").post("/accounts/password/reset/", {"email": "nobody@acme.example"})
    [message] = mail.outbox
    assert set(re.findall(r"https?://[^/\s]+", message.body)) == {settings.PUBLIC_URL}


def test_without_a_mail_server_the_reset_mail_is_kept_as_a_private_file_and_never_logged(
    db, settings, tmp_path, caplog
):
    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = settings.OUTBOX_BACKEND, str(tmp_path)
    make_user("ann@acme.example")
    Client().post("/accounts/password/reset/", {"email": "ann@acme.example"})
    [kept] = tmp_path.iterdir()
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    link = re.search(r"/accounts/password/reset/key/\S+/", kept.read_text()).group(0)
    [line] = [r for r in caplog.records if r.name == "sessioncloud.mail"]
    assert (line.getMessage(), line.file, line.messages) == (
        "e-mail kept in the outbox, not sent: no mail server is configured (EMAIL_URL)",
        str(kept),
        1,
    )
    assert link not in caplog.text and "ann@acme.example" not in caplog.text
