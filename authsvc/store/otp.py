"""One-time codes sent by SMS (or for a contract signature): keyed hashes, attempts, single use.

A code row is bound to one context (``binding``): an identification and its operation, or a contract and
the SHA-256 of its document. Only the newest code of a binding is live; issuing one retires the others.
Verification reads the live code (`live`), compares in the caller's process, then writes with one of two
conditional UPDATEs, each re-checking that the code is still live: `USE` spends the try and marks the code
used, `SPEND` only spends the try. Of two racing verifications, in any number of processes, exactly one
gets a row back from `USE` (R-12.3); the caller records its step and audit entry with the same statement
(`Tx.write`), so a code is never used without its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, bindparam, literal, select, update

from authsvc.store import bounds, steps, throttle
from authsvc.store import identifications as idents
from authsvc.store.bounds import Bound
from authsvc.store.db import Insert, Row, Statement, Tx
from authsvc.store.schema import clients, identifications, otp_codes


@dataclass(frozen=True)
class CodeRow:
    id: str
    lender_id: str
    client_id: str
    binding: str
    code_mac: str
    channel: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    max_attempts: int
    used_at: datetime | None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


_RETIRE = Statement(
    update(otp_codes)
    .where(
        otp_codes.c.binding == bindparam("of_binding"),
        otp_codes.c.used_at.is_(None),
        otp_codes.c.expires_at > bindparam("now"),
    )
    .values(expires_at=bindparam("now"))
)
_LATEST = Statement(
    select(otp_codes)
    .where(otp_codes.c.binding == bindparam("of_binding"))
    .order_by(otp_codes.c.created_at.desc())
    .limit(1)
)


async def insert(tx: Tx, row: CodeRow) -> None:
    """The new code of its binding; the binding's older live codes expire now (only the newest is live)."""
    tx = tx
    await tx.run(_RETIRE, of_binding=row.binding, now=row.created_at)
    values = {
        "id": row.id,
        "lender_id": row.lender_id,
        "client_id": row.client_id,
        "binding": row.binding,
        "code_mac": row.code_mac,
        "channel": row.channel,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "attempts": row.attempts,
        "max_attempts": row.max_attempts,
    }
    await tx.write([Insert(otp_codes, values)])


async def latest(tx: Tx, binding: str) -> CodeRow | None:
    """The newest code of ``binding`` (live or not), for the resend cooldown and for verification."""
    r = await tx.one(_LATEST, of_binding=binding)
    if r is None:
        return None
    used_at = r["used_at"]
    return CodeRow(
        r["id"],
        r["lender_id"],
        r["client_id"],
        r["binding"],
        r["code_mac"],
        r["channel"],
        _aware(r["created_at"]),
        _aware(r["expires_at"]),
        r["attempts"],
        r["max_attempts"],
        _aware(used_at) if used_at is not None else None,
    )


@dataclass(frozen=True)
class Attempt:
    """The binding's newest code as a verification reads it: ``live`` if it can still be used; a used one is
    kept so that a duplicate of the right code is told apart from a guess (issue 11.7)."""

    code_id: str
    client_id: str
    code_mac: str
    live: bool = True
    used: bool = False


def _attempt(row: Row, prefix: str = "") -> Attempt:
    used_at = row[f"{prefix}used_at"]
    expires_at = _aware(row[f"{prefix}expires_at"])
    live = (
        used_at is None and expires_at > datetime.now(UTC) and row[f"{prefix}attempts"] < row[f"{prefix}max_attempts"]
    )
    return Attempt(row[f"{prefix}id"], row[f"{prefix}client_id"], row[f"{prefix}code_mac"], live, used_at is not None)


def identification_binding(identification_id: str, operation: str) -> str:
    """The binding of an identification's codes (`_IDENT_BINDING` is the same in SQL)."""
    return f"ident:{identification_id}:{operation}"


_IDENT_BINDING = literal("ident:") + identifications.c.id + ":" + identifications.c.operation


