"""The console in a real browser: Debian's chromium driven by Selenium through chromedriver, against
the app served on 127.0.0.1 over a fresh database holding the demo programme.

One browser session walks the whole flow (sign in, the dashboard in English and Arabic, a group
page, a failed message sent again, sign out), so the module stays well under half a minute.
Screenshots of the dashboard are written to $VISION_CONSOLE_SCREENSHOTS, or to a temporary folder
whose path the test prints. Without chromium the test is skipped with the reason, except in CI
(CI set), where a missing browser is a failure: scripts/test.sh installs it with apt-get.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from api import create_app, demo
from vision_ledger.models import OutboxMessage

from ..conftest import fresh_database_url

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def _require_browser() -> None:
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", DRIVER)) if path is None]
    if not missing:
        return
    reason = (f"Debian's {' and '.join(missing)} not installed "
              "(apt-get install chromium chromium-driver; scripts/test.sh installs them)")
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on a free port of 127.0.0.1, its database holding the demo and one failed SMS."""
    _require_browser()
    url = fresh_database_url(tmp_path_factory, "browser")
    app = create_app({"VISION_DATABASE_URL": url})
    db = app.config["DATABASE"]
    with db.unit_of_work() as s:
        loaded = demo.load(s)
        failed = s.scalars(select(OutboxMessage).where(OutboxMessage.group_id == loaded.group_id)
                           .order_by(OutboxMessage.id)).first()
        failed.status, failed.failure_reason, failed.attempts = "failed", "InvalidPhoneNumber", 3
        failed_id = failed.id
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.port}", "demo": loaded, "db": db, "failed": failed_id}
    finally:
        server.shutdown()
        thread.join(timeout=10)
        db.dispose()


@pytest.fixture(scope="module")
def browser(served: dict[str, Any]) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    # Selenium logs every command it sends at DEBUG, the pasted token included: not in our logs.
    quiet = {name: logging.getLogger(name).level for name in ("selenium", "werkzeug")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    options = Options()
    options.binary_location = CHROMIUM or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1600", "--lang=en", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def _screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("VISION_CONSOLE_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("console-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shoot(driver: Any, path: Path) -> None:
    """The whole page, not only the window."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 6000))
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1600)


def test_staff_sign_in_read_the_dashboard_and_a_group_retry_a_message_and_sign_out(
        served: dict[str, Any], browser: Any, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    base, loaded = served["base"], served["demo"]
    # A wait may look at the page being replaced (the language form reloads it): a stale element
    # means "not yet", so the wait looks again.
    wait = WebDriverWait(browser, 30, ignored_exceptions=[StaleElementReferenceException])
    folder = _screenshots(tmp_path_factory)

    # sign in by pasting the admin's token
    browser.get(f"{base}/console/")
    browser.find_element(By.ID, "token").send_keys(loaded.tokens["admin"][1])
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    browser.find_element(By.ID, "sign-in").click()
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "VISION demo programme"))
    assert browser.current_url == f"{base}/console/programmes/{loaded.programme_id}"

    # the dashboard: figures, five charts drawn from the demo's meetings, their table
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart")) == 5
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart polyline")) >= 3
    figures = {dt.text: dd.text for dt, dd in zip(browser.find_elements(By.CSS_SELECTOR, ".figures dt"),
                                                  browser.find_elements(By.CSS_SELECTOR, ".figures dd"),
                                                  strict=True)}
    assert figures["Members"] == "15" and figures["Savings"].startswith("KES ")
    _shoot(browser, folder / "dashboard-en.png")

    # the same in Arabic, right to left
    Select(browser.find_element(By.CSS_SELECTOR, "header select[name=language]")).select_by_value("ar")
    browser.find_element(By.CSS_SELECTOR, "header form.inline button").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("dir") == "rtl")
    assert "لوحة المتابعة" in browser.find_element(By.TAG_NAME, "nav").text
    _shoot(browser, folder / "dashboard-ar.png")
    Select(browser.find_element(By.CSS_SELECTOR, "header select[name=language]")).select_by_value("en")
    browser.find_element(By.CSS_SELECTOR, "header form.inline button").click()
    wait.until(lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("dir") == "ltr")
    with capsys.disabled():
        print(f"\nconsole screenshots (English and Arabic dashboards): {folder}")

    # a group page, reached from the ranked groups
    browser.find_element(By.LINK_TEXT, "Umoja Demo VSLA").click()
    wait.until(seen.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Umoja Demo VSLA"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#members tbody tr")) == 15
    assert len(browser.find_elements(By.CSS_SELECTOR, "#meetings tbody tr")) == 5
    assert "The books verify" in browser.find_element(By.ID, "verification").text

    # the outbox: the failed message is sent again
    browser.find_element(By.LINK_TEXT, "Outbox").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "outbox"), "InvalidPhoneNumber"))
    browser.find_element(By.ID, f"retry-{served['failed']}").click()
    wait.until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "p.ok"), "will be sent again"))
    with served["db"].unit_of_work(write=False) as s:
        assert s.get(OutboxMessage, served["failed"]).status == "pending"

    # sign out: back at the sign-in form, and the dashboard is closed to this browser
    browser.find_element(By.ID, "sign-out").click()
    wait.until(seen.presence_of_element_located((By.ID, "token")))
    browser.get(f"{base}/console/programmes/{loaded.programme_id}")
    wait.until(seen.presence_of_element_located((By.ID, "token")))
    assert browser.current_url == f"{base}/console/"
