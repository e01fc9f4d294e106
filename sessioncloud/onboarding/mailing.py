"""Setup e-mails: each App's sender name and template, a preview, and sending through SMTP.

Every e-mail carries a fresh setup token (never a password) inside the address of the user's
setup page (docs/linphone.md), as a link and as an attached QR code. Opening it uses nothing up, so
mail scanners that follow links cannot spend the token; the app's own redemption does. A
failure is reported per recipient; the run itself always completes.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from sessioncloud.accounts.models import record_audit
from sessioncloud.codes.qr import render_png
from sessioncloud.onboarding import mailtemplate
from sessioncloud.onboarding.audit import record_audits
from sessioncloud.onboarding.models import EmailSettings
from sessioncloud.providers.models import App, EndUser
from sessioncloud.providers.setup import phone_app_info, setup_page_url
from sessioncloud.providers.tokens import TokenRequestError, issue_token, revoke

log = logging.getLogger("sessioncloud.onboarding")

QR_FILENAME = "setup-code.png"
# After this many mail-server connection failures in a row the rest are reported unsent
# instead of each waiting for its own time-out.
MAX_UNREACHABLE = 3
PREVIEW_TOKEN = "example-token-not-valid"  # noqa: S105 - shaped like a token, opens no setup
PREVIEW_NAME = "Alex Example"


class EmailSettingsInvalid(ValueError):
    def __init__(self, fields: dict[str, str]):
        super().__init__(", ".join(sorted(fields)))
        self.fields = fields


@dataclass(frozen=True)
class EmailPreview:
    sender: str
    to: str
    subject: str
    body: str
    attachment: str


def email_settings_for(app: App) -> EmailSettings:
    """The App's e-mail settings; the defaults (unsaved) when it has none."""
    found = EmailSettings.objects.filter(app=app).first()
    return found or EmailSettings(
        app=app, subject=mailtemplate.DEFAULT_SUBJECT, body=mailtemplate.DEFAULT_BODY
    )


def save_email_settings(app: App, *, sender_name: str, subject: str, body: str, actor: str) -> EmailSettings:
    errors = mailtemplate.template_errors(sender_name, subject, body)
    if errors:
        raise EmailSettingsInvalid(errors)
    current = email_settings_for(app)
    before = _snapshot(current)  # the defaults, when the App had no settings yet
    current.sender_name, current.subject, current.body = sender_name, subject, body
    current.save()
    record_audit(app.organization, actor, "email.settings", current, before, _snapshot(current))
    return current


def _snapshot(email_settings: EmailSettings) -> dict[str, str]:
    return {
        "senderName": email_settings.sender_name,
        "subject": email_settings.subject,
        "body": email_settings.body,
    }


def preview_email(
    app: App,
    *,
    sender_name: str | None = None,
    subject: str | None = None,
    body: str | None = None,
    end_user: EndUser | None = None,
) -> EmailPreview:
    """The e-mail as a recipient would see it, with an example link that no phone accepts.

    Values left as None come from the saved settings, so unsaved edits can be previewed.
    """
    saved = email_settings_for(app)
    draft = EmailSettings(
        app=app,
        sender_name=saved.sender_name if sender_name is None else sender_name,
        subject=saved.subject if subject is None else subject,
        body=saved.body if body is None else body,
    )
    errors = mailtemplate.template_errors(draft.sender_name, draft.subject, draft.body)
    if errors:
        raise EmailSettingsInvalid(errors)
    expires = timezone.now() + timedelta(hours=app.token_ttl_hours)
    name = (end_user.display_name or end_user.external_id) if end_user else PREVIEW_NAME
    to = end_user.email if end_user and end_user.email else "alex@example.com"
    subject_text, body_text = _render(draft, name, setup_page_url(PREVIEW_TOKEN), expires)
    return EmailPreview(_sender(draft), to, subject_text, body_text, QR_FILENAME)


