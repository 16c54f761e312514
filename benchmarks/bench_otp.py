"""One-time code verifications per second over HTTP, and SMS enqueue latency with a 2-second gateway;
one service process pinned to one core, PostgreSQL.

    .venv/bin/python -m benchmarks.bench_otp [--seconds 10] [--concurrency 16] [--pg postgresql://…/db]
    .venv/bin/python -m benchmarks.bench_otp --factor hotp [--seconds 10]   # hardware-token codes instead

With ``--factor hotp`` each of 100 clients holds an HOTP token (planted with the server's key, sealed like an
import) and the requests go round the clients with each token's next code, so every one is a full success too
(throttles, the per-account bound, the sealed seed opened, the counter's compare-and-set, step and audit).

Verifications: every request carries the right code of its own identification (so each is a full
success: throttle checks, the try spent, the constant-time hash check, the single-use UPDATE, the step
and its audit entry). The codes are planted in the database beforehand with the server's own key, so
the preparation does not hide in the measurement. Enqueue: ``POST /v1/identifications/{id}/otp`` while
the SMS gateway simulator takes 2 s to answer each send; the load generator runs in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.cabinet.identifiers import iin_bin_check_digit
from authsvc.crypto.local_keys import load_key_file
from authsvc.methods.factors import code_key
from authsvc.methods.otp import identification_binding
from authsvc.methods.otp_codes import hash_code, random_numeric_code
from authsvc.store import identifications as idents
from authsvc.store.engine import create_engine
from benchmarks import load, server, wrk
from benchmarks.bench_registration import _fresh_pg
from simulators.sms.app import create_app as sms_app

LUA = Path(__file__).with_name("otp_verify.lua")

PHONE = "+77771234567"  # a Beeline number of the simulators' population


CLIENTS = 50  # codes are spread over this many clients, as a lender's traffic would be


def iin_of(n: int) -> str:
    """A valid IIN (born 1990-01-01, serial ``n``) for the ``n``-th benchmark client."""
    first11 = f"9001013{n:04d}"
    check = iin_bin_check_digit(first11)
    if check is None:
        raise ValueError(n)
    return first11 + str(check)


def client_body(n: int = 126) -> dict[str, Any]:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (480, 640), (230, 228, 225)).save(buf, "JPEG")
    return {
        "kind": "individual",
        "surname": "Сериков",
        "first_name": "Арман",
        "iin": iin_of(n),
        "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
        "phone": PHONE,
        "bank_account": {"iban": "KZ18722S000012345678"},
        "photo": {"content_type": "image/jpeg", "data": base64.b64encode(buf.getvalue()).decode()},
    }


async def plant_codes(
    dsn: str, srv: server.Server, lender_id: str, clients: list[str], n: int
) -> list[tuple[str, str]]:
    """``n`` pending login identifications spread over ``clients``, each with a live code:
    [(identification id, code)]."""
    keys = load_key_file(srv.workdir / "keys.json")
    return await plant_login_codes(dsn, await code_key(keys), lender_id, clients, n)


async def plant_login_codes(
    dsn: str, key: bytes, lender_id: str, clients: Sequence[str], n: int
) -> list[tuple[str, str]]:
    """:func:`plant_codes` with the service's code key at hand (a service built in this process)."""
    from authsvc.store.schema import identifications, otp_codes

    engine = create_engine(dsn)
    out, ident_rows, code_rows = [], [], []
    now = datetime.now(UTC)
    for i in range(n):
        client_id = clients[i % len(clients)]
        ident_id, code_id, code = str(uuid.uuid4()), str(uuid.uuid4()), random_numeric_code(6)
        binding = identification_binding(ident_id, idents.Operation.LOGIN.value)
        ident_rows.append(login_row(ident_id, lender_id, client_id, now))
        code_rows.append(
            {
                "id": code_id,
                "lender_id": lender_id,
                "client_id": client_id,
                "binding": binding,
                "code_mac": hash_code(key, code, context=f"{binding}:{code_id}"),
                "channel": "sms",
                "created_at": now,
                "expires_at": now + timedelta(hours=1),
                "attempts": 0,
                "max_attempts": 5,
            }
        )
        out.append((ident_id, code))
    async with engine.begin() as conn:
        for i in range(0, n, 5000):
            await conn.execute(identifications.insert(), ident_rows[i : i + 5000])
            await conn.execute(otp_codes.insert(), code_rows[i : i + 5000])
    await settle_bulk_load(engine, "identifications", "otp_codes")
    await engine.dispose()
    return out


