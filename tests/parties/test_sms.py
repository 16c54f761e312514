"""SMS client against two simulated gateways: failover, idempotent sends, receipts; verification calls."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authsvc.errors import BadRequest, Unauthorized, UpstreamUnavailable
from authsvc.parties.jsonapi import UpstreamRejected
from authsvc.parties.sms import SmsClient
from authsvc.parties.voice_call import VoiceCallClient
from simulators.population import build_population
from simulators.sms.app import create_app
from tests.parties.simkit import arm, calls_seen, endpoint, refused_url

PEOPLE = build_population()
ARMAN, TIMUR = PEOPLE["arman"], PEOPLE["timur"]
SECRET = "receipt-secret"


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def gateways(aiohttp_server: Any) -> tuple[TestServer, TestServer]:
    a = await aiohttp_server(create_app(name="gw-a", delivery_delay_ms=20, callback_secret=SECRET))
    b = await aiohttp_server(create_app(name="gw-b", delivery_delay_ms=20, callback_secret=SECRET))
    return a, b


def client(session: Any, a: TestServer | str, b: TestServer | str, **kw: Any) -> SmsClient:
    return SmsClient(session, [endpoint(a, "gw-a"), endpoint(b, "gw-b")], sender="DemoMFO", **kw)


async def messages(session: Any, server: TestServer, to: str) -> list[dict[str, Any]]:
    async with session.get(server.make_url("/messages"), params={"to": to}) as resp:
        return list((await resp.json())["messages"])


async def test_first_gateway_takes_the_message(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, b = gateways
    sent = await client(session, a, b).send(ARMAN.phone.number, "Код: 042917", client_ref="idn-1")
    assert (sent.gateway, sent.skipped) == ("gw-a", ())
    [message] = await messages(session, a, ARMAN.phone.number)
    assert (message["text"], message["sender"], message["message_id"]) == ("Код: 042917", "DemoMFO", sent.message_id)
    assert await messages(session, b, ARMAN.phone.number) == []


@pytest.mark.parametrize("kind", ["error", "timeout", "malformed", "disconnect"])
async def test_failover_to_the_second_gateway(session: Any, gateways: tuple[TestServer, TestServer], kind: str) -> None:
    a, b = gateways
    await arm(session, a, kind, count=None, delay_ms=5000)
    sent = await client(session, a, b).send(ARMAN.phone.number, "Код: 111222", client_ref="idn-2")
    assert sent.gateway == "gw-b"
    assert [gw for gw, _ in sent.skipped] == ["gw-a"]
    assert [m["text"] for m in await messages(session, b, ARMAN.phone.number)] == ["Код: 111222"]


async def test_failover_when_the_first_gateway_is_down(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    _, b = gateways
    sent = await client(session, refused_url(), b).send(ARMAN.phone.number, "x", client_ref="idn-3")
    assert sent.gateway == "gw-b" and sent.skipped == (("gw-a", "upstream_unreachable"),)


async def test_all_gateways_failing_names_each(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, _ = gateways
    await arm(session, a, "error", count=None)
    with pytest.raises(UpstreamUnavailable) as err:
        await client(session, a, refused_url()).send(ARMAN.phone.number, "x", client_ref="idn-4")
    assert err.value.code == "upstream_unreachable"
    assert err.value.extra["skipped"] == [("gw-a", "upstream_bad_response"), ("gw-b", "upstream_unreachable")]


async def test_a_rejected_number_is_not_failed_over(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, b = gateways
    with pytest.raises(UpstreamRejected) as err:
        await client(session, a, b).send("+7 123 456 7890", "x", client_ref="idn-5")
    assert err.value.status == 502 and err.value.extra["upstream_code"] == "invalid_number"
    assert await calls_seen(session, b) == []


async def test_skip_resends_through_another_gateway(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, b = gateways
    sms = client(session, a, b)
    first = await sms.send(ARMAN.phone.number, "x", client_ref="idn-6")
    again = await sms.send(ARMAN.phone.number, "x", client_ref="idn-6", skip={first.gateway})
    assert (first.gateway, again.gateway) == ("gw-a", "gw-b")


async def test_a_retried_send_is_delivered_once(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    """The first attempt reaches the gateway but answers too late; the retry carries the same
    client_ref, so the gateway sends one message, not two."""
    a, b = gateways
    await arm(session, a, "slow", delay_ms=450, count=1)
    sent = await client(session, a, b).send(ARMAN.phone.number, "Код: 777000", client_ref="idn-7")
    assert sent.gateway == "gw-a"
    await asyncio.sleep(0.3)  # let the slow first attempt finish
    assert len(await calls_seen(session, a)) == 2
    assert [m["message_id"] for m in await messages(session, a, ARMAN.phone.number)] == [sent.message_id]


async def test_status_polling_reports_delivery_and_failure(
    session: Any, gateways: tuple[TestServer, TestServer]
) -> None:
    a, b = gateways
    sms = client(session, a, b)
    ok = await sms.send(ARMAN.phone.number, "x", client_ref="idn-8")
    off = await sms.send(TIMUR.phone.number, "x", client_ref="idn-9")
    assert (await sms.status(ok)).status == "accepted"
    delivered, failed = await sms.await_final(ok, within=2, interval=0.02), await sms.status(off)
    assert delivered.status == "delivered" and delivered.delivered_at is not None and delivered.final
    assert (failed.status, failed.error) == ("failed", "unreachable")


async def test_signed_receipts_reach_the_callback_and_parse(
    session: Any, gateways: tuple[TestServer, TestServer], aiohttp_server: Any
) -> None:
    received: asyncio.Queue[tuple[bytes, str | None]] = asyncio.Queue()

    async def receipt(request: web.Request) -> web.Response:
        await received.put((await request.read(), request.headers.get("X-Signature")))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/receipt", receipt)
    hook = await aiohttp_server(receiver)
    a, b = gateways
    sms = client(session, a, b, callback_url=str(hook.make_url("/receipt")), receipt_secret=SECRET.encode())
    sent = await sms.send(TIMUR.phone.number, "x", client_ref="idn-10")
    body, signature = await asyncio.wait_for(received.get(), 2)
    status = sms.parse_receipt(body, signature)
    assert (status.message_id, status.status, status.error) == (sent.message_id, "failed", "unreachable")
    tampered = body.replace(b"failed", b"delivered")
    with pytest.raises(Unauthorized) as err:
        sms.parse_receipt(tampered, signature)
    assert err.value.code == "bad_receipt_signature"
    with pytest.raises(Unauthorized):
        sms.parse_receipt(body, None)
    junk = b'{"hello": 1}'
    good_sig = "sha256=" + hmac.new(SECRET.encode(), junk, hashlib.sha256).hexdigest()
    with pytest.raises(BadRequest) as bad:
        sms.parse_receipt(junk, good_sig)
    assert bad.value.code == "bad_receipt"
    assert json.loads(body)["gateway"] == "gw-a"


async def answer_call(session: Any, server: TestServer, call_id: str, **body: Any) -> None:
    async with session.post(server.make_url(f"/admin/calls/{call_id}/answer"), json=body) as resp:
        assert resp.status == 200, await resp.text()


async def test_verification_call_reads_a_code(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, _ = gateways
    calls = VoiceCallClient(session, endpoint(a, "gw-a"))
    placed = await calls.speak_code(ARMAN.phone.number, "4821", client_ref="call-1", prompt="Ваш код")
    assert placed.status == "ringing" and not placed.final
    again = await calls.speak_code(ARMAN.phone.number, "4821", client_ref="call-1")
    assert again.call_id == placed.call_id  # placing is idempotent by client_ref
    await answer_call(session, a, placed.call_id)
    done = await calls.state(placed.call_id)
    assert done.status == "completed" and done.digits is None and done.ended_at is not None


async def test_verification_call_collects_digits(session: Any, gateways: tuple[TestServer, TestServer]) -> None:
    a, _ = gateways
    calls = VoiceCallClient(session, endpoint(a, "gw-a"))
    placed = await calls.collect_digits(ARMAN.phone.number, 4, client_ref="call-2")
    still_ringing = await calls.await_final(placed.call_id, within=0.05, interval=0.02)
    assert still_ringing.status == "ringing"
    await answer_call(session, a, placed.call_id, digits="5930")
    assert (await calls.await_final(placed.call_id, within=1, interval=0.02)).digits == "5930"
    rejected = await calls.collect_digits(ARMAN.phone.number, 1, client_ref="call-3", prompt="Press 1 to confirm")
    await answer_call(session, a, rejected.call_id, outcome="rejected")
    assert (await calls.state(rejected.call_id)).status == "rejected"
    off = await calls.speak_code(TIMUR.phone.number, "1234", client_ref="call-4")
    assert off.status == "unreachable" and off.final
