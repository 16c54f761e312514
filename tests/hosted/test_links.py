"""Flow links over HTTP: issued by the lender with its API key, opened once in one browser (a session cookie
bound at first open), refused when expired, reused or unknown; the page's endpoints answer only to that
session, only for that identification's steps. The one-time-code step goes through the SMS simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from authsvc.api.hosted_page import HEADER
from authsvc.api.state import DB, SETTINGS
from authsvc.store.schema import flow_links
from tests.auditkit import entries
from tests.conftest import Api
from tests.methods.factorkit import PEOPLE, open_identification, register, sent_code, start_parties, start_service

PAGE = {HEADER: "1"}


async def service(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: Any) -> tuple[Api, Any]:
    parties = await start_parties(aiohttp_server)
    api = await start_service(aiohttp_client, dsn, keys, parties)
    return api, parties


async def new_link(api: Api, ident: str, **body: Any) -> Any:
    return await api.post(f"/v1/identifications/{ident}/link", body or None)


async def audit_events(api: Api, subject: str) -> list[str]:
    """Audit entries about ``subject``, chained or still waiting for the chainer."""
    async with api.app[DB].autocommit() as tx:
        rows = await tx.all(entries(subject=subject))
    return list(dict.fromkeys(r["event"] for r in rows))


def browser(api: Api) -> aiohttp.ClientSession:
    """Another browser: its own cookie jar (127.0.0.1 needs an unsafe jar to keep cookies at all)."""
    return aiohttp.ClientSession(base_url=str(api.client.make_url("/")), cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_link_opens_once_in_one_browser(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: Any) -> None:
    api, _ = await service(aiohttp_client, aiohttp_server, dsn, keys)
    api.app[SETTINGS].hosted.cookie_secure = False  # plain-HTTP test server
    person = next(p for p in PEOPLE.people if p.phone.number)
    ident = await open_identification(api, await register(api, person), "registration")  # liveness, EDS, a code
    resp = await new_link(api, ident)
    assert resp.status == 201, await resp.text()
    link = await resp.json()
    path = link["url"].split("127.0.0.1:8080", 1)[1]
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43 and api.key not in link["url"]
    async with api.app[DB].autocommit() as tx:
        stored = await tx.all(select(flow_links))
    assert len(stored) == 1 and token.encode() not in bytes(stored[0]["token_mac"])  # only a keyed hash is kept

    async with browser(api) as first, browser(api) as second:
        opened = await first.get(path, allow_redirects=False)
        assert opened.status == 303 and opened.headers["Location"] == "/hosted/flow"
        cookie = opened.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/hosted" in cookie
        assert "script-src 'self'" in opened.headers["Content-Security-Policy"]
        again = await first.get(path, allow_redirects=False)  # a reload in the same browser
        assert again.status == 303
        stolen = await second.get(path, allow_redirects=False)
        assert stolen.status == 409 and 'data-code="link_used"' in await stolen.text()

        state = await (await first.get("/hosted/api/state")).json()
        assert [s["method"] for s in state["steps"]] == ["liveness", "eds", "otp_sms"]
        assert (await second.get("/hosted/api/state")).status == 401
        no_header = await first.post("/hosted/api/otp")
        assert no_header.status == 400 and (await no_header.json())["code"] == "hosted_header_missing"
        # The lender's key opens nothing on the page's endpoints, and the page's cookie nothing on /v1.
        keyed = await second.post("/hosted/api/otp", headers=PAGE | api.headers())
        assert keyed.status == 401 and (await keyed.json())["code"] == "hosted_session_required"
        assert (await first.get(f"/v1/identifications/{ident}")).status == 401

    events = await audit_events(api, ident)
    assert {"link.issued", "link.opened", "link.refused"} <= set(events)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_expired_unknown_and_return_urls(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: Any) -> None:
    api, _ = await service(aiohttp_client, aiohttp_server, dsn, keys)
    hosted = api.app[SETTINGS].hosted
    hosted.cookie_secure = False
    ident = await open_identification(api, await register(api, PEOPLE.people[0]))
    refused = await new_link(api, ident, return_url="https://lender.kz/done")
    assert refused.status == 422 and (await refused.json())["code"] == "return_url_not_allowed"
    hosted.return_urls = {api.lender_id: ["https://lender.kz/onboarding/"]}
    for bad in ("https://lender.kz.evil.com/onboarding/x", "https://lender.kz/other", "javascript:alert(1)"):
        resp = await new_link(api, ident, return_url=bad)
        assert resp.status == 422, bad
    good = await new_link(api, ident, return_url="https://lender.kz/onboarding/done?id=1", locale="kk")
    assert good.status == 201
    link = await good.json()
    path = "/hosted/l/" + link["url"].rsplit("/", 1)[1]
    async with api.app[DB].transaction() as tx:
        await tx.run(update(flow_links).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    async with browser(api) as b:
        late = await b.get(path, allow_redirects=False)
        assert late.status == 409 and 'data-code="link_expired"' in await late.text()
        unknown = await b.get("/hosted/l/" + "x" * 43, allow_redirects=False)
        assert unknown.status == 404 and 'data-code="link_not_found"' in await unknown.text()
    fresh = await (await new_link(api, ident, return_url="https://lender.kz/onboarding/done", locale="kk")).json()
    async with browser(api) as b:
        assert (await b.get("/hosted/l/" + fresh["url"].rsplit("/", 1)[1], allow_redirects=False)).status == 303
        state = await (await b.get("/hosted/api/state")).json()
    assert state["locale"] == "kk" and state["return_url"] == "https://lender.kz/onboarding/done"
    closed = await new_link(api, "no-such-identification")
    assert closed.status == 404


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_page_takes_the_one_time_code_step(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: Any
) -> None:
    api, parties = await service(aiohttp_client, aiohttp_server, dsn, keys)
    api.app[SETTINGS].hosted.cookie_secure = False
    person = next(p for p in PEOPLE.people if p.phone.number)
    ident = await open_identification(api, await register(api, person))
    link = await (await new_link(api, ident)).json()
    async with browser(api) as b:
        await b.get("/hosted/l/" + link["url"].rsplit("/", 1)[1], allow_redirects=False)
        sent = await b.post("/hosted/api/otp", headers=PAGE)
        assert sent.status == 202, await sent.text()
        assert "*" in (await sent.json())["phone"]
        wrong = await b.post("/hosted/api/otp/verify", json={"code": "000000"}, headers=PAGE)
        assert wrong.status == 422 and (await wrong.json())["code"] == "otp_rejected"
        code = await sent_code(parties, person.phone.number)
        right = await b.post("/hosted/api/otp/verify", json={"code": code}, headers=PAGE)
        assert right.status == 200 and (await right.json())["outcome"] == "passed"
        state = await (await b.get("/hosted/api/state")).json()
        assert {"method": "otp_sms", "done": True} in state["steps"]
        done = await b.post("/hosted/api/otp", headers=PAGE)
        assert done.status == 409 and (await done.json())["code"] == "step_not_offered"
    got = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [(s["method"], s["outcome"]) for s in got["steps"]] == [("otp_sms", "failed"), ("otp_sms", "passed")]
