from django.contrib import admin
from django.urls import include, path

from sessioncloud.api import linphone, metrics, ops
from sessioncloud.api.main import api
from sessioncloud.portal.views import setup

handler404 = "sessioncloud.api.errors.json_404"
handler500 = "sessioncloud.api.errors.json_500"
# allauth's limits answer through this: a line in the security log for each refusal.
handler429 = "sessioncloud.accounts.adapters.throttled"

urlpatterns = [
    # Linphone fetches XML with a bare GET: plain views beside the JSON API.
    path("api/v1/linphone/<str:token>", linphone.enduser_config, name="linphone_enduser"),
    path("api/v1/providers/<str:provider_id>/linphone", linphone.app_defaults, name="linphone_app"),
    path("api/v1/", api.urls),
    path("media/logos/<str:name>", ops.logo, name="logo"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # The end user's setup page: no login, the token in the address is the key (not the portal's).
    path("setup/<str:token>", setup.setup_page, name="setup_page"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("sessioncloud.portal.urls")),
]
