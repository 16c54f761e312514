"""The per-account bound on guessing (issue 16.1, 16.3; NIST SP 800-63B §5.2.2; R-12.3), over HTTP on both
databases: consecutive wrong answers on one person's factor, from any address and at any lender, suspend that
factor at ``factor_failure_limit``; the person's other factors go on working; the lender or a stronger
identification reinstates it; the client is told by SMS; each step is audited. Also issue 11.7 (a duplicate of
a right code is "already used", no failure) and 11.8 (without ``client_ip`` no shared per-address send cap)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc.api.state import DB, KEYS
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.methods import factor_bound
from authsvc.methods.otp_codes import hotp, parse_base32_secret, totp
from tests.auditkit import entries
from tests.conftest import Api
from tests.methods.factorkit import (
    PEOPLE,
    Parties,
    open_identification,
    register,
    sent_code,
    start_parties,
    start_service,
    wait_for_messages,
)

ARMAN = PEOPLE["arman"]
DANA = PEOPLE["dana"]
SEED = b"12345678901234567890"
LIMIT = 5
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def service(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, **factors: Any) -> Api:
    # Per-address delays off (they are the first line, tested elsewhere): what is left is the bound.
    options = {"factor_failure_limit": LIMIT, "verify_free_failures": 100, "verify_limit_per_client": 1000}
    return await start_service(aiohttp_client, dsn, keys, parties, **(options | factors))


# A right code completes its login: the next try of the same client goes to a fresh login of theirs.
_LATEST: dict[str, str] = {}


async def _open_login(api: Api, ident: str) -> str:
    current = _LATEST.get(ident, ident)
    state = await (await api.get(f"/v1/identifications/{current}")).json()
    if state["status"] != "pending":
        current = _LATEST[ident] = await open_identification(api, state["client_id"])
    return current


async def verify(api: Api, ident: str, factor: str, code: str, ip: str | None = None) -> Any:
    """``code`` against ``ident``, or against a fresh login of its client once ``ident`` has ended."""
    return await verify_at(api, await _open_login(api, ident), factor, code, ip)


async def verify_at(api: Api, ident: str, factor: str, code: str, ip: str | None = None) -> Any:
    """``code`` against exactly ``ident``."""
    body: dict[str, Any] = {"factor": factor, "code": code}
    if ip is not None:
        body["client_ip"] = ip
    return await api.post(f"/v1/identifications/{ident}/otp/verify", body)


async def answer(resp: Any) -> tuple[int, str | None]:
    body = await resp.json()
    return int(resp.status), body.get("code") if resp.status != 200 else None


async def give_token(api: Api, client: str, serial: str = "HW-1") -> None:
    assert (await api.post("/v1/tokens", {"serial": serial, "seed_hex": SEED.hex()})).status == 201
    assert (await api.post(f"/v1/tokens/{serial}/assign", {"client_id": client})).status == 200


async def events(api: Api, event: str) -> list[str]:
    """Subjects of the audit entries named ``event``, chained or still waiting for the chainer."""
    async with api.app[DB].engine.connect() as conn:
        return [r.subject for r in await conn.execute(entries(event=event))]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


async def test_guessing_a_token_from_rotating_addresses_stops_at_the_bound(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    client = await register(api, ARMAN)
    await give_token(api, client)
    ident = await open_identification(api, client)
    answers = [
        await answer(await verify(api, ident, "hotp", wrong(hotp(SEED, 0)), f"198.51.100.{n}")) for n in range(20)
    ]
    # LIMIT wrong answers are checked, each from a new address; then the factor is suspended for every address.
    assert answers[:LIMIT] == [(422, "otp_rejected")] * LIMIT
    assert answers[LIMIT:] == [(409, "factor_suspended")] * (20 - LIMIT)
    # Even the right code: the factor is suspended, not the person (SMS still works, below).
    assert await answer(await verify(api, ident, "hotp", hotp(SEED, 0), "203.0.113.9")) == (409, "factor_suspended")
    assert await events(api, "factor.suspended") == [client]
    texts = await wait_for_messages([parties.sms_a, parties.sms_b], ARMAN.phone.number, 1)
    assert any("приостановлен" in t for t in texts)

    # The client's own SMS code still works at once, from any address.
    other = await open_identification(api, client)
    assert (await api.post(f"/v1/identifications/{other}/otp", {"client_ip": "203.0.113.9"})).status == 202
    code = await sent_code(parties, ARMAN.phone.number, 2)
    assert (await verify(api, other, "sms", code, "203.0.113.9")).status == 200

    listed = await (await api.get(f"/v1/clients/{client}/factors")).json()
    assert listed["failure_limit"] == LIMIT
    assert [(b["factor"], b["consecutive_failures"], b["suspended"]) for b in listed["bounds"]] == [
        ("hotp", LIMIT, True)
    ]

    # The lender reinstates after checking with the client: audited, told by SMS, and the token works again.
    back = await api.post(f"/v1/clients/{client}/factors/hotp/reinstate", None)
    assert back.status == 200 and await back.json() == {"factor": "hotp", "reinstated": True}
    again = await api.post(f"/v1/clients/{client}/factors/hotp/reinstate", None)
    assert await again.json() == {"factor": "hotp", "reinstated": False}
    assert await events(api, "factor.reinstated") == [client]
    texts = await wait_for_messages([parties.sms_a, parties.sms_b], ARMAN.phone.number, 3)
    assert any("снова доступен" in t for t in texts)
    assert (await verify(api, ident, "hotp", hotp(SEED, 0), "198.51.100.1")).status == 200
    unknown = await api.post(f"/v1/clients/{client}/factors/fingerprint/reinstate", None)
    assert await answer(unknown) == (404, "factor_unknown")


async def test_a_lender_forgetting_failures_short_of_the_bound_is_audited(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """Issue 16.1, every step audited: zeroing the count between guesses would give a holder of the lender's
    key unbounded guesses; it may, but not unseen (and the client is told only of a lifted suspension)."""
    api = await service(aiohttp_client, dsn, keys, parties)
    client = await register(api, ARMAN)
    await give_token(api, client)
    ident = await open_identification(api, client)
    for n in range(LIMIT - 1):
        assert (await verify(api, ident, "hotp", wrong(hotp(SEED, 0)), f"198.51.100.{n}")).status == 422
    back = await api.post(f"/v1/clients/{client}/factors/hotp/reinstate", None)
    assert await back.json() == {"factor": "hotp", "reinstated": False}
    assert await events(api, "factor.reinstated") == [client]
    listed = await (await api.get(f"/v1/clients/{client}/factors")).json()
    assert listed["bounds"] == []  # forgotten
    again = await api.post(f"/v1/clients/{client}/factors/hotp/reinstate", None)  # nothing on record: no entry
    assert await again.json() == {"factor": "hotp", "reinstated": False}
    assert await events(api, "factor.reinstated") == [client]


async def test_a_right_answer_forgives_and_suspension_blocks_nothing_else(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    arman, dana = await register(api, ARMAN), await register(api, DANA)
    await give_token(api, arman, "HW-A")
    await give_token(api, dana, "HW-D")  # the same seed on another person's token
    ident = await open_identification(api, arman)
    # LIMIT - 1 wrong, one right: the count starts again (consecutive failures), so LIMIT - 1 more are checked.
    for n in range(LIMIT - 1):
        assert (await verify(api, ident, "hotp", "000000", f"198.51.100.{n}")).status == 422
    assert (await verify(api, ident, "hotp", hotp(SEED, 0))).status == 200
    for n in range(LIMIT):
        assert (await verify(api, ident, "hotp", "000000", f"198.51.100.{n}")).status == 422
    assert await answer(await verify(api, ident, "hotp", "000000")) == (409, "factor_suspended")

    # Not blocked: the same person's authenticator app (enrolled and used now) and cabinet password ...
    enrolled = await (await api.post(f"/v1/clients/{arman}/totp", {})).json()
    secret = parse_base32_secret(parse_qs(urlsplit(enrolled["otpauth_uri"]).query)["secret"][0])
    now = time.time()
    assert (await api.post(f"/v1/clients/{arman}/totp/confirm", {"code": totp(secret, now)})).status == 200
    assert (await verify(api, ident, "totp", totp(secret, now + 30))).status == 200
    put = await api.client.put(f"/v1/clients/{arman}/password", json={"password": PASSWORD}, headers=api.headers())
    assert put.status == 204, await put.text()
    login = await open_identification(api, arman)
    assert (await api.post(f"/v1/identifications/{login}/password", {"password": PASSWORD})).status == 200
    # ... nor another person's token of the same seed.
    dana_ident = await open_identification(api, dana)
    assert (await verify(api, dana_ident, "hotp", hotp(SEED, 0))).status == 200


async def test_password_failures_count_toward_the_same_bound_across_lenders(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    client = await register(api, ARMAN)
    _, other_key = await api.new_lender()
    # The same person is a client of a second lender, with a password there too.
    from tests.conftest import individual

    resp = await api.post("/v1/clients", individual(iin=ARMAN.iin, phone=ARMAN.phone.number), key=other_key)
    assert resp.status == 201, await resp.text()
    there = (await resp.json())["id"]
    for who, key in ((client, None), (there, other_key)):
        put = await api.client.put(f"/v1/clients/{who}/password", json={"password": PASSWORD}, headers=api.headers(key))
        assert put.status == 204, await put.text()

    async def log_in(who: str, password: str, key: str | None, n: int) -> tuple[int, str | None]:
        opened = await api.post("/v1/identifications", {"client_id": who, "operation": "login"}, key=key)
        ident = (await opened.json())["id"]
        body = {"password": password, "client_ip": f"198.51.100.{n}"}
        return await answer(await api.post(f"/v1/identifications/{ident}/password", body, key=key))

    # Three wrong answers at the first lender, two at the second: the person's password factor is at the bound.
    assert [await log_in(client, "wrong password 1", None, n) for n in range(3)] == [(422, "password_rejected")] * 3
    assert [await log_in(there, "wrong password 2", other_key, n) for n in range(2)] == [(422, "password_rejected")] * 2
    assert await log_in(client, PASSWORD, None, 9) == (409, "factor_suspended")
    assert await log_in(there, PASSWORD, other_key, 9) == (409, "factor_suspended")
    async with api.app[DB].autocommit() as tx:  # what the flow leaves out of next_methods
        assert await factor_bound.suspended_methods(tx, there, limit=LIMIT) == {"password"}

    # An identification of a stronger kind (EDS, biometrics) reinstates it; a one-time code does not.
    async with api.app[DB].transaction() as tx:
        assert await factor_bound.reinstate_after_identification(tx, api.app[KEYS], client, {"otp_sms"}) == []
        assert await factor_bound.reinstate_after_identification(tx, api.app[KEYS], client, {"eds", "otp_sms"}) == [
            "password"
        ]
        assert await factor_bound.reinstate_after_identification(tx, api.app[KEYS], client, {"eds"}) == []
    assert await log_in(there, PASSWORD, other_key, 9) == (200, None)
    assert await events(api, "factor.reinstated") == [client]


async def test_sms_codes_count_toward_the_bound(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties, otp_max_attempts=3)
    client = await register(api, ARMAN)
    seen = []
    for n in range(3):  # three codes of three tries: the bound (5) comes before the codes run out
        ident = await open_identification(api, client)
        assert (await api.post(f"/v1/identifications/{ident}/otp", {"client_ip": "198.51.100.1"})).status == 202
        # After the fifth wrong answer (second code) the client was told of the suspension: one more SMS.
        code = await sent_code(parties, ARMAN.phone.number, n + 1 + (n == 2))
        for m in range(3):
            seen.append(await answer(await verify(api, ident, "sms", wrong(code), f"198.51.100.{10 * n + m}")))
    assert seen[:LIMIT] == [(422, "otp_rejected")] * LIMIT
    assert set(seen[LIMIT:]) == {(409, "factor_suspended")}
    # The last code was never guessed at once it was suspended; it is right, and still refused.
    assert await answer(await verify(api, ident, "sms", code, "203.0.113.1")) == (409, "factor_suspended")


async def test_twenty_copies_of_a_right_code_one_wins_none_counts_as_a_guess(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """Issue 11.7: duplicates of a right code are refused as "already used" (or, arriving after the winner
    completed the identification, as "closed": the identification ends in one statement now, often before
    the last copies are read) and none counts as a guess; the client's next right code passes at once."""
    api = await start_service(aiohttp_client, dsn, keys, parties)  # the default delays: 3 free failures
    client = await register(api, ARMAN)
    ip = "198.51.100.7"
    for n, factor in enumerate(("sms", "hotp")):
        if factor == "hotp":
            await give_token(api, client)
        ident = await open_identification(api, client)
        if factor == "sms":
            assert (await api.post(f"/v1/identifications/{ident}/otp", {"client_ip": ip})).status == 202
            code = await sent_code(parties, ARMAN.phone.number, 1)
        else:
            code = hotp(SEED, 0)
        # Every copy at this identification: `verify` would move a copy that arrives after the winner to a new
        # login, where the code is wrong (seen once the completing step became fast on SQLite).
        answers = await asyncio.gather(*[verify_at(api, ident, factor, code, ip) for _ in range(20)])
        found = [await answer(a) for a in answers]
        assert found.count((200, None)) == 1, (factor, found)
        refused = {(409, "otp_already_used"), (409, "identification_closed")}
        assert all(a in refused for a in found if a != (200, None)), (factor, found)
        # The next right code passes at once: no delay, no failure on record.
        nxt = await open_identification(api, client)
        if factor == "sms":
            assert (await api.post(f"/v1/identifications/{nxt}/otp", {"client_ip": ip})).status == 202
            code = await sent_code(parties, ARMAN.phone.number, 2)
        else:
            code = hotp(SEED, 1)
        assert (await verify(api, nxt, factor, code, ip)).status == 200, n
    listed = await (await api.get(f"/v1/clients/{client}/factors")).json()
    assert listed["bounds"] == []


