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
PENDING_DOMAIN = b"authsvc-audit-pending\x00"


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


MISSING_HEAD = Head(-1, b"", "", "", b"")  # the head row was deleted


def canonical(
    seq: int, at: str, event: str, lender_id: str | None, subject: str | None, details: str, key_id: str
) -> bytes:
    return json.dumps(
        [seq, at, event, lender_id, subject, details, key_id], separators=(",", ":"), ensure_ascii=False
    ).encode()


def entry_hash(prev_hash: bytes, body: bytes) -> bytes:
    return hashlib.sha256(prev_hash + body).digest()


def pending_message(
    at: str, event: str, lender_id: str | None, subject: str | None, details: str, key_id: str
) -> bytes:
    """What a waiting (not yet chained) entry is signed over; domain-separated from chained entries."""
    return PENDING_DOMAIN + canonical(0, at, event, lender_id, subject, details, key_id)


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
    pending: int = 0  # written but not yet linked into the chain
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


KeyLookup = Callable[[str], Ed25519PublicKey | None]


def signed_by(key_for: KeyLookup, key_id: str, signature: bytes, message: bytes) -> bool:
    """``signature`` over ``message`` is by the audit key ``key_id`` (False for an unknown key)."""
    key = key_for(key_id)
    if key is None:
        return False
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


SEARCH_WINDOW = 64


def _authentic_at(e: Entry, idx: int) -> bool:
    return e.entry_hash == entry_hash(
        e.prev_hash, canonical(idx, e.at, e.event, e.lender_id, e.subject, e.details, e.key_id)
    )


def verify_chain(entries: Sequence[Entry], head: Head, key_for: KeyLookup) -> VerifyReport:
    """Check every entry (in storage order) and the head; report each break with its kind.

    Each entry's logical index is part of its hash. When rows were renumbered to hide an insertion or
    a deletion, the verifier finds the index the entry was signed with (near where it should be), so it
    reports the insertion or deletion itself rather than every renumbered row after it.
    """
    report = VerifyReport(entries=len(entries), head_seq=head.seq)
    add = report.findings.append
    signed = [signed_by(key_for, e.key_id, e.signature, e.entry_hash) for e in entries]
    index_of: dict[bytes, int] = {}
    stored_hashes = {e.entry_hash for e in entries}
    hash_at: dict[int, bytes] = {}
    prev_hash, prev_idx, last_idx = GENESIS, 0, 0
    for i, e in enumerate(entries):
        idx = e.seq if signed[i] and _authentic_at(e, e.seq) else None
        if idx is None and signed[i]:
            near = sorted(
                range(max(1, prev_idx + 1 - SEARCH_WINDOW), prev_idx + 1 + SEARCH_WINDOW),
                key=lambda k: abs(k - prev_idx - 1),
            )
            idx = next((k for k in near if _authentic_at(e, k)), None)
        if idx is None:
            nxt = entries[i + 1] if i + 1 < len(entries) else None
            # The chain skipping this entry means it was slipped in; otherwise it was edited in place.
            skipped = nxt.prev_hash == prev_hash if nxt is not None else e.seq > head.seq
            if skipped:
                add(Finding("inserted", e.seq, f"entry at position {e.seq} was not written by the service"))
            else:
                add(Finding("altered", e.seq, f"entry {e.seq} was altered: content, hash or signature changed"))
                # Trust the next entry's link for what this one's hash was, so the damage is reported once.
                prev_hash, prev_idx = (nxt.prev_hash if nxt is not None else e.entry_hash), prev_idx + 1
                hash_at[prev_idx], index_of[prev_hash] = prev_hash, prev_idx
                last_idx = max(last_idx, prev_idx)
            continue
        expected = GENESIS if idx == 1 else hash_at.get(idx - 1)
        if idx <= prev_idx or (
            e.prev_hash != expected and e.prev_hash in stored_hashes and e.prev_hash not in index_of
        ):
            after = index_of.get(e.prev_hash, "?")
            add(Finding("reordered", e.seq, f"entry {idx} is out of order (it belongs after entry {after})"))
        elif e.prev_hash != expected:
            first = max(hash_at, default=0) + 1
            where = "at the start" if first == 1 else f"before entry {idx}"
            add(Finding("deleted", e.seq, f"entries {first}..{idx - 1} are missing {where}"))
        hash_at[idx] = e.entry_hash
        index_of[e.entry_hash] = idx
        prev_hash, prev_idx = e.entry_hash, max(prev_idx, idx)
        last_idx = max(last_idx, idx)
    _check_head(entries, last_idx, head, key_for, add)
    return report


def _check_head(
    entries: Sequence[Entry],
    last_seq: int,
    head: Head,
    key_for: KeyLookup,
    add: Callable[[Finding], None],
) -> None:
    if head.seq < 0:
        add(Finding("head", None, "the head row is missing: it was deleted from audit_head"))
        return
    if head.seq == 0:
        if entries:
            add(Finding("head", None, "the head says the log is empty but it has entries"))
        return
    if not signed_by(key_for, head.key_id, head.signature, head_message(head.seq, head.entry_hash, head.at)):
        add(Finding("head", head.seq, "the head record is not signed by the service"))
        return
    if last_seq < head.seq:
        add(Finding("truncated", last_seq + 1, f"entries {last_seq + 1}..{head.seq} at the end are missing"))
    elif last_seq > head.seq:
        add(Finding("inserted", head.seq + 1, f"entries after {head.seq} were added outside the service"))
    elif not any(e.entry_hash == head.entry_hash for e in entries):
        add(Finding("altered", head.seq, f"the last entry {head.seq} does not match the signed head"))
