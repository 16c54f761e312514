"""Signature and digest algorithm dispatch: RSA (PKCS#1 v1.5, PSS), ECDSA and Kazakh GOST (R-7.1).

``verify_signature`` answers True/False for any signature or key bytes (a malformed signature is a
failed signature, never an exception); only an algorithm this module does not know raises
:class:`UnsupportedAlgorithm`, so callers can tell "bad signature" from "cannot judge".

CMS signers often put the *key* algorithm (rsaEncryption, id-ecPublicKey, a GOST key OID) in
``signatureAlgorithm`` and the hash in ``digestAlgorithm``; pass that hash as ``digest_algorithm``.
GOST primitives live in :mod:`authsvc.pki.gost` (KZ-PKI.md §2).
"""

from __future__ import annotations

import hashlib
import importlib
from types import ModuleType
from typing import ClassVar, Final

from asn1crypto import algos, core, keys
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as PycaUnsupported
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ValidationFailed
from authsvc.pki import asn1_compat
from authsvc.pki.der import ASN1_ERRORS

__all__ = [
    "GOST_2004_SIGNATURE",
    "GOST_2015_256_SIGNATURE",
    "GOST_2015_512_SIGNATURE",
    "RawPublicKeyInfo",
    "UnsupportedAlgorithm",
    "digest_oid",
    "gost_available",
    "hash_data",
    "is_gost_oid",
    "signature_digest_oid",
    "spki_algorithm_oid",
    "verify_signature",
]


asn1_compat.install()  # every PKI module imports this one: GOST keys must never break asn1crypto


class UnsupportedAlgorithm(ValidationFailed):
    """The signature or digest algorithm is not one this service verifies."""

    code = error_codes.UNSUPPORTED_ALGORITHM
    title = "Unsupported algorithm"


# --- OIDs (KZ-PKI.md §2) -------------------------------------------------------------------------
GOST_2004_KEY: Final = "1.2.398.3.10.1.1.1.1"
GOST_2004_SIGNATURE: Final = "1.2.398.3.10.1.1.1.2"
GOST_2004_SIGNATURE_ALIAS: Final = "1.3.6.1.4.1.6801.1.2.2"
GOST_2015_KEY: Final = "1.2.398.3.10.1.1.2.2"
GOST_2015_256_KEY: Final = "1.2.398.3.10.1.1.2.1"
GOST_2015_256_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.1"
GOST_2015_512_SIGNATURE: Final = "1.2.398.3.10.1.1.2.3.2"
GOST_34311_DIGEST: Final = "1.2.398.3.10.1.3.1"
STREEBOG_256_DIGEST: Final = "1.2.398.3.10.1.3.2"
STREEBOG_512_DIGEST: Final = "1.2.398.3.10.1.3.3"

_GOST_SIGNATURES: Final = {
    GOST_2004_SIGNATURE: GOST_34311_DIGEST,
    GOST_2004_SIGNATURE_ALIAS: GOST_34311_DIGEST,
    GOST_2015_256_SIGNATURE: STREEBOG_256_DIGEST,
    GOST_2015_512_SIGNATURE: STREEBOG_512_DIGEST,
}
_GOST_DIGESTS: Final = frozenset({GOST_34311_DIGEST, STREEBOG_256_DIGEST, STREEBOG_512_DIGEST})
_GOST_KEYS: Final = frozenset({GOST_2004_KEY, GOST_2015_KEY, GOST_2015_256_KEY})
# A GOST key OID used as signatureAlgorithm: the digest picks the signature mechanism.
_GOST_SIG_BY_DIGEST: Final = {
    GOST_34311_DIGEST: GOST_2004_SIGNATURE,
    STREEBOG_256_DIGEST: GOST_2015_256_SIGNATURE,
    STREEBOG_512_DIGEST: GOST_2015_512_SIGNATURE,
}

