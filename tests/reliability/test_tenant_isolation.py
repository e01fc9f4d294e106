"""Tenant isolation sweep: every portal page and every management endpoint, found by itself.

The sweep reads the URL patterns from the resolver and the operations from the OpenAPI
document, fills each identifier in the path with another organization's object, and requests
it as a member (or API key) of this organization. Each must answer 404 and change nothing.
The same request with this organization's own identifiers must *not* answer 404, which proves
the sweep filled the path correctly (a sweep that only ever gets 404 could never fail).

A new page or endpoint is covered the day it is added; a new kind of identifier in a path makes
the sweep fail until IDENTIFIERS says how to fill it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from allauth.account.models import EmailAddress
from django.apps import apps as django_apps
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, Phase, find, settings

from sessioncloud.accounts.models import (
    ApiKey,
    Invitation,
    Membership,
    Organization,
    Role,
    record_audit,
)
from sessioncloud.onboarding.models import Job
from sessioncloud.providers.models import App, Device, ProvisioningLogEntry
from sessioncloud.providers.tokens import issue_token
from tests.factories import make_app, make_end_user
from tests.reliability import figures


@dataclass
class Tenant:
    org: Organization
    owner: User
    app: App
    values: dict[str, str]  # identifier name -> this tenant's value
    markers: tuple[str, ...]  # strings that only this tenant's pages may show


def make_tenant(slug: str, provider_id: str, label: str) -> Tenant:
    org = Organization.objects.create(slug=slug, name=f"{label} Telecom")
    owner = User.objects.create_user(username=f"boss-{slug}", email=f"boss@{slug}.example")  # force_login
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    Membership.objects.create(organization=org, user=owner, role=Role.OWNER)
    colleague = User.objects.create_user(username=f"colleague-{slug}", email=f"colleague@{slug}.example")
    member = Membership.objects.create(organization=org, user=colleague, role=Role.ADMIN)
    app = make_app(org, provider_id, name=f"{label} Secret Telecom")
    user = make_end_user(app, f"{slug}-user-7")
    token = issue_token(user).token
    Device.objects.create(app=app, device_id=f"{slug}-device-9")
    key, _ = ApiKey.issue(org, f"{slug}-deploy-key")
    invitation, _ = Invitation.issue(org, f"newbie@{slug}.example", Role.VIEWER, owner.email)
    job = Job.objects.create(organization=org, app=app, kind="import", created_by=owner.email)
    ProvisioningLogEntry.objects.create(app=app, flow="provision", outcome="ok", username=f"{slug}-sip-user")
    record_audit(org, f"{slug}-auditor", "app.update", app, None, None)
    values = {
        "provider_id": app.provider_id,
        "external_id": user.external_id,
        "device_id": f"{slug}-device-9",
        "token_id": str(token.pk),
        "member_id": str(member.pk),
        "key_id": str(key.pk),
        "invitation_id": str(invitation.pk),
        "job_id": str(job.pk),
    }
    markers = (
        provider_id,
        f"{label} Secret Telecom",
        f"{slug}-user-7",
        f"{slug}-device-9",
        f"{slug}-deploy-key",
        f"newbie@{slug}.example",
        f"colleague@{slug}.example",
        f"{slug}-auditor",
        f"{slug}-sip-user",
    )
    return Tenant(org, owner, app, values, markers)


# How to fill each identifier a path can take. A path parameter missing here fails the sweep.
IDENTIFIERS = (
    "provider_id",
    "external_id",
    "device_id",
    "token_id",
    "member_id",
    "key_id",
    "invitation_id",
    "job_id",
)

# Patterns whose parameter is not a tenant's identifier, with the reason.
NOT_TENANT_SCOPED: dict[str, str] = {}


@pytest.fixture
def tenants(db: Any) -> tuple[Tenant, Tenant]:
    return make_tenant("acme", "AcmeInc", "Acme"), make_tenant("rival", "RivalCo", "Rival")


def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every row of every model, except sessions (a visit may rightly touch its own)."""
    state = {}
    for model in django_apps.get_models():
        if model is Session:
            continue
        state[model._meta.label] = [repr(row) for row in model.objects.order_by("pk").values()]
    return state


# --- portal pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str  # namespace:name
    route: str
    params: tuple[str, ...]