def _render(email_settings: EmailSettings, name: str, link: str, expires: datetime) -> tuple[str, str]:
    values = {
        "name": name,
        "link": link,
        "provider": email_settings.app.name,
        "expires": f"{expires:%Y-%m-%d %H:%M} UTC",
        "app": phone_app_info(email_settings.app).name,
    }
    return (
        mailtemplate.one_line(mailtemplate.render(email_settings.subject, values)),
        mailtemplate.render(email_settings.body, values),
    )


def _sender(email_settings: EmailSettings) -> str:
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((mailtemplate.one_line(email_settings.display_sender), address))


CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"


def mail_server_configured() -> bool:
    # Without EMAIL_URL messages only land in the outbox directory, and the console (refused
    # by the settings, but a test may set it) only writes them to the log: nobody receives them.
    return settings.EMAIL_BACKEND not in (settings.OUTBOX_BACKEND, CONSOLE_BACKEND)


def send_setup_emails(
    app: App, users: Sequence[EndUser], *, actor: str, advance: Callable[[int], None]
) -> list[dict[str, Any]]:
    """E-mail each user a new setup token; one report item per user: sent, failed or skipped."""
    email_settings = email_settings_for(app)
    sender = _sender(email_settings)
    connection = get_connection(fail_silently=False)
    items: list[dict[str, Any]] = []
    unreachable = 0
    try:
        for user in users:
            item = {"externalId": user.external_id, "status": "sent", "message": ""}
            if not user.email:
                item.update(status="skipped", message="This end user has no e-mail address.")
            elif unreachable >= MAX_UNREACHABLE:
                item.update(status="failed", message="Not sent: the mail server could not be reached.")
            else:
                failure, reachable = _send_one(app, email_settings, sender, user, connection, actor)
                if failure:
                    item.update(status="skipped" if reachable is None else "failed", message=failure)
                if reachable is not None:
                    unreachable = 0 if reachable else unreachable + 1
            items.append(item)
            advance(1)
    finally:
        connection.close()
    return items


def _send_one(
    app: App,
    email_settings: EmailSettings,
    sender: str,
    user: EndUser,
    connection: BaseEmailBackend,
    actor: str,
) -> tuple[str, bool | None]:
    """(failure message or "", whether the server answered; None when nothing was tried)."""
    try:
        issued = issue_token(user, created_by=actor)
    except TokenRequestError as error:
        return f"No setup token for this end user: {error.message}", None
    page = setup_page_url(issued.plain)
    subject, body = _render(email_settings, user.display_name or user.external_id, page, issued.token.expires)
    message = EmailMessage(
        subject,
        body,
        sender,
        [user.email],
        connection=connection,
        reply_to=[app.contact_email] if app.contact_email else None,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach(QR_FILENAME, render_png(page), "image/png")
    failure, reachable = _deliver(message, connection)
    if failure:
        revoke(issued.token)  # never delivered: it must not stay usable
        return failure, reachable
    record_audits(
        app.organization_id,
        actor,
        [
            (
                "token.create",
                issued.token,
                None,
                {
                    "externalId": user.external_id,
                    "expires": issued.token.expires.isoformat(),
                    "maxUses": 1,
                    "sentTo": user.email,
                },
            )
        ],
    )
    return "", True


def _deliver(message: EmailMessage, connection: Any) -> tuple[str, bool]:
    try:
        connection.open()  # a no-op while the connection is up; reconnects after a failure
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        code, reason = next(iter(error.recipients.values()))
        return f"The mail server refused the address ({code} {_text(reason)}).", True
    except smtplib.SMTPResponseException as error:
        connection.close()
        return f"The mail server refused the message ({error.smtp_code} {_text(error.smtp_error)}).", True
    except (smtplib.SMTPException, OSError) as error:
        connection.close()
        log.warning("mail server unreachable", extra={"error": type(error).__name__})
        reason = getattr(error, "strerror", None) or type(error).__name__
        return f"The mail server could not be reached ({reason}).", False
    except Exception:
        # One odd record (an address the backend cannot encode...) must not end the whole run.
        log.exception("setup e-mail not sent")
        return "The e-mail could not be sent; the error has been logged.", True
    return "", True


def _text(reason: bytes | str) -> str:
    text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return " ".join(text.split())[:200]
