"""Compact JWS (RFC 7515 §7.1) as this service writes and reads it: base64url without padding, JSON objects
serialised one way, and a strict reader that refuses anything it would not have written.

The reader is strict on purpose: an attestation is evidence, so two readings of one token must never
disagree. It refuses padding and characters outside the base64url alphabet, a non-canonical encoding (the
last character of a segment carries bits that decode to nothing: changing them would leave a "different"
token valid), duplicate JSON members (RFC 7515 §5.2: parsers differ on which one wins), and non-ASCII.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authsvc import error_codes
from authsvc.errors import ValidationFailed

MAX_TOKEN_CHARS = 64 * 1024  # far above an identification's claims; bounds the work a stranger can ask for
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class AttestationInvalid(ValidationFailed):
    """The token is not a valid attestation of this service; ``code`` says why (one of ``attestation_*``)."""

    code = error_codes.ATTESTATION_MALFORMED


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str, what: str) -> bytes:
    """Decode one segment, refusing anything but the canonical unpadded encoding of its bytes."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise AttestationInvalid(f"the {what} is not base64url", code=error_codes.ATTESTATION_MALFORMED)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AttestationInvalid(f"the {what} is not base64url", code=error_codes.ATTESTATION_MALFORMED) from exc
    if b64url(data) != text:  # stray bits in the last character
        raise AttestationInvalid(f"the {what} is not canonical base64url", code=error_codes.ATTESTATION_MALFORMED)
    return data


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """One serialisation per value: sorted members, no spaces, UTF-8, no NaN (ValueError/TypeError if the
    value is not plain JSON: a caller's bug, never the client's)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate member {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise AttestationInvalid(f"the {what} is not JSON: {exc}", code=error_codes.ATTESTATION_MALFORMED) from exc
    if not isinstance(value, dict):
        raise AttestationInvalid(f"the {what} is not a JSON object", code=error_codes.ATTESTATION_MALFORMED)
    return value


@dataclass(frozen=True)
class Parts:
    """A compact JWS split and decoded, not yet verified."""

    header: dict[str, Any]
    payload: bytes
    signing_input: bytes  # ASCII(BASE64URL(header) "." BASE64URL(payload)): what the signature covers
    signature: bytes


def split(token: str) -> Parts:
    if not isinstance(token, str) or not token:
        raise AttestationInvalid("the attestation is empty", code=error_codes.ATTESTATION_MALFORMED)
    if len(token) > MAX_TOKEN_CHARS:
        raise AttestationInvalid(
            f"the attestation is longer than {MAX_TOKEN_CHARS} characters", code=error_codes.ATTESTATION_MALFORMED
        )
    segments = token.split(".")
    if len(segments) != 3:
        raise AttestationInvalid(
            f"a compact JWS has 3 dot-separated parts, this has {len(segments)}", code=error_codes.ATTESTATION_MALFORMED
        )
    header_b64, payload_b64, signature_b64 = segments
    header = json_object(unb64url(header_b64, "header"), "header")
    return Parts(
        header=header,
        payload=unb64url(payload_b64, "payload"),
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=unb64url(signature_b64, "signature"),
    )


def signing_input(header: Mapping[str, Any], payload: bytes) -> bytes:
    """``BASE64URL(header).BASE64URL(payload)``: what the signature covers."""
    return f"{b64url(canonical_json(header))}.{b64url(payload)}".encode("ascii")


def compact(signed: bytes, signature: bytes) -> str:
    """The compact serialisation of a `signing_input` and its signature."""
    return f"{signed.decode('ascii')}.{b64url(signature)}"