async def test_without_client_ip_a_new_clients_first_code_is_not_capped_by_the_lenders_address(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """Issue 11.8: the lender's server is no end user's address, so it is not counted as one."""
    api = await start_service(aiohttp_client, dsn, keys, parties, send_limit_per_ip=2)
    people = [ARMAN, DANA, PEOPLE["nurlan"], PEOPLE["aigerim"]]
    statuses, clients = [], []
    for person in people:
        clients.append(await register(api, person))
        ident = await open_identification(api, clients[-1])
        statuses.append((await api.post(f"/v1/identifications/{ident}/otp", {})).status)
    assert statuses == [202, 202, 202, 202]  # the fourth, brand-new client's first code included
    # With the end user's address given, that address's cap applies as before.
    capped = []
    for client in clients[:3]:
        ident = await open_identification(api, client)
        capped.append((await api.post(f"/v1/identifications/{ident}/otp", {"client_ip": "198.51.100.1"})).status)
    assert capped == [202, 202, 429]


@pytest.mark.parametrize(
    ("dsn_seen", "reads_off"), [("postgresql://db/lender", False), ("postgresql://db/authsvc_bench_1", True)]
)
def test_the_benchmark_switch_turns_the_reads_off_only_on_a_benchmark_database(dsn_seen: str, reads_off: bool) -> None:
    """`benchmarks.bench_bound`'s switch (``AUTHSVC_BENCH_BOUND_READS_OFF``) never reaches a deployment's database."""
    probe = "from authsvc.store import tokens; print('factor_bounds' in str(tokens.ACCEPT_HOTP.core))"
    env = os.environ | {"AUTHSVC_BENCH_BOUND_READS_OFF": "1", "AUTHSVC_DATABASE_DSN": dsn_seen}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(not reads_off)
