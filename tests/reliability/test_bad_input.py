"""NUL characters and numbers beyond 64 bits, everywhere a request can carry them: never a 5xx.

Neither fits a database column (PostgreSQL refuses NUL in text; SQLite raises on integers past
64 bits), so each must be refused before a query: 404 in a path (it names nothing), 422 in the
API's query strings and JSON bodies (naming the field), 400 in other query strings, a form error
in portal forms. The sweep finds every portal page and every API operation by itself (as the
tenant isolation sweep does) and changes nothing while it runs.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client

from tests.reliability import figures
from tests.reliability.test_tenant_isolation import (
    PAGES,
    Page,
    Tenant,
    database_state,
    make_tenant,
    openapi_document,
    page_url,
    simplest_valid_request,
)

NUL = "\x00"
HUGE = 10**23
INT_PARAMS = ("token_id", "member_id", "key_id", "invitation_id")
# Fields every portal form of these pages may hold, with a NUL or a huge number in each.
FORM_VALUES = {
    "name": "Acme",
    "provider_id": "NewApp",
    "kind": "generic",
    "sip_domain": "sip.acme.example",
    "external_id": "cust-9",
    "display_name": "Ann",
    "email": "ann@acme.example",
    "sip_username": "9000",
    "sip_password": "s3cret",
    "username": "1000",
    "password": "1234",
    "device_id": "acme-device-9",
    "max_uses": "1",
    "registration_expires": "600",
    "provisioning_timeout": "8",
    "token_ttl_hours": "72",
    "theme_color": "#0A7CFF",
    "help_menu_title": "Help",
    "role": "viewer",
    "organization": "1",
    "provisioning_url": "https://prov.acme.example/p",
    "username_placeholder": "Account No",
    "q": "ann",
    "subject": "Hi {{ name }}",
    "body": "{{ link }}",
    "sender_name": "Acme",
    "save": "1",
}


@pytest.fixture
def tenant(db: Any) -> Tenant:
    return make_tenant("acme", "AcmeInc", "Acme")


def owner_client(tenant: Tenant) -> Client:
    client = Client()
    client.force_login(tenant.owner)
    return client


def spoiled_values(tenant: Tenant, page: Page) -> dict[str, str]:
    return {name: (str(HUGE) if name in INT_PARAMS else tenant.values[name] + NUL) for name in page.params}


def spoiled_url(page: Page, tenant: Tenant) -> str:
    url = "/" + page.route
    for name, value in spoiled_values(tenant, page).items():
        url = url.replace(
            f"<{'int' if name in INT_PARAMS else 'uuid' if name == 'job_id' else 'str'}:{name}>",
            quote(value, safe=""),
        )
    return url


def problems_of_portal_page(page: Page, tenant: Tenant) -> list[str]:
    client = owner_client(tenant)
    problems = []
    before = database_state()
    if page.params:
        for method in ("get", "post"):
            status = getattr(client, method)(spoiled_url(page, tenant)).status_code
            if status not in (404, 405):
                problems.append(f"{method.upper()} with a NUL or a huge id answered {status}")
    else:
        url = page_url(page, tenant)
        status = client.get(f"{url}?q=a%00b").status_code
        if status != 400:
            problems.append(f"GET with a NUL in the query string answered {status}")
        status = client.post(url, {name: value + NUL for name, value in FORM_VALUES.items()}).status_code
        if status >= 500:
            problems.append(f"POST with a NUL in every field answered {status}")
    if database_state() != before:
        problems.append("changed data")
    if not page.params:  # a huge number can be a valid name: this may change data, but never fail
        status = client.post(url, dict.fromkeys(FORM_VALUES, str(HUGE))).status_code
        if status >= 500:
            problems.append(f"POST with a huge number in every field answered {status}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=[page.route for page in PAGES])
def test_no_portal_page_fails_on_a_nul_or_a_huge_number(page: Page, tenant: Tenant) -> None:
    problems = problems_of_portal_page(page, tenant)
    figures.case("bad input, portal", not problems)
    assert problems == []


def test_app_forms_answer_a_nul_with_a_form_error(tenant: Tenant) -> None:
    client = owner_client(tenant)
    for page in (
        "general",
        "branding",
        "sip",
        "provisioning",
        "add-end-user",
        f"endusers/{tenant.values['external_id']}/edit",
        "bulk/email-settings",
        "provisioning/test",
    ):
        response = client.post(f"/portal/apps/AcmeInc/{page}/", {k: v + NUL for k, v in FORM_VALUES.items()})
        form = response.context["form"]
        assert (page, response.status_code) == (page, 200)
        assert "Null characters are not allowed." in str(form.errors), page


# --- the API: phone and management ------------------------------------------------------------


def operations() -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, ops in openapi_document()["paths"].items()
        if path.startswith("/api/v1/")
        for method in ops
    ]


OPERATIONS = operations()


def spoil(value: Any, how: str) -> Any:
    """Every string inside the value with a NUL added."""
    if isinstance(value, dict):
        return {key: spoil(item, how) for key, item in value.items()}
    if isinstance(value, list):
        return [spoil(item, how) for item in value]
    return value + NUL if isinstance(value, str) else value


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return resolved(openapi_document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    for option in schema.get("anyOf", []):
        if resolved(option).get("type") != "null":
            return resolved(option)
    return schema


def integer_fields(schema: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where a JSON body takes an integer (`("sip", "registrationExpires")`), from the document."""
    schema = resolved(schema)
    if schema.get("type") == "integer":
        return [path]
    return [
        found
        for name, inner in schema.get("properties", {}).items()
        for found in integer_fields(inner, (*path, name))
    ]


