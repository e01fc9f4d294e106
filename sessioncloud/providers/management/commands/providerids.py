from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessioncloud.providers.models import App, ReservedProviderId


class Command(BaseCommand):
    help = (
        "Reserve ProviderIds for well-known brands, so no sign-up or new App can take them: "
        "`providerids reserve <id>... [--note N]`, `providerids release <id>...`, `providerids list`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        reserve = sub.add_parser("reserve", help="Reserve ProviderIds (any case).")
        reserve.add_argument("provider_ids", nargs="+", metavar="id")
        reserve.add_argument("--note", default="", help="Whose they are, for example Vodafone Group.")
        release = sub.add_parser("release", help="Release reserved ProviderIds.")
        release.add_argument("provider_ids", nargs="+", metavar="id")
        sub.add_parser("list", help="List reserved ProviderIds.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for reserved in ReservedProviderId.objects.all():
                self.stdout.write(f"{reserved.provider_id}\t{reserved.note}")
        elif options["action"] == "reserve":
            for provider_id in options["provider_ids"]:
                self.reserve(provider_id, options["note"])
        else:
            for provider_id in options["provider_ids"]:
                deleted, _ = ReservedProviderId.objects.filter(provider_id__iexact=provider_id).delete()
                self.stdout.write(
                    f"Released {provider_id}." if deleted else f"{provider_id} was not reserved."
                )

    def reserve(self, provider_id: str, note: str) -> None:
        if ReservedProviderId.holds(provider_id):
            self.stdout.write(f"{provider_id} is reserved already.")
            return
        reserved = ReservedProviderId(provider_id=provider_id, note=note)
        try:
            reserved.full_clean()
        except ValidationError as error:
            raise CommandError(f"{provider_id}: {' '.join(error.messages)}") from None
        reserved.save()
        # Reserving is for the future: an App that already has the id keeps it (tell the operator).
        holder = App.objects.filter(provider_id__iexact=provider_id).select_related("organization").first()
        taken = (
            f" (the App {holder.provider_id} of {holder.organization.slug} already has it)" if holder else ""
        )
        self.stdout.write(f"Reserved {provider_id}{taken}.")
