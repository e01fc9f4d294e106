from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class AccountsConfig(AppConfig):
    name = "sessioncloud.accounts"
    label = "accounts"
    verbose_name = "Organizations and access"

    def ready(self) -> None:
        from sessioncloud.accounts import signals  # noqa: F401


class OperatorAdminConfig(admin_apps.AdminConfig):
    """The Django admin, logged into through the portal's login (accounts/adminsite.py)."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin
    default_site = "sessioncloud.accounts.adminsite.OperatorAdminSite"
