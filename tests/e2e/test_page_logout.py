"""The page's Log out button ends the session on the server (`POST /v1/auth/logout`), not
only in the browser: the token the page held is refused afterwards, so a copy of it (a
shared computer, a stolen sessionStorage) is worth nothing."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.api_world import World
from tests.support.webpage import login, severe_browser_errors

pytestmark = pytest.mark.integration

AUTH_CACHE_S = 0.5
API_SETTINGS = {"api_auth_cache_s": AUTH_CACHE_S}


def test_log_out_button_revokes_the_pages_token(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "alice")
    token = browser.execute_script("return sessionStorage.getItem('token')")
    headers = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/v1/auth/me", headers=headers).status_code == 200

    browser.find_element(By.ID, "logout").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "login-view").is_displayed())

    deadline = time.monotonic() + AUTH_CACHE_S + 5
    while world.client.get("/v1/auth/me", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "the page's token still works after Log out"
        time.sleep(0.1)
    assert browser.execute_script("return sessionStorage.getItem('token')") is None
    errors = severe_browser_errors(browser)
    assert not errors, errors
