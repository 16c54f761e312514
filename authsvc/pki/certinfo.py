"""Certificate facts per the NCA RK profile (KZ-PKI.md §1), as a JSON-ready pydantic model.

The subject's IIN sits in SERIALNUMBER ("IIN…"), the BIN in OU ("BIN…"), and GIVENNAME holds the
*patronymic*; the first name is the CN minus the surname. The holder's role is an EKU under
1.2.398.3.3.4. Extensions are read one at a time so an odd one (NCA's 1.2.398.3.3.5, an empty
ocsp-nocheck) never hides the others; names longer than X.520's 64-character bound are accepted.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import datetime
from typing import Any, Final, Literal

from asn1crypto import core, x509
from pydantic import BaseModel, ConfigDict

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ValidationFailed
from authsvc.pki.algorithms import RawPublicKeyInfo
from authsvc.pki.der import ASN1_ERRORS, decode_binary
from authsvc.pki.lru import Lru

__all__ = [
    "CertInfo",
    "CertificateParseError",
    "NameInfo",
    "PublicKeyDescription",
    "cert_info",
    "load_certificate",
]


class CertificateParseError(ValidationFailed):
    code = error_codes.BAD_CERTIFICATE
    title = "Unreadable certificate"


SubjectType = Literal["individual", "legal_entity", "unknown"]
IdentificationMethod = Literal["in_person", "remote", "digital_id", "unknown"]
KeyUsageClass = Literal["AUTH", "SIGN", "UNKNOWN"]

ROLE_NAMES: Final = {
    "1.2.398.3.3.4.1.1": "individual",
    "1.2.398.3.3.4.1.1.1": "individual_information_system",
    "1.2.398.3.3.4.1.2": "legal_entity",
    "1.2.398.3.3.4.1.2.1": "ceo",
    "1.2.398.3.3.4.1.2.2": "sign",
    "1.2.398.3.3.4.1.2.3": "sign_financial",
    "1.2.398.3.3.4.1.2.4": "hr",
    "1.2.398.3.3.4.1.2.5": "employee",
    "1.2.398.3.3.4.1.2.6": "information_system",
    "1.2.398.5.19.1.2.2.1": "information_system",  # seen on information-system certificates
}
_NCA_STAFF_ARC: Final = "1.2.398.3.3.4.2."
_INDIVIDUAL_ARC: Final = "1.2.398.3.3.4.1.1"
_LEGAL_ARC: Final = "1.2.398.3.3.4.1.2"
_ID_IN_PERSON: Final = "1.2.398.3.3.4.3.1"
_ID_REMOTE: Final = "1.2.398.3.3.4.3.2"
_ID_DIGITAL_ID: Final = "1.2.398.3.3.4.3.2.1"

_KEY_USAGE_BITS: Final = (
    "digital_signature",
    "non_repudiation",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
# RFC 4514 short names (others are written as dotted OIDs).
_DN_LABELS: Final = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SURNAME",
    "2.5.4.5": "SERIALNUMBER",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.15": "BUSINESSCATEGORY",
    "2.5.4.42": "GIVENNAME",
    "1.2.840.113549.1.9.1": "E",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_KEY_ALGORITHMS: Final = {
    "1.2.840.113549.1.1.1": "rsa",
    "1.2.840.113549.1.1.10": "rsassa_pss",
    "1.2.840.10045.2.1": "ec",
    "1.2.398.3.10.1.1.1.1": "gost2004",
    "1.2.398.3.10.1.1.2.2": "gost2015",
    "1.2.398.3.10.1.1.2.1": "gost2015",  # the 256-bit GOST 2015 key
}
SIGNATURE_NAMES: Final = {
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
    "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
    "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
    "1.2.398.3.10.1.1.1.2": "GOST34310-2004 with GOST34311-95",
    "1.3.6.1.4.1.6801.1.2.2": "GOST34310-2004 with GOST34311-95",
    "1.2.398.3.10.1.1.2.3.1": "GOST34.10-2015-256 with GOST34.11-2015-256",
    "1.2.398.3.10.1.1.2.3.2": "GOST34.10-2015-512 with GOST34.11-2015-512",
}


class NameInfo(BaseModel):
    """A distinguished name with the NCA profile's attributes pulled out."""

    # Frozen: cert_info's answers are cached and shared between requests (see _INFO_CACHE).
    model_config = ConfigDict(frozen=True)

    common_name: str | None = None
    surname: str | None = None
    given_name: str | None = None  # first name, from CN
    patronymic: str | None = None  # GIVENNAME in the NCA profile
    iin: str | None = None
    bin: str | None = None
    serial_number: str | None = None
    organization: str | None = None
    organizational_units: list[str] = []
    email: str | None = None
    country: str | None = None
    locality: str | None = None
    state: str | None = None
    business_category: str | None = None
    domain_components: list[str] = []
    dn: str = ""
    gender: Literal["male", "female"] | None = None  # the IIN's 7th digit (KZ-PKI.md §5), as NCANode's gender


