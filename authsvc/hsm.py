"""`python -m authsvc.hsm`: the service's keys on a PKCS#11 token ([keys] backend = "pkcs11").

    init                create the key-encryption, index, audit and attestation keys on the token (idempotent)
    rotate              add a new key-encryption key (current at once), then re-wrap existing data keys under it
                        (--batch 0: leave the re-wrap to the service's jobs process, which finds it by itself)
    rewrap              re-wrap what a previous rotation left now (resumable after a crash: run it again; the
                        service's background job does the same in small batches)
    rotate-attestation  add a new attestation-signing key (signs from now on; old ones stay published)
    status              the token's key ids and how many records each KEK still wraps

The PIN comes from the environment variable or file the settings name (never the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import load_settings
from authsvc.crypto.factory import hsm_pin
from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore
from authsvc.errors import AuthsvcError
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.rotation import kek_counts, rewrap


async def _counts(dsn: str) -> dict[str, dict[str, int]]:
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=1)
    try:
        return await kek_counts(db)
    finally:
        await db.close()
        await engine.dispose()


async def _rewrap(
    dsn: str, store: Pkcs11KeyStore, batch: int, pause_s: float = 0.0, rotated_from: str | None = None
) -> dict[str, Any]:
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=1)
    try:
        if rotated_from is not None:
            async with db.transaction() as tx:
                details = {"from": rotated_from, "to": store.kek_id, "by": "python -m authsvc.hsm rotate"}
                await audit.append(tx, store, AuditEvent.KEYS_ROTATED, details=details)
        record = audit.recorder(store, AuditEvent.KEYS_REWRAPPED)
        report = await rewrap(
            db, store, batch=max(batch, 1), max_batches=0 if batch == 0 else None, record=record, pause_s=pause_s
        )
        return {"current_kek": report.current_kek, "rewrapped": report.rewrapped, "remaining": report.remaining}
    finally:
        await db.close()
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m authsvc.hsm", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--config", help="TOML settings file (default: $AUTHSVC_CONFIG or configs/default.toml)")
    p.add_argument(
        "--batch", type=int, default=200, help="records re-wrapped per transaction (rotate: 0 re-wraps nothing now)"
    )
    p.add_argument("--pause", type=float, default=0.0, help="seconds between batches (room for traffic)")
    p.add_argument("command", choices=["init", "rotate", "rewrap", "rotate-attestation", "status"])
    args = p.parse_args(argv)
    try:
        settings = load_settings(args.config)
        keys = settings.keys
        store = Pkcs11KeyStore(keys.pkcs11_module, keys.pkcs11_token_label, hsm_pin(keys), timeout_s=60)
        out: dict[str, Any]
        if args.command == "init":
            out = store.initialize()
        elif args.command == "rotate":
            old = store.kek_id
            out = {"new_kek": store.rotate_kek()}
            out |= asyncio.run(_rewrap(settings.database.dsn, store, args.batch, args.pause, rotated_from=old))
        elif args.command == "rotate-attestation":
            out = {
                "new_attestation_key": store.rotate_attestation_key(),
                "attestation_keys": store.attestation_key_ids(),
            }
        elif args.command == "rewrap":
            out = asyncio.run(_rewrap(settings.database.dsn, store, args.batch, args.pause))
        else:
            out = {"keks": store.kek_ids(), "current_kek": store.kek_id, "audit_key": store.audit_key_id}
            out["attestation_keys"] = store.attestation_key_ids()
            out["records"] = asyncio.run(_counts(settings.database.dsn))
        store.close()
    except AuthsvcError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
