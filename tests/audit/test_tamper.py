"""`authsvc audit verify` catches each kind of tampering, and says which (R-12.1), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authsvc.audit import records as audit
from authsvc.audit.chain import VerifyReport
from authsvc.audit.chainer import chain_all, chain_pending
from authsvc.audit.verify import verify_database
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade


async def write_log(dsn: str, keys: LocalKeyStore, n: int = 6) -> None:
    engine = create_engine(dsn)
    await upgrade(engine)
    for i in range(n):
        async with Database(engine).transaction() as conn:
            await audit.append(
                conn, keys, "client.registered", lender_id="L1", subject=f"c{i + 1}", details={"i": i + 1}
            )
        assert await chain_pending(Database(engine), keys) == 1  # one at a time, as a busy chainer would
    await engine.dispose()


async def sql(dsn: str, *statements: str) -> None:
    engine = create_engine(dsn)
    async with engine.begin() as conn:
        for stmt in statements:
            await conn.exec_driver_sql(stmt)
    await engine.dispose()


async def verify(dsn: str, keys: LocalKeyStore, witness: Path | None = None) -> VerifyReport:
    return await verify_database(dsn, keys, witness)


def kinds(report: VerifyReport) -> list[tuple[str, Any]]:
    return [(f.kind, f.seq) for f in report.findings]


async def test_untouched_log_verifies(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    report = await verify(dsn, keys)
    assert report.ok and report.entries == 6 and report.head_seq == 6


async def test_altered_entry(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "UPDATE audit_log SET details = 'changed' WHERE seq = 3")
    assert kinds(await verify(dsn, keys)) == [("altered", 3)]


async def test_altered_entry_with_rehashed_content(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    # The attacker also rewrites the stored hash; the signature and the next entry's link still give it away.
    await sql(dsn, "UPDATE audit_log SET event = 'nothing.happened', entry_hash = prev_hash WHERE seq = 4")
    assert kinds(await verify(dsn, keys)) == [("altered", 4)]


async def test_deleted_entry_in_the_middle(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "DELETE FROM audit_log WHERE seq = 3")
    report = await verify(dsn, keys)
    assert kinds(report) == [("deleted", 4)]
    assert "3..3" in report.findings[0].message


async def test_deleted_entries_at_the_start(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "DELETE FROM audit_log WHERE seq <= 2")
    assert kinds(await verify(dsn, keys)) == [("deleted", 3)]


async def test_truncated_end(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "DELETE FROM audit_log WHERE seq >= 5")
    report = await verify(dsn, keys)
    assert kinds(report) == [("truncated", 5)]


async def test_truncated_end_with_head_rolled_back_is_caught_by_the_witness(
    dsn: str, keys: LocalKeyStore, tmp_path: Path
) -> None:
    await write_log(dsn, keys)
    witness = tmp_path / "witness.json"
    assert (await verify(dsn, keys, witness)).ok
    assert witness.stat().st_mode & 0o077 == 0
    # Cut the log back to entry 4 and forge the head to point at it (its signature cannot be forged, so
    # the attacker copies an entry signature — the head check rejects that — or, with the witness, it is caught).
    await sql(
        dsn,
        "DELETE FROM audit_log WHERE seq >= 5",
        "UPDATE audit_head SET seq = 0, entry_hash = (SELECT prev_hash FROM audit_log WHERE seq = 1), signature = ''",
        "DELETE FROM audit_log",
    )
    report = await verify(dsn, keys, witness)
    assert ("truncated", 6) in kinds(report)


async def test_inserted_entry(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    # Make room at position 4 and slip a forged entry in (copying a neighbour's signature).
    await sql(
        dsn,
        "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 104",
        "INSERT INTO audit_log (seq, at, event, lender_id, subject, details, key_id, prev_hash, entry_hash, signature) "
        "SELECT 4, at, 'client.registered', 'L1', 'forged', '{}', key_id, entry_hash, entry_hash, signature "
        "FROM audit_log WHERE seq = 3",
    )
    assert kinds(await verify(dsn, keys)) == [("inserted", 4)]


async def test_reordered_entries(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(
        dsn,
        "UPDATE audit_log SET seq = 100 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 100",
    )
    found = kinds(await verify(dsn, keys))
    assert found and {k for k, _ in found} == {"reordered"}


async def test_head_not_signed_by_the_service(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "UPDATE audit_head SET signature = (SELECT signature FROM audit_log WHERE seq = 6)")
    assert kinds(await verify(dsn, keys)) == [("head", 6)]


async def test_entries_signed_with_an_unknown_key_are_not_trusted(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    report = await verify(dsn, LocalKeyStore.generate())
    assert not report.ok


@pytest.mark.parametrize("n", [1, 2])
async def test_short_logs(dsn: str, keys: LocalKeyStore, n: int) -> None:
    await write_log(dsn, keys, n)
    assert (await verify(dsn, keys)).ok
    await sql(dsn, f"DELETE FROM audit_log WHERE seq = {n}")
    assert kinds(await verify(dsn, keys)) == [("truncated", n)]


async def test_deleted_entry_hidden_by_renumbering(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "DELETE FROM audit_log WHERE seq = 3", "UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")
    assert kinds(await verify(dsn, keys)) == [("deleted", 3)]


async def test_altered_last_entry(dsn: str, keys: LocalKeyStore) -> None:
    await write_log(dsn, keys)
    await sql(dsn, "UPDATE audit_log SET subject = 'someone-else' WHERE seq = 6")
    assert kinds(await verify(dsn, keys)) == [("altered", 6)]


async def test_entry_altered_while_waiting_is_caught(dsn: str, keys: LocalKeyStore) -> None:
    engine = create_engine(dsn)
    await upgrade(engine)
    async with Database(engine).transaction() as conn:
        await audit.append(conn, keys, "client.registered", subject="c1", details={"i": 1})
        await audit.append(conn, keys, "client.registered", subject="c2", details={"i": 2})
    await engine.dispose()
    await sql(dsn, "UPDATE audit_pending SET subject = 'someone-else' WHERE subject = 'c2'")
    report = await verify(dsn, keys)
    assert report.pending == 2 and kinds(report) == [("altered", None)]
    engine = create_engine(dsn)
    assert await chain_all(Database(engine), keys) == 2
    await engine.dispose()
    report = await verify(dsn, keys)
    assert report.ok and report.pending == 0
    events = [e.event for e in (await _entries(dsn))]
    assert events == ["client.registered", "audit.pending_tampered"]


async def _entries(dsn: str) -> list[Any]:
    engine = create_engine(dsn)
    async with Database(engine).autocommit() as conn:
        entries, _ = await audit.read_all(conn)
    await engine.dispose()
    return entries
