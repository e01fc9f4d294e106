"""Setup e-mails: each App's template and sender, the preview, and delivery to a real SMTP server."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from sessioncloud.accounts.models import AuditEntry
from sessioncloud.codes.qr import decode_image
from sessioncloud.onboarding import jobs, mailing
from sessioncloud.onboarding.mailtemplate import DEFAULT_BODY, DEFAULT_SUBJECT, PLACEHOLDERS
from sessioncloud.onboarding.models import Job, JobStatus
from sessioncloud.providers.models import App, EndUser, SetupToken, hash_token
from sessioncloud.providers.tokens import token_status
from tests.conftest import ApiClient
from tests.factories import make_end_user
from tests.onboarding.conftest import Inbox, use_smtp

pytestmark = pytest.mark.django_db
SETTINGS_URL = "/api/v1/manage/apps/AcmeInc/email-settings"
LINK = re.compile(r"https?://\S+/setup/([A-Za-z0-9_-]+)")
TEMPLATE = {
    "senderName": "Acme Support",
    "subject": "Your {{provider}} phone, {{ name }}",
    "body": "Hi {{ name }},\nopen {{ link }} on your phone before {{ expires }}.\n",
}


@pytest.fixture
def three(app: App) -> list[EndUser]:
    return [
        make_end_user(app, "alice", display_name="Alice Smith", email="alice@acme.example"),
        make_end_user(app, "bob", display_name="Bob", email="bob@acme.example"),
        make_end_user(app, "carol", display_name="Carol", email=""),
    ]


def plain_body(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def test_an_app_without_settings_uses_the_default_template(api, app):
    assert api.get(SETTINGS_URL).json() == {
        "senderName": "",
        "subject": DEFAULT_SUBJECT,
        "body": DEFAULT_BODY,
        "placeholders": PLACEHOLDERS,
    }


def test_the_template_is_saved_audited_and_read_back(api, app):
    response = api.put(SETTINGS_URL, TEMPLATE)
    assert response.status_code == 200
    assert api.get(SETTINGS_URL).json() == {**TEMPLATE, "placeholders": PLACEHOLDERS}
    entry = AuditEntry.objects.get(action="email.settings")
    assert (entry.before, entry.after) == (
        {"senderName": "", "subject": DEFAULT_SUBJECT, "body": DEFAULT_BODY},
        TEMPLATE,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "body",
            "Hi {{ user.password }}",
            "Unknown placeholder {{ user.password }}; use {{ name }}, {{ link }}, "
            "{{ provider }}, {{ expires }}, {{ app }}.",
        ),
        (
            "body",
            "{% load static %}{{ link }}",
            "Template tags and comments are not supported; use only the "
            "placeholders {{ name }}, {{ link }}, {{ provider }}, {{ expires }}, {{ app }}.",
        ),
        (
            "body",
            "{# note #}",
            "Template tags and comments are not supported; use only the placeholders "
            "{{ name }}, {{ link }}, {{ provider }}, {{ expires }}, {{ app }}.",
        ),
        (
            "subject",
            "Hello\nBcc: everyone@example.com",
            "Must not contain line breaks or control characters.",
        ),
        ("subject", "  ", "This field is required."),
        ("senderName", "Acme\r\nBcc: x@example.com", "Must not contain line breaks or control characters."),
    ],
)
def test_it_refuses_templates_that_could_do_more_than_fill_in_placeholders(api, app, field, value, message):
    response = api.put(SETTINGS_URL, {**TEMPLATE, field: value})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {field: message}


def test_the_preview_shows_a_draft_with_an_example_link_and_issues_no_token(api, app, three, settings):
    response = api.post(SETTINGS_URL + "/preview", {**TEMPLATE, "externalId": "alice"})
    assert response.status_code == 200
    preview = response.json()
    expires = preview["body"].split("before ")[1].rstrip(".\n")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", expires)
    assert preview == {
        "sender": "Acme Support <noreply@sessioncloud.invalid>",
        "to": "alice@acme.example",
        "subject": "Your Acme Telecom phone, Alice Smith",
        "body": f"Hi Alice Smith,\nopen {settings.PUBLIC_URL}/setup/example-token-not-valid on your phone "
        f"before {expires}.\n",
        "attachment": "setup-code.png",
    }
    assert SetupToken.objects.count() == 0
    assert api.get(SETTINGS_URL).json()["subject"] == DEFAULT_SUBJECT  # a preview saves nothing


def test_values_cannot_inject_placeholders_or_headers(app):
    user = make_end_user(
        app, "eve", display_name="{{ link }}\nBcc: all@example.com", email="eve@acme.example"
    )
    preview = mailing.preview_email(app, subject="Hi {{ name }}", body="{{ name }}", end_user=user)
    assert (preview.subject, preview.body) == (
        "Hi {{ link }} Bcc: all@example.com",
        "{{ link }}\nBcc: all@example.com",
    )


@pytest.fixture
def email_job(api: ApiClient, app: App, three: list[EndUser], inbox: Inbox) -> Job:
    """The setup e-mails of three users: one is sent, one refused by the server, one has no address."""
    inbox.refuse.add("bob@acme.example")
    api.put(SETTINGS_URL, TEMPLATE)
    return jobs.start_job(app, "email", actor="tests")


def sent_message(inbox: Inbox) -> EmailMessage:
    [message] = inbox.messages
    return message


def sent_link(inbox: Inbox) -> re.Match[str]:
    link = LINK.search(plain_body(sent_message(inbox)))
    assert link is not None
    return link


def test_an_email_job_is_done_once_each_user_had_a_go(email_job: Job) -> None:
    assert (email_job.status, email_job.done, email_job.total) == (JobStatus.DONE, 3, 3)


def test_an_email_job_reports_each_user_sent_failed_or_skipped(email_job: Job) -> None:
    assert email_job.report == {
        "format": "token",
        "requested": 3,
        "sent": 1,
        "failed": 1,
        "skipped": 1,
        "items": [
            {"externalId": "alice", "status": "sent", "message": ""},
            {
                "externalId": "bob",
                "status": "failed",
                "message": "The mail server refused the address (550 5.1.1 No such user here).",
            },
            {"externalId": "carol", "status": "skipped", "message": "This end user has no e-mail address."},
        ],
    }


def test_the_setup_email_comes_from_the_apps_sender_with_its_subject(email_job: Job, inbox: Inbox) -> None:
    message = sent_message(inbox)
    assert inbox.recipients == ["alice@acme.example"]
    assert (message["From"], message["To"], message["Subject"], message["Reply-To"]) == (
        "Acme Support <noreply@sessioncloud.example>",
        "alice@acme.example",
        "Your Acme Telecom phone, Alice Smith",
        "support@acme.example",
    )


def test_the_setup_email_carries_a_setup_link_in_the_template(email_job: Job, inbox: Inbox) -> None:
    body = plain_body(sent_message(inbox))
    assert body.startswith(f"Hi Alice Smith,\nopen {sent_link(inbox).group(0)} on your phone before 20")


def test_the_setup_email_carries_the_links_qr_code(email_job: Job, inbox: Inbox) -> None:
    [attachment] = list(sent_message(inbox).iter_attachments())
    assert (attachment.get_filename(), attachment.get_content_type()) == ("setup-code.png", "image/png")
    assert decode_image(attachment.get_content()) == sent_link(inbox).group(0)


def test_the_emailed_link_is_a_pending_token_of_its_user(email_job: Job, inbox: Inbox) -> None:
    token = SetupToken.objects.get(token_hash=hash_token(sent_link(inbox).group(1)))
    assert (token.end_user.external_id, token_status(token)) == ("alice", "pending")


def test_the_token_of_a_refused_email_is_revoked(email_job: Job) -> None:
    bobs = SetupToken.objects.get(end_user__external_id="bob")
    assert token_status(bobs) == "revoked"  # never delivered, so never usable


def test_the_audit_log_says_where_a_token_was_sent(email_job: Job) -> None:
    assert AuditEntry.objects.get(action="token.create").after["sentTo"] == "alice@acme.example"


def test_a_message_refused_after_data_fails_alone_and_the_next_one_is_sent(app, inbox):
    for name in ("alice", "bob", "carol"):
        make_end_user(app, name, email=f"{name}@acme.example")
    inbox.reject.add("bob@acme.example")
    job = jobs.start_job(app, "email", actor="tests")
    assert [(item["externalId"], item["status"], item["message"]) for item in job.report["items"]] == [
        ("alice", "sent", ""),
        ("bob", "failed", "The mail server refused the message (554 5.6.0 Message rejected as spam)."),
        ("carol", "sent", ""),
    ]
    assert inbox.recipients == ["alice@acme.example", "carol@acme.example"]


def test_the_default_sender_is_the_apps_name_and_non_ascii_names_are_encoded(app, inbox):
    app.name = "Acme Téléphonie"
    app.save()
    make_end_user(app, "zoë", display_name="Zoë", email="zoe@acme.example")
    jobs.start_job(app, "email", actor="tests")
    [message] = inbox.messages
    assert (message["From"], message["Subject"]) == (
        "Acme Téléphonie <noreply@sessioncloud.example>",
        "Set up Acme Téléphonie on your phone",
    )
    assert plain_body(message).startswith(
        "Hello Zoë,\n\nyour Acme Téléphonie phone line is ready. Open this page "
        "on your phone: it tells you to install\nLinphone and sets it up"
    )


def test_an_unreachable_mail_server_gives_a_report_not_a_crash(app, settings, smtp_port):
    use_smtp(settings, smtp_port)  # nothing listens there
    for index in range(5):
        make_end_user(app, f"user{index}", email=f"user{index}@acme.example")
    job = jobs.start_job(app, "email", actor="tests")
    assert job.status == JobStatus.DONE
    assert (job.report["sent"], job.report["failed"]) == (0, 5)
    assert [item["message"] for item in job.report["items"]] == [
        "The mail server could not be reached (Connection refused)."
    ] * 3 + ["Not sent: the mail server could not be reached."] * 2
    assert {token_status(token) for token in SetupToken.objects.all()} == {"revoked"}
    assert SetupToken.objects.count() == 3


def test_no_email_job_starts_while_mails_would_only_go_to_the_outbox(api, app, settings, three):
    settings.EMAIL_BACKEND = settings.OUTBOX_BACKEND
    response = api.post("/api/v1/manage/apps/AcmeInc/jobs", {"kind": "email"})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {
        "kind": "No mail server is configured (EMAIL_URL), so no e-mail can be sent."
    }


def test_the_email_names_the_apps_own_app_to_install(app, settings):
    settings.PUBLIC_URL = "https://sc.example"
    app.phone_app, app.phone_app_name = "sessiontalk", "Acme Phone"
    app.save()
    preview = mailing.preview_email(app, body="Install {{ app }}: {{ link }}")
    assert preview.body == "Install Acme Phone: https://sc.example/setup/example-token-not-valid"
