"""A real headless Chromium for the tests that look at pages: the distribution's chromium and chromedriver,
driven by Selenium, with the page's console kept so a test can say "no console errors", and a screenshot of
every page kept as a test artifact under build/test-artifacts/screenshots (or $TCW_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import REPO_ROOT

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)

# Flags that keep Chromium from reaching out of a closed network (each blocked connection is a console
# error or a hang at start), and let it run as root in a container.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--window-size=1280,900",
)


def artifacts_dir() -> Path:
    return Path(os.environ.get("TCW_TEST_ARTIFACTS") or REPO_ROOT / "build" / "test-artifacts")


def why_no_browser() -> str | None:
    """The reason the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if _first_on_path(CHROMIUM_NAMES) is None:
        return "no Chromium on PATH (Debian: apt-get install chromium chromium-driver; .ci/run does this)"
    if _first_on_path(DRIVER_NAMES) is None:
        return "no chromedriver on PATH (Debian: apt-get install chromium-driver)"
    return None


def _first_on_path(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Browser:
    """One Chromium session; `open` loads a page and returns the console errors it logged."""

    driver: Any
    screenshot_dir: Path

    def open(self, url: str) -> list[str]:
        self.driver.get(url)
        return self.console_errors()

    def console_errors(self) -> list[str]:
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name: str) -> Path:
        """Keep what the page looks like now, full height, as <screenshot_dir>/<name>.png."""
        self.screenshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.screenshot_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, max(900, min(int(height), 8000)))
        self.driver.save_screenshot(str(path))
        return path

    def text(self) -> str:
        return str(self.driver.find_element("tag name", "body").text)


@contextmanager
def started_browser(screenshot_dir: Path | None = None) -> Iterator[Browser]:
    """A headless Chromium for as long as the block runs; call `why_no_browser` first."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = _first_on_path(CHROMIUM_NAMES)
    driver_path = _first_on_path(DRIVER_NAMES)
    assert chromium and driver_path, why_no_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="tcw-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield Browser(driver, screenshot_dir or artifacts_dir() / "screenshots")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
