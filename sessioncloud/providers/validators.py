"""Field rules for App settings, shared by the portal forms and the management API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from sessioncloud.codes.formats import PROVIDER_ID_RE

COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
# RFC 1123 host names (labels of letters, digits and inner hyphens) or IPv4 literals.
_HOST_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
HOST_PORT_RE = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?(?::(\d{{1,5}}))?$")
BUNDLE_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+$")
MAX_HELP_LINKS = 5
PLACEHOLDERS = ("%user%", "%pwd%")


def validate_provider_id(value: str) -> None:
    if not PROVIDER_ID_RE.match(value or ""):
        raise ValidationError(
            "A ProviderId has 3 to 32 characters, ASCII letters and digits only, "
            "and starts with a letter."
        )


HEADER_VALUE_RE = re.compile(r"\A[\x20-\x7e]{1,1000}\Z")


def validate_header_value(value: str) -> None:
    """An HTTP header value: one line of printable ASCII (no way to inject another header)."""
    if value and not HEADER_VALUE_RE.match(value):
        raise ValidationError("The header value must be one line of printable ASCII, at most 1000 characters.")


def validate_color(value: str) -> None:
    if not COLOR_RE.match(value or ""):
        raise ValidationError("Use a colour of the form #RRGGBB, for example #0A7CFF.")


def validate_host_port(value: str) -> None:
    match = HOST_PORT_RE.match(value or "")
    if not match or len(value) > 253:
        raise ValidationError("Use host or host:port, for example sip.example.com:5060.")
    port = match.group(1)
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValidationError("The port must be between 1 and 65535.")


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