def with_huge_integers(method: str, path: str, body: Any, query: dict) -> tuple[Any, dict]:
    """Every integer the operation documents, in its query and its JSON body, set to 10^23."""
    operation = openapi_document()["paths"][path][method.lower()]
    query = {
        **query,
        **{
            p["name"]: HUGE
            for p in operation.get("parameters", [])
            if p["in"] == "query" and resolved(p["schema"]).get("type") == "integer"
        },
    }
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    fields = integer_fields(schema) if schema is not None else []
    if fields:
        body = dict(body or {})
        for field in fields:
            place = body
            for name in field[:-1]:
                place = place.setdefault(name, {})
            place[field[-1]] = HUGE
    return body, query


def spoiled_request(
    method: str, path: str, tenant: Tenant, how: str
) -> tuple[str, Any, str | None, dict, bool]:
    """The smallest valid request, spoiled; and whether its path was (which makes it a 404)."""
    body, media_type, query = simplest_valid_request(method.lower(), path)
    url, path_spoiled = path, False
    for name, value in tenant.values.items():
        if "{" + name + "}" not in url:
            continue
        if how == "nul" or (how == "huge" and name in INT_PARAMS):
            value, path_spoiled = (value + NUL if how == "nul" else str(HUGE)), True
        url = url.replace("{" + name + "}", quote(value, safe=""))
    if how == "nul":
        query = {**spoil(query, how), "probe": NUL}
        body = spoil(body, how) if media_type == "application/json" else body
    elif how == "huge":
        body, query = with_huge_integers(method, path, body, query)
    return url, body, media_type, query, path_spoiled


def send(method: str, path: str, body: Any, media_type: str | None, query: dict, key: str) -> Any:
    url = f"{path}?{urlencode(query)}" if query else path
    headers = {"Authorization": f"Bearer {key}"}
    if media_type is None:
        return Client().generic(method, url, headers=headers)
    data = json.dumps(body) if media_type == "application/json" else body
    return Client().generic(method, url, data=data or b"", content_type=media_type, headers=headers)


@pytest.fixture
def key(tenant: Tenant) -> str:
    from sessioncloud.accounts.models import ApiKey

    _, plain = ApiKey.issue(tenant.org, "bad input")
    Client().get("/api/v1/manage/apps", headers={"Authorization": f"Bearer {plain}"})  # sets last_used now
    return plain


def takes_numbers(method: str, path: str) -> bool:
    operation = openapi_document()["paths"][path][method.lower()]
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    return (
        any(name in path for name in INT_PARAMS)
        or bool(schema and integer_fields(schema))
        or any(
            p["in"] == "query" and resolved(p["schema"]).get("type") == "integer"
            for p in operation.get("parameters", [])
        )
    )


NUMBER_OPERATIONS = [(method, path) for method, path in OPERATIONS if takes_numbers(method, path)]


def problems_of_operation(method: str, path: str, how: str, tenant: Tenant, key: str) -> list[str]:
    url, body, media_type, query, path_spoiled = spoiled_request(method, path, tenant, how)
    before = database_state()
    answer = send(method, url, body, media_type, query, key)
    expected = 404 if path_spoiled else 422
    problems = []
    if answer.status_code != expected:
        problems.append(f"answered {answer.status_code} {answer.content[:200]!r}, not {expected}")
    if database_state() != before:
        problems.append("changed data")
    figures.case("bad input, API", not problems)
    return problems


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_api_operation_takes_a_nul(method: str, path: str, tenant: Tenant, key: str) -> None:
    assert problems_of_operation(method, path, "nul", tenant, key) == []


@pytest.mark.parametrize(
    ("method", "path"), NUMBER_OPERATIONS, ids=[f"{m} {p}" for m, p in NUMBER_OPERATIONS]
)
def test_no_api_operation_takes_a_huge_number(method: str, path: str, tenant: Tenant, key: str) -> None:
    assert problems_of_operation(method, path, "huge", tenant, key) == []


def test_the_api_sweep_covers_the_phone_api_and_the_management_api() -> None:
    assert ("POST", "/api/v1/provision") in OPERATIONS
    assert ("POST", "/api/v1/tokens/redeem") in OPERATIONS
    assert ("DELETE", "/api/v1/manage/tokens/{token_id}") in OPERATIONS
    assert len(OPERATIONS) >= 30
    assert {
        ("GET", "/api/v1/manage/apps/{provider_id}/endusers"),
        ("PATCH", "/api/v1/manage/apps/{provider_id}"),
        ("DELETE", "/api/v1/manage/tokens/{token_id}"),
    } <= set(NUMBER_OPERATIONS)
