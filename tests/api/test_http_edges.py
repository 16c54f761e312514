"""Issue 11 §11 over raw sockets: what aiohttp's HTTP parser refuses is answered problem+json like every other
error, and a client hanging up mid-body is neither logged as a database error nor counted as a 503."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Api
from tests.served import serve


async def exchange(api: Api, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(api.client.server.host, api.client.server.port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers, body
    finally:
        writer.close()


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /v1/identifications/" + b"x" * 20_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",  # a 20,000-character path
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"y" * 20_000 + b"\r\n\r\n",  # a huge header
        b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header: 1\r\n\r\n",  # a malformed header name
    ],
    ids=["long-path", "huge-header", "malformed-header"],
)
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_parser_refusals_are_problem_json(api: Api, raw: bytes, caplog: pytest.LogCaptureFixture) -> None:
    status, headers, body = await exchange(api, raw)
    assert status == 400
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["code"] == "bad_request" and problem["status"] == 400 and problem["request_id"]
    assert headers["x-request-id"] == problem["request_id"]
    assert not [r for r in caplog.records if r.exc_info], "a client's malformed request is no traceback"


def request_counts(base: str) -> dict[str, float]:
    """authsvc_http_requests_total by status, from /metrics."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("authsvc_http_requests_total{"):
            labels, _, value = line.rpartition(" ")
            status = labels.split('status="')[1].split('"')[0]
            counts[status] = counts.get(status, 0) + float(value)
    return counts


def test_a_client_hanging_up_mid_body_is_not_a_database_error(dsn: str, tmp_path: Path) -> None:
    # The real server: aiohttp's test server cancels a handler whose client left, `authsvc serve` does not.
    with serve(tmp_path, dsn) as served:
        with socket.create_connection((served.host, served.port)) as sock:
            sock.sendall(
                b"POST /v1/clients HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {served.key}\r\nContent-Length: 100000\r\n\r\n".encode()
                + b'{"kind": "individual", "surname": "'
                + b"a" * 1000
            )
            time.sleep(0.5)  # the handler is reading the body
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # hang up: RST
        deadline = time.monotonic() + 30
        while "client closed the connection" not in served.log_text():
            assert time.monotonic() < deadline, served.log_text()[-3000:]
            time.sleep(0.1)
        counts = request_counts(served.base)
        log = served.log_text()
    assert counts.get("499") == 1 and "503" not in counts and "500" not in counts, counts
    assert "database error" not in log and "unhandled error" not in log and "Traceback" not in log, log[-3000:]
