"""The Django admin behind the portal's own login: the same two-factor step, limits and log.

The admin's own login form checks a password and nothing else. Here it only sends the operator
to the portal's login (allauth), which asks for the second factor when one is set up, counts
failures per address and per account, and writes each failure to the security log.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

NOT_AN_OPERATOR = "The operators' admin is only for operator accounts."


class OperatorAdminSite(admin.AdminSite):
    site_header = "SessionCloud operators"
    site_title = "SessionCloud operators"

    def login(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Never a password form here: the portal's login, then back to the page asked for."""
        index = reverse("admin:index", current_app=self.name)
        wanted = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(wanted, allowed_hosts=None) or not wanted.startswith(index):
            wanted = index
        if not request.user.is_authenticated:
            return redirect_to_login(wanted, reverse("account_login"))
        if self.has_permission(request):
            return redirect(wanted)
        # Logged in to the portal, but not an operator: sending them to log in again would loop.
        return render(request, "portal/forbidden.html", {"message": NOT_AN_OPERATOR}, status=403)
