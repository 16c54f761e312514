"""The per-account guessing bound (issue 16): consecutive wrong answers per person and factor.

One row per (person, factor). The person is the clients' ``iin_mac`` (a keyed hash of the IIN), so the count
holds across every lender that has the person as a client, across addresses and across service processes.
``failures`` counts wrong answers since the last right one; at the configured limit the factor is suspended
(``suspended_at`` records when) until the lender or a stronger identification reinstates it.

Two ways to count, both atomic in the database:

* `charge` (the token and password paths, in a transaction): one failure is charged *before* the answer
  is checked, and refused at the limit; the row stays locked until commit, so concurrent guesses in any
  number of processes are checked at most ``limit`` times. A right answer then `clear`s, a duplicate
  `refund`s.
* `FAIL` (the SMS hot path, on a plain connection): counted after a wrong answer; the read that precedes
  it carries ``failures`` (`BOUND_FAILURES`), so a right code costs no extra round trip. Overshoot is
  bounded by the code's own attempt limit (a code takes at most ``otp_max_attempts`` tries, atomically).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, String, bindparam, cast, exists, func, literal, select, true, update
from sqlalchemy.dialects import postgresql

from authsvc.store.db import Row, Statement, Tx
from authsvc.store.schema import clients, factor_bounds

FACTORS = ("sms", "totp", "hotp", "password")

# For `benchmarks.bench_bound` only: what the bound costs a right answer is its reads (the failures read with the
# identification, the "below the bound" guard of a token's compare-and-set). With this set when the process
# starts, those reads are constants, so the benchmark can time the same code with and without them in alternating
# rounds. Never in a deployment: a suspended SMS factor is no longer refused (wrong token answers stay charged).
# Honoured only on a benchmark's throwaway database (`benchmarks.bench_registration._fresh_pg` names them so).
BENCH_WITHOUT_READS = os.environ.get("AUTHSVC_BENCH_BOUND_READS_OFF") == "1" and "/authsvc_bench_" in os.environ.get(
    "AUTHSVC_DATABASE_DSN", ""
)
if BENCH_WITHOUT_READS:
    logging.getLogger("authsvc.store").warning(
        "AUTHSVC_BENCH_BOUND_READS_OFF=1: the bound's reads are off (benchmarks only)"
    )


def bound_failures(person_mac: ColumnElement[bytes], factor: str | ColumnElement[str]) -> ColumnElement[int]:
    """A scalar subquery for another statement's SELECT list: the person's consecutive failures of ``factor``."""
    if BENCH_WITHOUT_READS:
        return literal(0)
    return (
        select(factor_bounds.c.failures)
        .where(
            factor_bounds.c.person_mac == person_mac,
            factor_bounds.c.factor == (literal(factor) if isinstance(factor, str) else factor),
        )
        .scalar_subquery()
    )


def below_limit() -> ColumnElement[bool]:
    """For a guard's WHERE: the person's factor (parameters ``b_person``, ``b_factor``) is below ``limit``
    consecutive failures, i.e. not suspended."""
    if BENCH_WITHOUT_READS:
        return true()
    return ~exists(
        select(literal(1))
        .select_from(factor_bounds)
        .where(
            factor_bounds.c.person_mac == bindparam("b_person"),
            factor_bounds.c.factor == bindparam("b_factor"),
            factor_bounds.c.failures >= bindparam("limit"),
        )
    )


_new = postgresql.insert(factor_bounds)
# One failure charged (parameters client_id, b_factor, limit): a row back with the count, none at the limit.
CHARGE = Statement(
    _new.from_select(
        ["person_mac", "factor", "failures", "updated_at"],
        # Typed casts and the server's clock: an INSERT … SELECT gives its parameters no column to infer from.
        select(clients.c.iin_mac, cast(bindparam("b_factor"), String(16)), literal(1), func.now()).where(
            clients.c.id == bindparam("client_id")
        ),
    )
    .on_conflict_do_update(
        index_elements=["person_mac", "factor"],
        set_={"failures": factor_bounds.c.failures + 1, "updated_at": func.now()},
        where=factor_bounds.c.failures < bindparam("limit"),
    )
    .returning(factor_bounds.c.person_mac, factor_bounds.c.failures)
)
_first = postgresql.insert(factor_bounds).values(
    person_mac=bindparam("b_person"),
    factor=bindparam("b_factor"),
    failures=1,
    suspended_at=None,
    updated_at=bindparam("b_now"),
)
FAIL = Statement(
    _first.on_conflict_do_update(
        index_elements=["person_mac", "factor"],
        set_={"failures": factor_bounds.c.failures + 1, "updated_at": _first.excluded.updated_at},
    ).returning(factor_bounds.c.failures)
)
# A right answer forgives, but never lifts a suspension (a racing wrong answer may have reached the limit).
CLEAR = Statement(
    update(factor_bounds)
    .where(
        factor_bounds.c.person_mac == bindparam("b_person"),
        factor_bounds.c.factor == bindparam("b_factor"),
        factor_bounds.c.failures > 0,
        factor_bounds.c.failures < bindparam("limit"),
        factor_bounds.c.suspended_at.is_(None),
    )
    .values(failures=0, updated_at=bindparam("b_now"))
)
REFUND = Statement(
    update(factor_bounds)
    .where(
        factor_bounds.c.person_mac == bindparam("b_person"),
        factor_bounds.c.factor == bindparam("b_factor"),
        factor_bounds.c.failures > 0,
        factor_bounds.c.suspended_at.is_(None),
    )
    .values(failures=factor_bounds.c.failures - 1, updated_at=bindparam("b_now"))
)
# Exactly one transaction marks the suspension (and audits it, and tells the client).
SUSPEND = Statement(
    update(factor_bounds)
    .where(
        factor_bounds.c.person_mac == bindparam("b_person"),
        factor_bounds.c.factor == bindparam("b_factor"),
        factor_bounds.c.suspended_at.is_(None),
    )
    .values(suspended_at=bindparam("b_now"), updated_at=bindparam("b_now"))
    .returning(factor_bounds.c.failures)
)


@dataclass(frozen=True)
class Bound:
    """The person behind a verification's client and their consecutive failures of a factor (issue 16)."""

    person_mac: bytes
    failures: int


