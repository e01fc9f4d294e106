from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "sessioncloud.accounts"
    label = "accounts"
    verbose_name = "Organizations and access"
