"""Bells between processes: a request queued work (an SMS, a callback, an incident export) in one process, and
the process running the jobs should look now, not at its next poll. PostgreSQL carries them (NOTIFY/LISTEN).

A serving process without jobs (`authsvc serve --no-jobs`, `--workers N`) rings `PeerBells.relay(channel)`
where it used to ring its own worker's `asyncio.Event`; the process running the jobs (`authsvc worker`)
`listen`s and sets its workers' events. A bell only shortens a wait: the workers still poll, so a bell lost
while the listener reconnects (or on SQLite, which has no NOTIFY) costs at most one poll interval. Rings are
coalesced: while one NOTIFY of a channel is on its way, further rings make one more, not one each, and that one
after `RING_GAP_S` — under load a process sends a channel at most ~100 NOTIFYs a second, each waking the worker
for everything queued since the last, instead of one round trip per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from authsvc.store.db import Database

log = logging.getLogger("authsvc.bells")
RECONNECT_S = 1.0
RING_GAP_S = 0.01
SMS, WEBHOOKS, INCIDENTS = "authsvc_sms_outbox", "authsvc_webhook_outbox", "authsvc_incident_exports"


class _RelayBell(asyncio.Event):
    """An event whose ``set`` also rings the channel for the other processes."""

    def __init__(self, bells: PeerBells, channel: str) -> None:
        super().__init__()
        self._bells, self._channel = bells, channel

    def set(self) -> None:
        super().set()  # nobody waits on it here; it stays an Event for the code that rings it
        self._bells.ring(self._channel)


class PeerBells:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def relay(self, channel: str) -> asyncio.Event:
        """An `asyncio.Event` to ring instead of a local worker's: on PostgreSQL it reaches the listeners."""
        return _RelayBell(self, channel) if self._db.pool is not None else asyncio.Event()

    def ring(self, channel: str) -> None:
        if channel in self._sending:
            self._again.add(channel)
            return
        task = asyncio.create_task(self._notify(channel), name=f"bell-{channel}")
        self._sending[channel] = task

    async def _notify(self, channel: str) -> None:
        try:
            while True:
                self._again.discard(channel)
                assert self._db.pool is not None
                try:
                    async with self._db.pool.acquire() as conn:
                        await conn.execute("SELECT pg_notify($1, '')", channel)
                except Exception as exc:  # a lost bell costs one poll interval: never fail the request
                    log.warning("bell not rung", extra={"channel": channel, "error": type(exc).__name__})
                    return
                if channel not in self._again:
                    return
                await asyncio.sleep(RING_GAP_S)
        finally:
            self._sending.pop(channel, None)

    async def close(self) -> None:
        """Let the rings on their way finish (a stop right after a request still wakes the worker)."""
        pending = list(self._sending.values())
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def listen(self, events: Mapping[str, asyncio.Event]) -> None:
        """Set ``events[channel]`` whenever another process rings it; runs until cancelled, reconnecting."""
        if self._db.pool is None:
            return  # SQLite: the workers poll
        while True:
            try:
                await self._listen_once(events)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("bell listener lost its connection", extra={"error": type(exc).__name__})
            await asyncio.sleep(RECONNECT_S)

    async def _listen_once(self, events: Mapping[str, asyncio.Event]) -> None:
        assert self._db.pool is not None
        async with self._db.pool.acquire() as conn:
            lost = asyncio.Event()

            def on_bell(_conn: Any, _pid: int, channel: str, _payload: str) -> None:
                event = events.get(channel)
                if event is not None:
                    event.set()

            def on_lost(_conn: Any) -> None:
                lost.set()

            conn.add_termination_listener(on_lost)
            try:
                for channel in events:
                    await conn.add_listener(channel, on_bell)
                for event in events.values():
                    event.set()  # what was queued while nobody listened
                await lost.wait()
            finally:
                # The pool hands this connection out again without a reset (`store.db`): stop listening first.
                conn.remove_termination_listener(on_lost)
                for channel in events:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(channel, on_bell)
