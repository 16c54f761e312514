"""The emulator's side of vsmartcard's vpcd protocol: the card is a TCP client of the `vpcd` reader
driver inside pcscd (it listens on port 35963 for reader 0, 35964 for reader 1 by default).

Every message either way is a two-byte big-endian length and a payload. From the reader, a
one-byte payload is a control code — 0 power off, 1 power on, 2 reset, 4 send the ATR (only that one
is answered: with the ATR) — and anything longer is a command APDU, answered with the response APDU.
Inserting the card is connecting; removing it is closing the connection (vpcd polls with ATR requests
and reports the card gone when they fail)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from dataclasses import dataclass, field
from typing import Final

from simulators.vcard.card import ATR, Card

log = logging.getLogger(__name__)

VPCD_PORT: Final = 35963
CTRL_OFF: Final = 0
CTRL_ON: Final = 1
CTRL_RESET: Final = 2
CTRL_ATR: Final = 4


def _quick_ack(sock: socket.socket | None) -> None:
    """Acknowledge at once. vpcd before virtualsmartcard 0.9 (Debian 12's vsmartcard 3.3) sends the
    two length bytes and the APDU in two send() calls (upstream merged them in 2023), so Nagle holds
    the APDU until the length is acknowledged: our delayed ACK cost 40 ms per command. Linux leaves
    quick-ACK mode by itself, hence again before every message."""
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is not None and quickack is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


@dataclass
class Stats:
    apdus: int = 0
    insertions: int = 0
    removals: int = 0


@dataclass
class VirtualReaderLink:
    """One card in one vpcd slot, inserted and removed on command."""

    card: Card
    host: str = "127.0.0.1"
    port: int = VPCD_PORT
    stats: Stats = field(default_factory=Stats)
    remove_on_ins: int | None = None  # fault injection: vanish instead of answering this INS
    _task: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def inserted(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def insert(self, *, wait: float = 10.0) -> None:
        """Connect to vpcd (retrying while pcscd is not up yet) and serve the reader until removed."""
        if self.inserted:
            return
        self._connected.clear()
        self._task = asyncio.create_task(self._serve(), name=f"vpcd:{self.port}")
        self.stats.insertions += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), wait)

    async def remove(self) -> None:
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.stats.removals += 1

    async def _serve(self) -> None:
        try:
            while True:
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except OSError:
                    await asyncio.sleep(0.2)  # vpcd listens once pcscd has loaded the driver
                    continue
                sock = writer.get_extra_info("socket")
                if sock is not None:  # one small answer per command: Nagle + delayed ACK would add 40 ms each
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._writer = writer
                self._connected.set()
                log.info("card inserted into vpcd at %s:%d", self.host, self.port)
                try:
                    pulled = await self._session(reader, writer)
                finally:
                    self._connected.clear()
                    self.card.power_off()
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                if pulled:
                    return
                # pcscd went away (or dropped us): wait for the next vpcd, as a card left in a reader
                await asyncio.sleep(0.2)
        finally:
            self._writer = None
            log.info("card removed from vpcd at %s:%d", self.host, self.port)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one vpcd connection; True when the card was pulled out (fault injection)."""
        sock = writer.get_extra_info("socket")
        while True:
            _quick_ack(sock)
            try:
                (size,) = struct.unpack(">H", await reader.readexactly(2))
                payload = await reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError):
                return False
            if len(payload) > 1 and payload[1] == self.remove_on_ins:
                self.remove_on_ins = None
                self.stats.removals += 1
                log.info("card pulled out during INS %02X (fault injection)", payload[1])
                return True
            answer = self._answer(payload)
            if answer is None:
                continue
            writer.write(struct.pack(">H", len(answer)) + answer)
            await writer.drain()

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_ATR:
                return ATR
            if code == CTRL_ON:
                self.card.power_on()
            elif code == CTRL_OFF:
                self.card.power_off()
            elif code == CTRL_RESET:
                self.card.reset()
            return None
        self.stats.apdus += 1
        return self.card.transmit(payload)
