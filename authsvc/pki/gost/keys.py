"""GOST public and private keys in their Kazakh (and RFC 9215) encodings.

SubjectPublicKeyInfo: algorithm {key OID, SEQUENCE {curve OID, [digest OID], [cipher OID]}} and a BIT
STRING that wraps an OCTET STRING of X‖Y, each coordinate little-endian (KZ-PKI.md §2). asn1crypto's
PublicKeyInfo cannot read the GOST bit string (KeyError), so a schema of our own reads it raw.
PKCS#8 private keys wrap d in an OCTET STRING, little-endian (GOST 2015), or as an INTEGER (NCA's
GOST 34.310-2004 keys).
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import ClassVar

from asn1crypto import core

from authsvc.pki.gost import oids
from authsvc.pki.gost.curves import CURVES_BY_NAME, CURVES_BY_OID, Curve
from authsvc.pki.gost.ec import Point, in_subgroup, public_point


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _GostKeyParameters(core.SequenceOf):  # type: ignore[misc]
    """SEQUENCE {curve OID, [digest OID], [cipher OID]}. Read as a SEQUENCE OF OIDs so that any
    element of another type is an error (asn1crypto's Sequence skips unmatched optional fields)."""

    _child_spec = core.ObjectIdentifier


class _RawPublicKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("algorithm", _AlgorithmIdentifier), ("public_key", core.OctetBitString)]


