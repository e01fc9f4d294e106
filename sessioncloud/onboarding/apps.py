from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "sessioncloud.onboarding"
    label = "onboarding"
    verbose_name = "Bulk onboarding"
