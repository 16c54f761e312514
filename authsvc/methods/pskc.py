"""Reading a token vendor's seed file in PSKC, the Portable Symmetric Key Container (RFC 6030).

Supported: HOTP and TOTP keys (``urn:ietf:params:xml:ns:keyprov:pskc:hotp`` / ``…:totp``), each with its
serial (``DeviceInfo/SerialNo``, else the key's ``Id``), digits (``AlgorithmParameters/ResponseFormat/@Length``),
counter or time step, and its secret either in plain (``PlainValue``, RFC 6030 §4) or encrypted with a
pre-shared key (``EncryptedValue`` under AES-CBC, RFC 6030 §6.1) whose ``ValueMAC`` (HMAC-SHA1/-SHA256 under
the document's encrypted ``MACKey``) is checked before the secret is used. Passphrase-derived (§6.2) and
asymmetric (§6.3) encryption are refused with a named reason. Parsing refuses DTDs and entities (no XXE, no
entity expansion) and never touches the network. The seeds leave this module only as bytes for
`authsvc.store.tokens`, which seals them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from lxml import etree

from authsvc import error_codes
from authsvc.errors import ValidationFailed

NS = {
    "p": "urn:ietf:params:xml:ns:keyprov:pskc",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
KINDS = {
    "urn:ietf:params:xml:ns:keyprov:pskc:hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc#hotp": "hotp",
    "urn:ietf:params:xml:ns:keyprov:pskc:totp": "totp",
    "urn:ietf:params:xml:ns:keyprov:pskc#totp": "totp",
}
_AES_CBC = {
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc": 16,
    "http://www.w3.org/2001/04/xmlenc#aes192-cbc": 24,
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc": 32,
}
_MACS = {
    "http://www.w3.org/2000/09/xmldsig#hmac-sha1": hashlib.sha1,
    "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256": hashlib.sha256,
}
MAX_KEYS = 10_000


@dataclass(frozen=True)
class PskcKey:
    serial: str
    kind: Literal["hotp", "totp"]
    secret: bytes
    digits: int
    counter: int
    period: int


def _invalid(detail: str) -> ValidationFailed:
    return ValidationFailed(f"PSKC: {detail}", code=error_codes.PSKC_INVALID)


def _key_rejected(detail: str) -> ValidationFailed:
    return ValidationFailed(f"PSKC: {detail}", code=error_codes.PSKC_KEY_REJECTED)


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"{what} is not base64") from exc


def _decrypt(encrypted: etree._Element, key: bytes | None) -> bytes:
    method = encrypted.find("xenc:EncryptionMethod", NS)
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in _AES_CBC:
        raise _key_rejected(f"unsupported encryption algorithm {algorithm!r} (AES-CBC with a pre-shared key only)")
    if key is None:
        raise _key_rejected("the secrets are encrypted: give the pre-shared key")
    if len(key) != _AES_CBC[algorithm]:
        raise _key_rejected(f"the pre-shared key must be {_AES_CBC[algorithm]} bytes for {algorithm}")
    data = _b64(encrypted.findtext("xenc:CipherData/xenc:CipherValue", namespaces=NS), "CipherValue")
    if len(data) < 32 or len(data) % 16:
        raise _invalid("CipherValue is not an IV and AES-CBC blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(data[:16])).decryptor()
    padded = decryptor.update(data[16:]) + decryptor.finalize()
    n = padded[-1]  # PKCS #7 padding (XML Encryption §5.2)
    if not 1 <= n <= 16 or padded[-n:] != bytes([n]) * n:
        raise _key_rejected("the pre-shared key does not decrypt the document (bad padding)")
    return padded[:-n]


def _parse(document: bytes) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise _invalid(f"not well-formed XML ({exc.msg})") from exc
    if root.getroottree().docinfo.doctype:
        raise _invalid("a DTD is not allowed")
    if root.tag != f"{{{NS['p']}}}KeyContainer":
        raise _invalid("the root element is not a pskc:KeyContainer (urn:ietf:params:xml:ns:keyprov:pskc)")
    if root.get("Version") != "1.0":
        raise _invalid("only KeyContainer Version 1.0 is supported")
    return root


def read(document: bytes, pre_shared_key: bytes | None = None) -> list[PskcKey]:
    """The HOTP/TOTP keys of a PSKC document; raises ValidationFailed (pskc_invalid, pskc_key_rejected)."""
    root = _parse(document)
    transport = root.find("p:EncryptionKey", NS)
    if transport is not None and transport.find("ds:KeyName", NS) is None:
        raise _key_rejected("passphrase-derived and asymmetric encryption are not supported (pre-shared key only)")
    mac_key: bytes | None = None
    mac_algorithm = None
    method = root.find("p:MACMethod", NS)
    if method is not None:
        mac_algorithm = _MACS.get(method.get("Algorithm") or "")
        if mac_algorithm is None:
            raise _key_rejected(f"unsupported MAC algorithm {method.get('Algorithm')!r}")
        encrypted_mac_key = method.find("p:MACKey", NS)
        if encrypted_mac_key is None:
            raise _invalid("MACMethod without MACKey")
        mac_key = _decrypt(encrypted_mac_key, pre_shared_key)
    packages = root.findall("p:KeyPackage", NS)
    if not packages:
        raise _invalid("no KeyPackage")
    if len(packages) > MAX_KEYS:
        raise _invalid(f"more than {MAX_KEYS} keys in one document")
    found: list[PskcKey] = []
    for package in packages:
        for key in package.findall("p:Key", NS):
            found.append(_key(package, key, pre_shared_key, mac_key, mac_algorithm))
    serials = [k.serial for k in found]
    if len(set(serials)) != len(serials):
        raise _invalid("two keys have the same serial")
    return found


def _int(text: str | None, default: int, serial: str) -> int:
    if text is None:
        return default
    cleaned = text.strip()
    if not cleaned.isascii() or not cleaned.isdigit() or len(cleaned) > 20:
        raise _invalid(f"key {serial}: Length, Counter and TimeInterval are non-negative integers")
    return int(cleaned)


def _key(
    package: etree._Element,
    key: etree._Element,
    pre_shared_key: bytes | None,
    mac_key: bytes | None,
    mac_algorithm: object,
) -> PskcKey:
    kind = KINDS.get(key.get("Algorithm") or "")
    if kind is None:
        raise _invalid(f"key {key.get('Id')!r}: algorithm {key.get('Algorithm')!r} is not HOTP or TOTP")
    serial = (package.findtext("p:DeviceInfo/p:SerialNo", namespaces=NS) or key.get("Id") or "").strip()
    if not serial or len(serial) > 64 or not all(c.isalnum() or c in "_-" for c in serial):
        raise _invalid(f"key {key.get('Id')!r}: the serial must be 1-64 letters, digits, '_' or '-'")
    fmt = key.find("p:AlgorithmParameters/p:ResponseFormat", NS)
    digits = _int(fmt.get("Length") if fmt is not None else None, 6, serial)
    counter = _int(key.findtext("p:Data/p:Counter/p:PlainValue", namespaces=NS), 0, serial)
    period = _int(key.findtext("p:Data/p:TimeInterval/p:PlainValue", namespaces=NS), 30, serial)
    if fmt is not None and (fmt.get("Encoding") or "DECIMAL") != "DECIMAL":
        raise _invalid(f"key {serial}: only DECIMAL codes are supported")
    secret_el = key.find("p:Data/p:Secret", NS)
    if secret_el is None:
        raise _invalid(f"key {serial}: no Secret")
    plain = secret_el.find("p:PlainValue", NS)
    encrypted = secret_el.find("p:EncryptedValue", NS)
    if plain is not None:
        secret = _b64(plain.text, "PlainValue")
    elif encrypted is not None:
        if mac_key is not None and callable(mac_algorithm):
            mac = _b64(secret_el.findtext("p:ValueMAC", namespaces=NS), "ValueMAC")
            cipher_value = _b64(encrypted.findtext("xenc:CipherData/xenc:CipherValue", namespaces=NS), "CipherValue")
            expected = hmac.new(mac_key, cipher_value, mac_algorithm).digest()  # RFC 6030 §6.1.1
            if not hmac.compare_digest(mac, expected):
                raise _key_rejected(f"key {serial}: ValueMAC does not match (wrong key or altered document)")
        secret = _decrypt(encrypted, pre_shared_key)
    else:
        raise _invalid(f"key {serial}: the Secret has neither PlainValue nor EncryptedValue")
    return PskcKey(serial, "hotp" if kind == "hotp" else "totp", secret, digits, counter, period)
