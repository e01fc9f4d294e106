"""Linphone remote provisioning (docs/linphone.md): what the Linphone URLs answer.

Two addresses, both fetched by Linphone with a bare GET at every start:

- `/api/v1/linphone/<token>`, one per setup token: the end user's accounts. The first fetch
  redeems the token (docs/phone-api.md's rules: unexpired, not revoked, uses left) and carries the
  passwords; later fetches answer the same configuration without `auth_info` sections, so the
  App's changes reach the phone at its next start while the password is handed out once.
  After the first fetch the token's expiry no longer applies: the address keeps answering
  until the token is revoked (then 404, and Linphone keeps what it has) or the device is
  deactivated (then a document that turns its accounts off).
  A web browser that opens the address (a phone's camera app scanning its QR code) is sent to
  the setup page instead, so neither it nor a link scanner uses the token up.
- `/api/v1/providers/<ProviderId>/linphone`, one per App: no accounts, only the defaults
  Linphone's assistant uses when a user types their own login.

Linphone's request identifies nothing (`User-Agent: Unknown` from linphonec), so the device in
the ledger is named after the token record: `linphone-<token id>`. Every fetch of a token's
address writes one provisioning log row (flow `linphone`) and updates that device's row.

The functions here take the token text and what is known of the client and return status,
headers and body; they know nothing of the HTTP server that calls them. A fetch has the three
parts of any provisioning call (providers/provision.py): `begin_enduser` and `finish_enduser`
block, the provider's call between them does not; api/phone.py puts them together.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from django.conf import settings
from pydantic import ValidationError

from sessioncloud.codes.formats import PROVIDER_ID_RE, is_valid_token
from sessioncloud.lib.errorbody import error_body
from sessioncloud.lib.sipaccount import SipAccount
from sessioncloud.providers import ratelimit
from sessioncloud.providers.config import load_enabled_app
from sessioncloud.providers.endusers import sip_account
from sessioncloud.providers.ledger import device_state
from sessioncloud.providers.models import (
    App,
    EndUser,
    ProvisioningLogEntry,
    SetupToken,
    TokenRedemption,
    hash_token,
    served,
)
from sessioncloud.providers.outbound import sip_profile
from sessioncloud.providers.provision import (
    Client,
    Outcome,
    ProviderCall,
    begin_external,
    deactivated,
    nothing_to_provision,
    provision_local,
)
from sessioncloud.providers.refusals import PROVIDER_NOT_FOUND, RATE_LIMITED, TOKEN_INVALID
from sessioncloud.providers.tokens import Claim, claim, give_back, token_status
from sessioncloud.provisioning.linphone import (
    CONTENT_TYPE,
    PhoneSettings,
    account_xml,
    defaults_xml,
    deprovision_xml,
    linphone_link,
)

security_log = logging.getLogger("sessioncloud.security")

FLOW = "linphone"
DEVICE_PREFIX = "linphone-"
# Linphone apps name themselves in the User-Agent (e.g. `LinphoneAndroid/5.2.5 (...)`).
_USER_AGENT_RE = re.compile(r"\ALinphone(?P<platform>[A-Za-z]*)/(?P<version>[0-9][0-9A-Za-z.+-]*)")


@dataclass(frozen=True)
class Answer:
    """What a Linphone address answers: status, content type, extra headers and body."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def enduser_url(plain_token: str) -> str:
    return f"{settings.PUBLIC_URL}/api/v1/linphone/{plain_token}"


def enduser_link(plain_token: str) -> str:
    return linphone_link(enduser_url(plain_token))


def app_url(app: App) -> str:
    return f"{settings.PUBLIC_URL}/api/v1/providers/{app.provider_id}/linphone"


def device_id_for(token: SetupToken) -> str:
    return f"{DEVICE_PREFIX}{token.pk}"


def phone_settings(app: App) -> PhoneSettings:
    """The App's SIP profile beyond the accounts: NAT, media, DTMF, realm, TURN credentials."""
    return PhoneSettings.from_profile(sip_profile(app))


# --- the end user's address ----------------------------------------------------------------


@dataclass(frozen=True)
class Fetch:
    """A fetch of an end user's address, up to the provider's call if one is needed."""

    token: SetupToken
    client: Client
    first: Claim | None  # the redemption a first fetch took; given back unless it delivers
    provisioned: ProviderCall | Outcome


def begin_enduser(
    plain_token: str, ip: str | None, user_agent: str, *, browser: bool = False
) -> Answer | Fetch:
    """The first part of a fetch of `/api/v1/linphone/<token>` (blocking: database, cache).

    `browser` is a web browser's navigation (it asks for HTML): a phone's camera app that opens
    the scanned address. It is sent to the setup page and uses nothing up.
    """
    if browser and is_valid_token(plain_token):
        return Answer(
            302, "text/plain", b"", {"Location": f"/setup/{plain_token}", "Cache-Control": "no-store"}
        )
    wait = ratelimit.hit("redeem_ip", ip or "unknown")
    if wait is not None:
        return _error(429, *RATE_LIMITED, headers={"Retry-After": str(max(1, wait))})
    token = _known_token(plain_token)
    if token is None:
        security_log.warning("setup token refused", extra={"reason": "unknown or malformed", "flow": FLOW})
        return _error(404, *TOKEN_INVALID)
    client = _client(token, ip, user_agent)
    user, app = token.end_user, token.app
    username = user.provisioning_username if _external(token) else user.sip_username
    if device_state(app.pk, client.device_id).deactivated:
        deactivated(app, client, username, FLOW, user)
        return _deprovision(app, client.device_id)
    # A later fetch of a used-up token is Linphone starting again, not a refused redemption.
    first = claim(plain_token, client.device_id, ip, user_agent) if token_status(token) == "pending" else None
    if first is None and (token.revoked or not _fetched_before(token, client.device_id)):
        return _error(404, *TOKEN_INVALID)
    return Fetch(token, client, first, _provision(token, client, first is not None))


