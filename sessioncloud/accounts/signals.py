"""Account events that change what else may happen: operators' addresses, verified owners."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from allauth.account.signals import email_confirmed
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from sessioncloud.accounts.models import Organization, Role

User = get_user_model()


@receiver(post_save, sender=User)
def trust_operator_address(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    """An operator account (`sessioncloud createsuperuser`) logs in through the
    portal's login, which wants a verified address: whoever could create it is trusted already."""
    if created and instance.is_staff and instance.email:
        EmailAddress.objects.get_or_create(
            user=instance, email=instance.email.lower(), defaults={"verified": True, "primary": True}
        )


@receiver(email_confirmed)
def verify_owned_organizations(sender: Any, request: Any, email_address: EmailAddress, **kwargs: Any) -> None:
    """An owner confirmed their address: their organizations' Apps may now be served to phones."""
    waiting = Organization.objects.filter(
        verified=False, memberships__user=email_address.user_id, memberships__role=Role.OWNER
    )
    for organization in waiting:
        organization.verified = True
        organization.save(update_fields=["verified"])  # one save each: the cached configs go too
