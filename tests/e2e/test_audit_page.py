"""The audit trail panel of the QA page in headless Chromium: QA reviews the entries about a
batch (filters from, to, actor, batch; a table of what changed, by whom, why); other roles
never see the panel. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.api_world import World
from tests.support.webpage import login, severe_browser_errors, shot

pytestmark = pytest.mark.integration

ROWS = "#audit-rows tr[data-seq]"


def _cells(driver: WebDriver) -> list[list[str]]:
    script = (
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((row) => [...row.cells].map((cell) => cell.textContent))"
    )
    rows: list[list[str]] = driver.execute_script(script, ROWS)
    return rows


def test_qa_reviews_the_trail_of_a_batch_on_the_page(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "quinn")
    browser.find_element(By.ID, "nav-export").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "audit-panel").is_displayed())
    browser.find_element(By.ID, "audit-batch").send_keys("LOT-B1")
    browser.find_element(By.ID, "audit-button").click()
    WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ROWS)) == 3)
    rows = _cells(browser)
    assert [(r[2], r[3], r[4]) for r in rows] == [
        ("test", "create", "batch"),
        ("test", "create", "placement"),
        ("test", "create", "placement"),
    ]
    assert (rows[0][5], rows[0][7]) == ("LOT-B1", "product_id=BIO-7")
    assert browser.find_element(By.ID, "audit-status").text == "3 entries"
    shot(browser, "qa-audit-trail.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors


@pytest.mark.parametrize("user", ["alice", "omar"])
def test_other_roles_never_see_the_audit_panel(world: World, browser: WebDriver, user: str) -> None:
    login(browser, world.base_url, user)
    browser.get(world.base_url + "/#export")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".tile"))
    panel = browser.find_element(By.ID, "audit-panel")
    assert not panel.is_displayed()
    assert "hidden" in (panel.get_attribute("class") or "")
