"""What the phone prints: the provider summary and the accounts, passwords masked by default.

Every value shown here came over the network, so control characters are escaped before they
reach a terminal, where an escape sequence could rewrite what the user sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sessioncloud.phone.accounts import MASK, masked

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: Any) -> str:
    text = "none" if value is None else str(value)
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def quoted(value: Any) -> str:
    # JSON string syntax: quotes make empty and blank values visible and escape the rest.
    return "none" if value is None else json.dumps(str(value), ensure_ascii=False)


def config_summary(config: Mapping[str, Any]) -> list[str]:
    sip, login = config["sip"], config["login"]
    proxy = f", proxy {printable(sip['proxy'])}" if sip["proxy"] else ""
    return [
        f"Provider: {printable(config['name'])} ({printable(config['providerId'])}, {config['kind']})",
        f"SIP server: {printable(sip['domain'])} port {sip['port']} over {sip['transport']}{proxy}",
        f"Login: {login['mode']} ({printable(login['fields'])})",
        f"Config version: {printable(config['version'])}",
    ]


def accounts_text(
    sipaccounts: Sequence[Mapping[str, Any]],
    xmppaccounts: Sequence[Mapping[str, Any]] = (),
    show_passwords: bool = False,
) -> list[str]:
    if not sipaccounts:
        lines = ["SIP accounts: none"]
    else:
        lines = [f"SIP accounts ({len(sipaccounts)}):"]
        for number, account in enumerate(sipaccounts, 1):
            lines += _sip_account(number, account, show_passwords)
    if xmppaccounts:
        lines.append(f"XMPP accounts ({len(xmppaccounts)}):")
        for number, account in enumerate(xmppaccounts, 1):
            lines.append(
                f"  {number}. {printable(account.get('jid'))} on "
                f"{printable(account.get('server') or account.get('domain'))}:"
                f"{printable(account.get('port', 5222))}, "
                f"password {_password(account.get('password'), show_passwords)}"
            )
    return lines


def _sip_account(number: int, account: Mapping[str, Any], show_passwords: bool) -> list[str]:
    return [
        f"  {number}. {printable(account['sipusername'])}@{printable(account['domain'])}:"
        f"{account['port']} over {account['transport']}",
        f"     display name {quoted(account['displayname'])}, "
        f"auth user {quoted(account['authusername'])}, "
        f"password {_password(account['sippassword'], show_passwords)}",
        f"     proxy {printable(account['proxy'])}, "
        f"voicemail {printable(account['voicemailNumber'])}, "
        f"registration every {account['registrationExpires']} s",
        f"     srtp {account['srtp']}, messaging {account['messaging']}, "
        f"video {account['video']}, callrecording {account['callrecording']}",
    ]


def _password(value: Any, show: bool) -> str:
    if not value:
        return "(none)"
    return quoted(value) if show else MASK


def accounts_json(
    provider_id: str | None,
    sipaccounts: Sequence[Mapping[str, Any]],
    xmppaccounts: Sequence[Mapping[str, Any]],
    show_passwords: bool,
) -> str:
    document = {
        "providerId": provider_id,
        "sipaccounts": [masked(account, show_passwords) for account in sipaccounts],
        "xmppaccounts": [masked(account, show_passwords, keys=("password",)) for account in xmppaccounts],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
