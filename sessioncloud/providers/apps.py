from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "sessioncloud.providers"
    label = "providers"
    verbose_name = "Softphone apps"

    def ready(self) -> None:
        from sessioncloud.providers import signals  # noqa: F401