def login_row(ident_id: str, lender_id: str, client_id: str, now: datetime) -> dict[str, Any]:
    """A pending login identification's row, for a bulk insert."""
    return {
        "id": ident_id,
        "lender_id": lender_id,
        "client_id": client_id,
        "operation": idents.Operation.LOGIN.value,
        "status": idents.Status.PENDING.value,
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
    }


async def settle_bulk_load(engine: AsyncEngine, *tables: str) -> None:
    """Settle what a bulk load left behind (statistics, dirty pages) now, not as autovacuum and a checkpoint
    competing with the measurement for the second core."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
        await conn.exec_driver_sql("CHECKPOINT")


TOKEN_CLIENTS = 100


async def plant_tokens(
    dsn: str, srv: server.Server, lender_id: str, clients: list[str], rounds: int
) -> list[tuple[str, str, str]]:
    """An HOTP token per client and a pending login identification per code; [(identification, code, "hotp")],
    round after round over the clients, so one token's consecutive codes are ``len(clients)`` requests apart
    (a login completes with its one code: each code needs its own identification)."""
    from authsvc.methods.otp_codes import hotp
    from authsvc.store import tokens as token_store
    from authsvc.store.db import Database
    from authsvc.store.schema import identifications

    keys = load_key_file(srv.workdir / "keys.json")
    engine = create_engine(dsn)
    db = Database(engine)
    seeds = {}
    async with db.transaction() as tx:
        for n, client_id in enumerate(clients):
            seed = (f"bench-seed-{n:08d}").encode() + bytes(4)
            seeds[client_id] = seed
            await token_store.create(
                tx,
                keys,
                lender_id=lender_id,
                client_id=client_id,
                kind="hotp",
                secret=seed,
                serial=f"B-{n}",
                status="active",
            )
    now = datetime.now(UTC)
    out = [(str(uuid.uuid4()), hotp(seeds[c], r), "hotp", c) for r in range(rounds) for c in clients]
    rows = [login_row(ident_id, lender_id, client_id, now) for ident_id, _, _, client_id in out]
    async with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(identifications.insert(), rows[i : i + 5000])
    await settle_bulk_load(engine, "identifications", "otp_tokens")
    await engine.dispose()
    return [(ident_id, code, factor) for ident_id, code, factor, _ in out]


def wrk_items(srv: server.Server, planted: Sequence[tuple[str, ...]]) -> Path:
    """The file `otp_verify.lua` reads: one "identification code client-ip [factor]" line per request."""
    items = srv.workdir / "verify-items.txt"
    items.write_text(
        "".join(
            f"{p[0]} {p[1]} 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256} {p[2] if len(p) > 2 else ''}\n"
            for n, p in enumerate(planted)
        )
    )
    return items


def wrk_verify_result(
    srv: server.Server, planted: Sequence[tuple[str, ...]], seconds: float, concurrency: int
) -> wrk.WrkResult:
    """Verifications driven by wrk (C: it leaves the second core to PostgreSQL)."""
    items = wrk_items(srv, planted)
    return wrk.run(
        srv.pid, srv.base, seconds=seconds, concurrency=concurrency, script=LUA, script_args=(str(items), srv.api_key)
    )


def wrk_verify(srv: server.Server, planted: Sequence[tuple[str, ...]], seconds: float, concurrency: int) -> str:
    """Verifications driven by wrk; one line of figures."""
    return wrk_verify_result(srv, planted, seconds, concurrency).line().replace("per request", "per verification")


async def register_clients(http: aiohttp.ClientSession, base: str, count: int, first: int = 0) -> list[str]:
    """``count`` benchmark clients (serials from ``first``, skipping those without a check digit): their ids."""
    ids: list[str] = []
    for n in range(first, first + 10 * count):
        if len(ids) == count:
            break
        try:
            body = client_body(n)
        except ValueError:
            continue  # no check digit for this serial
        async with http.post(base + "/v1/clients", json=body) as resp:
            assert resp.status == 201, await resp.text()
            ids.append((await resp.json())["id"])
    return ids


async def lender_of(dsn: str) -> str:
    """The one lender of a benchmark database."""
    from sqlalchemy import text

    engine = create_engine(dsn)
    async with engine.connect() as conn:
        lender_id: str = (await conn.execute(text("SELECT id FROM lenders"))).scalar_one()
    await engine.dispose()
    return lender_id


async def bench(
    dsn: str, srv: server.Server, sms_port: int, seconds: float, concurrency: int, baseline: bool, factor: str = "sms"
) -> None:
    runner = web.AppRunner(sms_app(name="gw-a", delivery_delay_ms=0), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", sms_port).start()
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            clients = await register_clients(http, srv.base, CLIENTS)
        lender_id = await lender_of(dsn)

        if factor == "hotp":
            async with aiohttp.ClientSession(headers=headers) as http:
                holders = await register_clients(http, srv.base, TOKEN_CLIENTS, first=1000)
            rounds = int(seconds * 3000 // TOKEN_CLIENTS) + 10
            tokens_planted = await plant_tokens(dsn, srv, lender_id, holders, rounds)
            figures = wrk_verify(srv, tokens_planted, seconds, 8)
            print(f"HOTP verifications (right code, each once; wrk), postgresql, concurrency 8: {figures}")
            return
        per_run = int(seconds * 3500 + 2000)
        planted = await plant_codes(dsn, srv, lender_id, clients, 3 * per_run)

        async def read(session: aiohttp.ClientSession, n: int) -> int:
            async with session.get(f"{srv.base}/v1/identifications/{planted[n][0]}", headers=headers) as resp:
                await resp.read()
                return resp.status

        if baseline:
            result = await load.run(read, concurrency=concurrency, seconds=seconds)
            print(result.line(f"baseline: GET identification, postgresql, concurrency {concurrency}"))

        async def verify(session: aiohttp.ClientSession, n: int) -> int:
            ident, code = planted[n]
            body = {"code": code, "client_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
            url = f"{srv.base}/v1/identifications/{ident}/otp/verify"
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        if shutil.which("wrk"):
            for n, verify_concurrency in enumerate((8, 16)):
                fresh = planted[n * per_run : (n + 1) * per_run]
                figures = wrk_verify(srv, fresh, seconds, verify_concurrency)
                print(
                    f"OTP verifications (right code, each once; wrk), postgresql, concurrency {verify_concurrency}: {figures}"
                )
            offset = 2 * per_run
        else:
            offset = 0
            print("wrk is not installed: the aiohttp load generator below shares the second core with PostgreSQL")
            result = await load.run(
                lambda session, n: verify(session, offset + n), concurrency=concurrency, seconds=seconds
            )
            print(result.line(f"OTP verifications (right code, each once), postgresql, concurrency {concurrency}"))

        # Enqueue with a gateway that takes 2 s per message.
        async with aiohttp.ClientSession() as admin:
            fault = {"kind": "slow", "delay_ms": 2000, "count": None, "path": "/send"}
            async with admin.post(f"http://127.0.0.1:{sms_port}/admin/faults", json=fault) as resp:
                assert resp.status == 201
        targets = [ident for ident, _ in planted[-2000:]]

        async def send(session: aiohttp.ClientSession, n: int) -> int:
            body = {"client_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
            url = f"{srv.base}/v1/identifications/{targets[n % len(targets)]}/otp"
            async with session.post(url, json=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        for enqueue_concurrency in (1, max(1, concurrency // 2)):
            result = await load.run(send, concurrency=enqueue_concurrency, seconds=seconds)
            print(result.line(f"SMS enqueue (gateway answers in 2 s), postgresql, concurrency {enqueue_concurrency}"))
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--baseline", action="store_true", help="also time a plain authenticated read")
    parser.add_argument("--factor", choices=("sms", "hotp"), default="sms", help="the codes verified")
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; server pinned to core 0"
    )
    dsn = _fresh_pg(args.pg)
    sms_port = server.free_port()
    big = "1000000000"
    env = {
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_A_URL": f"http://127.0.0.1:{sms_port}",
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_IP": big,
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_CLIENT": big,  # every benchmark code belongs to one client
        "AUTHSVC_FACTORS_SEND_LIMIT_PER_CLIENT": big,
        "AUTHSVC_FACTORS_SEND_LIMIT_PER_PHONE": big,
        "AUTHSVC_FACTORS_SEND_LIMIT_PER_IP": big,
        "AUTHSVC_FACTORS_SEND_LIMIT_PER_LENDER": big,
    }
    try:
        with server.running(dsn, extra_env=env) as srv:
            asyncio.run(bench(dsn, srv, sms_port, args.seconds, args.concurrency, args.baseline, args.factor))
    finally:
        asyncio.run(_drop(args.pg, dsn))


async def _drop(admin_dsn: str, dsn: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    admin, name = make_url(admin_dsn), make_url(dsn).database
    conn = await asyncpg.connect(host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
