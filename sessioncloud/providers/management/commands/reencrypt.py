from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from sessioncloud.accounts.adapters import reencrypt_mfa_data
from sessioncloud.providers.fields import EncryptedBinaryField, EncryptedTextField


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of SESSIONCLOUD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model in apps.get_models():
            fields = [
                f.name
                for f in model._meta.get_fields()
                if isinstance(f, (EncryptedTextField, EncryptedBinaryField))
            ]
            if not fields:
                continue
            with transaction.atomic():
                # Loading decrypts with any key; saving encrypts with the first.
                for obj in model.objects.select_for_update().only("pk", *fields).iterator():
                    obj.save(update_fields=fields)
                    total += 1
        total += self.reencrypt_authenticators()
        self.stdout.write(f"Re-encrypted the secrets of {total} rows.")

    def reencrypt_authenticators(self) -> int:
        """Two-factor secrets live inside allauth's JSON data, not in an encrypted field."""
        with transaction.atomic():
            authenticators = list(Authenticator.objects.select_for_update().only("pk", "data"))
            for authenticator in authenticators:
                authenticator.data = reencrypt_mfa_data(authenticator.data)
                authenticator.save(update_fields=["data"])
        return len(authenticators)
