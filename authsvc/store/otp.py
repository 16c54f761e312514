"""One-time codes sent by SMS (or for a contract signature): keyed hashes, attempts, single use.

A code row is bound to one context (``binding``): an identification and its operation, or a contract and
the SHA-256 of its document. Only the newest code of a binding is live; issuing one retires the others.
Verification is two conditional UPDATEs in the caller's transaction: `attempt_latest` spends one try
(and finds nothing once the code is used, expired or out of tries), `use` marks it used — of two racing
verifications, in any number of processes, exactly one sees `use` return True (R-12.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.store.schema import otp_codes


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


async def insert(conn: AsyncConnection, row: CodeRow) -> None:
    now = row.created_at
    await conn.execute(
        update(otp_codes)
        .where(otp_codes.c.binding == row.binding, otp_codes.c.used_at.is_(None), otp_codes.c.expires_at > now)
        .values(expires_at=now)
    )
    await conn.execute(
        otp_codes.insert().values(
            id=row.id,
            lender_id=row.lender_id,
            client_id=row.client_id,
            binding=row.binding,
            code_mac=row.code_mac,
            channel=row.channel,
            created_at=row.created_at,
            expires_at=row.expires_at,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
        )
    )


async def latest(conn: AsyncConnection, binding: str) -> CodeRow | None:
    """The newest code of ``binding`` (live or not), for the resend cooldown and for verification."""
    row = (
        await conn.execute(
            select(otp_codes).where(otp_codes.c.binding == binding).order_by(otp_codes.c.created_at.desc()).limit(1)
        )
    ).one_or_none()
    if row is None:
        return None
    return CodeRow(
        row.id,
        row.lender_id,
        row.client_id,
        row.binding,
        row.code_mac,
        row.channel,
        _aware(row.created_at),
        _aware(row.expires_at),
        row.attempts,
        row.max_attempts,
        _aware(row.used_at) if row.used_at is not None else None,
    )


@dataclass(frozen=True)
class Attempt:
    code_id: str
    client_id: str
    code_mac: str


async def attempt_latest(conn: AsyncConnection, binding: str, *, now: datetime) -> Attempt | None:
    """Spend one try on the newest code of ``binding`` if it is live (unused, unexpired, tries left);
    one statement, so the look-up and the spent try cannot be separated. None: nothing to check."""
    newest = (
        select(otp_codes.c.id)
        .where(otp_codes.c.binding == binding)
        .order_by(otp_codes.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = (
        await conn.execute(
            update(otp_codes)
            .where(
                otp_codes.c.id == newest,
                otp_codes.c.used_at.is_(None),
                otp_codes.c.expires_at > now,
                otp_codes.c.attempts < otp_codes.c.max_attempts,
            )
            .values(attempts=otp_codes.c.attempts + 1)
            .returning(otp_codes.c.id, otp_codes.c.client_id, otp_codes.c.code_mac)
        )
    ).one_or_none()
    return None if row is None else Attempt(row.id, row.client_id, row.code_mac)


async def use(conn: AsyncConnection, code_id: str, *, now: datetime) -> bool:
    """Mark the code used; False when another verification got there first."""
    result = await conn.execute(
        update(otp_codes).where(otp_codes.c.id == code_id, otp_codes.c.used_at.is_(None)).values(used_at=now)
    )
    return result.rowcount == 1
