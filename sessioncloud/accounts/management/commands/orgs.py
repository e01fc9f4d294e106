from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from sessioncloud.accounts.models import Membership, Organization, Role


class Command(BaseCommand):
    help = "Manage organizations: `orgs create <slug> [--name N] [--owner EMAIL]`, `orgs list`."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create an organization.")
        create.add_argument("slug")
        create.add_argument("--name")
        create.add_argument("--owner", help="E-mail of an existing user who becomes its owner.")
        sub.add_parser("list", help="List organizations.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for org in Organization.objects.order_by("slug"):
                self.stdout.write(f"{org.slug}\t{org.name}")
            return
        self.create(options["slug"], options["name"], options["owner"])

    @transaction.atomic
    def create(self, slug: str, name: str | None, owner_email: str | None) -> None:
        org = Organization(slug=slug, name=name or slug)
        try:
            org.full_clean()
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from None
        owner = None
        if owner_email:
            owner = get_user_model().objects.filter(email__iexact=owner_email).first()
            if owner is None:
                raise CommandError(f"No user with the e-mail {owner_email}; create it first.")
        org.save()
        if owner:
            Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
        self.stdout.write(f"Created organization {org.slug}.")