class PublicKeyDescription(BaseModel):
    model_config = ConfigDict(frozen=True)

    algorithm: str  # rsa | rsassa_pss | ec | gost2004 | gost2015 | dotted OID
    algorithm_oid: str
    size: int | None = None  # bits (RSA modulus, curve order size)
    curve: str | None = None


class CertInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    subject: NameInfo
    issuer: NameInfo
    serial_number: str  # upper-case hex, even length
    not_before: datetime
    not_after: datetime
    key_usage: list[str]
    key_usage_class: KeyUsageClass  # as NCANode reports it
    extended_key_usage: list[str]
    roles: list[str]
    subject_type: SubjectType
    identification_method: IdentificationMethod
    policies: list[str]
    public_key: PublicKeyDescription
    signature_algorithm: str
    signature_algorithm_name: str
    ocsp_urls: list[str]
    ca_issuer_urls: list[str]
    crl_urls: list[str]
    freshest_crl_urls: list[str]
    is_ca: bool
    subject_key_identifier: str | None
    authority_key_identifier: str | None
    fingerprint_sha256: str
    public_key_b64: str = ""  # base64 of the SubjectPublicKeyInfo DER (NCANode's publicKey)
    signature_b64: str = ""  # base64 of the issuer's signature value on the certificate (NCANode's signature)


def load_certificate(data: bytes | str | x509.Certificate) -> x509.Certificate:
    """Parse a certificate from DER, PEM or base64; :class:`CertificateParseError` if unreadable."""
    if isinstance(data, x509.Certificate):
        return data
    der = decode_binary(data, what="certificate")
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        # Force the parts every caller relies on; asn1crypto parses lazily.
        tbs["serial_number"].native  # noqa: B018
        tbs["validity"].native  # noqa: B018
        tbs["subject"].chosen  # noqa: B018
        tbs["issuer"].chosen  # noqa: B018
        RawPublicKeyInfo.load(tbs["subject_public_key_info"].dump())["algorithm"]["algorithm"].dotted  # noqa: B018
        cert["signature_algorithm"]["algorithm"].dotted  # noqa: B018
        cert["signature_value"].native  # noqa: B018
    except AuthsvcError:
        raise
    except ASN1_ERRORS as exc:
        raise CertificateParseError(f"not a readable X.509 certificate: {exc}") from exc
    return cert


def _text(value: Any) -> str:
    """An attribute value as text, tolerating mislabelled string types."""
    try:
        native = value.native
        if isinstance(native, str):
            return native
    except ASN1_ERRORS:
        pass
    contents: bytes = getattr(value, "contents", b"") or b""
    for encoding in ("utf-8", "utf-16-be"):
        try:
            return contents.decode(encoding)
        except UnicodeDecodeError:
            continue
    return contents.decode("latin-1")


