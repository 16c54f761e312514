"""Certificate assembly with asn1crypto (pyca's builder cannot sign GOST): names in NCA's attribute
order and string types, the profile's extensions, and the signature by any `Signer`."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from asn1crypto import core, keys, x509

from simulators.nca import oids
from simulators.nca.keys import Signer

# NCA writes these as PrintableString, everything else (Cyrillic) as UTF8String.
_PRINTABLE = frozenset({"country_name", "serial_number"})


def build_name(attributes: Sequence[tuple[str, str]]) -> x509.Name:
    """A Name with one attribute per RDN, kept in the given order (asn1crypto's Name.build reorders)."""
    rdns = []
    for kind, value in attributes:
        if kind == "email_address":
            typed: core.Asn1Value = x509.EmailAddress(value)
        elif kind in _PRINTABLE:
            typed = x509.DirectoryString(name="printable_string", value=value)
        else:
            typed = x509.DirectoryString(name="utf8_string", value=value)
        rdns.append(x509.RelativeDistinguishedName([x509.NameTypeAndValue({"type": kind, "value": typed})]))
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def new_serial() -> int:
    """A positive 159-bit serial, the size NCA uses (20 bytes, top bit clear)."""
    return secrets.randbits(159) | (1 << 156)


def public_key_bits(public_key: keys.PublicKeyInfo) -> bytes:
    """The subjectPublicKey BIT STRING's bytes. Read generically: asn1crypto raises KeyError on
    `['public_key']` for GOST algorithms it does not know."""
    bits = core.Sequence.load(public_key.dump())[1]
    return bytes(bits.contents[1:])  # contents[0] is the unused-bits count


def public_key_algorithm(public_key: keys.PublicKeyInfo) -> str:
    """Dotted OID of the key algorithm, read without parsing the key (see `public_key_bits`)."""
    algorithm = keys.PublicKeyAlgorithm.load(core.Sequence.load(public_key.dump())[0].dump())
    return str(algorithm["algorithm"].dotted)


def key_identifier(public_key: keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits."""
    return hashlib.sha1(public_key_bits(public_key)).digest()


def cert_time(moment: datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)."""
    if moment.year < 2050:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def _ext(extn_id: str, value: core.Asn1Value, *, critical: bool = False) -> x509.Extension:
    return x509.Extension({"extn_id": extn_id, "critical": critical, "extn_value": value})


def key_usage(usages: Iterable[str], *, critical: bool = True) -> x509.Extension:
    return _ext("key_usage", x509.KeyUsage(set(usages)), critical=critical)


def extended_key_usage(purposes: Iterable[str], *, critical: bool = False) -> x509.Extension:
    return _ext("extended_key_usage", x509.ExtKeyUsageSyntax(list(purposes)), critical=critical)


def basic_constraints(*, ca: bool, path_len: int | None = None) -> x509.Extension:
    value: dict[str, object] = {"ca": ca}
    if path_len is not None:
        value["path_len_constraint"] = path_len
    return _ext("basic_constraints", x509.BasicConstraints(value), critical=True)


def policies(policy_oid: str = oids.POLICY_GOST2015) -> x509.Extension:
    qualifier = {"policy_qualifier_id": "certification_practice_statement", "qualifier": oids.CPS_URL}
    info = {"policy_identifier": policy_oid, "policy_qualifiers": [qualifier]}
    return _ext("certificate_policies", x509.CertificatePolicies([info]))


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def authority_info_access(*, ocsp_url: str | None, ca_issuers_url: str) -> x509.Extension:
    entries = []
    if ocsp_url is not None:
        entries.append({"access_method": "ocsp", "access_location": _uri(ocsp_url)})
    entries.append({"access_method": "ca_issuers", "access_location": _uri(ca_issuers_url)})
    return _ext("authority_information_access", x509.AuthorityInfoAccessSyntax(entries))


def distribution_points(url: str) -> x509.CRLDistributionPoints:
    point = {"distribution_point": x509.DistributionPointName(name="full_name", value=[_uri(url)])}
    return x509.CRLDistributionPoints([point])


def crl_distribution_points(url: str) -> x509.Extension:
    return _ext("crl_distribution_points", distribution_points(url))


def freshest_crl(url: str) -> x509.Extension:
    return _ext("freshest_crl", distribution_points(url))


def subject_key_identifier(public_key: keys.PublicKeyInfo) -> x509.Extension:
    return _ext("key_identifier", core.OctetString(key_identifier(public_key)))


def authority_key_identifier(issuer_key_id: bytes) -> x509.Extension:
    return _ext("authority_key_identifier", x509.AuthorityKeyIdentifier({"key_identifier": issuer_key_id}))


def ocsp_no_check() -> x509.Extension:
    return _ext("ocsp_no_check", core.Null())


def keystore_info() -> x509.Extension:
    """NCA's non-critical 1.2.398.3.3.5 (key-store info) from its GOST-2015 certificates."""
    return _ext(oids.NCA_KEYSTORE_INFO, core.ParsableOctetString(oids.NCA_KEYSTORE_INFO_VALUE))


def build_certificate(
    *,
    issuer: Signer,
    issuer_name: x509.Name,
    subject_name: x509.Name,
    public_key: keys.PublicKeyInfo,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.Extension],
    serial: int | None = None,
) -> x509.Certificate:
    """Assemble a v3 TBSCertificate and sign it with `issuer`."""
    algorithm = issuer.signature_algorithm()
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial if serial is not None else new_serial(),
            "signature": algorithm,
            "issuer": issuer_name,
            "validity": {
                "not_before": cert_time(not_before),
                "not_after": cert_time(not_after),
            },
            "subject": subject_name,
            "subject_public_key_info": public_key,
            "extensions": list(extensions),
        }
    )
    signature = issuer.sign(tbs.dump())
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature})
