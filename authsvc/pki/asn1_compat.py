"""Teach asn1crypto to carry GOST public keys as opaque bit strings.

asn1crypto picks the ``subjectPublicKey`` spec from a closed table and raises KeyError for any other
key algorithm, so *any* access to a GOST certificate's ``public_key`` (which pyhanko-certvalidator
does for every intermediate CA) fails (KZ-PKI.md §2). The shim keeps asn1crypto's answer for every
algorithm it knows and reads unknown ones as an OctetBitString; OID names are left untouched, so
``.native`` of a GOST OID stays its dotted string. Idempotent; applied on import.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import core, keys

__all__ = ["install"]

_MARK = "_authsvc_opaque_unknown_keys"


def install() -> None:
    if getattr(keys.PublicKeyInfo, _MARK, False):
        return
    original = keys.PublicKeyInfo._spec_callbacks["public_key"]

    def public_key_spec(self: keys.PublicKeyInfo) -> Any:
        try:
            return original(self)
        except KeyError:
            return (core.OctetBitString, None)

    keys.PublicKeyInfo._spec_callbacks = {**keys.PublicKeyInfo._spec_callbacks, "public_key": public_key_spec}
    setattr(keys.PublicKeyInfo, _MARK, True)


install()