_RSA_KEY: Final = "1.2.840.113549.1.1.1"
_RSA_PSS: Final = "1.2.840.113549.1.1.10"
_EC_KEY: Final = "1.2.840.10045.2.1"

# Signature OID -> (family, digest OID)
_CLASSIC_SIGNATURES: Final = {
    "1.2.840.113549.1.1.5": ("rsa", "1.3.14.3.2.26"),
    "1.3.14.3.2.29": ("rsa", "1.3.14.3.2.26"),
    "1.2.840.113549.1.1.14": ("rsa", "2.16.840.1.101.3.4.2.4"),
    "1.2.840.113549.1.1.11": ("rsa", "2.16.840.1.101.3.4.2.1"),
    "1.2.840.113549.1.1.12": ("rsa", "2.16.840.1.101.3.4.2.2"),
    "1.2.840.113549.1.1.13": ("rsa", "2.16.840.1.101.3.4.2.3"),
    "1.2.840.10045.4.1": ("ecdsa", "1.3.14.3.2.26"),
    "1.2.840.10045.4.3.1": ("ecdsa", "2.16.840.1.101.3.4.2.4"),
    "1.2.840.10045.4.3.2": ("ecdsa", "2.16.840.1.101.3.4.2.1"),
    "1.2.840.10045.4.3.3": ("ecdsa", "2.16.840.1.101.3.4.2.2"),
    "1.2.840.10045.4.3.4": ("ecdsa", "2.16.840.1.101.3.4.2.3"),
}

_HASHLIB_NAMES: Final = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_PYCA_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "1.3.14.3.2.26": hashes.SHA1,
    "2.16.840.1.101.3.4.2.4": hashes.SHA224,
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
# Names accepted besides OIDs (asn1crypto's names and the usual spellings).
_DIGEST_ALIASES: Final = {
    "sha1": "1.3.14.3.2.26",
    "sha-1": "1.3.14.3.2.26",
    "sha224": "2.16.840.1.101.3.4.2.4",
    "sha-224": "2.16.840.1.101.3.4.2.4",
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha-256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha-384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
    "sha-512": "2.16.840.1.101.3.4.2.3",
    "gost34311": GOST_34311_DIGEST,
    "streebog256": STREEBOG_256_DIGEST,
    "streebog512": STREEBOG_512_DIGEST,
}
_ACCEPTED_CURVES: Final = frozenset({"secp256r1", "secp384r1", "secp521r1"})


def _gost_module() -> ModuleType | None:
    """The GOST primitives, imported lazily so RSA/ECDSA work where they are absent."""
    try:
        module = importlib.import_module("authsvc.pki.gost")
    except ImportError:
        return None
    # While the package is being written it may lack its public API: treat that as absent.
    return module if all(hasattr(module, n) for n in ("verify", "digest")) else None


def gost_available() -> bool:
    return _gost_module() is not None


def is_gost_oid(oid: str) -> bool:
    """True for any Kazakh GOST key, signature or digest OID."""
    return oid in _GOST_SIGNATURES or oid in _GOST_DIGESTS or oid in _GOST_KEYS


def _digest_oid(name_or_oid: str) -> str:
    value = name_or_oid.strip()
    if value in _HASHLIB_NAMES or value in _GOST_DIGESTS:
        return value
    alias = _DIGEST_ALIASES.get(value.lower())
    if alias is None:
        raise UnsupportedAlgorithm(f"unsupported digest algorithm {name_or_oid!r}")
    return alias


def hash_data(digest_oid_or_name: str, data: bytes) -> bytes:
    """Digest ``data`` with a SHA-1/2 or Kazakh GOST digest named by OID or name."""
    oid = _digest_oid(digest_oid_or_name)
    if oid in _GOST_DIGESTS:
        gost = _gost_module()
        if gost is None:
            raise UnsupportedAlgorithm("GOST digests are not available", code=error_codes.GOST_UNAVAILABLE)
        result: bytes = gost.digest(oid, data)
        return result
    return hashlib.new(_HASHLIB_NAMES[oid], data).digest()


