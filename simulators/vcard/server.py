"""The running emulator: one card linked to a vpcd reader, plus its HTTP control channel."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from aiohttp import web

from simulators.vcard.card import Card
from simulators.vcard.control import create_app
from simulators.vcard.profile import CardProfile
from simulators.vcard.vpcd import VirtualReaderLink


async def serve(
    profile: CardProfile,
    *,
    vpcd_host: str,
    vpcd_port: int,
    control_host: str,
    control_port: int,
    inserted: bool = True,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM when no `stop` is given)."""
    link = VirtualReaderLink(Card(profile), host=vpcd_host, port=vpcd_port)
    runner = web.AppRunner(create_app(link), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, control_host, control_port).start()
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    try:
        if inserted:
            await link.insert(wait=0)
        if ready is not None:
            ready.set()
        print(
            f"virtual card of {profile.holder}: vpcd {vpcd_host}:{vpcd_port}, control http://{control_host}:{control_port}",
            flush=True,
        )
        await stop.wait()
    finally:
        await link.remove()
        with contextlib.suppress(Exception):
            await runner.cleanup()
