"""TOTP authenticators and HOTP hardware tokens: sealed seeds and counters moved by compare-and-set.

`advance_hotp` and `advance_totp` are conditional UPDATEs: a counter or time step is accepted only if
it lies beyond the stored one, so one code is accepted once even when verifications race in several
processes (RFC 4226 §7.2, RFC 6238 §5.2, R-12.3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, or_, select, update

from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Row, Tx
from authsvc.store.schema import otp_tokens

FIELD = "seed"


@dataclass(frozen=True)
class Token:
    id: str
    lender_id: str
    client_id: str | None
    kind: str
    serial: str | None
    status: str
    algorithm: str
    digits: int
    period: int
    counter: int
    last_step: int | None
    drift: int
    secret: bytes
    expires_at: datetime | None = None  # a temporary replacement's end


# Status: pending (enrolled, not confirmed) → active ⇄ disabled; an imported hardware token is unassigned until
# assigned; revoked and lost are final. Only an active, unexpired token verifies codes.
STATUSES = ("pending", "active", "disabled", "unassigned", "revoked", "lost")


async def create(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    client_id: str | None,
    kind: str,
    secret: bytes,
    serial: str | None = None,
    status: str = "pending",
    algorithm: str = "SHA1",
    digits: int = 6,
    period: int = 30,
    counter: int = 0,
    expires_at: datetime | None = None,
) -> str:
    """Store a token; raises `Duplicate` when the lender already has this serial."""
    token_id = str(uuid.uuid4())
    cipher, wrapped = RecordCipher.new(keys, token_id)
    now = datetime.now(UTC)
    await tx.run(
        otp_tokens.insert().values(
            id=token_id,
            lender_id=lender_id,
            client_id=client_id,
            kind=kind,
            serial=serial,
            status=status,
            kek_id=wrapped.kek_id,
            data_key=wrapped.wrapped,
            secret_sealed=cipher.seal(FIELD, secret),
            algorithm=algorithm,
            digits=digits,
            period=period,
            counter=counter,
            last_step=None,
            drift=0,
            created_at=now,
            updated_at=now,
            expires_at=expires_at,
        )
    )
    return token_id


def _token(keys: KeyStore, row: Row) -> Token:
    cipher = RecordCipher.open(keys, row["id"], WrappedKey(row["kek_id"], row["data_key"]))
    return Token(
        row["id"],
        row["lender_id"],
        row["client_id"],
        row["kind"],
        row["serial"],
        row["status"],
        row["algorithm"],
        row["digits"],
        row["period"],
        row["counter"],
        row["last_step"],
        row["drift"],
        cipher.unseal(FIELD, row["secret_sealed"]),
        _aware(row["expires_at"]),
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def of_client(
    tx: Tx, keys: KeyStore, lender_id: str, client_id: str, kind: str, *, status: str | None = None
) -> Token | None:
    """The client's newest token of ``kind`` (with ``status`` if given)."""
    query = select(otp_tokens).where(
        otp_tokens.c.lender_id == lender_id, otp_tokens.c.client_id == client_id, otp_tokens.c.kind == kind
    )
    if status is not None:
        query = query.where(otp_tokens.c.status == status)
    if status == "active":
        query = query.where(or_(otp_tokens.c.expires_at.is_(None), otp_tokens.c.expires_at > datetime.now(UTC)))
    row = await tx.one(query.order_by(otp_tokens.c.created_at.desc()).limit(1))
    return None if row is None else _token(keys, row)


async def by_serial(tx: Tx, keys: KeyStore, lender_id: str, serial: str) -> Token | None:
    row = await tx.one(select(otp_tokens).where(otp_tokens.c.lender_id == lender_id, otp_tokens.c.serial == serial))
    return None if row is None else _token(keys, row)


async def drop_pending(tx: Tx, lender_id: str, client_id: str, kind: str) -> None:
    await tx.run(
        delete(otp_tokens).where(
            otp_tokens.c.lender_id == lender_id,
            otp_tokens.c.client_id == client_id,
            otp_tokens.c.kind == kind,
            otp_tokens.c.status == "pending",
        )
    )


