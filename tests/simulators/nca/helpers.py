"""Small readers of what the simulator serves, shared by the tests."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from asn1crypto import x509

BASE_URL = "http://nca.simulator.test"
# One pinned clock for the session, close to now so OpenSSL (which checks against its own clock)
# accepts the certificates.
FIXED_TIME = datetime.now(UTC).replace(microsecond=0)

NcaClient = TestClient[web.Request, web.Application]


async def people(nca: NcaClient) -> dict[str, Any]:
    response = await nca.get("/people")
    assert response.status == 200
    data: dict[str, Any] = await response.json()
    return data


def ca_cert(index: dict[str, Any], family: str, part: str) -> x509.Certificate:
    return x509.Certificate.load(base64.b64decode(index["cas"][family][part]))


def person_cert(index: dict[str, Any], person: str, family: str) -> x509.Certificate:
    entry = next(p for p in index["people"] if p["id"] == person)
    cert = next(c for c in entry["certificates"] if c["family"] == family)
    return x509.Certificate.load(base64.b64decode(cert["certificate"]))


async def issue(nca: NcaClient, **fields: Any) -> dict[str, Any]:
    body = {"iin": "900101300126", "surname": "Сериков", "first_name": "Арман", **fields}
    response = await nca.post("/admin/issue", json=body)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def revoke(nca: NcaClient, serial: str, **fields: Any) -> dict[str, Any]:
    response = await nca.post("/admin/revoke", json={"serial": serial, **fields})
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


def pem(cert: x509.Certificate) -> str:
    body = base64.encodebytes(cert.dump()).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_text("".join(pem(c) for c in certs), encoding="ascii")
    return path


async def openssl(*args: str | Path, stdin: bytes | None = None) -> tuple[int, str]:
    """Run OpenSSL without blocking the loop that serves the simulator it may be talking to."""
    proc = await asyncio.create_subprocess_exec(
        "openssl",
        *map(str, args),
        stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate(stdin)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace")
