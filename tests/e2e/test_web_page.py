"""The web page in headless Chromium (Debian `chromium` + `chromedriver`, via Selenium):
log in, see a live value change, acknowledge an alert, close one as QA. Screenshots go to
test-artifacts/web/ for people to look at. The QA export page: test_export_page.py."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.support.api_world import PASSWORD, World, write_reading
from tests.support.webpage import attributes, login, severe_browser_errors, shot

pytestmark = pytest.mark.integration


API_SETTINGS = {"api_stream_interval_s": 0.5}


def _tile_temp(driver: WebDriver, place: str) -> str:
    temps = attributes(driver, f'.tile[data-place="{place}"] .temp', "data-temp")
    return temps[0] if temps else ""


def test_sponsor_sees_own_tiles_and_live_value_changes(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "alice")
    places = set(attributes(browser, ".tile", "data-place"))
    assert places == {"BSL/FRIDGE-02", "SHP-A"}
    assert _tile_temp(browser, "BSL/FRIDGE-02") == "5.0"
    write_reading(world.settings, "FRIDGE-02", "p1", 7.7)
    WebDriverWait(browser, 15).until(lambda d: _tile_temp(d, "BSL/FRIDGE-02") == "7.7")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chart polygon.band")
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#chart line.limit")
    shot(browser, "sponsor-live.png")
    console = attributes(browser, "#alert-rows tr", "data-alert")
    assert "B-F01-NOW" not in console
    assert not browser.find_elements(By.CSS_SELECTOR, "button.ack")  # sponsors cannot ack
    errors = severe_browser_errors(browser)
    assert not errors, errors  # e.g. a CSP violation


def test_operator_acknowledges_an_alert(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "omar")
    row_css = '#alert-rows tr[data-alert="A-F02-1"]'
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_css))
    row = browser.find_element(By.CSS_SELECTOR, row_css)
    row.find_element(By.CSS_SELECTOR, "input.ack-comment").send_keys("probe moved back, door shut")
    shot(browser, "operator-console.png")
    row.find_element(By.CSS_SELECTOR, "button.ack").click()
    WebDriverWait(browser, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, row_css))
    alert = world.client.get("/v1/alerts/A-F02-1", headers=world.headers("quinn")).json()
    assert alert["state"] == "acknowledged"
    assert alert["history"][-1]["actor"] == "omar"
    assert alert["history"][-1]["comment"] == "probe moved back, door shut"
    shot(browser, "operator-acknowledged.png")


def test_qa_closes_a_resolved_alert_with_its_root_cause(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "quinn")
    Select(browser.find_element(By.ID, "alert-state")).select_by_value("resolved")
    row_css = '#alert-rows tr[data-alert="B-F03-1"]'
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_css))
    row = browser.find_element(By.CSS_SELECTOR, row_css)
    row.find_element(By.CSS_SELECTOR, "input.close-cause").send_keys(
        "defrost cycle, product unaffected"
    )
    shot(browser, "qa-close.png")
    row.find_element(By.CSS_SELECTOR, "button.close").click()
    # Closing is an electronic signature: the dialog states its meaning, asks the password.
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "sign-dialog").is_displayed())
    assert (
        browser.find_element(By.ID, "sign-meaning").text
        == "You are signing as Quinn Novak: approved"
    )
    browser.find_element(By.ID, "sign-password").send_keys(PASSWORD)
    browser.find_element(By.ID, "sign-button").click()
    WebDriverWait(browser, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, row_css))
    assert not browser.find_element(By.ID, "sign-dialog").is_displayed()
    alert = world.client.get("/v1/alerts/B-F03-1", headers=world.headers("quinn")).json()
    assert alert["state"] == "closed"
    assert alert["history"][-1]["actor"] == "quinn"
    assert alert["history"][-1]["root_cause"] == "defrost cycle, product unaffected"
    errors = severe_browser_errors(browser)
    assert not errors, errors


def test_an_operator_cannot_close_alerts(world: World, browser: WebDriver) -> None:
    login(browser, world.base_url, "omar")
    Select(browser.find_element(By.ID, "alert-state")).select_by_value("resolved")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alert-rows tr"))
    assert not browser.find_elements(By.CSS_SELECTOR, "button.close")


def _tile(driver: WebDriver, place: str) -> dict[str, str]:
    """The tile's class, temperature and fault note, read in one step (tiles re-render)."""
    script = (
        "const t = document.querySelector(`.tile[data-place='${arguments[0]}']`);"
        "if (!t) return {};"
        "const note = t.querySelector('.fault-note');"
        "return {cls: t.className, temp: t.querySelector('.temp').getAttribute('data-temp'),"
        " status: t.querySelector('.status').textContent, fault: note ? note.textContent : ''};"
    )
    found: dict[str, str] = driver.execute_script(script, place)
    return found


def test_a_probe_error_code_shows_as_a_fault_not_a_temperature(
    world: World, browser: WebDriver
) -> None:
    login(browser, world.base_url, "omar")
    write_reading(world.settings, "FRIDGE-03", "p1", 85.0)  # a DS18B20 that lost power
    WebDriverWait(browser, 15).until(
        lambda d: "fault" in _tile(d, "BSL/FRIDGE-03").get("cls", "").split()
    )
    tile = _tile(browser, "BSL/FRIDGE-03")
    assert tile["temp"] == ""  # shown as "—", never 85.0
    assert tile["status"] == "fault"
    assert tile["fault"] == "probe fault: p1 (error code 85 °C)"
    shot(browser, "operator-probe-fault.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors
