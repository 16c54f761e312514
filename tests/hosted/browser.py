"""Real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium, with a fake camera
fed from a Y4M file the capture simulator writes. Selenium and not Playwright: Debian ships the driver built
for exactly its Chromium, so the pair never drifts apart in CI; Playwright pins its own browser builds and
only tolerates others. Every call is blocking, so each goes to a thread: the service under test answers
the browser on the test's own event loop meanwhile."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts" / "hosted"


def require_chromium() -> None:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        pytest.skip("chromium and chromium-driver are not installed (scripts/install.sh installs them)")
    try:
        import selenium  # noqa: F401
    except ImportError:  # chromium is here, so the tests must run: a missing dev dependency is a failure
        pytest.fail("selenium is not installed: pip install -e '.[dev]' (scripts/install.sh --dev)")


class Browser:
    def __init__(self, camera: Path | None, spki: str | None, *, camera_allowed: bool = True) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        flags = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=412,915",  # a phone's viewport
            "--autoplay-policy=no-user-gesture-required",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--use-fake-device-for-media-stream",
        ]
        if camera is not None:
            flags.append(f"--use-file-for-fake-video-capture={camera}")
        if camera_allowed:
            flags.append("--use-fake-ui-for-media-stream")
        else:
            flags.append("--deny-permission-prompts")
        if spki:
            flags.append(f"--ignore-certificate-errors-spki-list={spki}")
        for flag in flags:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(DRIVER), options=options)
        self.driver.set_script_timeout(30)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def js(self, script: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, script, *args)

    async def click(self, element_id: str) -> None:
        await self.js(f"document.getElementById({json.dumps(element_id)}).click()")

    async def keys(self, element_id: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        element = await self.call(self.driver.find_element, By.ID, element_id)
        await self.call(element.send_keys, text)

    async def text(self, element_id: str) -> str:
        return str(await self.js(f"return document.getElementById({json.dumps(element_id)}).textContent"))

    async def wait(self, script: str, within: float = 30.0, what: str = "") -> Any:
        """Poll ``script`` (JS returning a value) until it is truthy."""
        deadline = time.monotonic() + within
        while True:
            value = await self.js(script)
            if value:
                return value
            if time.monotonic() > deadline:
                shot = await self.screenshot("timeout")
                raise AssertionError(f"waited {within} s for {what or script} (see {shot})")
            await asyncio.sleep(0.2)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.js(
            "return (window.authsvcHosted ? window.authsvcHosted.events : []).filter(e => e.kind === arguments[0])",
            kind,
        )
        return found

    async def screenshot(self, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        await self.call(self.driver.save_screenshot, str(path))
        return path

    def quit(self) -> None:
        self.driver.quit()
