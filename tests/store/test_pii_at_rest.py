"""No personal data in plaintext on disk (R-7.3b-ii, R-12.2): the raw SQLite files and a pg_dump."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import Api, b64, individual, jpeg, legal_entity

PHOTO = jpeg(320, 400, (201, 123, 77))
SCAN = b"%PDF-1.4\nSECRET-SCAN-CONTENT-7731\n%%EOF\n"


def plaintexts() -> list[bytes]:
    values = [
        "Жумабаев",
        "Ерлан",
        "Серикович",
        "811201401188",
        "041234567",
        "+77012345678",
        "7012345678",
        "KZ86125KZT5004100100",
        "4111111111111111",
        "971240001315",
        "Рога и копыта",
        "Ахметова",
        "N12345678",
        "+77471234567",
    ]
    out = [v.encode() for v in values]
    out += [PHOTO[200:248], SCAN[9:33], b64(PHOTO)[100:160].encode(), base64.b64encode(SCAN)[8:40]]
    return out


async def register_both(api: Api) -> None:
    photo = {"content_type": "image/jpeg", "data": b64(PHOTO)}
    assert (await api.post("/v1/clients", individual(photo=photo))).status == 201
    le = legal_entity()
    le["documents"][0]["data"] = b64(SCAN)
    le["representative"]["iin"] = "900101300017"
    assert (await api.post("/v1/clients", le)).status == 201


def assert_absent(blob: bytes, where: str) -> None:
    for value in plaintexts():
        assert value not in blob, f"plaintext {value[:24]!r} found in {where}"
        assert value.hex().encode() not in blob.lower(), f"plaintext {value[:24]!r} found hex-encoded in {where}"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_sqlite_files_hold_no_plaintext(api: Api, dsn: str) -> None:
    await register_both(api)
    db = Path(make_url(dsn).database or "")
    files = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]  # the database, its WAL and shm
    assert db in files
    blob = b"".join(p.read_bytes() for p in files)
    assert len(blob) > 10_000
    assert_absent(blob, ", ".join(p.name for p in files))


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_postgresql_dump_holds_no_plaintext(api: Api, dsn: str) -> None:
    await register_both(api)
    url = make_url(dsn)
    dump = await asyncio.to_thread(
        subprocess.run,
        [
            "pg_dump",
            "--data-only",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            url.database or "",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert b"COPY public.clients" in dump.stdout and b"COPY public.client_files" in dump.stdout
    assert_absent(dump.stdout, "pg_dump")
