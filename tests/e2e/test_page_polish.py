"""The demo tour's page polish (issue #19) in headless Chromium, on the API world plus a
shipment carrying a USB logger (offline: read out at arrival): times shown in the place's
own zone and named, "awaiting upload since …" for that logger's tile, each sensor of a unit
in a colour of its own named in the chart's legend, and a backfilled reading marked."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from coldchain.catalog import import_fleet
from coldchain.influx import InfluxClient
from coldchain.times import rfc3339, to_ms
from tests.support.api_world import World, fleet_yaml
from tests.support.webpage import attributes, login, severe_browser_errors, shot

pytestmark = pytest.mark.integration

API_SETTINGS = {"api_stream_interval_s": 0.5}
ZURICH = ZoneInfo("Europe/Zurich")  # BSL's zone in the world's fleet
DEPARTED_H = 5  # the USB logger's shipment left BSL this long before the world's `now`


@pytest.fixture(scope="module")
def tour(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The world with one more ACME batch, LOT-A3, on shipment SHP-U from BSL, whose
    logger LOG-U is offline and so has published nothing yet."""
    departed = rfc3339(world.now - timedelta(hours=DEPARTED_H))
    fleet = (
        fleet_yaml(world.now)
        .replace(
            "{id: LOT-B1, product: BIO-7}]",
            "{id: LOT-B1, product: BIO-7}, {id: LOT-A3, product: VAX-1}]",
        )
        .replace(
            "placements:\n",
            "  - id: SHP-U\n    origin: BSL\n    destination: LYS\n"
            "    loggers: [{id: LOG-U, sensors: [{id: p1}], log_interval_s: 600, offline: true}]\n"
            f'placements:\n  - {{batch: LOT-A3, shipment: SHP-U, from: "{departed}"}}\n',
        )
    )
    path = tmp_path_factory.mktemp("tour") / "fleet.yaml"
    path.write_text(fleet, encoding="utf-8")
    import_fleet(world.engine, path, actor="test")
    return world


def _text(driver: WebDriver, css: str) -> str:
    found: str = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css
    )
    return found


def _zurich_hhmm(at: datetime) -> str:
    return at.astimezone(ZURICH).strftime("%H:%M")


def test_a_tiles_reading_time_is_in_its_sites_zone_and_names_it(
    tour: World, browser: WebDriver
) -> None:
    login(browser, tour.base_url, "omar")
    css = '.tile[data-place="BSL/FRIDGE-02"] .read'
    WebDriverWait(browser, 10).until(lambda d: _text(d, css).startswith("read "))
    live = tour.client.get("/v1/live", headers=tour.headers("omar")).json()
    (place,) = [p for p in live["places"] if p["location"]["id"] == "BSL/FRIDGE-02"]
    assert place["timezone"] == "Europe/Zurich"
    newest = max(datetime.fromisoformat(s["ts"]) for s in place["sensors"])
    text = _text(browser, css)
    # The hour and minute in Zurich, the zone's short name (CET, GMT+1: the browser's
    # locale says which), and the zone itself.
    assert re.fullmatch(rf"read {_zurich_hhmm(newest)} \S+ \(Europe/Zurich\)", text), text
    shot(browser, "tile-time-zone.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors


def test_an_offline_loggers_tile_says_awaiting_upload_since_departure(
    tour: World, browser: WebDriver
) -> None:
    login(browser, tour.base_url, "omar")
    tile = '.tile[data-place="SHP-U"]'
    WebDriverWait(browser, 10).until(lambda d: "since" in _text(d, f"{tile} .read"))
    departed = tour.now - timedelta(hours=DEPARTED_H)
    assert _text(browser, f"{tile} .status") == "awaiting upload"
    text = _text(browser, f"{tile} .read")
    pattern = rf"awaiting upload since {_zurich_hhmm(departed)} \S+ \(Europe/Zurich\)"
    assert re.fullmatch(pattern, text), text
    assert "no reading" not in _text(browser, tile)
    shot(browser, "tile-awaiting-upload.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors


def test_two_sensors_of_a_unit_have_their_own_colour_and_legend_entry(
    tour: World, browser: WebDriver
) -> None:
    login(browser, tour.base_url, "omar")
    browser.find_element(By.CSS_SELECTOR, '.tile[data-place="BSL/FRIDGE-01"]').click()
    WebDriverWait(browser, 10).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#chart polyline.mean")) == 2
    )
    legend = browser.execute_script(
        "return [...document.querySelectorAll('#chart-sensors .sensor-name')]"
        ".map((e) => e.textContent)"
    )
    assert legend == ["p1", "p2"]
    assert attributes(browser, "#chart polyline.mean", "data-sensor") == ["p1", "p2"]
    strokes = browser.execute_script(
        "return [...document.querySelectorAll('#chart polyline.mean')]"
        ".map((e) => getComputedStyle(e).stroke)"
    )
    keys = browser.execute_script(
        "return [...document.querySelectorAll('#chart-sensors .key.sensor')]"
        ".map((e) => getComputedStyle(e).backgroundColor)"
    )
    assert len(set(strokes)) == 2, strokes
    assert keys == strokes  # each legend entry in its line's colour
    shot(browser, "chart-two-sensors.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors


def _write_received(world: World, at: datetime, received: datetime) -> None:
    """A FRIDGE-03 reading at `at` that reached the store at `received`, as ingest writes
    it (`coldchain.lineprotocol.reading_line` keeps `received_ms`)."""
    line = (
        "reading,device=FRIDGE-03,sensor=p1,site=BSL,source=unit "
        f"temp_c=5.2,seq=1i,received_ms={to_ms(received)}i {to_ms(at)}"
    )

    async def write() -> None:
        async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
            await influx.write_lines([line])

    asyncio.run(write())


def test_the_chart_marks_the_bucket_of_a_backfilled_reading(
    tour: World, browser: WebDriver
) -> None:
    now = datetime.now(UTC)
    at = now - timedelta(hours=3, minutes=5)  # between the world's 10-minute readings
    _write_received(tour, at, received=now)  # backfilled, 3 h late
    on_time = now - timedelta(hours=2, minutes=5)
    _write_received(tour, on_time, received=on_time + timedelta(seconds=5))
    login(browser, tour.base_url, "omar")
    Select(browser.find_element(By.ID, "range")).select_by_value("6")  # raw readings
    browser.find_element(By.CSS_SELECTOR, '.tile[data-place="BSL/FRIDGE-03"]').click()
    WebDriverWait(browser, 10).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#chart rect.late")
            and "History of BSL/FRIDGE-03" in _text(d, "#chart-title")
        )
    )
    marked = [int(t) for t in attributes(browser, "#chart rect.late", "data-t")]
    history = tour.client.get(
        "/v1/sites/BSL/units/FRIDGE-03/history",
        params={"from": rfc3339(now - timedelta(hours=6)), "to": rfc3339(now), "buckets": 300},
        headers=tour.headers("omar"),
    ).json()
    width = history["bucket_ms"]
    assert history["resolution"] == "raw"
    (series,) = history["series"]
    (late,) = series["late"]  # not the reading that arrived on time
    assert late <= to_ms(at) < late + width
    assert len(marked) == 1, marked  # the page's buckets start at its own `from`
    assert marked[0] <= to_ms(at) < marked[0] + width
    assert "backfilled" in _text(browser, "#chart-sensors")
    shot(browser, "chart-backfilled.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors
