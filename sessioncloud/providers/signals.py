"""Keep the cached phone configuration in step with every save, on every app process."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from sessioncloud.accounts.models import Organization
from sessioncloud.providers.config import forget_config
from sessioncloud.providers.models import App


@receiver(pre_save, sender=App)
def remember_old_provider_id(sender: type[App], instance: App, **kwargs: Any) -> None:
    # An operator may rename a ProviderId: the old name's cached answer must go too.
    if instance.pk:
        instance._old_provider_id = (
            App.objects.filter(pk=instance.pk).values_list("provider_id", flat=True).first()
        )


@receiver(post_save, sender=App)
@receiver(post_delete, sender=App)
def forget_cached_config(sender: type[App], instance: App, **kwargs: Any) -> None:
    names = (instance.provider_id, instance._old_provider_id or "")
    # Forget now (this request may re-read at once) and again after commit (a concurrent request
    # may have cached the old row while the transaction was open).
    forget_config(*names)
    transaction.on_commit(lambda: forget_config(*names))


@receiver(post_save, sender=Organization)
def forget_configs_of_organization(sender: type[Organization], instance: Organization, **kwargs: Any) -> None:
    # Whether an organization is verified decides whether its Apps are served (and unknown
    # ProviderIds are cached as such for a while): every one of its Apps is looked up again.
    names = list(App.objects.filter(organization=instance).values_list("provider_id", flat=True))
    forget_config(*names)
    transaction.on_commit(lambda: forget_config(*names))
