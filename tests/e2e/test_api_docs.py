"""The API's interactive docs at /v1/docs in headless Chromium, with the page's CSP on:
Swagger UI loads from this server alone (no CDN), starts without inline script, and lists
the routes of the OpenAPI document."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from api.headers import CSP
from tests.support.api_world import World
from tests.support.webpage import attributes, severe_browser_errors, shot

pytestmark = pytest.mark.integration


def test_docs_page_shows_the_routes_from_local_assets_under_the_csp(
    world: World, browser: WebDriver
) -> None:
    answer = world.client.get("/v1/docs")
    assert answer.status_code == 200
    assert answer.headers["content-security-policy"] == CSP

    browser.get(world.base_url + "/v1/docs")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    )
    shown = set(attributes(browser, ".opblock-summary-path", "data-path"))
    documented = set(world.client.get("/v1/openapi.json").json()["paths"])
    assert shown == documented
    assert {"/v1/auth/token", "/v1/live", "/v1/batches/{batch}/export"} <= shown
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    assert loaded, "no resource timing entries"
    assert all(url.startswith(world.base_url + "/") for url in loaded), loaded
    shot(browser, "api-docs.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors  # e.g. a CSP violation: an inline script or style, a CDN
