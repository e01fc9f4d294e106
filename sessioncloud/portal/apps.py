from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "sessioncloud.portal"
    label = "portal"
    verbose_name = "Provider portal"
