"""The provider management API (/api/v1/manage/), authenticated by organization API key."""

from ninja import Router

from sessioncloud.api.auth import ApiKeyAuth

router = Router(auth=ApiKeyAuth(), tags=["manage"])

from sessioncloud.api.manage import apps, bulk, devices, endusers, tokens  # noqa: E402,F401  (registers routes)
