"""The audit hash chain and its verification (R-12.1).

Entry ``i`` stores ``hash_i = SHA-256(hash_{i-1} ‖ canonical(entry_i))`` and an Ed25519 signature over it;
``canonical`` covers the entry's logical index, time, event, lender, subject, details and key id, so an
entry cannot be moved, renumbered or edited without breaking either its own hash or its neighbour's
link. A separate *head* record carries the last index and hash under a domain-separated signature, so
removing entries at the end (truncation) is caught too — privacyIDEA signs rows without a chain and
misses deletions at the ends. `verify_chain` names each kind of tampering it finds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = bytes(32)
HEAD_DOMAIN = b"authsvc-audit-head\x00"


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str
    event: str
    lender_id: str | None
    subject: str | None
    details: str
    key_id: str
    prev_hash: bytes
    entry_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Head:
    seq: int
    entry_hash: bytes
    at: str
    key_id: str
    signature: bytes


def canonical(
    seq: int, at: str, event: str, lender_id: str | None, subject: str | None, details: str, key_id: str
) -> bytes:
    return json.dumps(
        [seq, at, event, lender_id, subject, details, key_id], separators=(",", ":"), ensure_ascii=False
    ).encode()


def entry_hash(prev_hash: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev_hash + body).digest()


def head_message(seq: int, entry_hash_: bytes, at: str) -> bytes:
    return HEAD_DOMAIN + seq.to_bytes(8, "big") + entry_hash_ + at.encode()


Kind = Literal["altered", "inserted", "deleted", "reordered", "truncated", "head"]


@dataclass(frozen=True)
class Finding:
    kind: Kind
    seq: int | None
    message: str


@dataclass
class VerifyReport:
    entries: int
    head_seq: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


KeyLookup = Callable[[str], Ed25519PublicKey | None]


def _signed(key_for: KeyLookup, key_id: str, signature: bytes, message: bytes) -> bool:
    key = key_for(key_id)
    if key is None:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify_chain(entries: Sequence[Entry], head: Head, key_for: KeyLookup) -> VerifyReport:
    """Check every entry (ordered by storage position) and the head; report each break with its kind."""
    report = VerifyReport(entries=len(entries), head_seq=head.seq)
    add = report.findings.append
    # An entry is authentic when its stored hash matches its content and the service signed that hash.
    authentic = [
        e.entry_hash
        == entry_hash(e.prev_hash, canonical(e.seq, e.at, e.event, e.lender_id, e.subject, e.details, e.key_id))
        and _signed(key_for, e.key_id, e.signature, e.entry_hash)
        for e in entries
    ]
    seq_of_hash = {e.entry_hash: e.seq for e, ok in zip(entries, authentic, strict=True) if ok}
    prev_hash, prev_seq = GENESIS, 0
    for i, (e, ok) in enumerate(zip(entries, authentic, strict=True)):
        if not ok:
            nxt = entries[i + 1] if i + 1 < len(entries) else None
            # The chain skipping this entry means it was slipped in; otherwise it was edited in place.
            skipped = nxt.prev_hash == prev_hash if nxt is not None else e.seq > head.seq
            if skipped:
                add(Finding("inserted", e.seq, f"entry at position {e.seq} was not written by the service"))
            else:
                add(Finding("altered", e.seq, f"entry {e.seq} was altered: content, hash or signature changed"))
                prev_hash, prev_seq = (nxt.prev_hash if nxt is not None else e.entry_hash), e.seq
            continue
        if e.prev_hash != prev_hash or e.seq != prev_seq + 1:
            if e.seq <= prev_seq or (e.prev_hash in seq_of_hash and seq_of_hash[e.prev_hash] != prev_seq):
                add(
                    Finding(
                        "reordered",
                        e.seq,
                        f"entry {e.seq} is out of order (it follows entry {seq_of_hash.get(e.prev_hash, '?')})",
                    )
                )
            elif prev_seq == 0 and e.prev_hash != GENESIS:
                add(Finding("deleted", e.seq, f"entries 1..{e.seq - 1} at the start are missing"))
            else:
                add(
                    Finding(
                        "deleted",
                        e.seq,
                        f"entries {prev_seq + 1}..{e.seq - 1} are missing before entry {e.seq}",
                    )
                )
        prev_hash, prev_seq = e.entry_hash, max(prev_seq, e.seq)
    _check_head(entries, authentic, head, key_for, add)
    return report


def _check_head(
    entries: Sequence[Entry],
    authentic: list[bool],
    head: Head,
    key_for: KeyLookup,
    add: Callable[[Finding], None],
) -> None:
    if head.seq == 0:
        if entries:
            add(Finding("head", None, "the head says the log is empty but it has entries"))
        return
    if not _signed(key_for, head.key_id, head.signature, head_message(head.seq, head.entry_hash, head.at)):
        add(Finding("head", head.seq, "the head record is not signed by the service"))
        return
    last_seq = max((e.seq for e, ok in zip(entries, authentic, strict=True) if ok), default=0)
    if last_seq < head.seq:
        add(Finding("truncated", last_seq + 1, f"entries {last_seq + 1}..{head.seq} at the end are missing"))
    elif last_seq > head.seq:
        add(Finding("inserted", head.seq + 1, f"entries after {head.seq} were added outside the service"))
    elif not any(e.entry_hash == head.entry_hash for e in entries):
        add(Finding("altered", head.seq, f"the last entry {head.seq} does not match the signed head"))