def _escape(value: str) -> str:
    out = "".join("\\" + ch if ch in ',+"\\<>;=' else ch for ch in value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out


def _prefixed_digits(value: str, prefix: str) -> str | None:
    if value.upper().startswith(prefix):
        digits = value[len(prefix) :].strip()
        if digits.isdigit():
            return digits
    return None


def gender_of(iin: str | None) -> Literal["male", "female"] | None:
    """The IIN's century/sex digit: odd (1, 3, 5) a man, even (2, 4, 6) a woman; anything else unknown."""
    if iin is None or len(iin) != 12 or not iin.isdigit():
        return None
    digit = int(iin[6])
    if not 1 <= digit <= 6:
        return None
    return "male" if digit % 2 else "female"


def name_info(name: x509.Name) -> NameInfo:
    attrs: list[tuple[str, str]] = []
    # Keep what was readable: a name is informational, the signature decides validity.
    with contextlib.suppress(*ASN1_ERRORS):
        for rdn in name.chosen:
            for atv in rdn:
                attrs.append((atv["type"].dotted, _text(atv["value"])))
    first: dict[str, str] = {}
    for oid, value in attrs:
        first.setdefault(oid, value)
    units = [v for o, v in attrs if o == "2.5.4.11"]
    serial_number = first.get("2.5.4.5")
    common_name = first.get("2.5.4.3")
    surname = first.get("2.5.4.4")
    given_name: str | None = None
    if common_name:
        # CN is "SURNAME FIRSTNAME": the first name is what follows the surname.
        cn = common_name.strip()
        if surname and cn.upper().startswith(surname.strip().upper() + " "):
            given_name = cn[len(surname.strip()) :].strip() or None
        elif " " in cn and surname:
            given_name = cn.split(" ", 1)[1].strip() or None
    bin_number: str | None = None
    for unit in units:
        bin_number = bin_number or _prefixed_digits(unit, "BIN")
    iin = _prefixed_digits(serial_number, "IIN") if serial_number is not None else None
    return NameInfo(
        common_name=common_name,
        surname=surname,
        given_name=given_name,
        patronymic=first.get("2.5.4.42"),
        iin=iin,
        bin=bin_number,
        serial_number=serial_number,
        organization=first.get("2.5.4.10"),
        organizational_units=units,
        email=first.get("1.2.840.113549.1.9.1"),
        country=first.get("2.5.4.6"),
        locality=first.get("2.5.4.7"),
        state=first.get("2.5.4.8"),
        business_category=first.get("2.5.4.15"),
        domain_components=[v for o, v in attrs if o == "0.9.2342.19200300.100.1.25"],
        dn=", ".join(f"{_DN_LABELS.get(o, o)}={_escape(v)}" for o, v in attrs),
        gender=gender_of(iin),
    )


def _extensions(cert: x509.Certificate) -> dict[str, Any]:
    """Parsed extension values by OID; an extension that fails to parse is left out."""
    out: dict[str, Any] = {}
    try:
        extensions = list(cert["tbs_certificate"]["extensions"])
    except ASN1_ERRORS:
        return out
    for ext in extensions:
        try:
            oid = ext["extn_id"].dotted
            spec = x509.Extension._oid_specs.get(ext["extn_id"].native)
            if spec is not None:
                # Parse a copy of the bytes: a failed in-place parse would corrupt the certificate object.
                out[oid] = spec.load(bytes(ext["extn_value"].contents))
        except AuthsvcError:
            raise
        except ASN1_ERRORS:
            continue
    return out


def _uris(general_names: Any) -> list[str]:
    urls: list[str] = []
    for gn in general_names or []:
        if gn.name == "uniform_resource_identifier":
            urls.append(str(gn.native))
    return urls


def _crl_urls(value: Any) -> list[str]:
    urls: list[str] = []
    for dp in value or []:
        point = dp["distribution_point"]
        if isinstance(point, core.Choice) and point.name == "full_name":
            urls.extend(_uris(point.chosen))
    return urls


def _access_urls(aia: Any, method: str) -> list[str]:
    return [url for a in aia or [] if a["access_method"].dotted == method for url in _uris([a["access_location"]])]


def _safe(fn: Any, default: Any) -> Any:
    """``fn()``, or ``default`` when a malformed or absent (asn1crypto Void) field breaks it."""
    try:
        return fn()
    except AuthsvcError:
        raise
    except (*ASN1_ERRORS, AttributeError):
        return default


def _public_key(cert: x509.Certificate) -> PublicKeyDescription:
    der = cert["tbs_certificate"]["subject_public_key_info"].dump()
    raw = RawPublicKeyInfo.load(der)
    oid = raw["algorithm"]["algorithm"].dotted
    algorithm = _KEY_ALGORITHMS.get(oid, oid)
    size: int | None = None
    curve: str | None = None
    if algorithm in ("rsa", "rsassa_pss"):
        size = _safe(lambda: cert.public_key["public_key"].parsed["modulus"].native.bit_length(), None)
    elif algorithm == "ec":
        curve = _safe(lambda: str(cert.public_key["algorithm"]["parameters"].chosen.native), None)
        size = {"secp256r1": 256, "secp384r1": 384, "secp521r1": 521}.get(curve or "")
    elif algorithm in ("gost2004", "gost2015"):
        # BIT STRING wraps an OCTET STRING of X‖Y (KZ-PKI.md §2): half its length is the field size.
        point = _safe(lambda: core.OctetString.load(raw["public_key"].native).native, None)
        size = len(point) * 4 if point else None
    return PublicKeyDescription(algorithm=algorithm, algorithm_oid=oid, size=size, curve=curve)


def _serial_hex(serial: int) -> str:
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else "0" + text


# cert_info by the SHA-256 of the DER it describes: a client signs many times with one certificate and every
# answer repeats the chain's CA certificates, and describing one costs ~0.3 ms of asn1crypto work. The
# answer is a function of those bytes alone, and the models are frozen, so one instance can be shared.
INFO_CACHE_SIZE: Final = 4096
_INFO_CACHE: Lru[bytes, CertInfo] = Lru(INFO_CACHE_SIZE)


def cert_info(data: bytes | str | x509.Certificate) -> CertInfo:
    cert = load_certificate(data)
    try:
        # Hash the bytes as received: asn1crypto re-encodes some certificates on dump() (it mistakes a
        # length ending in 0x80 for BER indefinite length), which fails on NCA's empty ocsp-nocheck.
        der = cert.dump() if isinstance(data, x509.Certificate) else decode_binary(data, what="certificate")
    except AuthsvcError:
        raise
    except ASN1_ERRORS as exc:
        raise CertificateParseError(f"certificate cannot be encoded: {exc}") from exc
    digest = hashlib.sha256(der).digest()
    found = _INFO_CACHE.get(digest)
    if found is None:
        found = _describe(cert, digest.hex())
        _INFO_CACHE.put(digest, found)
    return found


def _describe(cert: x509.Certificate, fingerprint: str) -> CertInfo:
    tbs = cert["tbs_certificate"]
    ext = _extensions(cert)
    ku_bits: set[str] = set()
    if "2.5.29.15" in ext:
        ku_bits = {b for b in _safe(lambda: ext["2.5.29.15"].native, set()) if b in _KEY_USAGE_BITS}
    key_usage = [b for b in _KEY_USAGE_BITS if b in ku_bits]
    eku: list[str] = _safe(lambda: [str(p.dotted) for p in ext.get("2.5.29.37") or []], [])
    roles = list(dict.fromkeys(ROLE_NAMES[o] for o in eku if o in ROLE_NAMES))  # two OIDs may name one role
    if any(o.startswith(_NCA_STAFF_ARC) for o in eku):
        roles.append("nca_staff")
    subject = name_info(tbs["subject"])
    is_legal = any(o == _LEGAL_ARC or o.startswith(_LEGAL_ARC + ".") for o in eku) or subject.bin is not None
    is_individual = any(o == _INDIVIDUAL_ARC or o.startswith(_INDIVIDUAL_ARC + ".") for o in eku)
    subject_type: SubjectType = (
        "legal_entity" if is_legal else "individual" if is_individual or subject.iin else "unknown"
    )
    method: IdentificationMethod = "unknown"
    if _ID_DIGITAL_ID in eku:
        method = "digital_id"
    elif _ID_REMOTE in eku:
        method = "remote"
    elif _ID_IN_PERSON in eku:
        method = "in_person"
    # NCANode: digitalSignature+nonRepudiation is a SIGN key, digitalSignature+keyEncipherment AUTH.
    ku_class: KeyUsageClass = "UNKNOWN"
    if {"digital_signature", "non_repudiation"} <= ku_bits:
        ku_class = "SIGN"
    elif {"digital_signature", "key_encipherment"} <= ku_bits:
        ku_class = "AUTH"
    aia = ext.get("1.3.6.1.5.5.7.1.1")
    bc: Any = ext.get("2.5.29.19")
    aki: Any = ext.get("2.5.29.35")
    ski: Any = ext.get("2.5.29.14")
    sig_oid = cert["signature_algorithm"]["algorithm"].dotted
    validity = tbs["validity"]
    return CertInfo(
        subject=subject,
        issuer=name_info(tbs["issuer"]),
        serial_number=_serial_hex(tbs["serial_number"].native),
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        key_usage=key_usage,
        key_usage_class=ku_class,
        extended_key_usage=eku,
        roles=roles,
        subject_type=subject_type,
        identification_method=method,
        policies=_safe(lambda: [str(p["policy_identifier"].dotted) for p in ext.get("2.5.29.32") or []], []),
        public_key=_public_key(cert),
        signature_algorithm=sig_oid,
        signature_algorithm_name=SIGNATURE_NAMES.get(sig_oid, sig_oid),
        ocsp_urls=_safe(lambda: _access_urls(aia, "1.3.6.1.5.5.7.48.1"), []),
        ca_issuer_urls=_safe(lambda: _access_urls(aia, "1.3.6.1.5.5.7.48.2"), []),
        crl_urls=_safe(lambda: _crl_urls(ext.get("2.5.29.31")), []),
        freshest_crl_urls=_safe(lambda: _crl_urls(ext.get("2.5.29.46")), []),
        is_ca=bool(_safe(lambda: bc["ca"].native, False)),
        subject_key_identifier=_safe(lambda: ski.native.hex(), None),
        authority_key_identifier=_safe(lambda: aki["key_identifier"].native.hex(), None),
        fingerprint_sha256=fingerprint,
        public_key_b64=_safe(lambda: base64.b64encode(tbs["subject_public_key_info"].dump()).decode("ascii"), ""),
        signature_b64=_safe(lambda: base64.b64encode(cert["signature_value"].native).decode("ascii"), ""),
    )
