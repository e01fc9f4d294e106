"""Field rules for App settings, shared by the portal forms and the management API."""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from sessioncloud.codes.formats import PROVIDER_ID_RE
from sessioncloud.lib.sipmedia import (
    AUDIO_CODECS,
    VIDEO_CODECS,
    CodecListError,
    canonical_codecs,
    keepalive_problem,
)

COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
# What a provider may type: #RGB or #RRGGBB, either case. Stored as #RRGGBB, upper case.
TYPED_COLOR_RE = re.compile(r"^#(?:[0-9A-Fa-f]{3}){1,2}$")
# RFC 1123 host names (labels of letters, digits and inner hyphens) or IPv4 literals.
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_PORT_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?(?::(\d{{1,5}}))?$")
# An IPv6 address in brackets, as SIP URIs write it, with an optional port.
BRACKETED_IPV6_RE = re.compile(r"^\[([^\[\]]{1,45})\](?::(\d{1,5}))?$")
DIAL_STRING_RE = re.compile(r"^[0-9*#+]{1,32}$")
REGISTRATION_EXPIRES_RANGE = (30, 86400)
REGISTRATION_EXPIRES_MESSAGE = "Use a registration expiry from 30 to 86400 seconds."
BUNDLE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$")
MAX_HELP_LINKS = 5
PLACEHOLDERS = ("%user%", "%pwd%")


def validate_provider_id(value: str) -> None:
    if not PROVIDER_ID_RE.match(value or ""):
        raise ValidationError(
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, and starts with a letter."
        )


HEADER_VALUE_RE = re.compile(r"\A[\x20-\x7e]{1,1000}\Z")


def validate_header_value(value: str) -> None:
    """An HTTP header value: one line of printable ASCII (no way to inject another header)."""
    if value and not HEADER_VALUE_RE.match(value):
        raise ValidationError(
            "The header value must be one line of printable ASCII, at most 1000 characters."
        )


def validate_color(value: str) -> None:
    if not COLOR_RE.match(value or ""):
        raise ValidationError("Use a colour of the form #RRGGBB or #RGB, for example #0A7CFF.")


def normalize_color(value: str) -> str:
    """#fff -> #FFFFFF, #0a7cff -> #0A7CFF; anything else is returned as it was (for the validator)."""
    text = (value or "").strip()
    if not TYPED_COLOR_RE.match(text):
        return value
    digits = text[1:] if len(text) == 7 else "".join(digit * 2 for digit in text[1:])
    return "#" + digits.upper()


def validate_host_port(value: str) -> None:
    """host, host:port, an IPv4 address, or an IPv6 address in brackets ([2001:db8::1]:5060)."""
    value = value or ""
    bracketed = BRACKETED_IPV6_RE.match(value)
    if bracketed:
        _check_ipv6(bracketed.group(1))
        port = bracketed.group(2)
    elif value.startswith("["):
        raise ValidationError("Use [address] or [address]:port, for example [2001:db8::1]:5060.")
    elif value.count(":") > 1:
        raise ValidationError("Put an IPv6 address in brackets, for example [2001:db8::1]:5060.")
    else:
        match = HOST_PORT_RE.match(value)
        if not match or len(value) > 253:
            raise ValidationError("Use host or host:port, for example sip.example.com:5060.")
        port = match.group(1)
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValidationError("The port must be between 1 and 65535.")


def _check_ipv6(address: str) -> None:
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValidationError(f"{address} is not an IPv6 address.") from None


CONTROL_CHARACTERS_RE = re.compile(r"[\x00-\x1f\x7f]")


def validate_provisioning_username(value: str) -> None:
    """One rule for the portal, the management API and CSV files (docs/portal.md).

    A ':' is allowed: phones split `username:ProviderId` at the last ':', so `a:b:AcmeInc` is
    still read right. What a person could not type back, or a CSV cell would not keep, is not.
    """
    if CONTROL_CHARACTERS_RE.search(value or ""):
        raise ValidationError("Must not contain line breaks or control characters.")
    if value != value.strip():
        raise ValidationError("Must not begin or end with a space.")


def validate_dial_string(value: str) -> None:
    """A number the phone dials (voicemail): digits, *, # and +, nothing a page could render."""
    if value and not DIAL_STRING_RE.match(value):
        raise ValidationError("Use digits, *, # and + only (at most 32), for example *97.")


# A digest realm is a quoted string in SIP headers and a value in phone config files:
# printable ASCII without the double quote (0x22) and the backslash (0x5C).
REALM_RE = re.compile(r"\A[\x20\x21\x23-\x5b\x5d-\x7e]{1,253}\Z")


def validate_realm(value: str) -> None:
    if value and not REALM_RE.match(value):
        raise ValidationError(
            "A realm is one line of printable ASCII without quotes or backslashes, at most 253 characters."
        )


def validate_no_control_chars(value: str) -> None:
    """Credentials that end up in phone config files: a line break would start a new setting."""
    if CONTROL_CHARACTERS_RE.search(value or ""):
        raise ValidationError("This must be one line without control characters.")


def validate_audio_codecs(value: object) -> None:
    _validate_codecs(value, AUDIO_CODECS, "audio")


def validate_video_codecs(value: object) -> None:
    _validate_codecs(value, VIDEO_CODECS, "video")


def _validate_codecs(value: object, known: tuple[str, ...], kind: str) -> None:
    try:
        canonical_codecs(value, known, kind)
    except CodecListError as error:
        raise ValidationError(str(error)) from None


def validate_keepalive(value: int) -> None:
    problem = keepalive_problem(value)
    if problem:
        raise ValidationError(problem)


def validate_bundle_id(value: str) -> None:
    if value and not BUNDLE_ID_RE.match(value):
        raise ValidationError("Use a reverse-domain identifier, for example com.example.phone.")


def validate_https_url(value: str) -> None:
    """Help links: https only, with a host, and no way to smuggle a script scheme."""
    # The placeholders are not valid in a URL as typed; check the URL they stand in.
    probe = value.replace("%user%", "user").replace("%pwd%", "pwd")
    parts = urlsplit(probe)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in probe):
        raise ValidationError("Help links must be https:// URLs.")
    if len(value) > 1000:
        raise ValidationError("A help link may be at most 1000 characters long.")


def validate_store_url(value: str) -> None:
    """Store and download links on the setup page: https only, with a host."""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise ValidationError("Store links must be https:// URLs.")


def validate_help_links(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("Help links must be a list of {title, url} objects.")
    if len(value) > MAX_HELP_LINKS:
        raise ValidationError(f"At most {MAX_HELP_LINKS} help links are allowed.")
    for index, link in enumerate(value, start=1):
        if not isinstance(link, dict) or set(link) != {"title", "url"}:
            raise ValidationError(f"Help link {index} must have exactly a title and a url.")
        title, url = link["title"], link["url"]
        if not isinstance(title, str) or not title.strip() or len(title) > 100:
            raise ValidationError(f"Help link {index} needs a title of 1 to 100 characters.")
        if not isinstance(url, str):
            raise ValidationError(f"Help link {index}: the url must be text.")
        try:
            validate_https_url(url)
        except ValidationError as error:
            raise ValidationError(f"Help link {index}: {error.messages[0]}") from None
