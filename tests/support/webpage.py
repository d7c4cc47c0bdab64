"""Driving the web page in Debian's headless Chromium (`chromium` + `chromium-driver`, via
Selenium), shared by the page's browser tests: starting the browser with a download
folder of its own, logging in, screenshots into test-artifacts/web/ for people to look at.

Selenium is imported lazily so that importing this module never skips or fails a test
that does not use the browser."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.api_world import PASSWORD
from tests.support.needs import missing

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = [
    "ARTIFACTS",
    "attributes",
    "chromium",
    "login",
    "severe_browser_errors",
    "shot",
    "wait_for_download",
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@contextmanager
def chromium(downloads: Path) -> Iterator[WebDriver]:
    """A headless Chromium whose downloads land in `downloads`, without asking."""
    if not Path(CHROMEDRIVER).exists():
        missing(
            "chromedriver", "`make deps` installs it (Debian packages chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

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
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "download.directory_upgrade": True,
        },
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def login(driver: WebDriver, base_url: str, user: str, *, ready_css: str = ".tile") -> None:
    """Log in through the form and wait until `ready_css` shows (default: the live tiles)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url + "/")
    driver.find_element(By.ID, "username").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, ready_css))


def attributes(driver: WebDriver, css: str, name: str) -> list[str]:
    """Attribute `name` of every element matching `css`, read in one step in the page.

    The page re-renders tiles and alert rows on every live update (twice a second in the
    tests), so finding elements and then reading them one by one races with that and
    fails now and then with a stale element."""
    script = (
        "return [...document.querySelectorAll(arguments[0])]"
        ".map((e) => e.getAttribute(arguments[1]) ?? '')"
    )
    values: list[str] = driver.execute_script(script, css, name)
    return values


def shot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def severe_browser_errors(driver: WebDriver) -> list[dict[str, object]]:
    """The console's SEVERE entries since the last call (a CSP violation, a script error,
    a failed request)."""
    log: list[dict[str, object]] = driver.get_log("browser")  # type: ignore[attr-defined]
    return [entry for entry in log if entry["level"] == "SEVERE"]


def wait_for_download(folder: Path, name: str, timeout_s: float = 30.0) -> Path:
    """The file `name` once Chromium has finished writing it (no `.crdownload` left)."""
    path = folder / name
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        partial = list(folder.glob("*.crdownload"))
        if path.exists() and not partial and path.stat().st_size > 0:
            return path
        time.sleep(0.1)
    raise AssertionError(f"no complete download {name} in {folder}: {sorted(folder.iterdir())}")
