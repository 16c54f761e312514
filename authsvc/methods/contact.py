"""The few personal details the second factors need, unsealed from the client record only when used:
the IIN to ask registries about, the phone to send a code to, the IBAN or card to confirm before payout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authsvc import error_codes
from authsvc.cabinet.service import PII
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import NotFound
from authsvc.store import clients as client_store
from authsvc.store.db import Tx


@dataclass(frozen=True)
class Contact:
    client_id: str
    kind: str
    iin: str  # the individual's, or the legal entity's representative's
    phone: str  # E.164
    iban: str | None
    names: tuple[str, ...]  # surname, first name, patronymic: kept out of passwords
    card_number: str | None = None  # the card on file, sealed since issue 15 (None for older records)
    card_on_file: bool = False  # a card is on file (its number kept or, in an older record, only its token)


async def load(tx: Tx, keys: KeyStore, lender_id: str, client_id: str) -> Contact:
    row = await client_store.get(tx, lender_id, client_id)
    if row is None:
        raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    return await of_row(keys, row)


async def of_row(keys: KeyStore, row: client_store.ClientRow) -> Contact:
    """The contact of a client row already read (unsealed here, once; its data key unwrapped off the loop)."""
    cipher = await RecordCipher.aopen(keys, row.id, WrappedKey(row.kek_id, row.data_key))
    pii: dict[str, Any] = cipher.unseal_json(PII, row.pii_sealed)
    person = pii["representative"] if row.kind == "legal_entity" else pii
    names = tuple(str(person[k]) for k in ("surname", "first_name", "patronymic") if person.get(k))
    return Contact(
        row.id,
        row.kind,
        person["iin"],
        pii["phone"],
        pii.get("iban"),
        names,
        card_number=pii.get("card_number"),
        card_on_file=row.card_token is not None,
    )
