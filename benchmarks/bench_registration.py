"""Registrations per second and latency over HTTP, one service process pinned to one core, SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.bench_registration [--seconds 20] [--concurrency 16] [--pg postgresql://…/db]

Every registration carries a 480×640 JPEG photo and a full individual record, all personal data sealed with
AES-256-GCM, an audit entry signed with Ed25519, and an Idempotency-Key. The load generator runs in this process
(on the other core).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import platform
import random
import uuid
from typing import Any

import aiohttp
from PIL import Image

from authsvc.cabinet.identifiers import iin_bin_check_digit
from benchmarks import load, server


def valid_iin(n: int) -> str:
    rng = random.Random(n)
    while True:
        prefix = f"{rng.randint(50, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.choice('34')}{rng.randint(0, 9999):04d}"
        digit = iin_bin_check_digit(prefix)
        if digit is not None:
            return prefix + str(digit)


def photo(face: bool) -> str:
    if face:  # a real frontal portrait, judged by the face-quality check
        path = os.path.join(
            os.path.dirname(__file__), "..", "..", "shared", "fixtures", "faces", "alex_lacamoire_1.jpg"
        )
        with open(os.environ.get("AUTHSVC_BENCH_PHOTO", path), "rb") as fh:
            return base64.b64encode(fh.read()).decode()
    buf = io.BytesIO()
    Image.new("RGB", (480, 640), (230, 228, 225)).save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode()


def body(iin: str, image: str) -> dict[str, Any]:
    return {
        "kind": "individual",
        "surname": "Жумабаев",
        "first_name": "Ерлан",
        "patronymic": "Серикович",
        "iin": iin,
        "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
        "phone": "+77012345678",
        "bank_account": {"iban": "KZ86125KZT5004100100"},
        "photo": {"content_type": "image/jpeg", "data": image},
    }


async def bench(base: str, key: str, seconds: float, concurrency: int, salt: int, face: bool = False) -> load.Result:
    image = photo(face)
    headers = {"Authorization": f"Bearer {key}"}
    iins = [valid_iin(salt * 10_000_000 + i) for i in range(200_000)]

    async def register(session: aiohttp.ClientSession, n: int) -> int:
        h = {**headers, "Idempotency-Key": uuid.uuid4().hex}
        async with session.post(base + "/v1/clients", json=body(iins[n], image), headers=h) as resp:
            await resp.read()
            return resp.status

    return await load.run(register, concurrency=concurrency, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--face-check", action="store_true", help="real portrait + face-quality check (R-6.1) in the process pool"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; server pinned to core 0"
    )
    for name, dsn in (("sqlite", None), ("postgresql", args.pg)):
        if args.only and name != args.only:
            continue
        if name == "postgresql":
            dsn = _fresh_pg(args.pg)
        env = {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "true" if args.face_check else "false"}
        if args.face_check:
            env["AUTHSVC_REGISTRY_PHOTO_QUALITY"] = '{"max_mouth_openness": 0.5}'
        with server.running(dsn, extra_env=env) as srv:
            salt = random.randint(1, 999)
            result = asyncio.run(bench(srv.base, srv.api_key, args.seconds, args.concurrency, salt, args.face_check))
            what = "with face check" if args.face_check else "format checks only"
            print(result.line(f"registrations ({what}), {name}, concurrency {args.concurrency}"))


def _fresh_pg(admin_dsn: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(admin_dsn)
    name = f"authsvc_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, database=url.database)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    return url.set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    main()
