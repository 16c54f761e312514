"""Input decoding shared by the PKI parsers: DER, PEM or base64 in, DER bytes out.

NCALayer hands out base64 (sometimes wrapped at 64/76 columns, sometimes with ``&#13;`` leftovers from
XML); files may be DER or PEM. Anything else is a named 400, never an exception from a codec.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from authsvc import error_codes
from authsvc.errors import ValidationFailed

__all__ = ["ASN1_ERRORS", "BadEncoding", "decode_binary"]

# What asn1crypto raises on malformed input (it has no error base class of its own).
ASN1_ERRORS: Final = (ValueError, TypeError, KeyError, IndexError, OverflowError)

_PEM_BLOCK: Final = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.DOTALL)
_B64_ALPHABET: Final = re.compile(rb"^[A-Za-z0-9+/=_\-\s]+$")
_MAX_INPUT: Final = 64 * 1024 * 1024


class BadEncoding(ValidationFailed):
    """The input is neither DER, PEM nor base64."""

    code = error_codes.BAD_ENCODING


def decode_binary(data: bytes | str, *, what: str = "input") -> bytes:
    """DER bytes from DER, PEM (first block) or base64 input.

    DER is recognised by its leading SEQUENCE tag (0x30); everything else must be PEM or base64.
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else bytes(data)
    if len(raw) > _MAX_INPUT:
        raise BadEncoding(f"{what} is larger than {_MAX_INPUT} bytes")
    if raw[:1] == b"\x30":
        return raw
    text = raw.replace(b"&#13;", b"").replace(b"&#xD;", b"").strip()
    pem = _PEM_BLOCK.search(text)
    if pem is not None:
        text = pem.group(2)
        # PEM headers (Proc-Type etc.) are not used by certificates or CMS; drop any header lines.
        text = b"\n".join(line for line in text.splitlines() if b":" not in line)
    if not text or not _B64_ALPHABET.match(text):
        raise BadEncoding(f"{what} is not DER, PEM or base64")
    compact = re.sub(rb"\s+", b"", text)
    try:
        if b"-" in compact or b"_" in compact:
            decoded = base64.urlsafe_b64decode(compact + b"=" * (-len(compact) % 4))
        else:
            decoded = base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadEncoding(f"{what} is not valid base64") from exc
    if decoded[:1] != b"\x30":
        raise BadEncoding(f"{what} does not decode to a DER structure")
    return decoded
