"""The stability budget tile (#22) in headless Chromium: choosing a batch in "A batch's
findings and release" shows its account from `GET /v1/batches/{batch}/budget`, consumed
share, each band and each charge with its source, to QA and to the batch's sponsor (who
reads no staff's name or words in it: the route's sponsor view).

ACME's LOT-T1 (VAX-1: 2–8 °C, 24 h allowed at 8–25 °C) sat two hours in BSL/FRIDGE-03
with 60 minutes at 12 °C, and waited 3 h on the dock at up to 15 °C (a manual entry): 4 h
of 24, 17 %. Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from coldchain.catalog import catalog_session
from coldchain.catalog.budget import add_tor_entry
from coldchain.catalog.placements import place_batch
from coldchain.catalog.schema import BatchRow
from coldchain.influx import InfluxClient
from tests.support.api_world import World, reading_line
from tests.support.webpage import login, severe_browser_errors, shot

pytestmark = pytest.mark.integration

API_SETTINGS = {"api_deviation_scan_s": 0}
BATCH = "LOT-T1"
WAIT_S = 20


@pytest.fixture(scope="module")
def budget_batch(world: World) -> None:
    start = world.now - timedelta(hours=30)
    end = start + timedelta(hours=2)
    lines = []
    with catalog_session(world.engine) as session:
        session.add(BatchRow(id=BATCH, product_id="VAX-1"))
        session.flush()
        place_batch(session, batch=BATCH, unit="BSL/FRIDGE-03", start=start, end=end, actor="test")
        add_tor_entry(
            session,
            BATCH,
            start=end,
            end=end + timedelta(hours=3),
            max_c=15.0,
            reason="pallet staged on dock 2 before loading",
            actor="quinn",
            now=world.now,
        )
    at = start - timedelta(minutes=10)
    while at <= end + timedelta(minutes=10):
        minutes = (at - start).total_seconds() / 60
        temp_c = 12.0 if 30 <= minutes < 90 else 5.0
        lines.append(reading_line("BSL", "unit", "FRIDGE-03", "p1", at, temp_c))
        at += timedelta(minutes=1)
    asyncio.run(_write(world, lines))


async def _write(world: World, lines: list[str]) -> None:
    async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
        await influx.write_lines(lines)


def _show_budget(driver: WebDriver, world: World, user: str) -> None:
    login(driver, world.base_url, user)
    driver.find_element(By.ID, "nav-deviations").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#review-batch option[value='{BATCH}']")
    )
    Select(driver.find_element(By.ID, "review-batch")).select_by_value(BATCH)
    driver.find_element(By.ID, "review-button").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_element(By.ID, "budget-tile").is_displayed()
    )


@pytest.mark.parametrize("user", ["quinn", "alice"])
def test_the_batch_panel_shows_the_budget_consumed_per_band_and_each_charge_with_its_source(
    browser: WebDriver, world: World, budget_batch: None, user: str
) -> None:
    _show_budget(browser, world, user)
    consumed = browser.find_element(By.ID, "budget-consumed").text
    assert consumed == "17 % of the budget consumed", consumed
    [band] = browser.find_elements(By.CSS_SELECTOR, "#budget-bands tr")
    assert [td.text for td in band.find_elements(By.TAG_NAME, "td")] == [
        "8–25 °C",
        "24 h",
        "4.00 h",
        "17 %",
    ]
    charges = browser.find_elements(By.CSS_SELECTOR, "#budget-charges tr")
    assert [c.get_attribute("data-source") for c in charges] == ["readings", "manual"]
    readings = [td.text for td in charges[0].find_elements(By.TAG_NAME, "td")]
    assert readings[1:3] == ["8–25 °C", "—"]  # its band (index 0 is a band), no one span
    manual = [td.text for td in charges[1].find_elements(By.TAG_NAME, "td")]
    assert manual[0] == "manual"
    assert manual[2].endswith("UTC")
    assert " to " in manual[2]
    assert manual[3] == "3.00"
    # QA reads who entered it and why; a sponsor neither (a staff comment)
    assert ("pallet staged on dock 2 before loading" in manual[4]) == (user == "quinn")
    assert ("by quinn" in manual[4]) == (user == "quinn")
    shot(browser, f"budget-tile-{user}.png")
    assert severe_browser_errors(browser) == []
