from typing import Any

from django.core.management.base import BaseCommand

from sessioncloud.lib.secretbox import generate_key


class Command(BaseCommand):
    help = "Print a new encryption key for SESSIONCLOUD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(generate_key())