def _algorithm_oid(signature_algorithm: algos.SignedDigestAlgorithm | str) -> str:
    if isinstance(signature_algorithm, str):
        return signature_algorithm.strip()
    oid: str = signature_algorithm["algorithm"].dotted
    return oid


def signature_digest_oid(
    signature_algorithm: algos.SignedDigestAlgorithm | str, digest_algorithm: str | None = None
) -> str:
    """The digest OID a signature algorithm implies (or ``digest_algorithm`` for a bare key OID)."""
    oid = _algorithm_oid(signature_algorithm)
    if oid in _CLASSIC_SIGNATURES:
        return _CLASSIC_SIGNATURES[oid][1]
    if oid in _GOST_SIGNATURES:
        return _GOST_SIGNATURES[oid]
    if oid == _RSA_PSS and isinstance(signature_algorithm, algos.SignedDigestAlgorithm):
        params = signature_algorithm["parameters"]
        hash_oid: str = params["hash_algorithm"]["algorithm"].dotted
        return hash_oid
    if digest_algorithm is not None and oid in {_RSA_KEY, _EC_KEY, *_GOST_KEYS}:
        return _digest_oid(digest_algorithm)
    raise UnsupportedAlgorithm(f"unsupported signature algorithm {oid}")


class RawPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    """SubjectPublicKeyInfo read without asn1crypto's per-algorithm key spec (which lacks GOST)."""

    _fields: ClassVar = [("algorithm", keys.PublicKeyAlgorithm), ("public_key", core.OctetBitString)]


def spki_algorithm_oid(spki_der: bytes) -> str:
    """The key algorithm OID of a DER SubjectPublicKeyInfo (ValueError-family errors if malformed)."""
    oid: str = RawPublicKeyInfo.load(spki_der)["algorithm"]["algorithm"].dotted
    return oid


def _load_spki(public_key_info: keys.PublicKeyInfo | bytes) -> tuple[bytes, str] | None:
    """(DER, key algorithm OID), or None when the key cannot be read."""
    try:
        der = public_key_info if isinstance(public_key_info, bytes) else public_key_info.dump()
        raw = RawPublicKeyInfo.load(der, strict=True)
        return der, raw["algorithm"]["algorithm"].dotted
    except AuthsvcError:
        raise
    except ASN1_ERRORS:
        return None


def _verify_gost(spki: tuple[bytes, str], oid: str, digest_oid: str | None, data: bytes, sig: bytes) -> bool:
    if oid in _GOST_KEYS:
        if digest_oid is None or digest_oid not in _GOST_SIG_BY_DIGEST:
            raise UnsupportedAlgorithm(f"GOST key algorithm {oid} needs a GOST digest algorithm")
        oid = _GOST_SIG_BY_DIGEST[digest_oid]
    elif oid == GOST_2004_SIGNATURE_ALIAS:
        oid = GOST_2004_SIGNATURE
    gost = _gost_module()
    if gost is None:
        raise UnsupportedAlgorithm("GOST signatures are not available", code=error_codes.GOST_UNAVAILABLE)
    if spki[1] not in _GOST_KEYS:
        return False
    try:
        return bool(gost.verify(spki[0], oid, data, sig))
    except AuthsvcError:
        raise
    except (*ASN1_ERRORS, ArithmeticError):
        return False


