"""Signatures that let a provider prove a call came from SessionCloud (docs/provider-service.md).

`X-SessionCloud-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>\\n<METHOD>\\n<path>?<query>")>`,
one `v1=` entry per valid secret while a secret is being rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

TIMESTAMP_HEADER = "X-SessionCloud-Timestamp"
SIGNATURE_HEADER = "X-SessionCloud-Signature"
MAX_SKEW_SECONDS = 300


def signed_text(timestamp: int | str, method: str, path_and_query: str) -> bytes:
    return f"{timestamp}\n{method.upper()}\n{path_and_query}".encode()


def sign(secrets: Sequence[str], timestamp: int, method: str, path_and_query: str) -> str:
    """The signature header value: one `v1=<hex>` per secret, comma-separated."""
    message = signed_text(timestamp, method, path_and_query)
    return ",".join(f"v1={_digest(secret, message)}" for secret in secrets)


def verify(
    header: str,
    secret: str,
    timestamp: str | int,
    method: str,
    path_and_query: str,
    now: float,
    max_skew: int = MAX_SKEW_SECONDS,
) -> bool:
    """True when any `v1=` entry of `header` matches `secret` and the timestamp is fresh."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent_at) > max_skew:
        return False  # an old signature may be a replayed request
    expected = _digest(secret, signed_text(timestamp, method, path_and_query)).encode()
    candidates = [
        part.strip().removeprefix("v1=") for part in header.split(",") if part.strip().startswith("v1=")
    ]
    # Compare against every entry without stopping early, so timing reveals nothing.
    matches = [hmac.compare_digest(candidate.encode(), expected) for candidate in candidates]
    return any(matches)


def _digest(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
