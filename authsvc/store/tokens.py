"""TOTP authenticators and HOTP hardware tokens: sealed seeds and counters moved by compare-and-set.

`ACCEPT_HOTP`, `ACCEPT_TOTP` (and `advance_hotp`, for a resync) are conditional UPDATEs: a counter or time
step is accepted only if it lies beyond the stored one, so one code is accepted once even when verifications
race in several processes (RFC 4226 §7.2, RFC 6238 §5.2, R-12.3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Integer, String, bindparam, delete, or_, select, update

from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.store import bounds, steps, throttle
from authsvc.store import identifications as idents
from authsvc.store.db import Row, Statement, Tx
from authsvc.store.schema import clients, identifications, otp_tokens

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
    cipher, wrapped = await RecordCipher.anew(keys, token_id)
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


async def _token(keys: KeyStore, row: Row, prefix: str = "") -> Token:
    """A token row (its columns named ``prefix`` + column name), its seed unsealed."""
    token_id = row[prefix + "id"]
    cipher = await RecordCipher.aopen(keys, token_id, WrappedKey(row[prefix + "kek_id"], row[prefix + "data_key"]))
    return Token(
        token_id,
        row[prefix + "lender_id"],
        row[prefix + "client_id"],
        row[prefix + "kind"],
        row[prefix + "serial"],
        row[prefix + "status"],
        row[prefix + "algorithm"],
        row[prefix + "digits"],
        row[prefix + "period"],
        row[prefix + "counter"],
        row[prefix + "last_step"],
        row[prefix + "drift"],
        cipher.unseal(FIELD, row[prefix + "secret_sealed"]),
        _aware(row[prefix + "expires_at"]),
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
    return None if row is None else await _token(keys, row)


async def by_serial(tx: Tx, keys: KeyStore, lender_id: str, serial: str) -> Token | None:
    row = await tx.one(select(otp_tokens).where(otp_tokens.c.lender_id == lender_id, otp_tokens.c.serial == serial))
    return None if row is None else await _token(keys, row)


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


_HOTP_NEXT = (otp_tokens.c.id == bindparam("token_id"), otp_tokens.c.counter <= bindparam("matched", type_=Integer))
_HOTP_MOVE = {"counter": bindparam("matched", type_=Integer) + 1, "updated_at": bindparam("now")}
ADVANCE_HOTP = Statement(update(otp_tokens).where(*_HOTP_NEXT).values(**_HOTP_MOVE).returning(otp_tokens.c.id))
# Guards for `Tx.write` that accept a verified code (parameters: token_id, now; matched, or step and drift; and
# b_person, b_factor, limit): the counter or time step moves by compare-and-set, so of two verifications with
# the code one gets the row back, and only while the person's factor is below its bound.
ACCEPT_HOTP = Statement(
    update(otp_tokens).where(*_HOTP_NEXT, bounds.below_limit()).values(**_HOTP_MOVE).returning(otp_tokens.c.id)
)
_TOTP_NEXT = (
    otp_tokens.c.id == bindparam("token_id"),
    or_(otp_tokens.c.last_step.is_(None), otp_tokens.c.last_step < bindparam("step", type_=Integer)),
    bounds.below_limit(),
)
_TOTP_MOVE = {
    "last_step": bindparam("step", type_=Integer),
    "drift": bindparam("drift"),
    "updated_at": bindparam("now"),
}
ACCEPT_TOTP = Statement(update(otp_tokens).where(*_TOTP_NEXT).values(**_TOTP_MOVE).returning(otp_tokens.c.id))
ACTIVATE_TOTP = Statement(  # an enrolment's confirming code: the same, and the authenticator becomes active
    update(otp_tokens).where(*_TOTP_NEXT).values(**_TOTP_MOVE, status="active").returning(otp_tokens.c.id)
)


async def advance_hotp(tx: Tx, token_id: str, matched: int) -> bool:
    """Accept HOTP counter ``matched``: the next counter becomes ``matched + 1`` unless it already passed it."""
    return await tx.one(ADVANCE_HOTP, token_id=token_id, matched=matched, now=datetime.now(UTC)) is not None


# The identification with its client's newest active token of a kind and the verification's abuse counters, in
# one round trip: what the token step reads before it checks a code (as `store.otp.identification_with_code`).
_newest = otp_tokens.alias("newest")
_NEWEST_ACTIVE = (
    select(_newest.c.id)
    .where(
        _newest.c.lender_id == identifications.c.lender_id,
        _newest.c.client_id == identifications.c.client_id,
        _newest.c.kind == bindparam("kind", type_=String),
        _newest.c.status == "active",
        or_(_newest.c.expires_at.is_(None), _newest.c.expires_at > bindparam("now")),
    )
    .order_by(_newest.c.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
_IDENT_WITH_TOKEN = Statement(
    select(
        identifications,
        *[c.label(f"tok_{c.name}") for c in otp_tokens.c],
        *throttle.verify_peek(identifications.c.client_id),
        # The person behind the client and their consecutive failures of this factor (issue 16).
        clients.c.iin_mac.label("person_mac"),
        bounds.bound_failures(clients.c.iin_mac, bindparam("kind", type_=String)).label("bound_failures"),
        # The steps taken so far: none, and the step about to be taken is judged alone (`Flows.step`).
        steps.taken_count(identifications.c.id).label("steps_taken"),
    )
    .select_from(
        identifications.join(clients, clients.c.id == identifications.c.client_id).outerjoin(
            otp_tokens, otp_tokens.c.id == _NEWEST_ACTIVE
        )
    )
    .where(identifications.c.id == bindparam("ident_id"), identifications.c.lender_id == bindparam("lender_id"))
)


async def identification_with_token(
    tx: Tx,
    keys: KeyStore,
    lender_id: str,
    ident_id: str,
    kind: str,
    *,
    ip_scope: str | None,
    ip_mac: str,
    window_start: int,
) -> tuple[idents.Identification | None, Token | None, throttle.Peek, bounds.Bound | None, int | None]:
    """The lender's identification (None: no such), its client's active token of ``kind`` (None: none), the
    counters of the address verifying (``ip_scope``; the client with ``ip_mac``), the person's bound for the
    factor and how many steps the identification has, in one round trip."""
    row = await tx.one(
        _IDENT_WITH_TOKEN,
        ident_id=ident_id,
        lender_id=lender_id,
        kind=kind,
        now=datetime.now(UTC),
        ip_scope=ip_scope,
        ip_mac=ip_mac,
        window_start=window_start,
    )
    if row is None:
        return None, None, throttle.Peek((0, 0), 0, 0), None, None
    token = await _token(keys, row, "tok_") if row["tok_id"] is not None else None
    bound = bounds.Bound(bytes(row["person_mac"]), row["bound_failures"] or 0)
    return idents.from_row(row), token, throttle.Peek.of(row, 2), bound, row["steps_taken"]


async def by_id(tx: Tx, keys: KeyStore, lender_id: str, token_id: str) -> Token | None:
    row = await tx.one(select(otp_tokens).where(otp_tokens.c.lender_id == lender_id, otp_tokens.c.id == token_id))
    return None if row is None else await _token(keys, row)


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
