"""The QA export page in headless Chromium: QA picks a batch and a format and downloads
the signed batch record; the file is checked the way a recipient checks it (`coldchain
verify`). Roles the page does not offer the export to never see its entry, and every
refusal or failure ends in a message that says what happened and that nothing was saved.
Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from api.app import create_app
from api.export import PUBLIC_KEY_NAME, load_public_key, verify_file
from coldchain.catalog import catalog_session, set_password
from coldchain.catalog.audit import read_audit
from coldchain.catalog.users import upsert_user
from tests.support.api_world import PASSWORD, World, serve_in_thread
from tests.support.servers import free_port
from tests.support.webpage import (
    attributes,
    login,
    severe_browser_errors,
    shot,
    wait_for_download,
)

pytestmark = pytest.mark.integration

# What each format's file starts with (api/export/*_format.py).
HEADERS = {
    "csv": b"# coldchain batch record\n",
    "json": b'{"format":"coldchain-batch-record",',
    "pdf": b"%PDF-",
}
EXPORT_ENTRY = "#nav-export:not(.hidden)"


def _open_export_page(driver: WebDriver) -> None:
    driver.find_element(By.ID, "nav-export").click()
    WebDriverWait(driver, 15).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#export-rows tr[data-batch]")
    )
    assert driver.find_element(By.ID, "export-view").is_displayed()
    assert not driver.find_element(By.ID, "app-view").is_displayed()


def _export(driver: WebDriver, batch: str, fmt: str) -> None:
    """Type or choose `batch`, pick `fmt`, press download (the outcome is the caller's)."""
    field = driver.find_element(By.ID, "export-batch")
    field.clear()
    field.send_keys(batch)
    driver.find_element(By.CSS_SELECTOR, f'input[name="export-format"][value="{fmt}"]').click()
    driver.find_element(By.ID, "export-button").click()


def _wait_text(driver: WebDriver, element_id: str, fragment: str, timeout_s: float = 60) -> str:
    WebDriverWait(driver, timeout_s).until(
        lambda d: fragment in d.find_element(By.ID, element_id).text
    )
    return driver.find_element(By.ID, element_id).text


def _export_audit_count(world: World, actor: str, batch: str) -> int:
    with catalog_session(world.engine) as session:
        entries = read_audit(session, entity="batch")
    return sum(1 for e in entries if (e.action, e.actor, e.entity_id) == ("export", actor, batch))


def test_qa_downloads_signed_batch_records(
    world: World, browser: WebDriver, downloads: Path
) -> None:
    login(browser, world.base_url, "quinn")
    assert browser.find_element(By.ID, "nav-export").is_displayed()
    _open_export_page(browser)
    batches = attributes(browser, "#export-rows tr[data-batch]", "data-batch")
    assert batches == ["LOT-A1", "LOT-A2", "LOT-B1"]  # QA sees every sponsor's

    # Pick the batch from the list, then each format.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-batch="LOT-A2"] button.choose').click()
    assert browser.find_element(By.ID, "export-batch").get_attribute("value") == "LOT-A2"
    assert "chosen" in (
        browser.find_element(By.CSS_SELECTOR, 'tr[data-batch="LOT-A2"]').get_attribute("class")
        or ""
    )
    audited_before = _export_audit_count(world, "quinn", "LOT-A2")
    key_file = world.settings.data_dir / "keys" / PUBLIC_KEY_NAME
    coldchain = Path(sys.executable).with_name("coldchain")
    for fmt, header in HEADERS.items():
        browser.find_element(By.CSS_SELECTOR, f'input[name="export-format"][value="{fmt}"]').click()
        browser.find_element(By.ID, "export-button").click()
        _wait_text(browser, "export-status", f"Saved LOT-A2.{fmt}")
        assert browser.find_element(By.ID, "export-error").text == ""
        path = wait_for_download(downloads, f"LOT-A2.{fmt}")
        assert path.read_bytes().startswith(header)
        assert verify_file(path, load_public_key(key_file)).fmt == fmt
        checked = subprocess.run(
            [str(coldchain), "verify", str(path), "--data-dir", str(world.settings.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout.startswith("intact:")
    shot(browser, "qa-export.png")
    assert _export_audit_count(world, "quinn", "LOT-A2") == audited_before + 3
    errors = severe_browser_errors(browser)
    assert not errors, errors  # e.g. the CSP blocking the blob download


@pytest.mark.parametrize("user", ["alice", "omar"])
def test_roles_without_the_export_page_do_not_see_its_entry(
    world: World, browser: WebDriver, user: str
) -> None:
    """A sponsor viewer and a warehouse operator: no entry, and the page's address alone
    does not open it."""
    login(browser, world.base_url, user)
    assert browser.find_element(By.ID, "nav-live").is_displayed()
    assert not browser.find_element(By.ID, "nav-export").is_displayed()
    browser.get(world.base_url + "/#export")
    WebDriverWait(browser, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".tile"))
    assert not browser.find_element(By.ID, "export-view").is_displayed()
    assert browser.find_element(By.ID, "app-view").is_displayed()
    assert not browser.find_element(By.ID, "nav-export").is_displayed()
    shot(browser, f"no-export-entry-{user}.png")
    errors = severe_browser_errors(browser)
    assert not errors, errors


def test_unknown_batch_and_bad_id_are_explained(
    world: World, browser: WebDriver, downloads: Path
) -> None:
    login(browser, world.base_url, "quinn")
    _open_export_page(browser)
    _export(browser, "LOT-NOPE", "csv")
    text = _wait_text(browser, "export-error", "not found")
    assert text.startswith("Batch LOT-NOPE was not found, or it is not one you may see.")
    assert browser.find_element(By.ID, "export-status").text == ""
    _export(browser, "../LOT-A2", "csv")  # refused before any request
    _wait_text(browser, "export-error", '"../LOT-A2" is not a batch id')
    _export(browser, "", "csv")
    _wait_text(browser, "export-error", "Choose a batch first.")
    assert not list(downloads.iterdir())


def test_a_role_without_export_rights_gets_a_clear_refusal(
    world: World, browser: WebDriver, downloads: Path
) -> None:
    """Roles are read on every request: a QA user demoted while the page is open is
    refused with 403, and the page says so rather than saving an error as a file."""
    with catalog_session(world.engine) as session:
        upsert_user(session, user_id="quill", role="qa", actor="test")
        set_password(session, user_id="quill", password=PASSWORD, actor="test")
    login(browser, world.base_url, "quill", ready_css=EXPORT_ENTRY)
    _open_export_page(browser)
    with catalog_session(world.engine) as session:
        upsert_user(
            session,
            user_id="quill",
            role="warehouse_operator",
            sites=["BSL"],
            actor="t",
            reason="moved to the warehouse team",
        )
    _wait_until_the_api_sees_role(world, "quill", "warehouse_operator")
    _export(browser, "LOT-A2", "pdf")
    text = _wait_text(browser, "export-error", "may not export")
    assert text.startswith("Your role may not export batch records")
    assert "Ask QA or an administrator." in text
    shot(browser, "export-forbidden.png")
    assert not list(downloads.iterdir())


def _wait_until_the_api_sees_role(world: World, user: str, role: str) -> None:
    """The API reuses a login session's role for `api_auth_cache_s` (a second), each
    session apart: ask in a new session until the new role shows (the catalog has it),
    then let the browser's session's answer expire too."""
    token = world.client.post(
        "/v1/auth/token", data={"username": user, "password": PASSWORD}
    ).json()["access_token"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        me = world.client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        if me.json().get("role") == role:
            time.sleep(world.settings.api_auth_cache_s + 0.2)
            return
        time.sleep(0.1)
    raise AssertionError(f"the API still does not see {user} as {role}")


def test_server_errors_say_nothing_was_saved(
    world: World, browser: WebDriver, downloads: Path
) -> None:
    """The same catalog served by an API whose InfluxDB is down: every format is refused
    with 503 before any byte (the route pings the store first), and nothing is saved."""
    dead_influx = world.settings.model_copy(
        update={"influx_url": f"http://127.0.0.1:{free_port()}", "influx_timeout_s": 2.0}
    )
    app = create_app(dead_influx, engine=world.engine)
    with serve_in_thread(app) as base_url:
        login(browser, base_url, "quinn", ready_css=EXPORT_ENTRY)
        _open_export_page(browser)
        _export(browser, "LOT-A2", "pdf")
        text = _wait_text(browser, "export-error", "could not build the export")
        assert "(503: InfluxDB unavailable)" in text
        assert "Nothing was saved" in text
        shot(browser, "export-server-error.png")
        browser.execute_script("document.getElementById('export-error').textContent = ''")
        _export(browser, "LOT-A2", "csv")
        text = _wait_text(browser, "export-error", "could not build the export")
        assert "(503: InfluxDB unavailable)" in text
        assert "Nothing was saved" in text
    assert not list(downloads.iterdir())
