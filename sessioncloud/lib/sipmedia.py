"""What an App's SIP profile may say about NAT traversal and media (docs/merge-rules.md).

Framework-free: the App model validates with it, and the phone client's exports read it.
Codec names are spelled as their RTP payload formats are registered (RFC 3551, RFC 7587, ...);
typed names are matched ignoring case and stored in that spelling.
"""

from __future__ import annotations

from collections.abc import Sequence

AUDIO_CODECS = ("opus", "G722", "PCMU", "PCMA", "G729", "GSM", "iLBC", "speex")
VIDEO_CODECS = ("H264", "H265", "VP8", "VP9", "AV1")
SRTP_MODES = ("optional", "mandatory")
DTMF_MODES = ("rfc2833", "info", "inband")

# What an App without these settings gives its phones: no STUN/TURN/ICE, keep-alives at the
# interval most softphones use by default, SRTP offered (not required) when enabled, RFC 2833
# DTMF events, and each phone's own codec order.
DEFAULT_KEEPALIVE_SECONDS = 30
DEFAULT_SRTP_MODE = "optional"
DEFAULT_DTMF_MODE = "rfc2833"
# 0 turns keep-alives off; below 5 s they would only drain batteries.
MIN_KEEPALIVE_SECONDS = 5
MAX_KEEPALIVE_SECONDS = 3600


class CodecListError(ValueError):
    """A codec list that is not a list of known, distinct names; the message says which."""


def canonical_codecs(names: object, known: Sequence[str], kind: str) -> list[str]:
    """The names in their registered spelling, order kept; CodecListError names the problem."""
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise CodecListError(f"The {kind} codecs must be a list of codec names.")
    spelling = {name.lower(): name for name in known}
    result: list[str] = []
    for name in names:
        canonical = spelling.get(name.strip().lower())
        if canonical is None:
            raise CodecListError(f"Unknown {kind} codec '{name[:40]}'. Use {', '.join(known)}.")
        if canonical in result:
            raise CodecListError(f"The {kind} codec {canonical} is listed twice.")
        result.append(canonical)
    return result


def keepalive_problem(seconds: int) -> str | None:
    if seconds == 0 or MIN_KEEPALIVE_SECONDS <= seconds <= MAX_KEEPALIVE_SECONDS:
        return None
    return f"Use 0 (no keep-alives) or {MIN_KEEPALIVE_SECONDS} to {MAX_KEEPALIVE_SECONDS} seconds."
