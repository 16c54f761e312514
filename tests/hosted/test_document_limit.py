"""The hosted page's document check over HTTP is rate-limited per identification: past the limit it answers 429
problem+json ``document_checks_limited`` with Retry-After, before reading the file; another identification's
page is not affected."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.api.middlewares import HOSTED_DOCUMENT_LIMITER
from authsvc.api.state import SETTINGS
from tests.hosted.test_links import PAGE, browser, new_link, service
from tests.methods.factorkit import PEOPLE, open_identification, register

LIMIT = 3


async def _opened_page(api: Any, person: Any) -> tuple[str, str]:
    ident = await open_identification(api, await register(api, person), "registration")
    resp = await new_link(api, ident)
    assert resp.status == 201, await resp.text()
    return ident, (await resp.json())["url"].split("127.0.0.1:8080", 1)[1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_document_checks_are_limited_per_identification(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: Any
) -> None:
    api, _ = await service(aiohttp_client, aiohttp_server, dsn, keys)
    api.app[SETTINGS].hosted.cookie_secure = False  # plain-HTTP test server
    limiter = api.app[HOSTED_DOCUMENT_LIMITER]
    # A few calls, and an hour's window: the fixed window does not roll over (and reset) during the test.
    limiter.limit, limiter.window_s = LIMIT, 3600
    first, second = [p for p in PEOPLE.people if p.phone.number][:2]
    _, path = await _opened_page(api, first)
    _, other_path = await _opened_page(api, second)
    junk = b"not an image at all"
    async with browser(api) as page, browser(api) as other:
        assert (await page.get(path, allow_redirects=False)).status == 303
        assert (await other.get(other_path, allow_redirects=False)).status == 303
        codes = []
        for _ in range(LIMIT):
            resp = await page.post("/hosted/api/document", data=junk, headers=PAGE)
            codes.append((resp.status, (await resp.json())["code"]))
        assert all(status == 422 for status, _ in codes), codes  # each one checked (and refused: not an image)
        limited = await page.post("/hosted/api/document", data=junk, headers=PAGE)
        assert limited.status == 429
        assert limited.headers["Content-Type"].startswith("application/problem+json")
        body = await limited.json()
        assert body["code"] == "document_checks_limited" and f"more than {LIMIT}" in body["detail"]
        assert body["detail"].endswith("in 3600 s") and 1 <= int(limited.headers["Retry-After"]) <= 3600
        # Another identification's page has its own count.
        resp = await other.post("/hosted/api/document", data=junk, headers=PAGE)
        assert resp.status == 422, await resp.text()