class _PrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("version", core.Integer),
        ("private_key_algorithm", _AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
        ("public_key", core.Any, {"implicit": 1, "optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class GostPublicKey:
    curve: Curve
    point: Point
    key_oid: str
    curve_oid: str
    digest_param_oid: str | None = None

    def raw(self) -> bytes:
        """X‖Y, each little-endian: the content of the key's OCTET STRING."""
        n = self.curve.size
        return self.point[0].to_bytes(n, "little") + self.point[1].to_bytes(n, "little")


@dataclass(frozen=True, slots=True, repr=False)
class GostPrivateKey:
    curve: Curve
    d: int
    profile: oids.KeyProfile

    def __repr__(self) -> str:  # never print the scalar
        return f"GostPrivateKey(curve={self.curve.name!r}, key_oid={self.profile.key_oid!r})"

    def public_key(self) -> GostPublicKey:
        return GostPublicKey(
            curve=self.curve,
            point=public_point(self.curve, self.d),
            key_oid=self.profile.key_oid,
            curve_oid=self.profile.curve_oid,
            digest_param_oid=self.profile.digest_param_oid,
        )

    def raw(self) -> bytes:
        return self.d.to_bytes(self.curve.size, "little")


def _key_parameters(alg: _AlgorithmIdentifier) -> tuple[str, str, str | None, Curve]:
    key_oid: str = alg["algorithm"].dotted
    if key_oid not in oids.KEY_ALGORITHMS:
        raise ValueError(f"not a GOST public-key algorithm: {key_oid}")
    params_any = alg["parameters"]
    if isinstance(params_any, core.Void):
        raise ValueError("GOST key without parameters")
    params = [oid.dotted for oid in _GostKeyParameters.load(params_any.dump(), strict=True)]
    if not 1 <= len(params) <= 3:
        raise ValueError("GOST key parameters must hold one to three OIDs")
    curve_oid = params[0]
    curve = CURVES_BY_OID.get(curve_oid)
    if curve is None:
        raise ValueError(f"unknown GOST curve {curve_oid}")
    return key_oid, curve_oid, (params[1] if len(params) > 1 else None), curve


def parse_public_key(spki_der: bytes) -> GostPublicKey:
    """Read a GOST SubjectPublicKeyInfo. Raises ValueError (never anything else) when malformed.

    Results are cached by DER: CA and responder keys come back for every certificate they signed,
    and the subgroup check on cofactor-4 curves costs a scalar multiplication.
    """
    try:
        der = bytes(spki_der)
    except TypeError as exc:
        raise ValueError("GOST public key must be bytes") from exc
    return _parse_public_key(der)


@functools.lru_cache(maxsize=1024)
def _parse_public_key(spki_der: bytes) -> GostPublicKey:
    try:
        info = _RawPublicKeyInfo.load(spki_der, strict=True)
        key_oid, curve_oid, digest_oid, curve = _key_parameters(info["algorithm"])
        if info["public_key"].contents[:1] != b"\x00":
            raise ValueError("GOST public key BIT STRING must have no unused bits")
        wrapped = info["public_key"].native
        raw = core.OctetString.load(wrapped, strict=True).native
    except ValueError:
        raise
    except (TypeError, KeyError, IndexError, OverflowError) as exc:  # asn1crypto's other failures
        raise ValueError(f"malformed GOST public key: {exc}") from exc
    n = curve.size
    if not isinstance(raw, bytes) or len(raw) != 2 * n:
        raise ValueError(f"GOST public key must be {2 * n} bytes for {curve.name}")
    x, y = int.from_bytes(raw[:n], "little"), int.from_bytes(raw[n:], "little")
    if not curve.contains(x, y):
        raise ValueError("GOST public key is not a point of its curve")
    if not in_subgroup(curve, (x, y)):
        raise ValueError("GOST public key is outside the curve's prime-order subgroup")
    return GostPublicKey(curve, (x, y), key_oid, curve_oid, digest_oid)


def _profile(name_or_oid: str) -> oids.KeyProfile:
    profile = oids.KEY_PROFILES.get(name_or_oid)
    if profile is not None:
        return profile
    for candidate in oids.KEY_PROFILES.values():
        if name_or_oid in (candidate.key_oid, candidate.curve_oid):
            return candidate
    raise ValueError(f"unknown GOST key profile {name_or_oid!r}; known: {', '.join(oids.KEY_PROFILES)}")


def _algorithm_identifier(profile: oids.KeyProfile) -> _AlgorithmIdentifier:
    oid_list = (
        [profile.curve_oid] if profile.digest_param_oid is None else [profile.curve_oid, profile.digest_param_oid]
    )
    params = _GostKeyParameters(oid_list)
    return _AlgorithmIdentifier({"algorithm": profile.key_oid, "parameters": core.Any.load(params.dump())})


def public_key_info_der(public_key: GostPublicKey, key_oid_profile: str) -> bytes:
    """DER SubjectPublicKeyInfo of ``public_key`` written as profile ``key_oid_profile``.

    The profile is a name from :data:`oids.KEY_PROFILES` (``kz-gost2004``, ``kz-gost2015-512``, ...)
    or its key OID; its curve must be the key's curve.
    """
    profile = _profile(key_oid_profile)
    if CURVES_BY_OID[profile.curve_oid] != public_key.curve:
        raise ValueError(f"profile {key_oid_profile!r} is for another curve than {public_key.curve.name}")
    return public_key_info_der_for(public_key.curve, public_key.point, profile)


def public_key_info_der_for(curve: Curve, point: Point, profile: oids.KeyProfile) -> bytes:
    """DER SubjectPublicKeyInfo of ``point`` under exactly ``profile``'s OIDs (no curve check: the
    engine binding writes Kazakh keys with the Russian OIDs of the same curve)."""
    n = curve.size
    raw = point[0].to_bytes(n, "little") + point[1].to_bytes(n, "little")
    bits = core.OctetString(raw).dump()
    der: bytes = _RawPublicKeyInfo({"algorithm": _algorithm_identifier(profile), "public_key": bits}).dump(force=True)
    return der


def curve_for(name: str) -> tuple[Curve, oids.KeyProfile]:
    """A curve and key profile from a profile name, a curve name or a curve/key OID."""
    if name in CURVES_BY_NAME:
        curve = CURVES_BY_NAME[name]
        for profile in oids.KEY_PROFILES.values():
            if CURVES_BY_OID[profile.curve_oid] == curve:
                return curve, profile
        # Curves no profile names (CryptoPro B/C, test sets): keep their OID, no digest parameter.
        oid = next(o for o, c in CURVES_BY_OID.items() if c == curve)
        key_oid = oids.TC26_512_KEY if curve.size == 64 else oids.TC26_256_KEY
        return curve, oids.KeyProfile(key_oid, oid, None)
    profile = _profile(name)
    return CURVES_BY_OID[profile.curve_oid], profile


def generate_private_key(curve_name: str) -> GostPrivateKey:
    """A fresh key on a curve given by profile name (``kz-gost2015-512``), curve name or OID."""
    curve, profile = curve_for(curve_name)
    return GostPrivateKey(curve, 1 + secrets.randbelow(curve.q - 1), profile)


def private_key_from_pkcs8(der: bytes) -> GostPrivateKey:
    """A GOST PKCS#8 PrivateKeyInfo (OCTET STRING or INTEGER wrapping d, little-endian)."""
    try:
        info = _PrivateKeyInfo.load(bytes(der), strict=True)
        key_oid, curve_oid, digest_oid, curve = _key_parameters(info["private_key_algorithm"])
        inner = info["private_key"].native
        parsed = core.load(inner, strict=True)
    except ValueError:
        raise
    except (TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"malformed GOST private key: {exc}") from exc
    if isinstance(parsed, core.OctetString):
        d = int.from_bytes(parsed.native, "little")
    elif isinstance(parsed, core.Integer):
        d = parsed.native
    else:
        raise ValueError("GOST private key is neither an OCTET STRING nor an INTEGER")
    if not 0 < d < curve.q:
        raise ValueError("GOST private key scalar out of range")
    return GostPrivateKey(curve, d, oids.KeyProfile(key_oid, curve_oid, digest_oid))


def private_key_pkcs8_der(private_key: GostPrivateKey) -> bytes:
    """PKCS#8 PrivateKeyInfo as NCA writes it (checked against its test keystores): GOST 2015 keys
    wrap d little-endian in an OCTET STRING, GOST 34.310-2004 keys wrap d as a DER INTEGER."""
    if private_key.profile.key_oid == oids.KZ_GOST2004_KEY:
        inner = core.Integer(private_key.d).dump()
    else:
        inner = core.OctetString(private_key.raw()).dump()
    info = _PrivateKeyInfo(
        {
            "version": 0,
            "private_key_algorithm": _algorithm_identifier(private_key.profile),
            "private_key": inner,
        }
    )
    der: bytes = info.dump(force=True)
    return der


def pkcs8_algorithm_oid(der: bytes) -> str:
    """The key algorithm OID of any PKCS#8 PrivateKeyInfo (asn1crypto's own schema rejects GOST)."""
    oid: str = _PrivateKeyInfo.load(bytes(der))["private_key_algorithm"]["algorithm"].dotted
    return oid
