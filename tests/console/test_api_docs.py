"""The API reference at /docs/api/: a page behind login whose every script and stylesheet the
console serves itself (drf-spectacular-sidecar), never a CDN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client


def _viewer_client(make_user) -> Client:
    user, _ = make_user("viewer")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_anonymous_is_sent_to_login():
    response = Client().get("/docs/api/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/docs/api/")


def test_viewer_sees_the_reference_linked_from_the_navigation(make_user):
    client = _viewer_client(make_user)
    overview = client.get("/").content.decode()
    assert 'href="/docs/api/"' in overview
    response = client.get("/docs/api/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="swagger-ui"' in html
    assert 'aria-current="page">API</a>' in html


def test_reference_names_no_other_host_and_its_assets_are_served_by_the_console(make_user):
    client = _viewer_client(make_user)
    html = client.get("/docs/api/").content.decode()
    absolute = re.findall(r"""(?:https?:)?//[^\s"'<>)]+""", html)
    assert [url for url in absolute if urlsplit(url).hostname not in (None, "testserver")] == []
    assets = re.findall(r"""<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)\"""", html)
    swagger = [a for a in assets if "swagger-ui" in a]
    expected = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"}
    assert {a.rsplit("/", 1)[-1] for a in swagger} >= expected
    for asset in assets:
        assert asset.startswith("/"), asset
        response = client.get(asset.replace("&amp;", "&"))
        assert response.status_code == 200, asset
        assert int(response.get("Content-Length", "0")) > 0 or response.content, asset


def test_start_up_script_points_swagger_at_the_consoles_own_schema(make_user):
    client = _viewer_client(make_user)
    script = client.get("/docs/api/?script=").content.decode()
    assert '"/api/schema/"' in script
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert "/api/v1/queues" in schema.content.decode()


@pytest.mark.browser
def test_swagger_ui_renders_the_operations_under_the_csp_from_the_console_alone(live_console, logged_in_page):
    console = live_console(monitor=False)
    page = logged_in_page(console, "viewer")
    elsewhere: list[str] = []
    page.on("request", lambda req: req.url.startswith(console.url) or elsewhere.append(req.url))
    page.click("nav >> text=API")
    page.wait_for_url(console.url + "/docs/api/")
    operations = page.locator("#swagger-ui .opblock")
    operations.first.wait_for(timeout=15_000)
    assert operations.count() > 20
    assert page.locator("#swagger-ui").inner_text().count("/api/v1/queues") >= 1
    assert elsewhere == []
    assert page.problems == []
