from typing import Any

from django.core.management.base import BaseCommand

from sessioncloud.providers.demo import seed_demo


class Command(BaseCommand):
    help = "Create the demo organization, login and Apps (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        org = seed_demo()
        self.stdout.write(f"Demo organization '{org.slug}' is ready.")
