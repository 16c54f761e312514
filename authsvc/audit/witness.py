"""The head log: every head the chainer makes, witnessed outside the database as it is made (R-12.1).

The database's signed head catches entries cut from the end, but not a cut back to an *older genuine*
head: whoever can write the database can delete the newest entries and restore a head row saved earlier.
So each head is also appended to a file outside the database once its round commits (one JSON line,
written with O_APPEND in one ``write`` and fsync'd: processes sharing the file never interleave lines),
lenders fetch the same signed heads (`GET /v1/audit/heads?since=`) and keep them, and `authsvc audit verify`
checks every witnessed head against the database's chain: a head newer than the chain, or an entry that
differs from the head witnessed for it, is a cut-back or a rewrite (`check_heads`).

A crash between a round's commit and its line leaves that one head unwitnessed (the next round's head
covers the entries again); a line is never written for a round that did not commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from authsvc.audit.chain import Entry, Finding, Head, KeyLookup, VerifyReport, head_message, signed_by

# The byte window read before the first line a binary search finds: processes append their rounds' heads in
# commit order, which may differ from seq order by a few rounds.
_DISORDER_BYTES = 64 * 1024
MAX_MISMATCHES = 5  # findings of rewritten entries reported one by one; the rest are counted


def head_line(head: Head) -> bytes:
    return (json.dumps(as_json(head), separators=(",", ":")) + "\n").encode()


def head_of(doc: Any) -> Head | None:
    """A head from its JSON form (a line of the log, or what the lender kept); None if malformed."""
    try:
        return Head(
            int(doc["seq"]),
            bytes.fromhex(doc["entry_hash"]),
            str(doc["at"]),
            str(doc["key_id"]),
            bytes.fromhex(doc["signature"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def as_json(head: Head) -> dict[str, Any]:
    return {
        "seq": head.seq,
        "entry_hash": head.entry_hash.hex(),
        "at": head.at,
        "key_id": head.key_id,
        "signature": head.signature.hex(),
    }


class HeadLog:
    """An append-only file of signed heads, one JSON line each (0600, like the key file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def witness(self, head: Head) -> None:
        """Write one head and fsync it (blocking: call it from a thread)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, head_line(head))
            os.fsync(fd)
        finally:
            os.close(fd)

    def all_heads(self) -> list[Head]:
        """Every head in the file. A line that does not parse (the torn last line of a crash) proves nothing
        and is skipped; a forged one fails its signature in `check_heads`."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            return _parse(f.read().splitlines())

    def heads_after(self, seq: int, limit: int) -> list[Head]:
        """Up to ``limit`` heads after ``seq``, oldest first, without reading the whole file."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            lo, hi = 0, size
            while hi - lo > _DISORDER_BYTES:  # the last offset known to start at or before a head <= seq
                mid = (lo + hi) // 2
                f.seek(mid)
                f.readline()  # the rest of a line cut by the seek
                found = _parse([f.readline()])
                if found and found[0].seq <= seq:
                    lo = mid
                else:
                    hi = mid
            start = max(0, lo - _DISORDER_BYTES)
            f.seek(start)
            if start:
                f.readline()
            heads: list[Head] = []
            for line in f:
                head = _parse([line])
                if head and head[0].seq > seq:
                    heads.append(head[0])
                    if len(heads) >= limit + 64:  # enough to put a few disordered rounds back in order
                        break
        return sorted(heads, key=lambda h: h.seq)[:limit]


def _parse(lines: Iterable[bytes]) -> list[Head]:
    heads = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        head = head_of(doc)
        if head is not None:
            heads.append(head)
    return heads


def read_heads(path: Path) -> list[Head]:
    """Heads kept elsewhere: a head log, or a JSON document as `GET /v1/audit/heads` answers it."""
    text = path.read_bytes()
    try:
        doc = json.loads(text)
    except ValueError:
        return _parse(text.splitlines())
    items = doc.get("heads", []) if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    return [h for h in (head_of(item) for item in items) if h is not None]


def check_heads(entries: Sequence[Entry], report: VerifyReport, heads: Iterable[Head], key_for: KeyLookup) -> None:
    """Every witnessed head must lie on the database's chain: its entry present with the same hash."""
    by_seq = {e.seq: e for e in entries}
    chain_end = max(report.head_seq, max(by_seq, default=0))
    newest: Head | None = None
    rewritten: list[Head] = []
    forged = 0
    for head in heads:
        if not signed_by(key_for, head.key_id, head.signature, head_message(head.seq, head.entry_hash, head.at)):
            forged += 1
            continue
        if head.seq > chain_end:
            if newest is None or head.seq > newest.seq:
                newest = head
            continue
        entry = by_seq.get(head.seq)
        if head.seq > 0 and (entry is None or entry.entry_hash != head.entry_hash):
            rewritten.append(head)
    add = report.findings.append
    if newest is not None:
        add(
            Finding(
                "truncated",
                chain_end + 1,
                f"head {newest.seq} was witnessed at {newest.at}, but the database's chain ends at {chain_end}: "
                "the log was cut back",
            )
        )
    seen: set[int] = set()
    for head in sorted(rewritten, key=lambda h: h.seq):
        if head.seq in seen:
            continue
        seen.add(head.seq)
        if len(seen) > MAX_MISMATCHES:
            break
        missing = head.seq not in by_seq
        what = "is missing" if missing else "differs from"
        add(
            Finding(
                "deleted" if missing else "altered",
                head.seq,
                f"entry {head.seq} {what} the head witnessed for it at {head.at}: the log was rewritten",
            )
        )
    more = len({h.seq for h in rewritten}) - MAX_MISMATCHES
    if more > 0:
        add(Finding("altered", None, f"{more} more witnessed heads do not match the database's chain"))
    if forged:
        add(Finding("head", None, f"{forged} witnessed heads are not signed by the service (the witness was edited)"))