def finish_enduser(fetch: Fetch, outcome: Outcome) -> Answer:
    """The answer (blocking): a first fetch that delivered nothing gives its redemption back."""
    delivered = outcome.delivered_accounts
    if fetch.first is not None and not delivered:
        give_back(fetch.first)
    return _answer(
        fetch.token.app, outcome, fetch.client, with_credentials=fetch.first is not None and delivered
    )


def _known_token(plain_token: str) -> SetupToken | None:
    if not is_valid_token(plain_token):
        return None
    token = (
        SetupToken.objects.select_related("app__organization", "end_user")
        .filter(token_hash=hash_token(plain_token))
        .first()
    )
    return token if token is not None and served(token.app) else None


def _client(token: SetupToken, ip: str | None, user_agent: str) -> Client:
    match = _USER_AGENT_RE.match(user_agent)
    platform = (match.group("platform").lower() or "linphone") if match else "linphone"
    return Client(
        device_id=device_id_for(token),
        platform=platform[:20],
        version=match.group("version")[:40] if match else "",
        ip=ip,
        user_agent=user_agent[:300],
    )


def _external(token: SetupToken) -> bool:
    return token.end_user.has_provisioning and token.app.is_external


def _fetched_before(token: SetupToken, device_id: str) -> bool:
    """Whether Linphone redeemed this token: only then may later fetches answer."""
    return TokenRedemption.objects.filter(token=token, device_id=device_id).exists()


def _provision(token: SetupToken, client: Client, first: bool) -> ProviderCall | Outcome:
    user, app = token.end_user, token.app
    if _external(token):
        return begin_external(
            app,
            user.provisioning_username,
            user.provisioning_password,
            client,
            reprovision=not first,
            flow=FLOW,
            end_user=user,
        )
    if not user.has_sip:
        return nothing_to_provision(app, client, user, FLOW)
    return provision_local(
        app, [named_account(user)], client, flow=FLOW, end_user=user, username=user.sip_username
    )


def named_account(user: EndUser) -> SipAccount:
    """The end user's SIP account, named as the provider names the user (their phone shows it)."""
    account = sip_account(user)
    if account.displayname or not user.display_name:
        return account
    try:
        return SipAccount.model_validate({**account.as_dict(), "displayname": user.display_name})
    except ValidationError:  # a name no SIP header can carry: the phone shows the username
        return account


def _answer(app: App, outcome: Outcome, client: Client, *, with_credentials: bool) -> Answer:
    if outcome.error_code:
        return _error(outcome.status, outcome.error_code, outcome.message)
    accounts = outcome.body["sipaccounts"]
    if not accounts:  # the provider logged this phone out, or it is deactivated
        return _deprovision(app, client.device_id)
    return _xml(account_xml(accounts, phone_settings(app), with_credentials=with_credentials))


def _deprovision(app: App, device_id: str) -> Answer:
    relay_credentials = phone_settings(app).relay_credentials
    return _xml(deprovision_xml(_accounts_handed_out(app, device_id), relay_credentials=relay_credentials))


def _accounts_handed_out(app: App, device_id: str) -> int:
    """How many accounts this device was last given (the ones to turn off); at least one."""
    last = (
        ProvisioningLogEntry.objects.filter(app=app, device_id=device_id, accounts__gt=0)
        .order_by("-created", "-id")
        .values_list("accounts", flat=True)
        .first()
    )
    return last or 1


# --- the App's address ---------------------------------------------------------------------


def serve_app(provider_id: str) -> Answer:
    """The answer to `/api/v1/providers/<ProviderId>/linphone`: the App's defaults, no accounts."""
    app = load_enabled_app(provider_id) if PROVIDER_ID_RE.match(provider_id) else None
    if app is None:
        return _error(404, *PROVIDER_NOT_FOUND)
    body = defaults_xml(
        app.sip_domain,
        app.sip_transport,
        app.sip_proxy or None,
        app.registration_expires,
        phone_settings(app),
    )
    return Answer(200, CONTENT_TYPE, body, {"Cache-Control": "no-cache"})


# --- answers -------------------------------------------------------------------------------


def _xml(body: bytes) -> Answer:
    # The first answer carries passwords: no cache may keep any of them.
    return Answer(200, CONTENT_TYPE, body, {"Cache-Control": "no-store"})


def _error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> Answer:
    body = json.dumps(error_body(code, message), separators=(",", ":")).encode("utf-8")
    return Answer(status, "application/json", body, {"Cache-Control": "no-store", **(headers or {})})