def _newest(binding: ColumnElement[str]) -> ColumnElement[str]:
    newest = otp_codes.alias("newest")
    return (
        select(newest.c.id).where(newest.c.binding == binding).order_by(newest.c.created_at.desc()).limit(1)
    ).scalar_subquery()


def _still_live() -> list[ColumnElement[bool]]:
    return [
        otp_codes.c.used_at.is_(None),
        otp_codes.c.expires_at > bindparam("now"),
        otp_codes.c.attempts < otp_codes.c.max_attempts,
    ]


_CODE_COLUMNS = (
    otp_codes.c.id,
    otp_codes.c.client_id,
    otp_codes.c.code_mac,
    otp_codes.c.used_at,
    otp_codes.c.expires_at,
    otp_codes.c.attempts,
    otp_codes.c.max_attempts,
)
_NEWEST_CODE = Statement(select(*_CODE_COLUMNS).where(otp_codes.c.id == _newest(bindparam("of_binding"))))
# An identification with its live code, if any, in one round trip (the verification's first read).
_IDENT_WITH_CODE = Statement(
    select(
        identifications,
        *[c.label(f"code_{c.name}") for c in _CODE_COLUMNS],
        # The verification's abuse counters, read in the same round trip.
        *throttle.verify_peek(identifications.c.client_id),
        # The person behind the client and their SMS factor's consecutive failures (issue 16).
        clients.c.iin_mac.label("person_mac"),
        bounds.bound_failures(clients.c.iin_mac, "sms").label("bound_failures"),
        # The steps taken so far: none, and the step about to be taken is judged alone (`Flows.step`).
        steps.taken_count(identifications.c.id).label("steps_taken"),
    )
    .select_from(
        identifications.join(clients, clients.c.id == identifications.c.client_id).outerjoin(
            otp_codes, otp_codes.c.id == _newest(_IDENT_BINDING)
        )
    )
    .where(identifications.c.id == bindparam("ident_id"), identifications.c.lender_id == bindparam("lender_id"))
)
# Guards for `Tx.write` (parameters: code_id, now).
USE = Statement(
    update(otp_codes)
    .where(otp_codes.c.id == bindparam("code_id"), *_still_live())
    .values(attempts=otp_codes.c.attempts + 1, used_at=bindparam("now"))
    .returning(otp_codes.c.id)
)
SPEND = Statement(
    update(otp_codes)
    .where(otp_codes.c.id == bindparam("code_id"), *_still_live())
    .values(attempts=otp_codes.c.attempts + 1)
    .returning(otp_codes.c.id)
)


async def identification_with_code(
    tx: Tx, lender_id: str, ident_id: str, *, ip_scope: str | None, ip_mac: str, window_start: int
) -> tuple[idents.Identification | None, Attempt | None, throttle.Peek, Bound | None, int | None]:
    """The lender's identification (None: no such), the newest code of its binding (None: nothing to check),
    the counters of the address verifying (``ip_scope``, and the identification's client with ``ip_mac``),
    the person's SMS bound and how many steps the identification has, in one round trip."""
    params = {"ip_scope": ip_scope, "ip_mac": ip_mac, "window_start": window_start}
    row = await tx.one(_IDENT_WITH_CODE, ident_id=ident_id, lender_id=lender_id, **params)
    if row is None:
        return None, None, throttle.Peek((0, 0), 0, 0), None, None
    code = _attempt(row, "code_") if row["code_id"] is not None else None
    bound = Bound(bytes(row["person_mac"]), row["bound_failures"] or 0)
    return idents.from_row(row), code, throttle.Peek.of(row, 2), bound, row["steps_taken"]


async def newest(tx: Tx, binding: str) -> Attempt | None:
    """The newest code of ``binding``, live or not (None: nothing was sent)."""
    row = await tx.one(_NEWEST_CODE, of_binding=binding)
    return None if row is None else _attempt(row)
