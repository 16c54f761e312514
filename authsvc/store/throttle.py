"""Abuse limits kept in the database so every service process shares them (SMS pumping, code guessing).

Two kinds of row under one table, told apart by the scope's prefix:

* fixed-window counters (`count`): "at most N sends per phone per hour";
* failure counters (`fail` / `succeed`, read with `peek`): after a few free wrong answers each further one
  imposes a doubling delay, capped, so a guesser slows to a crawl but nobody is ever locked out for good.

Scopes hold keyed hashes (never a raw phone number or IP address), built by the caller.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, case, delete, func, literal, select, update
from sqlalchemy.dialects import postgresql

from authsvc.store.db import Row, Statement, Tx
from authsvc.store.schema import throttles


def _counting(scopes: list[str]) -> postgresql.Insert:
    """One event counted in each scope parameter of ``scopes`` (a new window restarts the count).
    PostgreSQL's INSERT … ON CONFLICT construct compiles for SQLite as well (same syntax since 3.24)."""
    rows = [
        {
            "scope": bindparam(p),
            "window_start": bindparam("window_start"),
            "count": 1,
            "failures": 0,
            "blocked_until": 0,
        }
        for p in scopes
    ]
    new = postgresql.insert(throttles).values(rows)
    restart = case((throttles.c.window_start == new.excluded.window_start, throttles.c.count + 1), else_=1)
    return new.on_conflict_do_update(
        index_elements=["scope"], set_={"count": restart, "window_start": new.excluded.window_start}
    )


def peek(count_scopes: Sequence[ColumnElement[str]], failure_scope: ColumnElement[str]) -> list[ColumnElement[Any]]:
    """Read-only columns for another statement's SELECT list: the events counted in each of
    ``count_scopes`` in the window given by the parameter ``window_start`` (``peek_count0``…), and
    ``failure_scope``'s pause and failures (``peek_until``, ``peek_failures``; NULL when it has none)."""
    failed = throttles.alias("failed")
    counts = []
    for i, scope in enumerate(count_scopes):
        counted = throttles.alias(f"counted{i}")
        counts.append(
            select(counted.c.count)
            .where(counted.c.scope == scope, counted.c.window_start == bindparam("window_start"))
            .scalar_subquery()
            .label(f"peek_count{i}")
        )
    return [
        *counts,
        select(failed.c.blocked_until).where(failed.c.scope == failure_scope).scalar_subquery().label("peek_until"),
        select(failed.c.failures).where(failed.c.scope == failure_scope).scalar_subquery().label("peek_failures"),
    ]


def failure_scope(client_id: str, ip_mac: str) -> str:
    """The failure record of a (client, end-user address) pair. The client id is an opaque UUID, not
    personal data, and the address appears only keyed, so a statement can build the scope itself
    (`failure_scope_sql`) from the client id it reads."""
    return f"verify-fail:{client_id}:{ip_mac}"


def failure_scope_sql(client_id: ColumnElement[str], ip_mac: ColumnElement[str]) -> ColumnElement[str]:
    return literal("verify-fail:") + client_id + ":" + ip_mac


@dataclass(frozen=True)
class Peek:
    """What a verification looks at before it checks an answer (see `peek`)."""

    counts: tuple[int, ...]  # events counted in each count scope in the current window
    paused_until: int  # epoch seconds until which the failure scope is paused (0: not)
    failures: int  # wrong answers on record for the failure scope

    def paused_for(self, now: float) -> int:
        """Seconds until the failure scope accepts another attempt (0: go ahead)."""
        return int(self.paused_until - now + 0.999) if self.paused_until > now else 0

    @classmethod
    def of(cls, row: Row, n: int) -> Peek:
        counts = tuple(row[f"peek_count{i}"] or 0 for i in range(n))
        return cls(counts, row["peek_until"] or 0, row["peek_failures"] or 0)


_PEEKS: dict[int, Statement] = {}


async def peek_at(tx: Tx, count_scopes: Sequence[str], failure_scope: str, *, window_start: int) -> Peek:
    n = len(count_scopes)
    stmt = _PEEKS.get(n)
    if stmt is None:
        scopes: list[ColumnElement[str]] = [bindparam(f"scope{i}") for i in range(n)]
        stmt = _PEEKS[n] = Statement(select(*peek(scopes, bindparam("failure_scope"))))
    params = {f"scope{i}": s for i, s in enumerate(count_scopes)}
    row = await tx.one(stmt, failure_scope=failure_scope, window_start=window_start, **params)
    return Peek((0,) * n, 0, 0) if row is None else Peek.of(row, n)


VERIFY_CLIENT = "verify-client"  # scope kind of the per-client verification cap
# The per-address cap's counter when the lender named no end-user address: the client's own (issue 11.8).
ANON_PREFIX = "verify-anon:"


def id_scope(kind: str, opaque_id: str) -> str:
    """A counter keyed by an opaque id (a client's or a lender's UUID: not personal data)."""
    return f"{kind}:{opaque_id}"


def id_scope_sql(kind: str, opaque_id: ColumnElement[str]) -> ColumnElement[str]:
    return literal(f"{kind}:") + opaque_id