def portal_pages(urlconf: str | None = None) -> list[Page]:
    pages: list[Page] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                inner = (
                    f"{namespace}:{entry.namespace}"
                    if namespace and entry.namespace
                    else (entry.namespace or namespace)
                )
                walk(entry.url_patterns, route, inner or "")
            elif isinstance(entry, URLPattern) and route.startswith("portal/"):
                name = f"{namespace}:{entry.name}" if namespace else str(entry.name)
                pages.append(Page(name, route, tuple(entry.pattern.converters)))

    walk(get_resolver(urlconf).url_patterns, "", "")
    return pages


def page_url(page: Page, tenant: Tenant, urlconf: str | None = None) -> str:
    unknown = [p for p in page.params if p not in IDENTIFIERS]
    if unknown:
        raise AssertionError(f"{page.route}: the sweep cannot fill {unknown}; add them to IDENTIFIERS")
    return reverse(page.name, kwargs={p: tenant.values[p] for p in page.params}, urlconf=urlconf)


def body_for(tenant: Tenant) -> dict[str, str]:
    """POST data naming the tenant's objects, for forms that take an identifier in the body."""
    return {**tenant.values, "organization": str(tenant.org.pk)}


def sweep_page(page: Page, own: Tenant, other: Tenant, urlconf: str | None = None) -> list[str]:
    """What is wrong with `page` when `own`'s owner points it at `other`'s objects."""
    client = Client()
    client.force_login(own.owner)
    problems = []
    before = database_state()
    if not page.params:
        answer = client.get(page_url(page, own, urlconf))
        body = (
            b"".join(answer.streaming_content) if answer.streaming else answer.content
        )  # CSV exports stream
        shown = [m for m in other.markers if m in body.decode(errors="replace")]
        if shown:
            problems.append(f"GET {page.route} shows another organization's {shown}")
        client.post(page_url(page, own, urlconf), body_for(other))
    else:
        foreign = page_url(page, other, urlconf)
        theirs = {
            "GET": client.get(foreign).status_code,
            "POST": client.post(foreign, body_for(other)).status_code,
        }
    if database_state() != before:
        problems.append(f"{page.route} changed data when given another organization's identifiers")
    if page.params:
        mine = page_url(page, own, urlconf)
        ours = {"GET": client.get(mine).status_code, "POST": client.post(mine, body_for(own)).status_code}
        for method in ("GET", "POST"):
            if ours[method] == 405 and theirs[method] in (404, 405):
                continue  # the method is not served, whatever the identifier
            if ours[method] == 404:
                problems.append(f"{method} {page.route} is 404 with this organization's own identifiers too")
            if theirs[method] != 404:
                problems.append(
                    f"{method} {page.route} answered {theirs[method]} for another organization's object"
                )
    return problems


PAGES = [page for page in portal_pages() if page.name not in NOT_TENANT_SCOPED]


@pytest.mark.parametrize("page", PAGES, ids=[page.route for page in PAGES])
def test_no_portal_page_reaches_another_organizations_objects(
    page: Page, tenants: tuple[Tenant, Tenant]
) -> None:
    acme, rival = tenants
    problems = sweep_page(page, acme, rival)
    figures.case("tenant isolation, portal", not problems)
    assert problems == []


def test_the_sweep_finds_the_portal_pages_that_take_identifiers() -> None:
    with_params = {page.name for page in PAGES if page.params}
    assert {"portal:app_detail", "portal:change_role", "portal:api_key_revoke"} <= with_params
    assert all(page.route.startswith("portal/") for page in PAGES)


def leaky_app_page(request: Any, provider_id: str) -> Any:
    """A page written without the tenancy helpers: any App, whoever owns it."""
    from django.http import HttpResponse

    return HttpResponse(App.objects.get(provider_id=provider_id).name)


@pytest.mark.urls("tests.reliability.leaky_urls")
def test_the_sweep_fails_a_page_added_without_isolation(tenants: tuple[Tenant, Tenant]) -> None:
    acme, rival = tenants
    leaky = [page for page in portal_pages("tests.reliability.leaky_urls") if page.name == "leaky"]

    assert leaky == [Page("leaky", "portal/leaky/<str:provider_id>/", ("provider_id",))]
    assert sweep_page(leaky[0], acme, rival, "tests.reliability.leaky_urls") == [
        "GET portal/leaky/<str:provider_id>/ answered 200 for another organization's object",
        "POST portal/leaky/<str:provider_id>/ answered 200 for another organization's object",
    ]


