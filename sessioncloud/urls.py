from django.contrib import admin
from django.urls import include, path

from sessioncloud.api import metrics, ops
from sessioncloud.api.main import api

handler404 = "sessioncloud.api.errors.json_404"
handler500 = "sessioncloud.api.errors.json_500"
# allauth's limits answer through this: a line in the security log for each refusal.
handler429 = "sessioncloud.accounts.adapters.throttled"

urlpatterns = [
    path("api/v1/", api.urls),
    path("media/logos/<str:name>", ops.logo, name="logo"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("sessioncloud.portal.urls")),
]
