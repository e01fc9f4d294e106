from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessioncloud.accounts.models import ApiKey, Organization


class Command(BaseCommand):
    help = "Manage API keys: `apikeys create --org <slug> --name <name>` prints the key once."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a key and print it once.")
        create.add_argument("--org", required=True)
        create.add_argument("--name", required=True)
        listing = sub.add_parser("list", help="List an organization's keys (never the keys themselves).")
        listing.add_argument("--org", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organization with the slug {options['org']}.")
        if options["action"] == "list":
            for key in org.api_keys.order_by("created"):
                state = "revoked" if key.revoked else "active"
                self.stdout.write(f"{key.hint}…\t{key.name}\t{state}")
            return
        name = options["name"].strip()
        if not name or len(name) > 100:
            raise CommandError("The name must have 1 to 100 characters.")
        _, plain = ApiKey.issue(org, name)
        self.stdout.write(plain)
        self.stderr.write("Store this key now: it is not shown again.")
