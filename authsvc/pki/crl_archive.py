"""Every CRL the service has relied on, kept by its SHA-256, so a revocation answer taken from a CRL can be
re-checked years later without the network (R-12.1).

`CrlCache` archives each CRL it installs (a hard link when it can: the file is written once anyway);
a contract signature's evidence names the CRL (and delta CRL) by hash. `recheck_crl` then validates the
archived file again — hash, issuer, signature, and that it was current at the moment the signature was
judged — and looks the certificate up, exactly as at signing time. NCA's GOST CRL is ≈19 MB and changes
daily, so the archive grows by that much a day: it lives on disk beside the CRL cache, not in the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import x509

from authsvc.errors import AuthsvcError
from authsvc.pki.crl import CrlError, CrlInfo, index_crl_file, reason_name
from authsvc.pki.crl_index import CrlIndex, DerError, cert_parts

REMOVE_FROM_CRL = 8  # RFC 5280 CRLReason: a delta CRL releases a hold

__all__ = ["answer_at", "archive", "archived", "recheck_crl"]

ARCHIVE = "archive"


def archived(crl_dir: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256")
    return crl_dir / ARCHIVE / f"{sha256}.crl"


def archive(crl_dir: Path, crl_file: Path, sha256: str, info: CrlInfo | None = None) -> None:
    """Keep ``crl_file`` (already validated) under its hash; a second copy of the same CRL is a no-op.
    ``info`` is kept beside it (``<sha256>.json``) so :func:`answer_at` can find the CRL current at a past
    moment without parsing every archived CRL."""
    target = archived(crl_dir, sha256)
    if info is not None and not target.with_suffix(".json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_replacing(target.with_suffix(".json"), json.dumps(info.to_meta(), sort_keys=True).encode())
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".tmp-{os.getpid()}")
    try:
        os.link(crl_file, partial)
    except OSError:
        shutil.copyfile(crl_file, partial)
    os.replace(partial, target)


def _write_replacing(target: Path, data: bytes) -> None:
    partial = target.with_suffix(f".tmp-{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, target)


def _intact_index(crl_dir: str, sha256: str, issuer_der: bytes, at: datetime, delta: bool) -> CrlIndex | str:
    try:
        path = archived(Path(crl_dir), sha256)
    except AuthsvcError:
        raise
    except ValueError:
        return "revocation_evidence_invalid"
    if not path.is_file():
        return "revocation_evidence_missing"
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return "revocation_evidence_invalid"
    try:
        index, _ = index_crl_file(path, issuer_der, at, delta=delta)
    except CrlError:
        return "revocation_evidence_invalid"
    return index


def recheck_crl(
    crl_dir: str, sha256: str, delta_sha256: str | None, issuer_der: bytes, serial: int, at: datetime
) -> str | None:
    """None when the archived CRL ``sha256`` (and delta CRL, if one was used) is intact, issued by
    ``issuer_der``, current at ``at`` and does not list ``serial`` as revoked by then — the same reading
    as `CrlCache.lookup` and the revocation layer; otherwise the reason. Runs in the process pool."""
    base = _intact_index(crl_dir, sha256, issuer_der, at, delta=False)
    if isinstance(base, str):
        return base
    entry = base.lookup(serial)
    if delta_sha256:
        delta = _intact_index(crl_dir, delta_sha256, issuer_der, at, delta=True)
        if isinstance(delta, str):
            return delta
        later = delta.lookup(serial)
        if later is not None:
            entry = None if later.reason == REMOVE_FROM_CRL else later
    if entry is not None and datetime.fromtimestamp(entry.revoked_at, UTC) <= at:
        return "revocation_revoked"
    return None


def _candidates(
    crl_dir: Path, issuer_name: x509.Name, at: datetime, not_after: datetime, skew: timedelta
) -> list[CrlInfo]:
    """Archived complete CRLs of ``issuer_name`` current at ``at`` that still speak for the certificate,
    newest first."""
    found = []
    for meta_file in (crl_dir / ARCHIVE).glob("*.json"):
        try:
            info = CrlInfo.from_meta(json.loads(meta_file.read_bytes()))
        except AuthsvcError:
            raise
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if info.is_delta or info.this_update > at + skew:
            continue
        if info.next_update is not None and at > info.next_update + skew:
            continue
        if info.speaks_for(not_after) and x509.Name.load(info.issuer_der) == issuer_name:
            found.append(info)
    return sorted(found, key=lambda i: (i.this_update, i.crl_number or 0), reverse=True)


def answer_at(
    crl_dir: str, issuer_der: bytes, serial: int, at: datetime, not_after: datetime, skew_s: float = 300.0
) -> dict[str, Any] | str:
    """Revocation of ``serial`` at the past moment ``at`` from an archived CRL that was current then and
    still listed certificates expiring at ``not_after``: the CRL's facts and the entry (if
    any) as a dict, or why there is no such CRL. The CRL is validated again (hash, issuer, signature,
    current at ``at``) before it is believed. Runs in the process pool."""
    try:
        issuer_name = x509.Name.load(cert_parts(issuer_der).subject)
    except AuthsvcError:
        raise
    except (DerError, ValueError):
        return "the issuer certificate is unreadable"
    candidates = _candidates(Path(crl_dir), issuer_name, at, not_after, timedelta(seconds=skew_s))
    for info in candidates:
        index = _intact_index(crl_dir, info.sha256, issuer_der, at, delta=False)
        if isinstance(index, str):
            continue
        entry = index.lookup(serial)
        return {
            "crl_sha256": info.sha256,
            "crl_number": info.crl_number,
            "this_update": info.this_update.isoformat(),
            "revoked_at": entry.revoked_at if entry is not None else None,
            "reason": reason_name(entry.reason) if entry is not None else None,
        }
    return f"no archived CRL of this issuer was current at {at.isoformat()}"
