"""Issue 11 §2: every head is witnessed outside the database as it is made, so cutting the log back to an
earlier genuine head is caught by `authsvc audit verify`, also when that head is newer than the last verified
one; a deleted head row is named, not a crash (R-12.1). SQLite and PostgreSQL, through the CLI and over HTTP."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from authsvc.api.state import DB, HEAD_LOG
from authsvc.app import create_app
from authsvc.audit import records as audit
from authsvc.audit.chain import Head, VerifyReport, head_message
from authsvc.audit.chainer import chain_all, chain_pending
from authsvc.audit.verify import verify_database
from authsvc.audit.witness import HeadLog, head_line, read_heads
from authsvc.crypto.local_keys import LocalKeyStore, init_key_file
from authsvc.roles import Role
from authsvc.store import lenders
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from tests.audit.test_tamper import kinds, sql, verify
from tests.conftest import TODAY, make_settings, run_sync, start_api


def cli(work: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": dsn,
        "AUTHSVC_KEYS_FILE": str(work / "k" / "keys.json"),
        "AUTHSVC_AUDIT_WITNESS_FILE": str(work / "k" / "witness.json"),
        "AUTHSVC_AUDIT_HEAD_LOG": str(work / "witness" / "heads.jsonl"),
    }
    return subprocess.run(
        [sys.executable, "-m", "authsvc.cli", *args], env=env, cwd=work, capture_output=True, text=True, timeout=120
    )


async def head_row(dsn: str) -> dict[str, Any]:
    engine = create_engine(dsn)
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM audit_head WHERE id = 1"))).mappings().one()
    await engine.dispose()
    return dict(row)


async def restore_head(dsn: str, saved: dict[str, Any]) -> None:
    engine = create_engine(dsn)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM audit_head"))
        await conn.execute(
            text(
                "INSERT INTO audit_head (id, seq, entry_hash, at, key_id, signature) "
                "VALUES (:id, :seq, :entry_hash, :at, :key_id, :signature)"
            ),
            saved,
        )
    await engine.dispose()


async def grow(dsn: str, keys: LocalKeyStore, log: HeadLog, n: int) -> None:
    """``n`` more audit entries, each chained in its own round as a service process would, witnessed."""
    engine = create_engine(dsn)
    await upgrade(engine)
    db = Database(engine)
    for i in range(n):
        async with db.transaction() as tx:
            await audit.append(tx, keys, "client.registered", lender_id="L1", subject=f"c{i}")
        assert await chain_pending(db, keys, witness=log) == 1
    await engine.dispose()


def test_cut_back_to_a_saved_head_newer_than_the_last_verified_is_caught(dsn: str, tmp_path: Path) -> None:
    keys = init_key_file(tmp_path / "k" / "keys.json", force=False)
    log = HeadLog(tmp_path / "witness" / "heads.jsonl")
    run_sync(grow(dsn, keys, log, 3))
    verified = cli(tmp_path, dsn, "audit", "verify")  # the last verification: head 3
    assert verified.returncode == 0 and "head 3" in verified.stdout, verified.stdout + verified.stderr
    run_sync(grow(dsn, keys, log, 2))
    saved = run_sync(head_row(dsn))  # a genuine head row at 5, kept by whoever can write the database
    assert saved["seq"] == 5
    run_sync(grow(dsn, keys, log, 3))
    # The scenario at small scale: delete the newest entries, restore the older genuine head.
    run_sync(sql(dsn, "DELETE FROM audit_log WHERE seq > 5"))
    run_sync(restore_head(dsn, saved))
    out = cli(tmp_path, dsn, "audit", "verify")
    assert out.returncode == 1, out.stdout
    assert "TAMPERED (truncated at 6): head 8 was witnessed" in out.stdout
    assert [h.seq for h in log.all_heads()] == list(range(1, 9))
    assert log.path.stat().st_mode & 0o077 == 0


def test_a_deleted_head_row_is_named(dsn: str, tmp_path: Path) -> None:
    keys = init_key_file(tmp_path / "k" / "keys.json", force=False)
    run_sync(grow(dsn, keys, HeadLog(tmp_path / "witness" / "heads.jsonl"), 1))
    run_sync(sql(dsn, "DELETE FROM audit_head"))
    out = cli(tmp_path, dsn, "audit", "verify")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "TAMPERED (head): the head row is missing" in out.stdout


async def test_lender_kept_heads_catch_a_cut_back_and_a_rewrite(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, tmp_path: Path
) -> None:
    head_log = tmp_path / "heads.jsonl"
    api = await start_api(aiohttp_client, make_settings(dsn, audit={"head_log": str(head_log)}), keys)
    for i in range(6):  # chained one at a time here, each round witnessed in the app's head log
        async with api.app[DB].transaction() as tx:
            await audit.append(tx, keys, "client.registered", lender_id=api.lender_id, subject=f"m{i}")
        await chain_all(api.app[DB], keys, witness=api.app[HEAD_LOG])
    resp = await api.get("/v1/audit/heads?since=0")
    assert resp.status == 200
    body = await resp.json()
    heads = body["heads"]
    assert heads and [h["seq"] for h in heads] == sorted(h["seq"] for h in heads)
    newest = heads[-1]
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_keys"][newest["key_id"]]))
    message = head_message(newest["seq"], bytes.fromhex(newest["entry_hash"]), newest["at"])
    public.verify(bytes.fromhex(newest["signature"]), message)  # the lender can check a head on its own
    later = await (await api.get(f"/v1/audit/heads?since={heads[1]['seq']}")).json()
    assert [h["seq"] for h in later["heads"]] == [h["seq"] for h in heads[2:]]
    bad = await api.get("/v1/audit/heads?since=-1")
    assert bad.status == 422 and bad.content_type == "application/problem+json"

    kept = tmp_path / "lender-heads.json"
    kept.write_text(json.dumps(body))
    saved = heads[-3]  # a genuine earlier head, as a saved copy of the head row would hold it
    saved_seq = saved["seq"]
    head_log.unlink()  # the service's own witness is gone too: the lender's copy still catches the cut-back
    await sql(dsn, f"DELETE FROM audit_log WHERE seq > {saved_seq}")
    row = saved | {"id": 1, "entry_hash": bytes.fromhex(saved["entry_hash"])}
    await restore_head(dsn, row | {"signature": bytes.fromhex(saved["signature"])})
    assert (await verify(dsn, keys)).ok  # the database alone looks intact
    report = await verify_with(dsn, keys, read_heads(kept))
    assert ("truncated", saved_seq + 1) in kinds(report)

    # The chainer goes on from the cut: new entries take the cut entries' places with other hashes.
    for i in range(3):
        async with api.app[DB].transaction() as tx:
            await audit.append(tx, keys, "client.registered", lender_id=api.lender_id, subject=f"n{i}")
    await chain_all(api.app[DB], keys)
    report = await verify_with(dsn, keys, read_heads(kept))
    assert ("altered", saved_seq + 1) in kinds(report), kinds(report)


async def verify_with(dsn: str, keys: LocalKeyStore, heads: list[Head]) -> VerifyReport:
    return await verify_database(dsn, keys, None, heads)


def test_since_finds_its_place_in_a_long_log(tmp_path: Path) -> None:
    log = HeadLog(tmp_path / "heads.jsonl")
    log.witness(Head(1, bytes(32), "t", "k", bytes(64)))  # the file as the chainer creates it
    with log.path.open("ab") as f:  # the rest written at once (3,000 fsyncs are slow on a busy disk)
        for seq in range(2, 3001):
            # Two processes append their rounds out of order now and then: 7 and 8 swap places, 14 and 15…
            shown = seq + 1 if seq % 7 == 0 else seq - 1 if seq % 7 == 1 else seq
            f.write(head_line(Head(shown, bytes(32), "t", "k", bytes(64))))
    assert [h.seq for h in log.heads_after(2500, 5)] == [2501, 2502, 2503, 2504, 2505]
    assert [h.seq for h in log.heads_after(0, 3)] == [1, 2, 3]
    assert log.heads_after(3000, 10) == []
    assert sorted(h.seq for h in log.all_heads()) == list(range(1, 3001))


async def test_a_host_that_only_serves_answers_the_newest_head_from_the_database(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, tmp_path: Path
) -> None:
    """Several hosts: the chainer runs in the jobs process of another host, which writes the heads to its own
    head log; this host's log stays empty, and its API answers the database's signed head (issue 15)."""
    here, there = HeadLog(tmp_path / "this-host.jsonl"), HeadLog(tmp_path / "jobs-host.jsonl")
    app = create_app(make_settings(dsn, audit={"head_log": str(here.path)}), keys=keys, today=TODAY, role=Role.API)
    client = await aiohttp_client(app)
    async with app[DB].transaction() as tx:
        _, key = await lenders.create(tx, "Test MFO")
    for i in range(3):
        async with app[DB].transaction() as tx:
            await audit.append(tx, keys, "client.registered", lender_id="L1", subject=f"h{i}")
        await chain_all(app[DB], keys, witness=there)
    auth = {"Authorization": f"Bearer {key}"}
    body = await (await client.get("/v1/audit/heads?since=0", headers=auth)).json()
    assert here.all_heads() == []
    newest = there.all_heads()[-1]
    assert [h["seq"] for h in body["heads"]] == [newest.seq]
    assert body["heads"][0]["signature"] == newest.signature.hex() and body["next_since"] == newest.seq
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_keys"][newest.key_id]))
    public.verify(newest.signature, head_message(newest.seq, newest.entry_hash, newest.at))
    after = await (await client.get(f"/v1/audit/heads?since={newest.seq}", headers=auth)).json()
    assert after["heads"] == [] and after["next_since"] == newest.seq