async def assign(tx: Tx, token_id: str, client_id: str) -> bool:
    """Give an unassigned hardware token to a client; False if it already belongs to someone."""
    result = await tx.run(
        update(otp_tokens)
        .where(otp_tokens.c.id == token_id, otp_tokens.c.client_id.is_(None))
        .values(client_id=client_id, status="active", updated_at=datetime.now(UTC))
    )
    return result == 1


async def advance_hotp(tx: Tx, token_id: str, matched: int) -> bool:
    """Accept HOTP counter ``matched``: the next counter becomes ``matched + 1`` unless it already passed it."""
    result = await tx.run(
        update(otp_tokens)
        .where(otp_tokens.c.id == token_id, otp_tokens.c.counter <= matched)
        .values(counter=matched + 1, updated_at=datetime.now(UTC))
    )
    return result == 1


async def advance_totp(tx: Tx, token_id: str, step: int, drift: int, *, activate: bool = False) -> bool:
    """Accept TOTP time step ``step`` and remember ``drift``, unless that step (or a later one) was used."""
    values: dict[str, object] = {"last_step": step, "drift": drift, "updated_at": datetime.now(UTC)}
    if activate:
        values["status"] = "active"
    result = await tx.run(
        update(otp_tokens)
        .where(
            otp_tokens.c.id == token_id,
            or_(otp_tokens.c.last_step.is_(None), otp_tokens.c.last_step < step),
        )
        .values(**values)
    )
    return result == 1


async def by_id(tx: Tx, keys: KeyStore, lender_id: str, token_id: str) -> Token | None:
    row = await tx.one(select(otp_tokens).where(otp_tokens.c.lender_id == lender_id, otp_tokens.c.id == token_id))
    return None if row is None else _token(keys, row)


@dataclass(frozen=True)
class Listed:
    """A token as the lender sees it: no secret."""

    id: str
    kind: str
    serial: str | None
    status: str
    expires_at: datetime | None
    created_at: datetime


async def of_client_all(tx: Tx, lender_id: str, client_id: str) -> list[Listed]:
    rows = await tx.all(
        select(
            otp_tokens.c.id,
            otp_tokens.c.kind,
            otp_tokens.c.serial,
            otp_tokens.c.status,
            otp_tokens.c.expires_at,
            otp_tokens.c.created_at,
        )
        .where(otp_tokens.c.lender_id == lender_id, otp_tokens.c.client_id == client_id)
        .order_by(otp_tokens.c.created_at)
    )
    return [
        Listed(
            r["id"],
            r["kind"],
            r["serial"],
            r["status"],
            _aware(r["expires_at"]),
            _aware(r["created_at"]) or datetime.now(UTC),
        )
        for r in rows
    ]


async def move(tx: Tx, token_id: str, *, from_: tuple[str, ...], to: str, unassign: bool = False) -> bool:
    """Change a token's status if it is in one of ``from_`` (compare-and-set); ``unassign`` also frees it
    from its client. False when the token was in another status."""
    values: dict[str, object] = {"status": to, "updated_at": datetime.now(UTC)}
    if unassign:
        values["client_id"] = None
    result = await tx.run(
        update(otp_tokens).where(otp_tokens.c.id == token_id, otp_tokens.c.status.in_(from_)).values(**values)
    )
    return result == 1


async def retire_client_totp(tx: Tx, lender_id: str, client_id: str) -> list[str]:
    """Revoke the client's authenticators (pending, active or disabled) for a reset; their ids."""
    ids = list(
        await tx.all(
            select(otp_tokens.c.id).where(
                otp_tokens.c.lender_id == lender_id,
                otp_tokens.c.client_id == client_id,
                otp_tokens.c.kind == "totp",
                otp_tokens.c.status.in_(("pending", "active", "disabled")),
            )
        )
    )
    found = [r["id"] for r in ids]
    if found:
        await tx.run(
            update(otp_tokens).where(otp_tokens.c.id.in_(found)).values(status="revoked", updated_at=datetime.now(UTC))
        )
    return found
