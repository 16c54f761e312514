"""The `authsvc` command: serve, worker, migrate, lender create, audit verify, keys init | rotate-attestation,
config explain."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from authsvc import prefork, serving
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings, explain, load_settings, resolve_path
from authsvc.errors import AuthsvcError


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_serve(args: argparse.Namespace) -> int:
    """Plain `serve`: one process, the API and the jobs. `--no-jobs`: the API only (run `authsvc worker` too).
    `--workers N`: a supervisor, N serving processes on one socket and, unless `--no-jobs`, a jobs process."""
    from authsvc import logs
    from authsvc.roles import Role

    settings = _settings(args)
    workers = settings.server.workers if args.workers is None else args.workers
    # The supervisor forks: no output-reading thread in it (each child starts its own, `serving._told`).
    logs.setup(settings.server.log_level, settings.server.log_json, capture_native=workers == 0)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if workers == 0:
        role = Role.API if args.no_jobs else Role.ALL
        reload = serving.reloader(args.config, lambda s: s)
        serving.serve_one(settings, role, migrate=True, sock=prefork.listen(host, port), reload=reload)
        return 0
    return serving.serve_prefork(settings, workers, jobs=not args.no_jobs, host=host, port=port, config=args.config)


def cmd_worker(args: argparse.Namespace) -> int:
    """The background jobs without the API, beside `serve --no-jobs` (or `--workers N --no-jobs`)."""
    from authsvc import logs

    settings = _settings(args)
    logs.setup(settings.server.log_level, settings.server.log_json)
    return serving.run_jobs(settings, migrate=True, reload=serving.reloader(args.config, lambda s: s))


def cmd_migrate(args: argparse.Namespace) -> int:
    print(f"database at revision {asyncio.run(serving.migrate(_settings(args)))}")
    return 0


def cmd_lender_create(args: argparse.Namespace) -> int:
    from authsvc.app import load_keys
    from authsvc.audit import records as audit
    from authsvc.audit.chainer import chain_all
    from authsvc.audit.witness import HeadLog
    from authsvc.store import lenders
    from authsvc.store.db import Database
    from authsvc.store.engine import create_engine
    from authsvc.store.migrate import upgrade

    settings = _settings(args)
    keys = load_keys(settings)

    async def run() -> tuple[str, str]:
        engine = create_engine(settings.database.dsn)
        db: Database | None = None
        try:
            await upgrade(engine)
            db = await Database.open(engine, settings.database.dsn, pool_size=1)
            async with db.transaction() as tx:
                lender, api_key = await lenders.create(tx, args.name)
                await audit.append(
                    tx, keys, AuditEvent.LENDER_CREATED, lender_id=lender.id, details={"name": args.name}
                )
            await chain_all(db, keys, witness=HeadLog(resolve_path(settings.audit.head_log)))
            return lender.id, api_key
        finally:
            if db is not None:
                await db.close()
            await engine.dispose()

    lender_id, api_key = asyncio.run(run())
    if args.json:
        print(json.dumps({"lender_id": lender_id, "api_key": api_key}))
    else:
        print(f"lender {lender_id} created.\nAPI key (shown once, store it now): {api_key}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from authsvc.app import load_keys
    from authsvc.audit.verify import verify_database
    from authsvc.audit.witness import HeadLog, read_heads

    settings = _settings(args)
    keys = load_keys(settings)
    witness = None if args.no_witness else resolve_path(settings.audit.witness_file)
    heads = [] if args.no_witness else HeadLog(resolve_path(settings.audit.head_log)).all_heads()
    for kept in args.heads:  # heads a lender kept, or another host's head log
        heads.extend(read_heads(kept))
    report = asyncio.run(verify_database(settings.database.dsn, keys, witness, heads))
    for finding in report.findings:
        where = f" at {finding.seq}" if finding.seq is not None else ""
        print(f"TAMPERED ({finding.kind}{where}): {finding.message}")
    if report.ok:
        waiting = f", {report.pending} waiting to be chained" if report.pending else ""
        print(f"audit log intact: {report.entries} entries, head {report.head_seq}{waiting}")
        return 0
    return 1


def cmd_keys_init(args: argparse.Namespace) -> int:
    from authsvc.crypto.local_keys import init_key_file, load_key_file, write_key_file

    settings = _settings(args)
    path = resolve_path(settings.keys.file)
    if path.exists() and args.if_missing:
        existing = load_key_file(path)
        if existing.current_attestation_key:
            print(f"key file {path} exists; kept")
        else:  # written before attestation keys existed: add the one missing key, keep the others
            key_id = existing.rotate_attestation_key()
            write_key_file(path, existing)
            print(f"key file {path} kept; attestation key {key_id} added")
        return 0
    store = init_key_file(path, force=args.force)
    print(
        f"key file {path} created (0600); KEK {store.kek_id}, audit key {store.audit_key_id}, "
        f"attestation key {store.attestation_key_id}"
    )
    return 0


def cmd_keys_rotate_attestation(args: argparse.Namespace) -> int:
    from authsvc.crypto.local_keys import load_key_file, write_key_file

    settings = _settings(args)
    path = resolve_path(settings.keys.file)
    store = load_key_file(path)
    key_id = store.rotate_attestation_key()
    write_key_file(path, store)
    print(
        f"attestation key {key_id} signs from now on (restart the service's processes); "
        f"{len(store.attestation_keys) - 1} older key(s) stay published"
    )
    return 0


def cmd_config_explain(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for s in explain(settings):
        print(
            f"{s.section}.{s.name} = {s.value!r}\n    env {s.env}; type {s.type}; default {s.default!r}\n    {s.help}"
        )
    return 0


def _worker_count(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 64:
        raise argparse.ArgumentTypeError("give a whole number from 0 to 64")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="authsvc", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="TOML config file (default: $AUTHSVC_CONFIG or configs/default.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (and, by default, the background jobs)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="N pre-forked serving processes on one port under a supervisor, plus one for the jobs; "
        "more than 1 needs PostgreSQL (default: [server] workers, 0 = one process for everything)",
    )
    serve.add_argument(
        "--no-jobs", action="store_true", help="serve the API only; run the background jobs with `authsvc worker`"
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser(
        "worker", help="run the background jobs only (outboxes, audit chainer, sweeps, AFC), beside serve --no-jobs"
    ).set_defaults(func=cmd_worker)

    sub.add_parser("migrate", help="create or upgrade the database schema").set_defaults(func=cmd_migrate)

    lender = sub.add_parser("lender", help="manage lenders").add_subparsers(dest="lender_command", required=True)
    create = lender.add_parser("create", help="create a lender and print its API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--json", action="store_true", help="print {lender_id, api_key} as JSON")
    create.set_defaults(func=cmd_lender_create)

    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    verify = audit.add_parser("verify", help="check the hash chain and signatures; exit 1 on tampering")
    verify.add_argument(
        "--no-witness", action="store_true", help="neither read the head log nor read or update the witness file"
    )
    verify.add_argument(
        "--heads",
        type=Path,
        action="append",
        default=[],
        help="also check heads kept elsewhere: a head log, or a saved answer of GET /v1/audit/heads (repeatable)",
    )
    verify.set_defaults(func=cmd_audit_verify)

    keys = sub.add_parser("keys", help="service keys").add_subparsers(dest="keys_command", required=True)
    init = keys.add_parser("init", help="create the local key file (0600)")
    init.add_argument("--force", action="store_true", help="replace an existing key file (old data becomes unreadable)")
    init.add_argument("--if-missing", action="store_true", help="do nothing when the key file exists")
    init.set_defaults(func=cmd_keys_init)
    keys.add_parser(
        "rotate-attestation", help="add a new attestation-signing key to the key file; older ones stay published"
    ).set_defaults(func=cmd_keys_rotate_attestation)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    config.add_parser("explain", help="list every setting").set_defaults(func=cmd_config_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AuthsvcError as exc:
        print(f"authsvc: {exc.detail}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