def test_the_sweep_fails_a_path_identifier_it_cannot_fill(tenants: tuple[Tenant, Tenant]) -> None:
    acme, rival = tenants
    page = Page("portal:app_detail", "portal/apps/<str:app_slug>/", ("app_slug",))

    with pytest.raises(AssertionError, match=r"cannot fill \['app_slug'\]; add them to IDENTIFIERS"):
        sweep_page(page, acme, rival)


# --- management API -----------------------------------------------------------------------------


@functools.cache
def openapi_document() -> dict[str, Any]:
    return json.loads(Client().get("/api/v1/openapi.json").content)


def management_operations() -> list[tuple[str, str]]:
    document = openapi_document()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        if path.startswith("/api/v1/manage/")
        for method in operations
    ]


OPERATIONS = management_operations()


@functools.cache
def simplest_valid_request(method: str, path: str) -> tuple[Any, str | None, dict]:
    """The smallest request the schema accepts (body, media type, query), found by schemathesis."""
    operation = schemathesis.openapi.from_dict(openapi_document())[path][method]
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)
    case = find(
        strategy,
        lambda case: True,
        settings=settings(
            database=None, phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck)
        ),
    )
    body = case.body
    if hasattr(body, "data"):  # binary bodies (logos, CSV uploads)
        body = body.data
    return body, case.media_type, dict(case.query or {})


def call(
    client: Client, key: str, method: str, path: str, body: Any, media_type: str | None, query: dict
) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if query:
        path = f"{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
    if media_type is None:
        return client.generic(method, path, headers=headers)
    data = json.dumps(body) if media_type == "application/json" else body
    return client.generic(method, path, data=data or b"", content_type=media_type, headers=headers)


def fill(path: str, tenant: Tenant) -> str:
    params = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    unknown = [p for p in params if p not in IDENTIFIERS]
    if unknown:
        raise AssertionError(f"{path}: the sweep cannot fill {unknown}; add them to IDENTIFIERS")
    for name in params:
        path = path.replace("{" + name + "}", tenant.values[name])
    return path


@pytest.fixture
def api_keys(tenants: tuple[Tenant, Tenant]) -> Iterator[str]:
    acme, _ = tenants
    _, key = ApiKey.issue(acme.org, "sweep")
    Client().get("/api/v1/manage/apps", headers={"Authorization": f"Bearer {key}"})  # sets last_used now
    yield key


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_management_endpoint_reaches_another_organizations_objects(
    method: str, path: str, tenants: tuple[Tenant, Tenant], api_keys: str
) -> None:
    acme, rival = tenants
    body, media_type, query = simplest_valid_request(method.lower(), path)
    client = Client()
    problems = []
    if "{" in path:
        before = database_state()
        theirs = call(client, api_keys, method, fill(path, rival), body, media_type, query)
        if database_state() != before:
            problems.append("changed data when given another organization's identifiers")
        if (theirs.status_code, theirs.json()["error"]["code"] if theirs.status_code >= 400 else None) != (
            404,
            "not_found",
        ):
            problems.append(f"answered {theirs.status_code} for another organization's object")
        ours = call(client, api_keys, method, fill(path, acme), body, media_type, query)
        if ours.status_code == 404:
            problems.append("is 404 with this organization's own identifiers too")
    else:
        answer = call(client, api_keys, method, path, body, media_type, query)
        shown = [m for m in rival.markers if m in answer.content.decode(errors="replace")]
        if shown:
            problems.append(f"shows another organization's {shown}")
    figures.case("tenant isolation, management API", not problems)
    assert problems == []


def test_the_sweep_covers_every_management_endpoint() -> None:
    assert ("DELETE", "/api/v1/manage/tokens/{token_id}") in OPERATIONS
    assert ("POST", "/api/v1/manage/apps/{provider_id}/devices/{device_id}/deactivate") in OPERATIONS
    assert len(OPERATIONS) >= 20


def test_identifier_values_differ_between_the_two_organizations(tenants: tuple[Tenant, Tenant]) -> None:
    acme, rival = tenants
    assert set(acme.values) == set(rival.values) == set(IDENTIFIERS)
    assert all(acme.values[name] != rival.values[name] for name in IDENTIFIERS)
