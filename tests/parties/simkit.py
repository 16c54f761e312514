"""Helpers for testing outbound clients against the simulators: endpoints with fast retries, the
simulators' fault admin, and a port nobody listens on."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from authsvc.parties.http import RetryPolicy
from authsvc.parties.jsonapi import Endpoint

ATTEMPTS = 3
FAST_RETRY = RetryPolicy(attempts=ATTEMPTS, backoff=0.01, max_backoff=0.02)
TIMEOUT = 0.3


def base_url(server: TestServer) -> str:
    return str(server.make_url("/"))


def endpoint(server: TestServer | str, name: str = "sim", **overrides: Any) -> Endpoint:
    url = server if isinstance(server, str) else base_url(server)
    options: dict[str, Any] = {"timeout": TIMEOUT, "connect_timeout": TIMEOUT, "retry": FAST_RETRY} | overrides
    return Endpoint(base_url=url, name=name, **options)


def refused_url() -> str:
    """A loopback URL whose port was just free: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


async def arm(session: aiohttp.ClientSession, server: TestServer, kind: str, **options: Any) -> None:
    async with session.post(server.make_url("/admin/faults"), json={"kind": kind, **options}) as resp:
        assert resp.status == 201, await resp.text()


async def calls_seen(session: aiohttp.ClientSession, server: TestServer) -> list[dict[str, Any]]:
    async with session.get(server.make_url("/admin/requests")) as resp:
        body: dict[str, list[dict[str, Any]]] = await resp.json()
    return body["requests"]
