"""Kazakh GOST cryptography (KZ-PKI.md §2): GOST 34.311-95 / R 34.11-94 (test S-box), Streebog,
GOST R 34.10-2001/2012 signatures on the NCA curves, Kazakh key and signature encodings, and NCA
PKCS#12 keystores.

Callers use the names re-exported here; the submodules are implementation detail.
"""

from __future__ import annotations

from authsvc.pki.gost.curves import CURVES_BY_NAME, CURVES_BY_OID, Curve
from authsvc.pki.gost.engine import engine_curves, engine_judges_key, set_engine_enabled
from authsvc.pki.gost.fastpath import openssl_fast_path_active, set_openssl_fast_path
from authsvc.pki.gost.gost94 import Gost94, gost3411_94
from authsvc.pki.gost.keys import (
    GostPrivateKey,
    GostPublicKey,
    generate_private_key,
    parse_public_key,
    private_key_from_pkcs8,
    private_key_pkcs8_der,
    public_key_info_der,
)
from authsvc.pki.gost.kz import (
    digest,
    is_gost_digest_oid,
    is_gost_key_oid,
    is_gost_signature_oid,
    sign,
    sign_digest,
    verify,
    verify_digest,
)
from authsvc.pki.gost.native import native_curves, set_native_enabled
from authsvc.pki.gost.oids import KEY_PROFILES, SIGNATURE_ALGORITHMS
from authsvc.pki.gost.pkcs12 import Pkcs12Contents, load_nca_pkcs12, load_pkcs12
from authsvc.pki.gost.streebog import Streebog, streebog256, streebog512

__all__ = [
    "CURVES_BY_NAME",
    "CURVES_BY_OID",
    "KEY_PROFILES",
    "SIGNATURE_ALGORITHMS",
    "Curve",
    "Gost94",
    "GostPrivateKey",
    "GostPublicKey",
    "Pkcs12Contents",
    "Streebog",
    "digest",
    "engine_curves",
    "engine_judges_key",
    "generate_private_key",
    "gost3411_94",
    "is_gost_digest_oid",
    "is_gost_key_oid",
    "is_gost_signature_oid",
    "load_nca_pkcs12",
    "load_pkcs12",
    "native_curves",
    "openssl_fast_path_active",
    "parse_public_key",
    "private_key_from_pkcs8",
    "private_key_pkcs8_der",
    "public_key_info_der",
    "set_engine_enabled",
    "set_native_enabled",
    "set_openssl_fast_path",
    "sign",
    "sign_digest",
    "streebog256",
    "streebog512",
    "verify",
    "verify_digest",
]
