"""The vpcd socket protocol from the reader driver's side: the test plays vpcd (a TCP server
speaking vsmartcard's framing) and drives the emulator's link and its HTTP control channel."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from simulators.vcard.card import ATR, Card
from simulators.vcard.control import create_app
from simulators.vcard.profile import CardProfile
from simulators.vcard.vpcd import VirtualReaderLink

SELECT = bytes.fromhex("00A4040009A0000003080000100000")


@dataclass
class FakeVpcd:
    """The reader side: accepts the card's connection, sends framed messages, reads framed answers."""

    server: asyncio.Server | None = None
    port: int = 0
    connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=asyncio.Queue)

    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, port: int = 0) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            await self.connections.put((reader, writer))

        self.server = await asyncio.start_server(accept, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def next_card(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.wait_for(self.connections.get(), 10)


async def send(writer: asyncio.StreamWriter, payload: bytes) -> None:
    writer.write(struct.pack(">H", len(payload)) + payload)
    await writer.drain()


async def receive(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">H", await asyncio.wait_for(reader.readexactly(2), 10))
    return await reader.readexactly(size)


@pytest.fixture
async def vpcd() -> AsyncIterator[FakeVpcd]:
    fake = FakeVpcd()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def link(vpcd: FakeVpcd, profile: CardProfile) -> AsyncIterator[VirtualReaderLink]:
    lnk = VirtualReaderLink(Card(profile), port=vpcd.port)
    yield lnk
    await lnk.remove()


async def test_control_codes_and_apdus(vpcd: FakeVpcd, link: VirtualReaderLink) -> None:
    await link.insert()
    reader, writer = await vpcd.next_card()
    await send(writer, b"\x04")  # ATR request: the only control code with an answer
    assert await receive(reader) == ATR
    await send(writer, b"\x01")  # power on: no answer
    await send(writer, SELECT)
    answer = await receive(reader)
    assert answer[-2:] == b"\x90\x00" and answer[0] == 0x61
    await send(writer, b"\x02")  # reset: security status gone
    await send(writer, bytes.fromhex("00200080"))
    assert await receive(reader) == b"\x63\xc3"


async def test_remove_closes_the_connection_and_insert_reconnects(vpcd: FakeVpcd, link: VirtualReaderLink) -> None:
    await link.insert()
    reader, writer = await vpcd.next_card()
    await link.remove()
    assert await reader.read() == b""  # EOF: vpcd's ATR poll fails, pcscd reports the card removed
    assert not link.inserted
    await link.insert()
    reader, writer = await vpcd.next_card()
    await send(writer, b"\x04")
    assert await receive(reader) == ATR


async def test_card_waits_for_vpcd_to_come_up(profile: CardProfile) -> None:
    fake = FakeVpcd()
    await fake.start()
    port = fake.port
    await fake.close()
    lnk = VirtualReaderLink(Card(profile), port=port)
    await lnk.insert(wait=0.3)  # nobody listens yet: the link keeps trying
    assert lnk.inserted and not lnk.connected
    later = FakeVpcd()
    await later.start(port)
    try:
        reader, writer = await later.next_card()
        await send(writer, b"\x04")
        assert await receive(reader) == ATR
    finally:
        await lnk.remove()
        await later.close()


async def test_control_channel_pulls_the_card_during_a_signature(
    vpcd: FakeVpcd, link: VirtualReaderLink, aiohttp_client: Callable[..., Awaitable[Any]]
) -> None:
    client = await aiohttp_client(create_app(link))
    status = await (await client.post("/insert")).json()
    assert status["inserted"] and status["connected"] and status["slots"] == ["82", "9A", "9C"]
    reader, writer = await vpcd.next_card()
    response = await client.post("/remove", json={"during": "general-authenticate"})
    assert response.status == 200
    await send(writer, SELECT)
    assert (await receive(reader))[-2:] == b"\x90\x00"  # other commands still answered
    await send(writer, bytes.fromhex("0087079A 04 7C028200".replace(" ", "")))
    assert await reader.read() == b""  # gone without an answer
    status = await (await client.get("/status")).json()
    assert not status["inserted"] and status["removals"] == 1
    bad = await client.post("/remove", json={"during": "lunch"})
    assert bad.status == 400 and (await bad.json())["code"] == "invalid_during"


async def test_insert_without_vpcd_answers_503(
    profile: CardProfile, aiohttp_client: Callable[..., Awaitable[Any]]
) -> None:
    fake = FakeVpcd()
    await fake.start()
    await fake.close()  # a port nobody listens on: pcscd (and its vpcd) is not running
    lnk = VirtualReaderLink(Card(profile), port=fake.port)
    client = await aiohttp_client(create_app(lnk, insert_wait=0.3))
    response = await client.post("/insert")
    assert response.status == 503 and response.content_type == "application/problem+json"
    assert (await response.json())["code"] == "vpcd_unreachable"
    await lnk.remove()