def verify_peek(client_id: ColumnElement[str]) -> list[ColumnElement[Any]]:
    """`peek` as every code verification reads it beside its identification: the per-address counter (the
    parameter ``ip_scope``; without the end user's address, the client's own: `ANON_PREFIX`), the per-client
    cap, and the failure record of the pair (parameter ``ip_mac``)."""
    return peek(
        [
            func.coalesce(bindparam("ip_scope", type_=String), literal(ANON_PREFIX) + client_id),
            id_scope_sql(VERIFY_CLIENT, client_id),
        ],
        failure_scope_sql(client_id, bindparam("ip_mac")),
    )


def window_of(now: float, window_s: int) -> int:
    return int(now // window_s) * window_s


_first_failure = postgresql.insert(throttles).values(
    scope=bindparam("scope"), window_start=0, count=0, failures=1, blocked_until=0
)
_FAIL = Statement(
    _first_failure.on_conflict_do_update(
        index_elements=["scope"], set_={"failures": throttles.c.failures + 1}
    ).returning(throttles.c.failures)
)
_BLOCK = Statement(
    update(throttles).where(throttles.c.scope == bindparam("key")).values(blocked_until=bindparam("until"))
)
_FORGIVE = Statement(
    # Only rows with failures are written: a right answer on a clean record costs no row lock.
    update(throttles)
    .where(throttles.c.scope == bindparam("key"), throttles.c.failures > 0)
    .values(failures=0, blocked_until=0)
)


async def count(tx: Tx, scope: str, *, limit: int, window_s: int, now: float | None = None) -> int:
    """Count one event in ``scope``; 0 when within ``limit`` for the window, else seconds to wait."""
    return await count_many(tx, {scope: limit}, window_s=window_s, now=now)


async def count_many(tx: Tx, limits: dict[str, int], *, window_s: int, now: float | None = None) -> int:
    """Count one event in each scope of ``limits`` (scope -> cap); 0 when every scope is within its cap
    for the window, else the seconds until the window resets."""
    now = time.time() if now is None else now
    window = int(now // window_s) * window_s
    scopes = list(limits)
    params = {f"scope{i}": scope for i, scope in enumerate(scopes)}
    rows = await tx.all(count_statement(len(scopes)), window_start=window, **params)
    over = any(row["count"] > limits[row["scope"]] for row in rows)
    return max(1, int(window + window_s - now + 0.999)) if over else 0


_COUNT_MANY: dict[int, Statement] = {}


def count_statement(n: int) -> Statement:
    """`_counting` for ``n`` scopes at once (parameters scope0…), built once per ``n``."""
    stmt = _COUNT_MANY.get(n)
    if stmt is None:
        stmt = Statement(_counting([f"scope{i}" for i in range(n)]).returning(throttles.c.scope, throttles.c.count))
        if n <= 16:
            _COUNT_MANY[n] = stmt
    return stmt


_UNCOUNT_MANY: dict[int, Statement] = {}


def uncount_statement(n: int) -> Statement:
    """Take back one event counted by `count_statement` (``n`` scopes, parameters scope0… and window_start) in the
    same window: for an attempt found, after its count, to be no attempt at all."""
    stmt = _UNCOUNT_MANY.get(n)
    if stmt is None:
        rows = [
            {
                "scope": bindparam(f"scope{i}"),
                "window_start": bindparam("window_start"),
                "count": 0,
                "failures": 0,
                "blocked_until": 0,
            }
            for i in range(n)
        ]
        new = postgresql.insert(throttles).values(rows)
        same_window = (throttles.c.window_start == new.excluded.window_start) & (throttles.c.count > 0)
        stmt = Statement(
            new.on_conflict_do_update(
                index_elements=["scope"],
                set_={"count": case((same_window, throttles.c.count - 1), else_=throttles.c.count)},
            )
        )
        if n <= 16:
            _UNCOUNT_MANY[n] = stmt
    return stmt


def delay_after(failures: int, *, free: int, base_s: int, max_s: int) -> int:
    """The wait imposed after the ``failures``-th wrong answer: none for the first ``free``, then doubling."""
    if failures <= free:
        return 0
    return int(min(max_s, base_s * 2 ** min(failures - free - 1, 30)))


async def fail(tx: Tx, scope: str, *, free: int, base_s: int, max_s: int, now: float | None = None) -> int:
    """Record a wrong answer in ``scope``; returns the delay now imposed (0 while still free)."""
    now = time.time() if now is None else now
    tx = tx
    row = await tx.one(_FAIL, scope=scope)
    failures: int = row["failures"] if row is not None else 1
    wait = delay_after(failures, free=free, base_s=base_s, max_s=max_s)
    if wait:
        await tx.run(_BLOCK, key=scope, until=int(now) + wait)
    return wait


async def succeed(tx: Tx, scope: str) -> None:
    """A right answer forgives the earlier wrong ones."""
    await tx.run(_FORGIVE, key=scope)


async def purge(tx: Tx, *, older_than_s: int, now: float | None = None) -> None:
    """Forget counters whose window and delay are long over and that hold no failures."""
    now = time.time() if now is None else now
    await tx.run(
        delete(throttles).where(
            throttles.c.window_start < now - older_than_s,
            throttles.c.blocked_until < now,
            throttles.c.failures == 0,
        )
    )
