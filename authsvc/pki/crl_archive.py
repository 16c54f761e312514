"""Every CRL the service has relied on, kept by its SHA-256, so a revocation answer taken from a CRL can be
re-checked years later without the network (issue 3 §6, R-12.1).

`CrlCache` archives each CRL it installs (a hard link when it can: the file is written once anyway);
a contract signature's evidence names the CRL (and delta CRL) by hash. `recheck_crl` then validates the
archived file again — hash, issuer, signature, and that it was current at the moment the signature was
judged — and looks the certificate up, exactly as at signing time. NCA's GOST CRL is ≈19 MB and changes
daily, so the archive grows by that much a day: it lives on disk beside the CRL cache, not in the database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from authsvc.errors import AuthsvcError
from authsvc.pki.crl import CrlError, index_crl_file
from authsvc.pki.crl_index import CrlIndex

REMOVE_FROM_CRL = 8  # RFC 5280 CRLReason: a delta CRL releases a hold

__all__ = ["archive", "archived", "recheck_crl"]

ARCHIVE = "archive"


def archived(crl_dir: Path, sha256: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a SHA-256")
    return crl_dir / ARCHIVE / f"{sha256}.crl"


def archive(crl_dir: Path, crl_file: Path, sha256: str) -> None:
    """Keep ``crl_file`` (already validated) under its hash; a second copy of the same CRL is a no-op."""
    target = archived(crl_dir, sha256)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".tmp-{os.getpid()}")
    try:
        os.link(crl_file, partial)
    except OSError:
        shutil.copyfile(crl_file, partial)
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
