"""Deviations, electronic signatures and release decisions (issue #21) in headless
Chromium, every signature made in the page's signing dialog.

Three Acme batches each sat in BSL/FRIDGE-03 for two hours and were at 12 °C for an hour
of it: each record has an open excursion (and the readings-only disagreement that goes
with it). The story (LOT-A3): QA (quinn) opens a deviation on both findings, assesses it
and signs with her password (a wrong one first: refused, shown, audited, nothing changed);
the sponsor (alice) sees it, agrees and signs, which closes it; quinn may not sign the
release (two-person rule), rita (a second QA person) releases and signs; alice sees
"released"; the exported record carries the three signatures and `coldchain verify` lists
them with their meanings. A dispute (LOT-A4) reaches a sponsor whose page is already open,
and needs a comment; what the page can tell before sending (LOT-A5) it says. Screenshots
go to test-artifacts/web/.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from coldchain.catalog import catalog_session, set_password
from coldchain.catalog.audit import read_audit
from coldchain.catalog.placements import place_batch
from coldchain.catalog.schema import BatchRow
from coldchain.catalog.users import upsert_user
from coldchain.influx import InfluxClient
from tests.support.api_world import PASSWORD, World, reading_line
from tests.support.webpage import login, severe_browser_errors, shot

pytestmark = pytest.mark.integration

# No automatic deviations: QA opens the one of this story in the page.
API_SETTINGS = {"api_stream_interval_s": 0.5, "api_deviation_scan_s": 0}
#: Each test's own batch (so none depends on another's signatures), by how many hours ago
#: its two hours in FRIDGE-03 began.
STAYS = {"LOT-A3": 20, "LOT-A4": 16, "LOT-A5": 12}
BATCH = "LOT-A3"  # the story's
SIGNERS_ZONE = "Europe/Zurich"  # the browser's time zone, which each signature records
WAIT_S = 20
DEVIATION_POLL_S = 15  # how often the page asks for deviations (app.js DEVIATION_POLL_MS)


@pytest.fixture(scope="module")
def excursion_batches(world: World) -> None:
    """The `STAYS`, a reading a minute, 12 °C from 40 to 100 minutes in (VAX-1: 2–8 °C,
    alarm after 30 min); and rita, a second QA person."""
    lines = []
    with catalog_session(world.engine) as session:
        for batch, hours_ago in STAYS.items():
            start = world.now - timedelta(hours=hours_ago)
            end = start + timedelta(hours=2)
            session.add(BatchRow(id=batch, product_id="VAX-1"))
            session.flush()
            place_batch(
                session, batch=batch, unit="BSL/FRIDGE-03", start=start, end=end, actor="test"
            )
            at = start - timedelta(minutes=10)
            while at <= end + timedelta(minutes=10):
                minutes = (at - start).total_seconds() / 60
                temp_c = 12.0 if 40 <= minutes < 100 else 5.0
                lines.append(reading_line("BSL", "unit", "FRIDGE-03", "p1", at, temp_c))
                at += timedelta(minutes=1)
        upsert_user(session, user_id="rita", role="qa", name="Rita Release", actor="test")
        set_password(session, user_id="rita", password=PASSWORD, actor="test")
    asyncio.run(_write(world, lines))


async def _write(world: World, lines: list[str]) -> None:
    async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
        await influx.write_lines(lines)


def _in_zurich(driver: WebDriver) -> None:
    """The browser's clock reads Zurich time, so its signatures carry that zone."""
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": SIGNERS_ZONE})


def _text(driver: WebDriver, css: str) -> str:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def _wait_text(driver: WebDriver, css: str, fragment: str) -> str:
    WebDriverWait(driver, WAIT_S).until(lambda d: fragment in _text(d, css))
    return _text(driver, css)


def _log_in_to_deviations(driver: WebDriver, world: World, user: str) -> None:
    """Log in as `user` (logging out whoever was in) and open the Deviations page."""
    if driver.find_elements(By.CSS_SELECTOR, "#logout:not(.hidden)"):
        driver.find_element(By.ID, "logout").click()
    login(driver, world.base_url, user)
    _in_zurich(driver)
    driver.find_element(By.ID, "nav-deviations").click()
    WebDriverWait(driver, WAIT_S).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#review-batch option")
    )


def _show_batch(driver: WebDriver, batch: str = BATCH) -> None:
    Select(driver.find_element(By.ID, "review-batch")).select_by_value(batch)
    driver.find_element(By.ID, "review-button").click()
    _wait_text(driver, "#review-verdict", f"{batch}:")


