"""Encryption of secrets at rest with MultiFernet: the first key encrypts, every key decrypts."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Every Fernet token starts with its version byte and a 64-bit timestamp whose first bytes stay
# zero for centuries: "gAAAAA" in base64. No base32 or hex text (what was stored in clear) does.
CIPHERTEXT_PREFIX = "gAAAAA"


class SecretBoxError(ValueError):
    pass


def is_ciphertext(text: str) -> bool:
    return text.startswith(CIPHERTEXT_PREFIX)


class SecretBox:
    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise SecretBoxError("At least one encryption key is required.")
        try:
            self._fernet = MultiFernet([Fernet(key.encode("ascii")) for key in keys])
        except (ValueError, UnicodeEncodeError):
            raise SecretBoxError(
                "Each encryption key must be 32 url-safe base64-encoded bytes "
                "(make one with: sessioncloud genkey)."
            ) from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretBoxError("A stored secret cannot be decrypted with the configured keys.") from None

    def encrypt_bytes(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt_bytes(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretBoxError("A stored secret cannot be decrypted with the configured keys.") from None

    def decrypt_or_clear(self, text: str) -> str:
        """A value stored before it was encrypted is taken as it is; anything else is decrypted."""
        return self.decrypt(text) if is_ciphertext(text) else text

    def reencrypt(self, text: str) -> str:
        """With the first key, whether it was stored in clear or under any key."""
        return self.encrypt(self.decrypt_or_clear(text))

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first key (no-op in meaning, new ciphertext)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretBoxError("A stored secret cannot be decrypted with the configured keys.") from None


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")