def _pss_padding(
    signature_algorithm: algos.SignedDigestAlgorithm,
) -> tuple[padding.PSS, hashes.HashAlgorithm]:
    params = signature_algorithm["parameters"]
    hash_oid = params["hash_algorithm"]["algorithm"].dotted
    mgf = params["mask_gen_algorithm"]
    if mgf["algorithm"].dotted != "1.2.840.113549.1.1.8":
        raise UnsupportedAlgorithm("RSASSA-PSS with a mask generation function other than MGF1")
    mgf_hash_oid = mgf["parameters"]["algorithm"].dotted
    if hash_oid not in _PYCA_HASHES or mgf_hash_oid not in _PYCA_HASHES:
        raise UnsupportedAlgorithm("RSASSA-PSS with an unsupported hash")
    if params["trailer_field"].native not in (1, "trailer_field_bc"):
        raise UnsupportedAlgorithm("RSASSA-PSS with a trailer field other than 1")
    pss = padding.PSS(mgf=padding.MGF1(_PYCA_HASHES[mgf_hash_oid]()), salt_length=params["salt_length"].native)
    return pss, _PYCA_HASHES[hash_oid]()


def verify_signature(
    public_key_info: keys.PublicKeyInfo | bytes,
    signature_algorithm: algos.SignedDigestAlgorithm | str,
    data: bytes,
    signature: bytes,
    digest_algorithm: str | None = None,
) -> bool:
    """Verify ``signature`` over ``data``; False for any bad signature, key or key/algorithm mismatch.

    ``signature_algorithm`` is an AlgorithmIdentifier (needed for PSS parameters) or an OID string.
    ``digest_algorithm`` (OID or name) is used only when the algorithm names a key type, not a hash.
    Raises :class:`UnsupportedAlgorithm` for algorithms outside RSA, ECDSA and Kazakh GOST.
    """
    oid = _algorithm_oid(signature_algorithm)
    digest_oid = _digest_oid(digest_algorithm) if digest_algorithm is not None else None
    if oid in _GOST_SIGNATURES or oid in _GOST_KEYS:
        spki = _load_spki(public_key_info)
        return spki is not None and _verify_gost(spki, oid, digest_oid, data, signature)

    family: str
    pss: padding.PSS | None = None
    if oid in _CLASSIC_SIGNATURES:
        family, hash_oid = _CLASSIC_SIGNATURES[oid]
        chosen: hashes.HashAlgorithm = _PYCA_HASHES[hash_oid]()
    elif oid in (_RSA_KEY, _EC_KEY):
        if digest_oid is None or digest_oid not in _PYCA_HASHES:
            raise UnsupportedAlgorithm(f"key algorithm {oid} used as a signature algorithm needs a SHA digest")
        family = "rsa" if oid == _RSA_KEY else "ecdsa"
        chosen = _PYCA_HASHES[digest_oid]()
    elif oid == _RSA_PSS:
        if not isinstance(signature_algorithm, algos.SignedDigestAlgorithm):
            raise UnsupportedAlgorithm("RSASSA-PSS needs its AlgorithmIdentifier parameters")
        try:
            pss, chosen = _pss_padding(signature_algorithm)
        except AuthsvcError:
            raise
        except (ValueError, TypeError, KeyError):
            return False  # unreadable parameters: the signature cannot be valid
        family = "rsa"
    else:
        raise UnsupportedAlgorithm(f"unsupported signature algorithm {oid}")

    loaded = _load_spki(public_key_info)
    if loaded is None:
        return False
    der, key_oid = loaded
    try:
        if key_oid == _RSA_PSS:
            # A PSS-only key: pyca loads it as a plain RSA key.
            pss_key = keys.PublicKeyInfo.load(der)
            der = keys.PublicKeyInfo({"algorithm": {"algorithm": "rsa"}, "public_key": pss_key["public_key"]}).dump()
        key = serialization.load_der_public_key(der)
        if family == "rsa":
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(signature, data, pss if pss is not None else padding.PKCS1v15(), chosen)
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _ACCEPTED_CURVES:
                return False
            key.verify(signature, data, ec.ECDSA(chosen))
    except AuthsvcError:
        raise
    except (InvalidSignature, PycaUnsupported, *ASN1_ERRORS):
        return False
    return True


def digest_oid(name_or_oid: str) -> str:
    """The OID of a SHA-1/2 or Kazakh GOST digest given by name ("sha256", "SHA-256") or OID."""
    return _digest_oid(name_or_oid)
