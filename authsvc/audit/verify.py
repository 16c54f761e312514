"""`authsvc audit verify`: the chain check over the database, plus two outside witnesses.

The head log (`authsvc.audit.witness`) holds every head the chainer made: a cut-back to any earlier head,
even a genuine one restored from a saved row, leaves a witnessed head beyond the chain or an entry that
differs from its witnessed head. Heads a lender kept (`GET /v1/audit/heads`) are checked the same way. The
witness file (kept with the keys) remembers the last verified head as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from authsvc.audit import records
from authsvc.audit.chain import Entry, Finding, Head, VerifyReport, verify_chain
from authsvc.audit.witness import check_heads
from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Database
from authsvc.store.engine import create_engine


def check_witness(entries: list[Entry], report: VerifyReport, witness: Path) -> None:
    if not witness.exists():
        return
    seen = json.loads(witness.read_text())
    seq, digest = int(seen["seq"]), bytes.fromhex(seen["entry_hash"])
    match = next((e for e in entries if e.seq == seq), None)
    if report.head_seq < seq or match is None:
        report.findings.append(
            Finding(
                "truncated",
                seq,
                f"entry {seq}, verified earlier, is gone: the log was cut back to {report.head_seq}",
            )
        )
    elif match.entry_hash != digest:
        report.findings.append(Finding("altered", seq, f"entry {seq} differs from the one verified earlier"))


def write_witness(report: VerifyReport, entries: list[Entry], witness: Path) -> None:
    last = next((e for e in reversed(entries) if e.seq == report.head_seq), None)
    if last is None:
        return
    witness.parent.mkdir(parents=True, exist_ok=True)
    witness.write_text(json.dumps({"seq": last.seq, "entry_hash": last.entry_hash.hex(), "at": last.at}))
    witness.chmod(0o600)


async def verify_database(dsn: str, keys: KeyStore, witness: Path | None, heads: Sequence[Head] = ()) -> VerifyReport:
    """The chain, its head and what waits, checked against ``witness`` and the witnessed ``heads``."""
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=1)
    try:
        async with db.transaction() as tx:  # one snapshot of the chain, its head and what waits
            entries, head = await records.read_all(tx)
            pending = await records.read_pending(tx, keys)
    finally:
        await db.close()
        await engine.dispose()

    def key_for(key_id: str) -> Ed25519PublicKey | None:
        try:
            return keys.audit_public_key(key_id)
        except KeyError:
            return None

    report = verify_chain(entries, head, key_for)
    report.pending = pending.count
    for pending_id in pending.tampered:
        report.findings.append(
            Finding("altered", None, f"waiting entry #{pending_id} was altered before it was chained")
        )
    check_heads(entries, report, heads, key_for)
    if witness is not None:
        check_witness(entries, report, witness)
        if report.ok:
            write_witness(report, entries, witness)
    return report
