"""The web view in a real browser (headless Chromium): from the landing page, by following links with the
mouse and the keyboard, to a task group, a task, a run with its log and a worker; no page logs a console
error, a hostile task runs no script, and a phone-wide window needs no sideways scrolling. A screenshot of
each page is kept under build/test-artifacts/screenshots."""

from __future__ import annotations

from typing import Any

import pytest

from tests.localqueue.ui.conftest import Site
from tests.support.browser import Browser

PHONE = (375, 812)


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
