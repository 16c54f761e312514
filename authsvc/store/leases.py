"""Claiming due rows of an outbox table under a lease, safe across service processes.

An outbox table has ``id``, ``status``, ``attempts``, ``next_attempt_at`` and ``claimed_until``. A row is due
when it is waiting (``waiting`` status, ``next_attempt_at`` passed) or when a claim on it lapsed (``claimed``
status, ``claimed_until`` passed: the worker holding it died). One UPDATE over a ``FOR UPDATE SKIP LOCKED``
sub-select takes a batch on PostgreSQL, so the workers of several processes never take the same row at once;
SQLite ignores FOR UPDATE and serialises the claimers with BEGIN IMMEDIATE. Used by the SMS outbox
(`authsvc.store.outbox`) and the webhook outbox (`authsvc.store.webhooks`).

A worker that stops cleanly hands its unfinished claims back (`release_statement`): the rows are due again at
once, for another process, instead of after the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import BindParameter, Table, and_, bindparam, or_, select, update

from authsvc import metrics
from authsvc.store.db import Statement, Tx

C = TypeVar("C")


def due(table: Table, *, waiting: str, claimed: str) -> Any:
    now: BindParameter[datetime] = bindparam("now")
    c = table.c
    return or_(
        and_(c.status == waiting, c.next_attempt_at <= now),
        and_(c.status == claimed, c.claimed_until < now),
    )


def claim_statement(table: Table, *, waiting: str, claimed: str, returning: tuple[Any, ...]) -> Statement:
    """``UPDATE … SET status=claimed, attempts=attempts+1, claimed_until=:lease_until`` over up to ``:batch``
    due rows, oldest due first, returning ``returning``. Parameters: ``now``, ``batch``, ``lease_until``."""
    claimable = (
        select(table.c.id)
        .where(due(table, waiting=waiting, claimed=claimed))
        .order_by(table.c.next_attempt_at)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
    )
    return Statement(
        update(table)
        .where(table.c.id.in_(claimable.scalar_subquery()), due(table, waiting=waiting, claimed=claimed))
        .values(
            status=claimed,
            attempts=table.c.attempts + 1,
            claimed_until=bindparam("lease_until"),
            updated_at=bindparam("now"),
        )
        .returning(*returning)
    )


def release_statement(table: Table, *, waiting: str, claimed: str) -> Statement:
    """``UPDATE … SET status=waiting`` for the claim ``:row_id`` made (fenced by ``:claimed_attempts``, so a
    claim that lapsed and was taken by another worker is left alone), due at ``:now``, its try given back.
    Parameters: ``row_id``, ``claimed_attempts``, ``now``."""
    c = table.c
    return Statement(
        update(table)
        .where(c.id == bindparam("row_id"), c.status == claimed, c.attempts == bindparam("claimed_attempts"))
        .values(
            status=waiting,
            attempts=c.attempts - 1,
            claimed_until=None,
            next_attempt_at=bindparam("now"),
            updated_at=bindparam("now"),
        )
    )


async def release(tx: Tx, statement: Statement, claims: Iterable[tuple[str, int]]) -> int:
    """Run a `release_statement` for each (row id, attempts of its claim); returns how many were handed back."""
    now = datetime.now(UTC)
    released = 0
    for row_id, attempts in claims:
        released += await tx.run(statement, row_id=row_id, claimed_attempts=attempts, now=now)
    return released


class Sends(Generic[C]):
    """The sends a worker has in flight, one task per claimed row. On a clean stop the sends get ``grace_s`` to
    finish; the rest are cancelled and their claims handed back (``release``), so a stopping process never
    strands a code or a callback for a lease's length. A cancelled send may have reached the other side: the
    row is sent again under the same id (delivery is at least once anyway)."""

    def __init__(self, release: Callable[[list[C]], Awaitable[object]], log: logging.Logger, failed: str) -> None:
        self._release, self._log, self._failed = release, log, failed
        self._tasks: dict[asyncio.Task[None], C] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def start(self, claim: C, send: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(send)
        self._tasks[task] = claim
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            # The claim's lease runs out and a later round tries the row again.
            self._log.error(self._failed, exc_info=task.exception())

    async def stop(self, grace_s: float) -> None:
        if self._tasks and grace_s > 0:
            await asyncio.wait(list(self._tasks), timeout=grace_s)
        left = dict(self._tasks)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        unsent = [claim for task, claim in left.items() if task.cancelled()]
        if unsent:
            try:
                await self._release(unsent)
            except Exception:  # the database is gone too: the leases lapse instead
                self._log.exception("claims not handed back; they are sent again after their lease")
            else:
                self._log.info("claims handed back at stop", extra={"count": len(unsent)})


class ClaimWorker(ABC, Generic[C]):
    """The round loop an outbox worker runs as a task (the SMS outbox, `authsvc.methods.sms_queue`; the webhook
    outbox, `authsvc.webhooks.worker`): each round claims a batch (`_claim`, up to the room left under
    ``concurrency``) and starts a send per claim (`_send`, tracked by `Sends`); every ``PURGE_EVERY_S`` it
    forgets what no longer matters (`purge`). A full batch goes straight on to the next round; otherwise it waits
    for ``bell`` (rung when something was queued here) or `_poll_s`. A round that fails is logged and the loop
    goes on; a clean stop claims no more and hands the unsent claims back (`Sends.stop`)."""

    BATCH = 50
    PURGE_EVERY_S = 300.0

    def __init__(
        self,
        log: logging.Logger,
        *,
        name: str,
        what: str,
        send_failed: str,
        bell: asyncio.Event,
        concurrency: int | None = None,
    ) -> None:
        self._log, self._name, self._what = log, name, what
        self.bell = bell
        self._concurrency = concurrency
        self._task: asyncio.Task[None] | None = None
        self._sending: Sends[C] = Sends(self._release, log, send_failed)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self, grace_s: float = 0.0) -> None:
        """Claim no more; the sends in flight get ``grace_s`` to finish, the rest go back to the outbox."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._sending.stop(grace_s)

    @abstractmethod
    def _poll_s(self) -> float:
        """How long a round that found less than a batch waits for the bell."""

    @abstractmethod
    async def _claim(self, limit: int) -> list[C]:
        """Claim up to ``limit`` due rows (in a transaction of its own)."""

    @abstractmethod
    async def _send(self, claim: C) -> None:
        """Send one claim and record its outcome."""

    @abstractmethod
    async def _release(self, unsent: list[C]) -> None:
        """Hand claims back at a clean stop."""

    @abstractmethod
    async def purge(self) -> None:
        """Forget old rows."""

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_purge = loop.time() + self.PURGE_EVERY_S
        while True:
            try:
                claimed = await self.run_once()
                if loop.time() >= next_purge:
                    next_purge = loop.time() + self.PURGE_EVERY_S
                    await self.purge()
            except Exception:
                self._log.exception("%s round failed", self._what)
                metrics.JOB_FAILURES.labels(metrics.name(self._name.replace("-", "_"))).inc()
                claimed = 0
            if claimed < self.BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.bell.wait(), self._poll_s())
                self.bell.clear()

    async def run_once(self) -> int:
        """Claim what this process has room for and start sending it; returns how many were claimed."""
        room = self.BATCH if self._concurrency is None else min(self.BATCH, self._concurrency - len(self._sending))
        if room <= 0:
            return 0
        batch = await self._claim(room)
        for claim in batch:
            self._sending.start(claim, self._send(claim))
        return len(batch)
