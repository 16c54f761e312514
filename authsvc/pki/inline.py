"""CMS verification on the event loop for the common cheap case.

Sending a verification to the process pool costs about a millisecond of pickling and IPC, more than the
verification itself when the signature is RSA or ECDSA (OpenSSL, tens of microseconds) and the signer's
certificate path is already known. So :func:`try_cms` verifies on the loop when, and only when, the work
is small and bounded:

- the CMS is small (``MAX_DER``; attached or given content up to ``MAX_CONTENT``), with few certificates,
  signers and attributes — hostile input can embed any public, already-validated certificate, so the
  structure itself must be bounded, not only the cryptography;
- every signer's key is RSA up to 4096 bits or EC (OpenSSL, tens of microseconds), or a GOST 2015 key
  (Streebog with GOST 34.10-2015) when OpenSSL's gost engine verifies its curve and the OpenSSL
  Streebog is active (`authsvc.pki.gost.engine`, `fastpath`: under a millisecond for a 512-bit key;
  pure Python needs ~9 ms plus ~1 s per MB of Streebog, so without them GOST stays in the pool);
- no signer uses GOST 34.310-2004 (its GOST 34.311-95 hash has the Kazakh test S-box, which OpenSSL
  lacks: pure Python, milliseconds per kilobyte), names in an ESS signingCertificateV2 a hash that is
  not fast here and whose verdict is not remembered, or carries a time-stamp token (its TSA chain is
  validated in the pool);
- every signer's certificate path is in the path cache (`authsvc.pki.path_cache`) for the moment it is
  judged at: building a path is milliseconds of pyhanko work and stays in the pool.

Anything else — including any exception, whatever it means — is answered ``None`` and the caller sends
the job to the pool, which gives exactly the verdict or the error it always gave. Verification itself is
the same code (`authsvc.pki.cms.verify_cms`) with a validator that can only read the cache, so a verdict
reached here is the uncached verdict. :func:`learn` feeds the paths the pool validated back into this
process's cache.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import cms, x509

from authsvc.pki.algorithms import (
    GOST_2015_256_KEY,
    GOST_2015_256_SIGNATURE,
    GOST_2015_512_SIGNATURE,
    GOST_2015_KEY,
    STREEBOG_256_DIGEST,
    STREEBOG_512_DIGEST,
    is_gost_oid,
)
from authsvc.pki.certinfo import cert_info
from authsvc.pki.cms import CmsResult, ParsedCms, binding_known, ess_attributes, find_signer, parse_cms, verify_cms
from authsvc.pki.der import decode_binary
from authsvc.pki.gost import engine_judges_key, openssl_fast_path_active
from authsvc.pki.path_cache import CacheOnlyValidator, CachingPathValidator, PathCacheMiss

__all__ = ["MAX_CONTENT", "MAX_DER", "CmsAttempt", "learn", "try_cms"]

log = logging.getLogger(__name__)

MAX_DER: Final = 32 * 1024  # an NCALayer signature with its chain is 2-8 KB
MAX_CONTENT: Final = 64 * 1024  # SHA-256 over it: about 0.1 ms
MAX_CERTIFICATES: Final = 8
MAX_SIGNERS: Final = 2
MAX_SIGNED_ATTRIBUTES_BYTES: Final = 2048  # NCALayer's four attributes take ~300
MAX_UNSIGNED_ATTRIBUTES_BYTES: Final = 1024
MAX_RSA_BITS: Final = 4096  # a public-key operation stays within tens of microseconds
_CHEAP_KEYS: Final = frozenset({"rsa", "rsassa_pss", "ec"})

# GOST 2015 signatures (and its key OID, which CMS signers may write as signatureAlgorithm; the digest
# algorithm then picks the mechanism), and the Streebog digests OpenSSL computes (KZ-PKI.md §2).
_GOST_2015: Final = frozenset({GOST_2015_256_SIGNATURE, GOST_2015_512_SIGNATURE, GOST_2015_KEY, GOST_2015_256_KEY})
_STREEBOG: Final = frozenset({STREEBOG_256_DIGEST, STREEBOG_512_DIGEST})
_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
_TST_ATTR: Final = "1.2.840.113549.1.9.16.2.14"
_SIGNING_CERT_V2: Final = "1.2.840.113549.1.9.16.2.47"


@dataclass(frozen=True, slots=True)
class CmsAttempt:
    """The inline verdict, or None with what was parsed (for :func:`learn`) when the pool must decide."""

    result: CmsResult | None
    parsed: ParsedCms | None = None


def _bounded(info: cms.ContentInfo) -> bool:
    """Few enough elements to be parsed and checked on the loop (read before anything is parsed eagerly)."""
    if info["content_type"].dotted != _SIGNED_DATA:
        return False
    signed = info["content"]
    if len(signed["certificates"] or []) > MAX_CERTIFICATES or not 0 < len(signed["signer_infos"]) <= MAX_SIGNERS:
        return False
    for signer in signed["signer_infos"]:
        # Bytes bound the number of attribute values, which are all parsed (a value can be 5 bytes).
        signed_attrs, unsigned_attrs = signer["signed_attrs"], signer["unsigned_attrs"]
        if signed_attrs and len(signed_attrs.contents) > MAX_SIGNED_ATTRIBUTES_BYTES:
            return False
        if unsigned_attrs and len(unsigned_attrs.contents) > MAX_UNSIGNED_ATTRIBUTES_BYTES:
            return False
    return True


def _fast_hash(oid: str) -> bool:
    """SHA-1/2 (OpenSSL), or Streebog while OpenSSL's gost provider computes it."""
    return not is_gost_oid(oid) or (oid in _STREEBOG and openssl_fast_path_active())