def _sign(driver: WebDriver, meaning: str, password: str) -> None:
    """The signing dialog is open and states who signs and what it means; sign."""
    dialog = driver.find_element(By.ID, "sign-dialog")
    WebDriverWait(driver, WAIT_S).until(lambda d: dialog.is_displayed())
    shown = driver.find_element(By.ID, "sign-meaning").text
    assert shown.startswith("You are signing as "), shown
    assert shown.endswith(f": {meaning}"), shown
    field = driver.find_element(By.ID, "sign-password")
    field.clear()
    field.send_keys(password)
    driver.find_element(By.ID, "sign-button").click()


def _dialog_closed(driver: WebDriver) -> None:
    WebDriverWait(driver, WAIT_S).until(
        lambda d: not d.find_element(By.ID, "sign-dialog").is_displayed()
    )


def _deviation(world: World, deviation_id: str, user: str = "quinn") -> dict[str, Any]:
    """The deviation as the API answers `user` (with an API token: logging out in the page
    ends every login session of the user)."""
    answer = world.client.get(
        f"/v1/deviations/{deviation_id}", headers=world.headers(user, api_token=True)
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _signatures_shown(driver: WebDriver) -> list[tuple[str, str, str]]:
    """(signer, meaning, valid) of each signature row of the open deviation."""
    script = (
        "return [...document.querySelectorAll('#deviation-signatures tr')]"
        ".map((r) => [r.dataset.signer, r.dataset.meaning, r.dataset.valid])"
    )
    rows: list[list[str]] = driver.execute_script(script)
    return [(signer, meaning, valid) for signer, meaning, valid in rows]


def _unexpected_errors(driver: WebDriver) -> list[dict[str, object]]:
    """Console errors other than the refusals the story provokes (Chromium logs each 403)."""
    return [e for e in severe_browser_errors(driver) if "status of 403" not in str(e["message"])]


SIGNATURE_LINE = re.compile(
    r"^signature (\d+): (\w+) by (.+) \((\S+), (\S+)\) at (\S+) \((.+)\) — (\S+) (\S+): ok$"
)


def _verify(world: World, path: Path) -> list[tuple[str, str, str]]:
    """`coldchain verify FILE`: (meaning, user, subject) of each signature it lists."""
    coldchain = Path(sys.executable).with_name("coldchain")
    checked = subprocess.run(
        [str(coldchain), "verify", str(path), "--data-dir", str(world.settings.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("intact:"), checked.stdout
    lines = [SIGNATURE_LINE.match(line) for line in checked.stdout.splitlines()]
    return [(m[2], m[4], m[8]) for m in lines if m]


def test_qa_assesses_the_sponsor_agrees_a_second_qa_releases_and_verify_lists_the_signatures(
    world: World, browser: WebDriver, excursion_batches: None, tmp_path: Path
) -> None:
    # QA opens a deviation on the batch's open findings.
    _log_in_to_deviations(browser, world, "quinn")
    _show_batch(browser)
    assert _text(browser, "#review-verdict").startswith(f"{BATCH}: open findings")
    assert not browser.find_element(By.ID, "release-button").is_enabled()
    assert "a decision needs every finding cleared" in _text(browser, "#release-why")
    boxes = browser.find_elements(By.CSS_SELECTOR, "#review-findings input.pick")
    kinds = {(box.get_attribute("value") or "").split("-")[0] for box in boxes}
    assert kinds == {"excursion", "disagreement"}
    for box in boxes:
        box.click()
    browser.find_element(By.ID, "open-deviation-title").send_keys("FRIDGE-03 at 12 °C for 1 h")
    browser.find_element(By.ID, "open-deviation-button").click()
    _wait_text(browser, "#deviation-detail [data-fact=state]", "open")
    deviation_id = browser.find_element(By.ID, "deviation-detail").get_attribute("data-deviation")
    assert deviation_id
    spans = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#deviation-findings tr")]
    assert len(spans) == 2
    assert all(f"({SIGNERS_ZONE})" in span for span in spans), spans
    WebDriverWait(browser, WAIT_S).until(  # the readings of its span, charted
        lambda d: d.find_elements(By.CSS_SELECTOR, "#deviation-chart polygon.band")
    )
    shot(browser, "deviation-opened.png")

    # A wrong password is refused: the sentence is shown, nothing changes, it is audited.
    browser.find_element(By.ID, "assess-reason").send_keys(
        "one hour at 12 °C is inside the product's stability data"
    )
    browser.find_element(By.ID, "assess-reference").send_keys("STAB-VAX1-2025-04")
    Select(browser.find_element(By.ID, "assess-impact")).select_by_value("none")
    browser.find_element(By.ID, "assess-button").click()
    _sign(browser, "authored", "not her password")
    refused = _wait_text(browser, "#sign-error", "signature refused")
    assert refused == "Not signed: signature refused: the password is not the signer's"
    shot(browser, "deviation-wrong-password.png")
    assert _deviation(world, deviation_id)["state"] == "open"
    with catalog_session(world.engine) as session:
        refusals = [
            e
            for e in read_audit(session, entity="deviation_assessment")
            if e.action == "signature_refused"
        ]
    assert [(e.actor, e.entity_id) for e in refusals] == [("quinn", f"DEV-{deviation_id}")]

    # The right password signs the assessment.
    _sign(browser, "authored", PASSWORD)
    _dialog_closed(browser)
    _wait_text(browser, "#deviation-detail [data-fact=state]", "assessed")
    assert _signatures_shown(browser) == [("quinn", "authored", "true")]
    assert _unexpected_errors(browser) == []

    # The sponsor sees it waiting for her, agrees and signs: the deviation closes.
    _log_in_to_deviations(browser, world, "alice")
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, f'#deviation-rows tr[data-deviation="{deviation_id}"].waiting'
        )
    )
    assert browser.find_element(By.ID, "deviations-badge").text == "1"
    browser.find_element(
        By.CSS_SELECTOR,
        f'#deviation-rows tr[data-deviation="{deviation_id}"] button.show-deviation',
    ).click()
    _wait_text(browser, "#deviation-detail [data-fact=impact]", "none")
    assert (
        _text(browser, "#deviation-detail [data-fact=stability_reference]") == "STAB-VAX1-2025-04"
    )
    assert not browser.find_element(By.ID, "assess-form").is_displayed()
    browser.find_element(By.ID, "decide-comment").send_keys("agreed: covered by our stability data")
    browser.find_element(By.ID, "agree-button").click()
    _sign(browser, "approved", PASSWORD)
    _dialog_closed(browser)
    _wait_text(browser, "#deviation-detail [data-fact=state]", "closed")
    assert _signatures_shown(browser) == [
        ("quinn", "authored", "true"),
        ("alice", "approved", "true"),
    ]
    agreed = _deviation(world, deviation_id)
    assert [s["timezone"] for s in agreed["signatures"]] == [SIGNERS_ZONE, SIGNERS_ZONE]
    assert agreed["sponsor_comment"] == "agreed: covered by our stability data"
    shot(browser, "deviation-agreed.png")
    assert _unexpected_errors(browser) == []

    # The assessor may not sign the release (two-person rule); nothing is decided.
    _log_in_to_deviations(browser, world, "quinn")
    _show_batch(browser)
    assert _text(browser, "#review-verdict").startswith(f"{BATCH}: no open findings")
    browser.find_element(By.ID, "release-button").click()
    _sign(browser, "approved", PASSWORD)
    refused = _wait_text(browser, "#sign-error", "two-person rule")
    assert refused.startswith(f"Not signed: signature refused: quinn assessed DEV-{deviation_id}")
    shot(browser, "release-two-person-rule.png")
    browser.find_element(By.ID, "sign-cancel").click()
    _dialog_closed(browser)
    findings = world.client.get(
        f"/v1/batches/{BATCH}/findings", headers=world.headers("quinn", api_token=True)
    )
    assert findings.json()["release"] is None

    # A second QA person releases and signs.
    _log_in_to_deviations(browser, world, "rita")
    _show_batch(browser)
    Select(browser.find_element(By.ID, "release-choice")).select_by_value("released")
    browser.find_element(By.ID, "release-button").click()
    _sign(browser, "approved", PASSWORD)
    _dialog_closed(browser)
    decided = _wait_text(browser, "#release-decision", "was released")
    assert decided.startswith(f"{BATCH} was released by Rita Release (rita) at ")
    assert decided.endswith("signature ✓ valid")
    assert _unexpected_errors(browser) == []

    # The sponsor sees the decision.
    _log_in_to_deviations(browser, world, "alice")
    _show_batch(browser)
    _wait_text(browser, "#release-decision", f"{BATCH} was released by Rita Release")
    assert not browser.find_element(By.ID, "release-form").is_displayed()
    shot(browser, "release-seen-by-sponsor.png")
    assert _unexpected_errors(browser) == []

    # The exported record (PDF and JSON) carries the signature manifest: `coldchain verify`
    # checks the seal and lists the assessment, the agreement and the release.
    expected = [
        ("authored", "quinn", "deviation_assessment"),
        ("approved", "alice", "deviation_agreement"),
        ("approved", "rita", "release"),
    ]
    for fmt in ("pdf", "json"):
        answer = world.client.get(
            f"/v1/batches/{BATCH}/export",
            params={"format": fmt},
            headers=world.headers("quinn", api_token=True),
        )
        assert answer.status_code == 200, answer.text
        path = tmp_path / f"{BATCH}.{fmt}"
        path.write_bytes(answer.content)
        assert _verify(world, path) == expected, fmt


def _opened_and_assessed(world: World, batch: str) -> str:
    """QA opens a deviation on every open finding of `batch` and assesses it, through the
    API; its id."""
    qa = world.headers("quinn", api_token=True)
    judged = world.client.get(f"/v1/batches/{batch}/findings", headers=qa)
    assert judged.status_code == 200, judged.text
    opened = world.client.post(
        "/v1/deviations",
        headers=qa,
        json={
            "batch": batch,
            "finding_ids": [f["id"] for f in judged.json()["findings"] if f["state"] == "open"],
            "title": "FRIDGE-03 at 12 °C for 1 h",
        },
    )
    assert opened.status_code == 201, opened.text
    deviation_id = str(opened.json()["id"])
    assessed = world.client.post(
        f"/v1/deviations/{deviation_id}/assess",
        headers=qa,
        json={
            "reason": "one hour at 12 °C is inside the product's stability data",
            "stability_reference": None,
            "impact": "minor",
            "password": PASSWORD,
            "timezone": SIGNERS_ZONE,
        },
    )
    assert assessed.status_code == 200, assessed.text
    return deviation_id


def test_a_sponsor_sees_a_new_deviation_without_reloading_and_disputes_it_with_a_comment(
    world: World, browser: WebDriver, excursion_batches: None
) -> None:
    _log_in_to_deviations(browser, world, "alice")
    deviation_id = _opened_and_assessed(world, "LOT-A4")
    row_css = f'#deviation-rows tr[data-deviation="{deviation_id}"].waiting'
    assert not browser.find_elements(By.CSS_SELECTOR, row_css)
    WebDriverWait(browser, DEVIATION_POLL_S + 5).until(  # the page asks every 15 s
        lambda d: d.find_elements(By.CSS_SELECTOR, row_css)
    )
    browser.find_element(By.CSS_SELECTOR, f"{row_css} button.show-deviation").click()
    _wait_text(browser, "#deviation-detail [data-fact=state]", "assessed")

    # A dispute without a comment is not sent: the page says what is missing.
    browser.find_element(By.ID, "dispute-button").click()
    assert _text(browser, "#deviation-error") == (
        "A dispute needs a comment that says what you dispute."
    )
    assert not browser.find_element(By.ID, "sign-dialog").is_displayed()

    browser.find_element(By.ID, "decide-comment").send_keys("which stability study covers 12 °C?")
    browser.find_element(By.ID, "dispute-button").click()
    _sign(browser, "rejected", PASSWORD)
    _dialog_closed(browser)
    _wait_text(browser, "#deviation-detail [data-fact=state]", "disputed")
    assert _signatures_shown(browser) == [
        ("quinn", "authored", "true"),
        ("alice", "rejected", "true"),
    ]
    disputed = _deviation(world, deviation_id)
    assert disputed["state"] == "disputed"
    assert disputed["sponsor_comment"] == "which stability study covers 12 °C?"
    shot(browser, "deviation-disputed.png")
    assert _unexpected_errors(browser) == []


def test_the_page_says_what_a_new_deviation_or_an_assessment_lacks_and_sends_nothing(
    world: World, browser: WebDriver, excursion_batches: None
) -> None:
    batch = "LOT-A5"
    _log_in_to_deviations(browser, world, "quinn")
    _show_batch(browser, batch)
    browser.find_element(By.ID, "open-deviation-button").click()
    assert _text(browser, "#review-error") == "Tick the findings the deviation is to cover."
    browser.find_element(By.CSS_SELECTOR, "#review-findings input.pick").click()
    browser.find_element(By.ID, "open-deviation-button").click()
    assert _text(browser, "#review-error") == "A deviation needs a title that says what happened."
    listed = world.client.get(
        "/v1/deviations", params={"batch": batch}, headers=world.headers("quinn", api_token=True)
    )
    assert listed.json() == []

    browser.find_element(By.ID, "open-deviation-title").send_keys("FRIDGE-03 at 12 °C")
    browser.find_element(By.ID, "open-deviation-button").click()
    _wait_text(browser, "#deviation-detail [data-fact=state]", "open")
    deviation_id = browser.find_element(By.ID, "deviation-detail").get_attribute("data-deviation")
    assert deviation_id
    browser.find_element(By.ID, "assess-button").click()  # no reason typed
    assert _text(browser, "#deviation-error") == "An assessment needs its reason."
    assert not browser.find_element(By.ID, "sign-dialog").is_displayed()
    assert _deviation(world, deviation_id)["state"] == "open"
    assert _unexpected_errors(browser) == []
