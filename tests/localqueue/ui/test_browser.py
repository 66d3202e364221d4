"""The web view in a real browser (headless Chromium): from the landing page, by following links with the
mouse and the keyboard, to a task group, a task, a run with its log and a worker; no page logs a console
error, a hostile task runs no script, and a phone-wide window needs no sideways scrolling. A screenshot of
each page is kept under build/test-artifacts/screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import taskcluster

from tests.localqueue.ui.conftest import FakeWorker, Site, create
from tests.support.browser import Browser
from tests.support.http_server import serving
from tests.support.localqueue import from_now

PHONE = (375, 812)
LIVE_TEXT = "live line 1\n<b>not bold</b>\n"


class LiveLogServer(BaseHTTPRequestHandler):
    """A worker's live-log server as the browser meets it: text with the CORS header that lets a page of
    another origin read it."""

    def do_GET(self) -> None:
        body = LIVE_TEXT.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def live_log_url() -> Iterator[str]:
    with serving(LiveLogServer) as url:
        yield f"{url}/log/token"


def follow(browser: Browser, link_text: str, *, keyboard: bool = False) -> list[str]:
    """Click the link (or focus it and press Enter), wait for the next page; its console errors."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver: Any = browser.driver
    link = driver.find_element(By.LINK_TEXT, link_text)
    target = link.get_attribute("href")
    if keyboard:
        link.send_keys(Keys.ENTER)
    else:
        link.click()
    WebDriverWait(driver, 10).until(
        lambda d: d.current_url == target and d.execute_script("return document.readyState") == "complete"
    )
    return browser.console_errors()


def test_a_person_walks_from_the_landing_page_to_a_worker(browser: Browser, site: Site) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver: Any = browser.driver
    assert browser.open(site.url + "/") == []
    browser.screenshot("ui-landing")
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert driver.switch_to.active_element.text == "Skip to content"  # the first stop of the keyboard

    assert follow(browser, site.group_id) == []
    assert "builds the thing" in browser.text() and "tests the thing" in browser.text()
    browser.screenshot("ui-task-group")

    assert follow(browser, "builds the thing", keyboard=True) == []
    assert driver.find_element(By.TAG_NAME, "h1").text == "builds the thing"
    browser.screenshot("ui-task")

    assert follow(browser, "run 0") == []
    log = driver.find_element(By.CSS_SELECTOR, "pre.log").text
    assert "step 1 done" in log and "<script>alert('log')</script>" in log  # markup shown as text
    browser.screenshot("ui-run-log")

    assert follow(browser, "ui/w1") == []
    assert "Worker ui/w1" in browser.text() and "idle" in browser.text()
    browser.screenshot("ui-worker")

    assert browser.open(f"{site.url}/tasks/{site.hostile}") == []  # a CSP violation would be an error
    with pytest.raises(NoAlertPresentException):  # an alert would mean the task's markup ran
        print(driver.switch_to.alert.text)
    assert "<script>alert('x')</script>" in driver.find_element(By.TAG_NAME, "h1").text
    browser.screenshot("ui-hostile-task")


def test_a_phone_wide_window_needs_no_sideways_scrolling(browser: Browser, site: Site) -> None:
    driver: Any = browser.driver
    driver.set_window_size(*PHONE)
    try:
        for path in (f"/tasks/{site.completed}/runs/0", f"/tasks/groups/{site.group_id}"):
            assert browser.open(site.url + path) == []
            width, viewport = driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert width <= viewport, (path, width, viewport)
        browser.screenshot_dir.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(browser.screenshot_dir / "ui-phone-task-group.png"))
    finally:
        driver.set_window_size(1280, 900)


def test_a_running_run_shows_its_live_log_as_it_streams(
    browser: Browser, site: Site, live_log_url: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    task_id = create(site.queue, site.group_id, "streams its log")
    worker = FakeWorker(site.queue, "w4")
    claimed, task_queue = worker.claim()
    assert claimed == task_id
    reference = {
        "storageType": "reference",
        "url": live_log_url,
        "contentType": "text/plain",
        "expires": from_now(days=1),
    }
    task_queue.createArtifact(task_id, 0, "public/logs/live.log", reference)
    driver: Any = browser.driver
    try:
        assert browser.open(f"{site.url}/tasks/{task_id}/runs/0") == []
        WebDriverWait(driver, 10).until(lambda d: "live line 1" in d.find_element(By.ID, "live-log").text)
        assert "<b>not bold</b>" in driver.find_element(By.ID, "live-log").text  # text, never markup
        assert driver.find_elements(By.CSS_SELECTOR, "#live-log b") == []
        assert browser.console_errors() == []
        browser.screenshot("ui-run-live-log")
    finally:
        task_queue.reportCompleted(task_id, 0)
        driver.get("about:blank")  # the page reloads itself while the run lasts
    assert taskcluster.Queue(site.queue.client_options()).status(task_id)["status"]["state"] == "completed"
