"""Every outside-party client against its simulator under each injected fault.

What callers rely on: a broken party costs a bounded time and surfaces as UpstreamUnavailable with a
stable code; transient faults are retried away (only for calls that are safe to repeat), and the
number of attempts stays within the retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authsvc.errors import UpstreamUnavailable
from authsvc.parties.bank import BankClient
from authsvc.parties.bureau import BureauClient, LoanApplication
from authsvc.parties.cdao import CdaoClient
from authsvc.parties.http import RetryPolicy
from authsvc.parties.jsonapi import Endpoint
from authsvc.parties.sms import SmsClient
from authsvc.parties.telco import TelcoClient
from authsvc.parties.voice_call import VoiceCallClient
from simulators.bank.app import create_app as bank_app
from simulators.bureau.app import create_app as bureau_app
from simulators.cdao.app import create_app as cdao_app
from simulators.population import COMPANY_BIN, build_population
from simulators.sms.app import create_app as sms_app
from simulators.telco.app import create_app as telco_app
from tests.parties.simkit import ATTEMPTS, TIMEOUT, arm, calls_seen, endpoint, refused_url
from tests.shared import fixture_path

PEOPLE = build_population()
ARMAN = PEOPLE["arman"]

Call = Callable[[aiohttp.ClientSession, Endpoint], Awaitable[Any]]


@dataclass(frozen=True)
class Case:
    name: str
    make_app: Callable[[], web.Application]
    call: Call
    succeeded: Callable[[Any], bool]


def _photo() -> bytes:
    return fixture_path("faces", ARMAN.photo or "").read_bytes()


CASES = [
    Case(
        "telco",
        telco_app,
        lambda s, e: TelcoClient(s, e).check_subscriber(ARMAN.iin, ARMAN.phone.number),
        lambda r: r.confirmed,
    ),
    Case(
        "cdao",
        lambda: cdao_app(faces_dir=fixture_path("faces"), matcher="hash"),
        lambda s, e: CdaoClient(s, e).verify(ARMAN.iin, _photo()),
        lambda r: r.match,
    ),
    Case(
        "bureau-refusal",
        bureau_app,
        lambda s, e: BureauClient(s, e).refusal(PEOPLE["aigerim"].iin),
        lambda r: r.refusal,
    ),
    Case(
        "bureau-report",
        bureau_app,
        lambda s, e: BureauClient(s, e).report_application(
            LoanApplication("app-1", ARMAN.iin, COMPANY_BIN, 150_000, datetime(2026, 11, 21, 10, tzinfo=UTC))
        ),
        lambda r: r.status == "registered",
    ),
    Case(
        "bank",
        bank_app,
        lambda s, e: BankClient(s, e).verify_owner(ARMAN.iin, iban=ARMAN.accounts[0].iban),
        lambda r: r.payable,
    ),
    Case(
        "sms",
        lambda: sms_app(delivery_delay_ms=10),
        lambda s, e: SmsClient(s, [e], sender="DemoMFO").send(ARMAN.phone.number, "Code 123456", client_ref="c1"),
        lambda r: r.message_id.startswith("gw-a-"),
    ),
    Case(
        "voice-call",
        sms_app,
        lambda s, e: VoiceCallClient(s, e).speak_code(ARMAN.phone.number, "4821", client_ref="v1"),
        lambda r: r.status == "ringing",
    ),
]


@pytest.fixture(params=CASES, ids=lambda c: c.name)
async def case(request: pytest.FixtureRequest, aiohttp_server: Any) -> tuple[Case, TestServer]:
    case: Case = request.param
    return case, await aiohttp_server(case.make_app())


@pytest.fixture
async def session() -> Any:
    async with aiohttp.ClientSession() as s:
        yield s


async def failure(case: Case, session: aiohttp.ClientSession, ep: Endpoint) -> UpstreamUnavailable:
    with pytest.raises(UpstreamUnavailable) as err:
        await case.call(session, ep)
    assert err.value.status == 503
    return err.value


async def test_no_fault_succeeds_in_one_call(case: tuple[Case, TestServer], session: Any) -> None:
    spec, server = case
    assert spec.succeeded(await spec.call(session, endpoint(server)))
    assert len(await calls_seen(session, server)) == 1


@pytest.mark.parametrize("kind", ["error", "malformed"])
async def test_one_transient_fault_is_retried_away(case: tuple[Case, TestServer], session: Any, kind: str) -> None:
    spec, server = case
    await arm(session, server, kind, count=1)
    assert spec.succeeded(await spec.call(session, endpoint(server)))
    assert [c["fault"] for c in await calls_seen(session, server)] == [kind, None]


@pytest.mark.parametrize(
    ("kind", "options", "code"),
    [
        ("error", {"status": 503}, "upstream_bad_response"),
        ("error", {"status": 500}, "upstream_bad_response"),
        ("malformed", {}, "upstream_bad_response"),
        ("timeout", {"delay_ms": 5000}, "upstream_timeout"),
        ("disconnect", {}, "upstream_unreachable"),
    ],
)
async def test_persistent_fault_gives_a_coded_error_after_bounded_attempts(
    case: tuple[Case, TestServer], session: Any, kind: str, options: dict[str, Any], code: str
) -> None:
    spec, server = case
    await arm(session, server, kind, count=None, **options)
    started = time.perf_counter()
    error = await failure(spec, session, endpoint(server))
    elapsed = time.perf_counter() - started
    assert error.code == code
    seen = len(await calls_seen(session, server))
    if kind == "disconnect":
        # aiohttp itself repeats a GET once when a kept-alive connection is dropped: still bounded.
        assert ATTEMPTS <= seen <= 2 * ATTEMPTS
    else:
        assert seen == ATTEMPTS
    assert elapsed < ATTEMPTS * TIMEOUT + 1.0


async def test_wrong_shape_is_a_bad_response(case: tuple[Case, TestServer], session: Any) -> None:
    spec, server = case
    await arm(session, server, "bad_shape", count=None)
    assert (await failure(spec, session, endpoint(server))).code == "upstream_bad_response"


async def test_slow_answer_within_the_timeout_is_waited_for(case: tuple[Case, TestServer], session: Any) -> None:
    spec, server = case
    await arm(session, server, "slow", delay_ms=100, count=1)
    assert spec.succeeded(await spec.call(session, endpoint(server)))
    assert len(await calls_seen(session, server)) == 1


async def test_slow_answer_past_the_timeout_times_out(case: tuple[Case, TestServer], session: Any) -> None:
    spec, server = case
    await arm(session, server, "slow", delay_ms=int(TIMEOUT * 1000) + 300, count=None)
    error = await failure(spec, session, endpoint(server, retry=RetryPolicy(attempts=1)))
    assert error.code == "upstream_timeout"


async def test_connection_refused_is_unreachable(case: tuple[Case, TestServer], session: Any) -> None:
    spec, _ = case
    assert (await failure(spec, session, endpoint(refused_url()))).code == "upstream_unreachable"
