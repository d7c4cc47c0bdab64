"""The web page in headless Chromium (Debian `chromium` + `chromedriver`, via Selenium):
log in, see a live value change, acknowledge an alert. Screenshots go to
test-artifacts/web/ for people to look at."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_api_support import PASSWORD, World, api_world, write_reading
from tests.servers import InfluxServer

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def world(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with api_world(
        tmp_path_factory.mktemp("web"),
        influxd.url,
        f"test_{uuid.uuid4().hex[:12]}",
        api_stream_interval_s=0.5,
    ) as built:
        yield built


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    if not Path(CHROMEDRIVER).exists():
        pytest.skip("chromedriver absent: apt-get install -y chromium chromium-driver")
    profile = tempfile.mkdtemp(prefix="coldchain-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _login(driver: WebDriver, world: World, user: str) -> None:
    driver.get(world.base_url + "/")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".tile"))


def _tile_temp(driver: WebDriver, place: str) -> str:
    tiles = driver.find_elements(By.CSS_SELECTOR, f'.tile[data-place="{place}"] .temp')
    return tiles[0].get_attribute("data-temp") or "" if tiles else ""


def _shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_sponsor_sees_own_tiles_and_live_value_changes(world: World, browser: WebDriver) -> None:
    _login(browser, world, "alice")
    places = {
        t.get_attribute("data-place") for t in browser.find_elements(By.CSS_SELECTOR, ".tile")
    }
    assert places == {"BSL/FRIDGE-02", "SHP-A"}
    assert _tile_temp(browser, "BSL/FRIDGE-02") == "5.0"
    write_reading(world.settings, "FRIDGE-02", "p1", 7.7)
    WebDriverWait(browser, 15).until(lambda d: _tile_temp(d, "BSL/FRIDGE-02") == "7.7")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#chart polygon.band")
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#chart line.limit")
    _shot(browser, "sponsor-live.png")
    console = [
        r.get_attribute("data-alert")
        for r in browser.find_elements(By.CSS_SELECTOR, "#alert-rows tr")
    ]
    assert "B-F01-NOW" not in console
    assert not browser.find_elements(By.CSS_SELECTOR, "button.ack")  # sponsors cannot ack
    log = browser.get_log("browser")  # type: ignore[attr-defined]
    errors = [e for e in log if e["level"] == "SEVERE"]
    assert not errors, errors  # e.g. a CSP violation


def test_operator_acknowledges_an_alert(world: World, browser: WebDriver) -> None:
    _login(browser, world, "omar")
    row_css = '#alert-rows tr[data-alert="A-F02-1"]'
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, row_css))
    row = browser.find_element(By.CSS_SELECTOR, row_css)
    row.find_element(By.CSS_SELECTOR, "input.ack-comment").send_keys("probe moved back, door shut")
    _shot(browser, "operator-console.png")
    row.find_element(By.CSS_SELECTOR, "button.ack").click()
    WebDriverWait(browser, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, row_css))
    alert = world.client.get("/v1/alerts/A-F02-1", headers=world.headers("quinn")).json()
    assert alert["state"] == "acknowledged"
    assert alert["history"][-1]["actor"] == "omar"
    assert alert["history"][-1]["comment"] == "probe moved back, door shut"
    _shot(browser, "operator-acknowledged.png")
