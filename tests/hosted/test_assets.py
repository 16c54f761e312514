"""The page's static files as a browser receives them: gzipped when it takes gzip, each form with its own
entity tag (a 304 for the tag it holds), the page and every unversioned name revalidated on each use, and
the versioned addresses the page itself names kept for a year — their version following the content of
everything they name."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import aiohttp
import pytest

from authsvc.api.hosted_page import STATIC
from authsvc.hosted.assets import build
from tests.conftest import Api

GZIP = {"Accept-Encoding": "gzip, deflate, br"}
PLAIN = {"Accept-Encoding": "identity"}


def raw_browser(api: Api) -> aiohttp.ClientSession:
    """Sees the bytes as sent (no transparent decompression)."""
    return aiohttp.ClientSession(base_url=str(api.client.make_url("/")), auto_decompress=False)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_page_and_its_modules_are_gzipped_tagged_and_cached_by_version(api: Api) -> None:
    async with raw_browser(api) as b:
        page = await b.get("/hosted/flow", headers=GZIP)
        assert page.status == 200 and page.headers["Content-Encoding"] == "gzip", page.headers
        assert page.headers["Vary"] == "Accept-Encoding" and page.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        html = gzip.decompress(await page.read()).decode()
        named = dict(re.findall(r'"/hosted/static/([a-z0-9]+\.[a-z]+)\?v=([0-9a-f]{16})"', html))
        assert set(named) == {"app.js", "style.css"}, html

        # A reload with the tag it holds: 304, nothing sent. The plain form is another representation.
        again = await b.get("/hosted/flow", headers=GZIP | {"If-None-Match": page.headers["ETag"]})
        assert again.status == 304 and await again.read() == b"" and again.headers["ETag"] == page.headers["ETag"]
        plain = await b.get("/hosted/flow", headers=PLAIN)
        assert "Content-Encoding" not in plain.headers and await plain.text() == html
        assert plain.headers["ETag"] != page.headers["ETag"]
        other = await b.get("/hosted/flow", headers=GZIP | {"If-None-Match": f'W/{plain.headers["ETag"]}, "x"'})
        assert other.status == 200
        refused = await b.get("/hosted/flow", headers={"Accept-Encoding": "gzip;q=0, identity"})
        assert "Content-Encoding" not in refused.headers

        app = await b.get(f"/hosted/static/app.js?v={named['app.js']}", headers=GZIP)
        assert app.status == 200 and app.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert app.headers["Content-Type"].startswith("text/javascript")
        code = gzip.decompress(await app.read()).decode()
        modules = dict(re.findall(r'"/hosted/static/([a-z0-9]+\.js)\?v=([0-9a-f]{16})"', code))
        assert set(modules) == {"i18n.js", "sdk.js"}, code[:300]
        sent = plain_size = 0
        for name, version in (named | modules).items():
            versioned = await b.get(f"/hosted/static/{name}?v={version}", headers=GZIP)
            body = await versioned.read()
            whole = await (await b.get(f"/hosted/static/{name}?v={version}", headers=PLAIN)).read()
            assert versioned.headers["Cache-Control"].endswith("immutable") and gzip.decompress(body) == whole
            sent, plain_size = sent + len(body), plain_size + len(whole)
        assert sent < 0.4 * plain_size, (sent, plain_size)

        # The web SDK as a lender's page embeds it (no version), or an older version: revalidated each time.
        for query in ("", "?v=0123456789abcdef"):
            sdk = await b.get(f"/hosted/static/sdk.js{query}", headers=GZIP)
            assert sdk.status == 200 and sdk.headers["Cache-Control"] == "no-cache", query
            held = await b.get(f"/hosted/static/sdk.js{query}", headers=GZIP | {"If-None-Match": sdk.headers["ETag"]})
            assert held.status == 304
        missing = await b.get("/hosted/static/index.html", headers=GZIP)
        assert missing.status == 404


def test_a_change_to_a_module_changes_the_version_of_everything_naming_it(tmp_path: Path) -> None:
    shutil.copytree(STATIC, tmp_path / "static")
    before = build(tmp_path / "static")
    sdk = tmp_path / "static" / "sdk.js"
    sdk.write_text(sdk.read_text() + "\n// a fix\n")
    after = build(tmp_path / "static")
    changed = {name for name in before if before[name].version != after[name].version}
    assert changed == {"sdk.js", "app.js", "index.html"}  # app.js imports sdk.js; the page loads app.js
    assert (
        after["sdk.js"].url.encode() in after["app.js"].body
        and after["app.js"].url.encode() in after["index.html"].body
    )
    assert build(tmp_path / "static")["app.js"].gzipped == after["app.js"].gzipped  # the same bytes every start
