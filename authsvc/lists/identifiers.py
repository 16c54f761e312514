"""The identifiers a list holds, normalised so that one person's number always gives the same keyed hash."""

from __future__ import annotations

import re
from typing import Any, Final, Literal

from authsvc import error_codes
from authsvc.cabinet.identifiers import IBAN_PATTERN, PHONE_PATTERN, IdentifierError, normalise_iban, normalise_phone
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import ValidationFailed

Kind = Literal["phone", "iin", "device_id", "iban"]
KINDS: Final = ("phone", "iin", "device_id", "iban")
_DEVICE_ID: Final = re.compile(r"[\x21-\x7e]{1,200}")
# What ``normalise`` accepts for each kind, as JSON Schema patterns (for the OpenAPI document).
PATTERNS: Final = {
    "phone": PHONE_PATTERN,
    "iin": r"^\s*[0-9]{12}\s*$",
    "device_id": r"^\s*[!-~]{1,200}\s*$",
    "iban": IBAN_PATTERN,
}


def value_schema() -> dict[str, Any]:
    """JSON Schema of a model with ``kind`` and ``value``: the value's pattern follows the kind."""
    branches = [
        {"properties": {"kind": {"const": kind}, "value": {"pattern": pattern}}} for kind, pattern in PATTERNS.items()
    ]
    return {"allOf": [{"anyOf": branches}]}  # under allOf: a generator reads an object's own anyOf as a union


def normalise(kind: str, value: str) -> str:
    """The canonical text of ``value`` (E.164 phone, 12-digit IIN, upper-case IBAN, device id as sent);
    a malformed one is 422 with the identifier checks' own codes."""
    try:
        if kind == "phone":
            return normalise_phone(value)
        if kind == "iban":
            return normalise_iban(value)
    except IdentifierError as exc:
        message = str(exc)
        raise ValidationFailed(
            f"{kind}: {message}", code=exc.code, errors=[{"loc": "value", "code": exc.code, "message": message}]
        ) from exc
    if kind == "iin":
        number = value.strip()
        if not (number.isascii() and number.isdigit() and len(number) == 12):
            raise ValidationFailed("iin: an IIN is 12 digits", code=error_codes.INVALID_IIN)
        return number
    if kind == "device_id":
        device = value.strip()
        if not _DEVICE_ID.fullmatch(device):
            raise ValidationFailed("device_id: 1-200 visible ASCII characters", code=error_codes.LIST_BAD_IDENTIFIER)
        return device
    raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", code=error_codes.LIST_BAD_IDENTIFIER)


async def value_mac(keys: KeyStore, kind: str, canonical: str) -> bytes:
    """The keyed hash a list entry is stored and looked up by (never the value itself), made off the event
    loop where the key store's device makes it."""
    return await keys.aindex_mac("list-" + kind, canonical)
