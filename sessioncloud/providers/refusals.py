"""The refusals every phone endpoint gives in the same words (code, message), whichever format
carries them: the phone API's JSON errors and the Linphone addresses' answers."""

from __future__ import annotations

TOKEN_INVALID = (
    "token_invalid",
    "This setup code is not valid. It may have expired or been used "
    "already; ask your provider for a new one.",
)
PROVIDER_NOT_FOUND = ("provider_not_found", "No provider is known by that ProviderId.")
RATE_LIMITED = ("rate_limited", "Too many attempts. Please wait a moment and try again.")
