from tests.phone.conftest import external_app, loopback_allowed, provider  # noqa: F401 - fixtures