def _cheap_signer(signer: Any) -> bool:
    """RSA/ECDSA over SHA-1/2, or GOST 2015 over an OpenSSL Streebog; no time-stamp token. (The key is
    checked with the certificate: the GOST engine must verify its curve.)"""
    digest = signer["digest_algorithm"]["algorithm"].dotted
    signature = signer["signature_algorithm"]["algorithm"].dotted
    if not _fast_hash(digest):
        return False
    if is_gost_oid(signature) and signature not in _GOST_2015:
        return False
    return all(attr["type"].dotted != _TST_ATTR for attr in signer["unsigned_attrs"] or [])


def _cheap_binding(signer: Any, cert: x509.Certificate) -> bool:
    """The ESS signingCertificate check hashes the certificate with the algorithms its attributes name
    (pure-Python GOST: milliseconds each): cheap when its verdict is remembered or every hash is fast."""
    signed = signer["signed_attrs"]
    ess = ess_attributes(b"\x31" + signed.dump()[1:]) if signed else ()
    if binding_known(cert, ess):
        return True
    for raw in ess:  # parse copies: the signed attributes must stay as received
        attr = cms.CMSAttribute.load(raw)
        if attr["type"].dotted == _SIGNING_CERT_V2:
            for value in attr["values"]:
                if not all(_fast_hash(c["hash_algorithm"]["algorithm"].dotted) for c in value["certs"]):
                    return False
    return True


def _eligible(parsed: ParsedCms, source: CachingPathValidator, at: datetime | None, usage: Sequence[str]) -> bool:
    when = at if at is not None else datetime.now(UTC)
    for signer in parsed.signed["signer_infos"]:
        if not _cheap_signer(signer):
            return False
        cert = find_signer(signer["sid"], parsed.certificates)
        if cert is None:
            continue  # reported at once as signer_certificate_missing: nothing expensive follows
        key = cert_info(cert).public_key  # remembered by certificate: costs a hash
        if key.algorithm == "gost2015":
            # The parsed key is remembered by its DER (a cofactor-4 curve's subgroup check is paid once).
            if not engine_judges_key(cert["tbs_certificate"]["subject_public_key_info"].dump()):
                return False
        elif key.algorithm not in _CHEAP_KEYS or (key.size or 0) > MAX_RSA_BITS:
            return False
        if source.cached(cert, at=when, other_certs=parsed.certificates, required_key_usage=usage) is None:
            return False
        if not _cheap_binding(signer, cert):
            return False
    return True


async def try_cms(
    source: CachingPathValidator,
    data: bytes,
    *,
    content: bytes | None,
    at: datetime | None,
    usage: Sequence[str],
) -> CmsAttempt:
    """Verify on the loop if the input qualifies (module docstring); never raises."""
    parsed: ParsedCms | None = None
    try:
        der = decode_binary(data, what="CMS signature")
        if len(der) > MAX_DER or (content is not None and len(content) > MAX_CONTENT):
            return CmsAttempt(None)
        info = cms.ContentInfo.load(der)
        if not _bounded(info):
            return CmsAttempt(None)
        parsed = parse_cms(info)
        if parsed.embedded is not None and len(parsed.embedded) > MAX_CONTENT:
            return CmsAttempt(None, parsed)
        if not _eligible(parsed, source, at, usage):
            return CmsAttempt(None, parsed)
        # No timestamp hook: _cheap_signer admitted no signer with a token.
        result = await verify_cms(
            parsed, validator=CacheOnlyValidator(source), content=content, at=at, required_key_usage=usage
        )
    except PathCacheMiss:
        return CmsAttempt(None, parsed)  # a path left its window between the check and its use
    except Exception:  # the pool answers unreadable or odd input exactly as it always did
        # Debug only: hostile input lands here at will, and the pool's answer is logged where it is an error.
        log.debug("CMS left to the pool", exc_info=True)
        return CmsAttempt(None, parsed)
    return CmsAttempt(result, parsed)


def learn(parsed: ParsedCms | None, result: CmsResult, source: CachingPathValidator, usage: Sequence[str]) -> None:
    """Remember the paths a pool job validated for ``parsed``'s signers (their certificates attached)."""
    if parsed is None:
        return
    try:
        infos = list(parsed.signed["signer_infos"])
        if len(infos) != len(result.signers):
            return
        for signer_info, signer in zip(infos, result.signers, strict=True):
            if signer.path is None or not signer.path.ok:
                continue
            cert = find_signer(signer_info["sid"], parsed.certificates)
            if cert is not None:
                source.remember(cert, signer.path, other_certs=parsed.certificates, required_key_usage=usage)
    except Exception:  # an optimisation only: never fail a verification for it
        log.exception("could not remember a validated path")
