"""The signature: HMAC-SHA256 over timestamp, method and target (docs/provider-service.md)."""

from __future__ import annotations

import pytest

from sessioncloud.provisioning.signing import sign, verify

TARGET = "/prov?username=1000&password=1234"
NOW = 1767225600
DIGEST_S3CRET = "9ce9d799d2f3f0a4488702d848207fa9423d1d80a7557ec5ccc487bbcda9ebe1"
DIGEST_OLD = "1df63ada3c97f61542c8a97f9648a1ea707360d4469ef0b463ca51148f54470a"


def test_it_signs_with_one_secret() -> None:
    assert sign(["s3cret"], NOW, "GET", TARGET) == f"v1={DIGEST_S3CRET}"


def test_it_signs_once_per_secret_during_rotation() -> None:
    assert sign(["old", "s3cret"], NOW, "get", TARGET) == f"v1={DIGEST_OLD},v1={DIGEST_S3CRET}"


def test_it_signs_nothing_without_secrets() -> None:
    assert sign([], NOW, "GET", TARGET) == ""


@pytest.mark.parametrize(
    "header",
    [f"v1={DIGEST_S3CRET}", f"v1={DIGEST_OLD},v1={DIGEST_S3CRET}", f"v1={DIGEST_S3CRET}, v1={DIGEST_OLD}"],
)
def test_it_verifies_a_header_holding_the_secrets_signature(header: str) -> None:
    assert verify(header, "s3cret", str(NOW), "GET", TARGET, now=NOW + 10) is True


@pytest.mark.parametrize(
    ("header", "secret", "timestamp", "target", "now"),
    [
        (f"v1={DIGEST_S3CRET}", "wrong", str(NOW), TARGET, NOW),
        (f"v1={DIGEST_OLD}", "s3cret", str(NOW), TARGET, NOW),
        (f"v1={DIGEST_S3CRET}", "s3cret", str(NOW), TARGET + "&reprovision=true", NOW),
        (f"v1={DIGEST_S3CRET}", "s3cret", str(NOW + 1), TARGET, NOW),
        (f"v1={DIGEST_S3CRET}", "s3cret", str(NOW), TARGET, NOW + 301),
        (f"v1={DIGEST_S3CRET}", "s3cret", str(NOW), TARGET, NOW - 301),
        (f"v1={DIGEST_S3CRET}", "s3cret", "not-a-number", TARGET, NOW),
        (DIGEST_S3CRET, "s3cret", str(NOW), TARGET, NOW),
        (f"v2={DIGEST_S3CRET}", "s3cret", str(NOW), TARGET, NOW),
        ("v1=ünïcode", "s3cret", str(NOW), TARGET, NOW),
        ("", "s3cret", str(NOW), TARGET, NOW),
    ],
    ids=[
        "wrong secret",
        "other secret's signature",
        "tampered query",
        "tampered timestamp",
        "too old",
        "too far ahead",
        "bad timestamp",
        "no version prefix",
        "unknown version",
        "non-ascii",
        "empty",
    ],
)
def test_it_rejects_a_signature_that_does_not_match(
    header: str, secret: str, timestamp: str, target: str, now: int
) -> None:
    assert verify(header, secret, timestamp, "GET", target, now=now) is False


def test_it_accepts_a_timestamp_at_the_edge_of_the_allowed_skew() -> None:
    assert verify(f"v1={DIGEST_S3CRET}", "s3cret", str(NOW), "GET", TARGET, now=NOW + 300) is True
