"""An encrypted text field: the database only ever holds MultiFernet ciphertext."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import models

from sessioncloud.lib.secretbox import SecretBox


@lru_cache(maxsize=4)
def _box(keys: tuple[str, ...]) -> SecretBox:
    return SecretBox(keys)


def secret_box() -> SecretBox:
    return _box(tuple(settings.SESSIONCLOUD_ENCRYPTION_KEYS))


class EncryptedTextField(models.TextField):
    """Holds plaintext in Python and ciphertext in the database; empty stays empty."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        return secret_box().decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return secret_box().encrypt(value)


class EncryptedBinaryField(models.BinaryField):
    """Bytes in Python, MultiFernet ciphertext in the database; empty stays empty."""

    def from_db_value(
        self, value: bytes | memoryview | None, expression: Any, connection: Any
    ) -> bytes | None:
        if not value:
            return bytes(value) if value is not None else None
        return secret_box().decrypt_bytes(bytes(value))

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return secret_box().encrypt_bytes(bytes(value))