_PERSON = Statement(select(clients.c.iin_mac).where(clients.c.id == bindparam("client_id")))


async def bound_of(tx: Tx, client_id: str, factor: str) -> Bound | None:
    """The person behind ``client_id`` and their consecutive failures of ``factor`` (None: no such client)."""
    mac = await tx.scalar(_PERSON, client_id=client_id)
    if mac is None:
        return None
    found = await state(tx, bytes(mac), factor)
    return Bound(bytes(mac), found.failures if found is not None else 0)


@dataclass(frozen=True)
class Charged:
    person_mac: bytes
    failures: int  # including the attempt being checked


async def charge(tx: Tx, client_id: str, factor: str, *, limit: int) -> Charged | None:
    """Charge one failure before checking an answer; None when the factor is at its limit (suspended) or
    the client does not exist. Hold the transaction until `clear`, `refund` or commit."""
    row = await tx.one(CHARGE, client_id=client_id, b_factor=factor, limit=limit)
    return None if row is None else Charged(bytes(row["person_mac"]), row["failures"])


async def clear(tx: Tx, person_mac: bytes, factor: str, *, limit: int) -> None:
    """After a right answer that was `charge`d (the row is locked, so no wrong answer raced it to the limit)."""
    await tx.run(CLEAR, b_person=person_mac, b_factor=factor, limit=limit + 1, b_now=datetime.now(UTC))


async def refund(tx: Tx, person_mac: bytes, factor: str) -> None:
    await tx.run(REFUND, b_person=person_mac, b_factor=factor, b_now=datetime.now(UTC))


async def fail(tx: Tx, person_mac: bytes, factor: str) -> int:
    """Count a wrong answer (the SMS path); returns the consecutive failures now on record."""
    row = await tx.one(FAIL, b_person=person_mac, b_factor=factor, b_now=datetime.now(UTC))
    return int(row["failures"]) if row is not None else 1


async def person_of(tx: Tx, client_id: str) -> tuple[str, bytes] | None:
    """The client's lender and person key (its ``iin_mac``)."""
    row = await tx.one(select(clients.c.lender_id, clients.c.iin_mac).where(clients.c.id == client_id))
    return None if row is None else (row["lender_id"], bytes(row["iin_mac"]))


def any_suspended(client_id: ColumnElement[str]) -> ColumnElement[bool]:
    """For another statement's SELECT list: whether the client's person has a suspended factor."""
    return (
        select(factor_bounds.c.factor)
        .select_from(factor_bounds.join(clients, clients.c.iin_mac == factor_bounds.c.person_mac))
        .where(clients.c.id == client_id, factor_bounds.c.suspended_at.is_not(None))
        .exists()
    )


@dataclass(frozen=True)
class State:
    factor: str
    failures: int
    suspended_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _state(row: Row) -> State:
    return State(row["factor"], row["failures"], _aware(row["suspended_at"]))


async def states(tx: Tx, person_mac: bytes) -> list[State]:
    rows = await tx.all(
        select(factor_bounds).where(factor_bounds.c.person_mac == person_mac).order_by(factor_bounds.c.factor)
    )
    return [_state(r) for r in rows]


async def state(tx: Tx, person_mac: bytes, factor: str) -> State | None:
    row = await tx.one(
        select(factor_bounds).where(factor_bounds.c.person_mac == person_mac, factor_bounds.c.factor == factor)
    )
    return None if row is None else _state(row)


async def reinstate(tx: Tx, person_mac: bytes, factor: str) -> State | None:
    """Forget the failures and lift the suspension; the state before (None: nothing was on record)."""
    before = await state(tx, person_mac, factor)
    if before is None or (before.failures == 0 and before.suspended_at is None):
        return None
    await tx.run(
        update(factor_bounds)
        .where(factor_bounds.c.person_mac == person_mac, factor_bounds.c.factor == factor)
        .values(failures=0, suspended_at=None, updated_at=datetime.now(UTC))
    )
    return before
