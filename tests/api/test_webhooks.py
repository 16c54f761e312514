"""Lender callbacks over HTTP, on SQLite and PostgreSQL, against a real receiver (an aiohttp server here):
the endpoint's configuration and its sealed secret, the signature as documented, retries with back-off,
dead deliveries and redelivery with the same id, event subscriptions, surviving a restart, and no double
delivery with two services' workers on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, update

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import audit_log, webhook_endpoints
from authsvc.webhooks import enqueue, signing
from tests.conftest import Api, make_settings, start_api
from tests.methods.factorkit import free_port
from tests.webhooks.receiver import Receiver

# Short waits so retries take fractions of a second.
FAST: dict[str, Any] = {
    "allow_http_loopback": True,
    "poll_s": 0.01,
    "backoff_s": 0.1,
    "max_backoff_s": 0.4,
    "timeout_s": 2.0,
    "lease_s": 5.0,
}


async def service(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, **webhooks: Any) -> Api:
    return await start_api(aiohttp_client, make_settings(dsn, webhooks={**FAST, **webhooks}), keys)


async def receiving(aiohttp_server: Any, receiver: Receiver) -> str:
    server = await aiohttp_server(receiver.app())
    return str(server.make_url("/hook"))


async def configure(api: Api, url: str, events: list[str] | None = None) -> str:
    resp = await api.client.put("/v1/webhook", json={"url": url, "events": events}, headers=api.headers())
    assert resp.status == 201, await resp.text()
    secret: str = (await resp.json())["secret"]
    return secret


async def ping(api: Api) -> str:
    resp = await api.post("/v1/webhook/ping", {})
    assert resp.status == 202, await resp.text()
    delivery_id: str = (await resp.json())["delivery_id"]
    return delivery_id


async def delivery(api: Api, delivery_id: str) -> dict[str, Any]:
    resp = await api.get(f"/v1/webhook/deliveries/{delivery_id}")
    assert resp.status == 200, await resp.text()
    found: dict[str, Any] = await resp.json()
    return found


async def until(
    api: Api, delivery_id: str, done: Callable[[dict[str, Any]], bool], within: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        found = await delivery(api, delivery_id)
        if done(found) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


async def until_status(api: Api, delivery_id: str, status: str) -> dict[str, Any]:
    return await until(api, delivery_id, lambda d: d["status"] == status)


def documented_signature(secret: str, header: str, body: bytes) -> bool:
    """The README's algorithm, by hand: t from the header, v1 = hex HMAC-SHA256(secret, "<t>.<body>")."""
    parts = dict(p.split("=", 1) for p in header.split(",") if p.startswith("t="))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, p[3:]) for p in header.split(",") if p.startswith("v1="))


# --- configuration --------------------------------------------------------------------------------------


async def test_endpoint_is_configured_shown_without_secret_and_deleted(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await service(aiohttp_client, dsn, keys)
    assert (await api.get("/v1/webhook")).status == 404
    created = await api.client.put(
        "/v1/webhook", json={"url": "https://hooks.example.kz/authsvc"}, headers=api.headers()
    )
    assert created.status == 201
    body = await created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 40 and body["events"] is None
    shown = await (await api.get("/v1/webhook")).json()
    assert shown["secret"] is None and shown["url"] == "https://hooks.example.kz/authsvc"
    changed = await api.client.put(
        "/v1/webhook",
        json={"url": "https://hooks.example.kz/v2", "events": ["identification.completed"]},
        headers=api.headers(),
    )
    assert changed.status == 200
    assert (await changed.json())["secret"] is None and (await changed.json())["events"] == ["identification.completed"]
    # Sealed at rest: neither the endpoint row nor the audit log holds the secret.
    async with api.app[DB].autocommit() as tx:
        row = await tx.one(select(webhook_endpoints))
        audit_rows = await tx.all(select(audit_log.c.details))
    assert row is not None and body["secret"].encode() not in bytes(row["secret_sealed"])
    assert all(body["secret"] not in str(r["details"]) for r in audit_rows)
    # Another lender sees nothing of it.
    _, other = await api.new_lender()
    assert (await api.get("/v1/webhook", key=other)).status == 404
    deleted = await api.client.delete("/v1/webhook", headers=api.headers())
    assert deleted.status == 204
    gone = await api.get("/v1/webhook")
    assert gone.status == 404 and (await gone.json())["code"] == "webhook_not_configured"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.kz/h",  # plain http off the loopback host
        "ftp://hooks.example.kz/h",
        "https://user:pw@hooks.example.kz/h",
        "https://10.1.2.3/h",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/h",
        "https://hooks.example.kz/h#x",
        "https://hooks.example.kz:99999/h",
        "https:///h",
    ],
)
async def test_refused_urls(api: Api, url: str) -> None:
    resp = await api.client.put("/v1/webhook", json={"url": url}, headers=api.headers())
    assert resp.status == 422 and (await resp.json())["code"] == "webhook_url_refused", await resp.text()
    assert (await api.get("/v1/webhook")).status == 404


