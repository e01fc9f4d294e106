"""QR codes for many end users at once: each user's code in the chosen format, then a ZIP of
PNG files or a printable PDF sheet whose cards name the app to install and where to get it.

A setup token's QR code is what the App's app scans: Linphone's https address of the token
(a phone's camera that opens it lands on the setup page) or, for Sessiontalk apps, the scloc
code."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from sessioncloud.codes.formats import CodeError
from sessioncloud.codes.qr import render_png
from sessioncloud.onboarding.audit import record_audits
from sessioncloud.onboarding.sheet import Card, render_sheet
from sessioncloud.providers.endusers import external_code, local_code
from sessioncloud.providers.models import App, EndUser, SetupToken
from sessioncloud.providers.setup import SESSIONTALK_NAME, PhoneAppInfo, phone_app_info, setup_codes
from sessioncloud.providers.tokens import TokenRequestError, issue_token

FORMATS = ("token", "local", "external")
TOKEN_BATCH = 100

Item = dict[str, Any]  # {"externalId", "status", "message"} in a job's report
Advance = Callable[[int], None]


@dataclass(frozen=True)
class UserCode:
    user: EndUser
    code: str
    token: SetupToken | None = None  # setup tokens only

    @property
    def expires(self) -> datetime | None:
        return self.token.expires if self.token else None


def codes_for(
    app: App, users: Sequence[EndUser], code_format: str, actor: str
) -> tuple[list[UserCode], list[Item]]:
    """Each user's code text; users without one are skipped with the reason."""
    codes: list[UserCode] = []
    skipped: list[Item] = []
    for start in range(0, len(users), TOKEN_BATCH):
        batch = users[start : start + TOKEN_BATCH]
        with transaction.atomic():  # a batch of tokens and their audit rows commit together
            issued = [_code(user, code_format, actor) for user in batch]
            record_audits(
                app.organization_id,
                actor,
                [
                    (
                        "token.create",
                        result.token,
                        None,
                        {
                            "externalId": result.user.external_id,
                            "expires": result.token.expires.isoformat(),
                            "maxUses": 1,
                        },
                    )
                    for result in issued
                    if isinstance(result, UserCode) and result.token
                ],
            )
        for user, result in zip(batch, issued, strict=True):
            if isinstance(result, UserCode):
                codes.append(result)
            else:
                skipped.append({"externalId": user.external_id, "status": "skipped", "message": result})
    return codes, skipped


def _code(user: EndUser, code_format: str, actor: str) -> UserCode | str:
    try:
        if code_format == "token":
            issued = issue_token(user, created_by=actor)
            # What the App's app scans: Linphone its https address, a Sessiontalk app the scloc code.
            return UserCode(user, setup_codes(user.app, issued.plain).qr, issued.token)
        return UserCode(user, local_code(user) if code_format == "local" else external_code(user))
    except (CodeError, TokenRequestError) as error:
        return _sentence(str(error))


def _sentence(text: str) -> str:
    text = text.rstrip(".")
    return text[:1].upper() + text[1:] + "."


def zip_of_pngs(codes: Sequence[UserCode], advance: Advance) -> bytes:
    """One PNG per user, named by external id (made unique for case-insensitive file systems)."""
    buffer = io.BytesIO()
    taken: set[str] = set()
    # PNG data is compressed already: storing it is as small and much faster.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for item in codes:
            name, suffix = item.user.external_id, 2
            while name.lower() in taken:
                name, suffix = f"{item.user.external_id}~{suffix}", suffix + 1
            taken.add(name.lower())
            archive.writestr(f"{name}.png", render_png(item.code))
            advance(1)
    return buffer.getvalue()


def pdf_sheet(app: App, codes: Sequence[UserCode], code_format: str, paper: str, advance: Advance) -> bytes:
    cards = [
        Card(
            item.user.display_name or item.user.external_id,
            item.user.external_id,
            item.code,
            instructions(app, code_format, item.expires),
        )
        for item in codes
    ]
    return render_sheet(cards, title=f"{app.name} setup codes", paper=paper, on_card=lambda: advance(1))


def instructions(app: App, code_format: str, expires: datetime | None) -> str:
    """The card's text: the real app to install and where, then how to use the code."""
    info = phone_app_info(app)
    if code_format == "token" and expires is not None:
        if info.linphone:
            first = (
                f"Install {info.name} ({_where(info)}). Scan this code with the phone's camera, or in "
                f"{info.name}: Assistant, Fetch remote configuration, Scan QR code."
            )
        else:
            first = f"Install {info.name} ({_where(info)}), open it and scan this code."
        return f"{first} It works once, until {expires:%Y-%m-%d %H:%M} UTC. Keep it private."
    # Codes that carry credentials are read by Sessiontalk apps only.
    name = SESSIONTALK_NAME if info.linphone else info.name
    return f"Install {name}, open it and scan this code. The code holds your password: keep it private."


def _where(info: PhoneAppInfo) -> str:
    places = [
        place
        for place, link in (
            ("App Store", info.ios),
            ("Google Play", info.android),
            (_host(info.desktop), info.desktop),
        )
        if link
    ]
    return ", ".join(places) if places else "from your app store"


def _host(url: str | None) -> str:
    return urlsplit(url or "").hostname or ""
