"""The real URLs plus one page written without the tenancy helpers, to prove the sweep fails it."""

from django.contrib.auth.decorators import login_required
from django.urls import path

from sessioncloud.urls import handler404, handler500
from sessioncloud.urls import urlpatterns as real_urlpatterns
from tests.reliability.test_tenant_isolation import leaky_app_page

urlpatterns = [
    path("portal/leaky/<str:provider_id>/", login_required(leaky_app_page), name="leaky"),
    *real_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]  # Django reads the handlers from here too