async def test_loopback_only_when_the_setting_allows_it(api: Api) -> None:
    for url in ("http://127.0.0.1:9/h", "https://localhost/h"):
        resp = await api.client.put("/v1/webhook", json={"url": url}, headers=api.headers())
        assert resp.status == 422 and (await resp.json())["code"] == "webhook_url_refused"


async def test_unknown_event_is_refused(api: Api) -> None:
    resp = await api.client.put(
        "/v1/webhook", json={"url": "https://hooks.example.kz/h", "events": ["client.deleted"]}, headers=api.headers()
    )
    assert resp.status == 422


# --- delivery --------------------------------------------------------------------------------------------


async def test_a_delivery_is_signed_as_documented(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    receiver = Receiver()
    api = await service(aiohttp_client, dsn, keys)
    secret = await configure(api, await receiving(aiohttp_server, receiver))
    delivery_id = await ping(api)
    (got,) = await receiver.wait_for(1)
    assert got.delivery_id == delivery_id == got.payload["id"] and got.event == "webhook.ping"
    assert set(got.payload) == {"id", "event", "created_at", "data"}
    assert documented_signature(secret, got.signature, got.body)
    assert signing.verify(secret, got.body, got.signature)
    assert not signing.verify("whsec_" + "x" * 43, got.body, got.signature)  # a wrong secret fails
    assert not signing.verify(secret, got.body + b" ", got.signature)
    stamp = int(got.signature.split(",")[0][2:])
    assert abs(stamp - time.time()) < 30
    done = await until_status(api, delivery_id, "delivered")
    assert (done["attempts"], done["last_status"], done["payload"]["id"]) == (1, 200, delivery_id)


async def test_retries_back_off_keep_the_id_and_then_deliver(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    receiver = Receiver(fail_first=3, fail_status=500)
    api = await service(aiohttp_client, dsn, keys)
    secret = await configure(api, await receiving(aiohttp_server, receiver))
    delivery_id = await ping(api)
    tries = await receiver.wait_for(4)
    assert len(tries) == 4 and receiver.answered == [500, 500, 500, 200]
    assert {t.delivery_id for t in tries} == {delivery_id} and len({t.body for t in tries}) == 1
    assert all(signing.verify(secret, t.body, t.signature) for t in tries)
    gaps = [b.at - a.at for a, b in itertools.pairwise(tries)]
    # The n-th wait is min(0.1·2^(n-1), 0.4) s times a jitter of 0.5-1: at least 0.05, 0.1, 0.2 s.
    for n, gap in enumerate(gaps, start=1):
        assert gap >= 0.5 * min(0.1 * 2 ** (n - 1), 0.4) - 0.01, gaps
    # (No upper bounds: a loaded machine only ever adds to a wait.)
    done = await until_status(api, delivery_id, "delivered")
    assert (done["attempts"], done["last_status"], done["last_error"]) == (4, 200, None)
    assert done["delivered_at"] is not None and done["next_attempt_at"] is None


async def test_a_delivery_dies_after_its_tries_and_is_redelivered_with_the_same_id(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    receiver = Receiver(fail_first=10**6, fail_status=503)
    api = await service(aiohttp_client, dsn, keys, max_attempts=2)
    await configure(api, await receiving(aiohttp_server, receiver))
    delivery_id = await ping(api)
    dead = await until_status(api, delivery_id, "dead")
    assert (dead["status"], dead["attempts"], dead["last_status"], dead["last_error"]) == ("dead", 2, 503, "http_503")
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 2  # no further tries once dead
    listed = await (await api.client.get("/v1/webhook/deliveries?status=dead", headers=api.headers())).json()
    assert [d["id"] for d in listed["items"]] == [delivery_id]
    receiver.fail_first = 0
    again = await api.post(f"/v1/webhook/deliveries/{delivery_id}/redeliver", {})
    assert again.status == 202 and (await again.json())["status"] == "queued"
    done = await until_status(api, delivery_id, "delivered")
    assert done["attempts"] == 1 and receiver.received[-1].delivery_id == delivery_id
    assert (await api.post("/v1/webhook/deliveries/nope/redeliver", {})).status == 404
    _, other = await api.new_lender()
    assert (await api.get(f"/v1/webhook/deliveries/{delivery_id}", key=other)).status == 404


async def test_enqueue_follows_the_subscription(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    receiver = Receiver()
    api = await service(aiohttp_client, dsn, keys)
    await configure(api, await receiving(aiohttp_server, receiver), ["identification.completed", "incident.overdue"])
    other_lender, _ = await api.new_lender()  # no endpoint: nothing is queued for it
    data = {"identification_id": "i-1", "client_id": "c-1", "operation": "login", "profile": "res63-2021"}
    async with api.app[DB].transaction() as tx:
        await enqueue(tx, api.lender_id, "identification.failed", {**data, "status": "failed"})
        await enqueue(tx, api.lender_id, "identification.completed", {**data, "status": "completed"})
        await enqueue(tx, other_lender, "identification.completed", data)
    with pytest.raises(ValueError, match="unknown webhook event"):
        async with api.app[DB].transaction() as tx:
            await enqueue(tx, api.lender_id, "identification.deleted", data)
    # A rolled-back transaction queues nothing.
    with pytest.raises(RuntimeError):
        async with api.app[DB].transaction() as tx:
            await enqueue(tx, api.lender_id, "incident.overdue", {"incident_id": "x"})
            raise RuntimeError("the change failed")
    (got,) = await receiver.wait_for(1)
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 1
    assert got.payload["event"] == "identification.completed" and got.payload["data"]["status"] == "completed"
    listed = await (await api.get("/v1/webhook/deliveries")).json()
    assert [d["event"] for d in listed["items"]] == ["identification.completed"]


async def test_rotation_signs_with_both_secrets_during_the_grace(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    receiver = Receiver()
    api = await service(aiohttp_client, dsn, keys)
    old = await configure(api, await receiving(aiohttp_server, receiver))
    rotated = await api.post("/v1/webhook/rotate-secret", {})
    assert rotated.status == 200
    body = await rotated.json()
    new = body["secret"]
    assert new != old and body["previous_secret_valid_until"] is not None
    await ping(api)
    (got,) = await receiver.wait_for(1)
    assert got.signature.count("v1=") == 2
    assert signing.verify(new, got.body, got.signature) and signing.verify(old, got.body, got.signature)


async def test_deleting_the_endpoint_kills_its_unsent_deliveries(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await service(aiohttp_client, dsn, keys, backoff_s=60.0, max_backoff_s=60.0)
    await configure(api, f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there
    delivery_id = await ping(api)
    tried = await until_status(api, delivery_id, "queued")
    assert (await api.client.delete("/v1/webhook", headers=api.headers())).status == 204
    found = await delivery(api, delivery_id)
    assert (found["status"], found["last_error"]) == ("dead", "endpoint_deleted"), tried


async def test_a_pending_delivery_survives_a_restart(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    port = free_port()
    first = await service(aiohttp_client, dsn, keys)
    await configure(first, f"http://127.0.0.1:{port}/hook")  # the lender's receiver is down
    delivery_id = await ping(first)
    found = await until(first, delivery_id, lambda d: d["last_error"] is not None)
    assert found["status"] in ("queued", "sending") and found["last_error"] == "unreachable", found
    await first.client.close()  # the service stops (its worker with it)

    receiver = Receiver()
    runner = web.AppRunner(receiver.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        second = await start_api(aiohttp_client, make_settings(dsn, webhooks=FAST), keys)
        (got,) = await receiver.wait_for(1)
        assert got.delivery_id == delivery_id
        # The same lender, read through the restarted service.
        second.key, second.lender_id = first.key, first.lender_id
        done = await until_status(second, delivery_id, "delivered")
        assert done["attempts"] >= 2
    finally:
        await runner.cleanup()


async def test_two_services_on_one_postgresql_never_deliver_twice(
    aiohttp_client: Any, aiohttp_server: Any, pg_dsn: str, keys: LocalKeyStore
) -> None:
    from tests.conftest import reset_database

    await reset_database(pg_dsn)
    receiver = Receiver(delay_s=0.01)
    one = await service(aiohttp_client, pg_dsn, keys)
    two = await start_api(aiohttp_client, make_settings(pg_dsn, webhooks=FAST), keys)
    await configure(one, await receiving(aiohttp_server, receiver))
    async with one.app[DB].transaction() as tx:
        for n in range(120):
            await enqueue(tx, one.lender_id, "incident.deadline_near", {"incident_id": f"inc-{n}"})
    got = await receiver.wait_for(120, within=30)
    await asyncio.sleep(0.3)  # room for a double delivery to show up
    counts = Counter(r.delivery_id for r in receiver.received)
    assert len(counts) == 120 and max(counts.values()) == 1, counts.most_common(3)
    assert len(got) == 120
    assert two.app is not one.app


async def test_a_tampered_secret_sends_nothing_and_ends_dead(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """The secret is sealed under the row's data key: a row altered in the database does not open, nothing
    is posted unsigned, and the fault counts as a failed try until the delivery is dead."""
    receiver = Receiver()
    api = await service(aiohttp_client, dsn, keys, max_attempts=2)
    await configure(api, await receiving(aiohttp_server, receiver))
    async with api.app[DB].transaction() as tx:
        row = await tx.one(select(webhook_endpoints.c.secret_sealed))
        assert row is not None
        sealed = bytearray(row["secret_sealed"])
        sealed[-1] ^= 1
        await tx.run(update(webhook_endpoints).values(secret_sealed=bytes(sealed)))
    delivery_id = await ping(api)
    dead = await until_status(api, delivery_id, "dead")
    assert (dead["attempts"], dead["last_error"], dead["last_status"]) == (2, "internal_error", None)
    assert receiver.received == []
