from tests.phone.conftest import external_app, loopback_allowed, provider

__all__ = ["external_app", "loopback_allowed", "provider"]  # the phone tests' fixtures, shared
