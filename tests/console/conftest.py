"""Fixtures for the console's browser tests: headless Chromium through Selenium, and a real console server.

Chromium and chromedriver are Debian's (scripts/bootstrap.sh installs them). Without them the
tests are skipped with the reason, except where GATEWISE_REQUIRE_BROWSER is set (.ci/run):
there a missing browser fails, so CI cannot pass by skipping the console.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT, stop_server
from console.support import ConsoleServer, console_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1280, 900)
"""A fixed window, so that layouts and screenshots are the same on every run."""


def _require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        reason = f"{' and '.join(missing)} missing (scripts/bootstrap.sh installs Debian's chromium, chromium-driver)"
        if os.environ.get("GATEWISE_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, and GATEWISE_REQUIRE_BROWSER is set (CI)")
        pytest.skip(reason)
    pytest.importorskip("selenium", reason="selenium is not installed (the test extra)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A headless Chromium driven by Selenium through Debian's chromedriver; quit at the end whatever happens."""
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.add_argument("--headless=new")
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument(f"--user-data-dir={profile}")  # never a profile shared with another run
    options.add_argument("--disable-dev-shm-usage")  # containers give /dev/shm 64 MB, too little for renderers
    options.add_argument("--force-device-scale-factor=1")
    if os.geteuid() == 0:
        # NOTE: Chromium refuses to start as root with its sandbox on ("Running as root without
        # --no-sandbox is not supported"); these tests run as root in the project's containers and
        # only ever load the local console.
        options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile.parent / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_window_size(*WINDOW)
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """A real ``gatewise serve --console`` (``console.support``: the tiny models, API keys, records on)."""
    server = console_server(tmp_path_factory.mktemp("console"))
    try:
        yield server
    finally:
        stop_server(server.server)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this run's screenshots go: docs/console/ with GATEWISE_CONSOLE_SCREENSHOTS=1 (the pictures
    docs/console.md shows), else a temporary folder."""
    if os.environ.get("GATEWISE_CONSOLE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "console"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("console-shots")
