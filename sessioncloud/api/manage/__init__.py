"""The provider management API (/api/v1/manage/), authenticated by organization API key."""

from ninja import Router

from sessioncloud.api.auth import ApiKeyAuth

router = Router(auth=ApiKeyAuth(), tags=["manage"])

# Each module registers its routes on the router above, so it can only be imported after it.
from sessioncloud.api.manage import apps, bulk, devices, endusers, tokens  # noqa: E402

__all__ = ["apps", "bulk", "devices", "endusers", "router", "tokens"]
