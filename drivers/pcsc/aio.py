"""Async access that never blocks the event loop: every PC/SC call of a reader runs on that
reader's own thread (one single-worker executor per reader, with its own PC/SC context, as
pcsc-lite wants contexts kept to one thread).

    async with AsyncReader() as reader:            # the first reader, or AsyncReader("name")
        await reader.wait_for_card(within=30)
        card = await reader.piv()
        certs = await card.certificates()
        await card.verify_pin(pin)
        signature = await card.sign(certs[0].slot, data)
        await reader.wait_for_removal(within=60)   # "take your card" """

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import TypeVar

from drivers.pcsc.errors import (
    SCARD_E_NO_READERS_AVAILABLE,
    CardRemoved,
    CardReset,
    PcscError,
    ServiceUnavailable,
    from_hresult,
)
from drivers.pcsc.piv import Algorithm, CardCertificate, PivCard
from drivers.pcsc.transport import Connection, Context

T = TypeVar("T")


def _list_readers() -> list[str]:
    with Context() as ctx:
        return ctx.readers()


async def list_readers() -> list[str]:
    """Reader names (a short-lived context on a worker thread)."""
    return await asyncio.to_thread(_list_readers)


class AsyncReader:
    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"pcsc:{name or 'first'}")
        self._context: Context | None = None
        self._connection: Connection | None = None

    async def __aenter__(self) -> AsyncReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run(self, fn: Callable[[Context], T]) -> T:
        """Run `fn(context)` on this reader's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._in_thread, fn)

    def _in_thread(self, fn: Callable[[Context], T]) -> T:
        if self._context is None:
            self._context = Context()
        try:
            return fn(self._context)
        except (ServiceUnavailable, CardRemoved, CardReset):
            self._drop()  # pcscd restarted or the card left: the next call starts afresh
            raise

    def _drop(self) -> None:
        for close in (
            self._connection.close if self._connection else None,
            self._context.close if self._context else None,
        ):
            if close is not None:
                with contextlib.suppress(PcscError):
                    close()
        self._connection = None
        self._context = None

    def _reader_name(self, ctx: Context) -> str:
        if self.name is not None:
            return self.name
        names = ctx.readers()
        if not names:
            raise from_hresult(SCARD_E_NO_READERS_AVAILABLE, "looking for a reader")
        self.name = names[0]
        return self.name

    async def wait_for_card(self, *, within: float | None = None) -> bytes:
        """Wait (off the loop) until a card is in the reader, at most `within` seconds; its ATR.
        The limit goes to PC/SC itself: cancelling the awaiting task would leave the thread blocked."""
        return await self.run(lambda ctx: ctx.wait_for_card(self._reader_name(ctx), timeout=within)[1])

    async def wait_for_removal(self, *, within: float | None = None) -> bool:
        """Wait (off the loop) until the card is taken out: True, or False after `within` seconds."""
        return await self.run(lambda ctx: ctx.wait_for_removal(self._reader_name(ctx), timeout=within))

    async def connect(self) -> bytes:
        """Open the card connection (again); the ATR."""

        def connect(ctx: Context) -> bytes:
            if self._connection is not None:
                self._connection.close()
            self._connection = ctx.connect(self._reader_name(ctx))
            return self._connection.atr

        return await self.run(connect)

    async def piv(self) -> AsyncPivCard:
        """Connect and select the PIV application."""
        await self.connect()

        def select(_ctx: Context) -> PivCard:
            assert self._connection is not None
            return PivCard(self._connection)

        return AsyncPivCard(self, await self.run(select))

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._drop)
        self._executor.shutdown(wait=False)


class AsyncPivCard:
    """`PivCard`'s operations, each on the reader's thread."""

    def __init__(self, reader: AsyncReader, card: PivCard) -> None:
        self._reader = reader
        self._card = card

    async def using(self, fn: Callable[[PivCard], T]) -> T:
        """Run `fn(card)` on the reader's thread: several card commands in one hop (e.g. a CMS whose
        builder calls `sign` from inside)."""
        return await self._reader.run(lambda _: fn(self._card))

    async def certificates(self) -> list[CardCertificate]:
        return await self._reader.run(lambda _: self._card.certificates())

    async def pin_tries_left(self) -> int | None:
        return await self._reader.run(lambda _: self._card.pin_tries_left())

    async def verify_pin(self, pin: str) -> None:
        await self._reader.run(lambda _: self._card.verify_pin(pin))

    async def change_pin(self, old: str, new: str) -> None:
        await self._reader.run(lambda _: self._card.change_pin(old, new))

    async def sign(
        self, slot: int, data: bytes, algorithm: Algorithm | None = None, *, prehashed: bool = False
    ) -> bytes:
        return await self._reader.run(lambda _: self._card.sign(slot, data, algorithm, prehashed=prehashed))
