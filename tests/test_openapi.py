"""The OpenAPI document is the one source of truth for the API, and its docs page is self-hosted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

from tests.fixtures.http import Client

AUTHENTICATION = {
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/user"),
    ("POST", "/api/auth/forgot-password"),
    ("POST", "/api/auth/reset-password"),
    ("POST", "/api/auth/verify-email"),
    ("POST", "/api/auth/resend-verification"),
}
TEAMS = {
    ("GET", "/api/teams"),
    ("POST", "/api/teams"),
    ("POST", "/api/teams/switch"),
    ("GET", "/api/teams/{}"),
    ("PUT", "/api/teams/{}"),
    ("DELETE", "/api/teams/{}"),
    ("GET", "/api/teams/{}/members"),
    ("POST", "/api/teams/{}/members"),
    ("DELETE", "/api/teams/{}/members/{}"),
    ("GET", "/api/teams/{}/invitations"),
    ("POST", "/api/teams/{}/invitations"),
    ("DELETE", "/api/teams/{}/invitations/{}"),
    ("POST", "/api/invitations/accept"),
}
CATALOG = {
    ("GET", "/api/plans"),
    ("GET", "/api/presets"),
    ("GET", "/api/regions"),
    ("GET", "/api/runtimes"),
}
FILES = {  # the contract's Files table, and manifest and unpack (ours, for deploy)
    ("GET", "/api/pods/{}/files"),
    ("GET", "/api/pods/{}/files/content"),
    ("PUT", "/api/pods/{}/files/content"),
    ("POST", "/api/pods/{}/files/upload"),
    ("GET", "/api/pods/{}/files/download"),
    ("DELETE", "/api/pods/{}/files"),
    ("POST", "/api/pods/{}/files/rename"),
    ("POST", "/api/pods/{}/files/copy"),
    ("POST", "/api/pods/{}/folders"),
    ("GET", "/api/pods/{}/files/manifest"),
    ("POST", "/api/pods/{}/files/unpack"),
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


async def openapi(client: Client) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = json.loads(response.content)
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path with parameters blanked to `{}`, operation) for every operation."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), re.sub(r"\{[^}]+\}", "{}", path), operation


def refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


async def test_document_lists_every_documented_route(client: Client) -> None:
    document = await openapi(client)
    assert document["openapi"].startswith("3.")
    listed = {(method, path) for method, path, _ in operations(document)}
    for table in (AUTHENTICATION, TEAMS, CATALOG, FILES, {("GET", "/api/health")}):
        assert table <= listed, sorted(table - listed)


async def test_document_has_our_error_shape_not_fastapis(client: Client) -> None:
    document = await openapi(client)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["Error"]["required"] == ["error"]
    assert set(schemas["Error"]["properties"]) == {"error", "details"}
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], (method, path)
        if "requestBody" in operation:
            bad = operation["responses"]["400"]["content"]["application/json"]["schema"]
            assert bad == {"$ref": "#/components/schemas/Error"}, (method, path)


async def test_every_reference_resolves(client: Client) -> None:
    document = await openapi(client)
    schemas = document["components"]["schemas"]
    for ref in set(refs(document)):
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_authenticated_routes_document_401_and_public_ones_do_not(client: Client) -> None:
    document = await openapi(client)
    public = CATALOG | {("GET", "/api/health")}
    for method, path, operation in operations(document):
        if (method, path) in public:
            assert "401" not in operation["responses"], (method, path)
        elif (method, path) in AUTHENTICATION | TEAMS:
            assert "401" in operation["responses"], (method, path)


class _Assets(HTMLParser):
    """Collects the script and stylesheet URLs of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script" and values.get("src"):
            self.urls.append(str(values["src"]))
        if tag == "link" and values.get("href"):
            self.urls.append(str(values["href"]))


async def test_docs_page_is_served_with_its_own_assets(client: Client) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/api/openapi.json" in response.text
    parser = _Assets()
    parser.feed(response.text)
    scripts = [u for u in parser.urls if u.endswith(".js")]
    styles = [u for u in parser.urls if u.endswith(".css")]
    assert scripts
    assert styles
    for url in parser.urls:
        assert url.startswith("/api/docs/assets/"), f"{url} is not served by this server"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
    for url in scripts:
        assert "javascript" in (await client.get(url)).headers["content-type"]
    for url in styles:
        assert (await client.get(url)).headers["content-type"].startswith("text/css")


async def test_docs_assets_do_not_leak_other_files(client: Client) -> None:
    missing = await client.get("/api/docs/assets/no-such-file.js")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not found"}
    wrong_method = await client.post("/api/docs/assets/swagger-ui.css")
    assert wrong_method.status_code == 405
    assert wrong_method.json() == {"error": "Method not allowed"}
    escape = await client.get("/api/docs/assets/..%2F..%2F..%2Fetc%2Fpasswd")
    assert escape.status_code == 404
    assert "root:" not in escape.text
