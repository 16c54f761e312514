"""The `authsvc` command: serve, worker, migrate, lender create, audit verify, keys init | rotate-attestation,
config explain."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from aiohttp import web

from authsvc import error_codes, prefork
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings, explain, load_settings, resolve_path
from authsvc.errors import AuthsvcError, ConfigError

if TYPE_CHECKING:
    from authsvc.roles import Role


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_serve(args: argparse.Namespace) -> int:
    """Plain `serve`: one process, the API and the jobs. `--no-jobs`: the API only (run `authsvc worker` too).
    `--workers N`: a supervisor, N serving processes on one socket and, unless `--no-jobs`, a jobs process."""
    from authsvc import logs
    from authsvc.roles import Role

    settings = _settings(args)
    workers = settings.server.workers if args.workers is None else args.workers
    # The supervisor forks: no output-reading thread in it (each child starts its own, `_told`).
    logs.setup(settings.server.log_level, settings.server.log_json, capture_native=workers == 0)
    host = args.host or settings.server.host
    port = args.port or settings.server.port
    if workers == 0:
        role = Role.API if args.no_jobs else Role.ALL
        reload = _reloader(args.config, lambda s: s)
        _serve(settings, role, migrate=True, sock=prefork.listen(host, port), reload=reload)
        return 0
    return _prefork(settings, workers, jobs=not args.no_jobs, host=host, port=port, config=args.config)


# Re-reads the configuration at a SIGHUP (`_reloader`): the settings, or the reason they are refused.
Reload = Callable[[], Settings]


def _reloader(config: Path | None, adjust: Callable[[Settings], Settings]) -> Reload:
    return lambda: adjust(load_settings(config))


def _serve(settings: Settings, role: Role, *, migrate: bool, sock: socket.socket, reload: Reload) -> None:
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(_serve_until_stopped(settings, role, migrate, sock, reload))


class _Served:
    """One application serving on the shared listening socket (a copy of its descriptor, so that stopping this
    site closes only its copy: the socket stays open for the next application and the other processes)."""

    def __init__(self, settings: Settings, role: Role, migrate: bool, sock: socket.socket) -> None:
        from authsvc.app import create_app

        self.timeout_s = settings.server.shutdown_timeout_s
        self.app = create_app(settings, role=role, migrate=migrate)
        self.app.on_startup.append(_freeze_startup_heap)  # runs after the resources are open
        self.runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=75.0, shutdown_timeout=self.timeout_s)
        self._sock = sock

    async def start(self) -> None:
        try:
            await self.runner.setup()
            own = socket.socket(self._sock.family, self._sock.type, fileno=os.dup(self._sock.fileno()))
            self.site = web.SockSite(self.runner, own, shutdown_timeout=self.timeout_s)
            await self.site.start()
        except BaseException:
            await self.runner.cleanup()
            raise

    async def stop(self) -> None:
        """Stop gracefully: the listener closes (another application, process or host takes the new
        connections), the requests in flight finish — bodies still arriving included — for up to the
        shutdown timeout, and only then are the connections and resources closed."""
        from authsvc.app import DRAIN

        try:
            await self.site.stop()
            if not await self.app[DRAIN].drained(self.timeout_s):
                logging.getLogger("authsvc").warning("requests still in flight at the stop's deadline are cut")
        finally:
            await self.runner.cleanup()


async def _serve_until_stopped(
    settings: Settings, role: Role, migrate: bool, sock: socket.socket, reload: Reload
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully (`_Served.stop`). At SIGHUP the configuration is read
    again and a new application started on the same socket; once it accepts, the old one stops as at SIGTERM
    (its requests in flight finish): no connection is refused meanwhile. A configuration or start that fails
    is logged and the old application keeps serving."""
    stop, hup = _stop_on_signals(), _on_hangup()
    current = _Served(settings, role, migrate, sock)
    await current.start()
    try:
        while True:
            hup.clear()
            await _first(stop, hup)
            if stop.is_set():
                return
            fresh = await _started_again(reload, lambda s: _Served(s, role, migrate, sock))
            if fresh is not None:
                old, current = current, fresh
                await old.stop()
                logging.getLogger("authsvc").info("configuration reloaded", extra={"pid": os.getpid()})
    finally:
        sock.close()  # this process's own descriptor: the port closes once the site's copy does too
        await current.stop()


class _Startable(Protocol):
    async def start(self) -> None: ...


S = TypeVar("S", bound=_Startable)


async def _started_again(reload: Reload, build: Callable[[Settings], S]) -> S | None:
    """The application built from the configuration read again and started; None (logged) when it fails."""
    try:
        fresh = build(reload())
        await fresh.start()
    except Exception as exc:
        detail = exc.detail if isinstance(exc, AuthsvcError) else f"{type(exc).__name__}: {exc}"
        logging.getLogger("authsvc").error("reload refused; the running configuration stays", extra={"error": detail})
        return None
    return fresh


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _on_hangup() -> asyncio.Event:
    hup = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hup.set)
    return hup


def _prefork(settings: Settings, workers: int, *, jobs: bool, host: str, port: int, config: Path | None) -> int:
    from authsvc.roles import Role

    if workers > 1 and not settings.database.dsn.startswith("postgresql"):
        raise ConfigError(
            "--workers above 1 needs PostgreSQL (database.dsn): SQLite lets one process write at a time",
            code=error_codes.CONFIG_ERROR,
        )
    asyncio.run(_migrate(settings))  # once, before the fork: the children start on an up-to-date schema
    settings = _per_child(settings, workers)
    sock = prefork.listen(host, port)
    reload = _reloader(config, lambda s: _per_child(s, workers))  # each child reads the file again at SIGHUP

    def serving() -> int:
        _serve(settings, Role.API, migrate=False, sock=sock, reload=reload)
        return 0

    def running_jobs() -> int:
        sock.close()  # the jobs process takes no connections
        return _run_jobs(settings, migrate=False, reload=reload)

    children = [prefork.Child(f"serve-{n}", _told(serving, settings)) for n in range(1, workers + 1)]
    if jobs:
        children.append(prefork.Child("jobs", _told(running_jobs, settings)))
    return prefork.supervise(children, sock, stop_timeout_s=settings.server.shutdown_timeout_s + 10)


def _told(run: Callable[[], int], settings: Settings) -> Callable[[], int]:
    """A forked child: its own logging (the JSON output reader thread, which the supervisor does not run),
    and its refusal to start (a configuration error) said as `main` says it, exit status 2."""
    from authsvc import logs

    def child() -> int:
        logs.setup(settings.server.log_level, settings.server.log_json)
        try:
            return run()
        except AuthsvcError as exc:
            print(f"authsvc: {exc.detail}", file=sys.stderr)
            return 2

    return child


def _per_child(settings: Settings, workers: int) -> Settings:
    """The cores shared out: each serving process's pool gets its part of them unless the size is set."""
    if settings.server.process_workers:
        return settings
    share = max(1, (os.cpu_count() or 1) // workers)
    server = settings.server.model_copy(update={"process_workers": share})
    return settings.model_copy(update={"server": server})


async def _migrate(settings: Settings) -> str:
    from authsvc.store.engine import create_engine
    from authsvc.store.migrate import current_revision, upgrade

    engine = create_engine(settings.database.dsn)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def cmd_worker(args: argparse.Namespace) -> int:
    """The background jobs without the API, beside `serve --no-jobs` (or `--workers N --no-jobs`)."""
    from authsvc import logs

    settings = _settings(args)
    logs.setup(settings.server.log_level, settings.server.log_json)
    return _run_jobs(settings, migrate=True, reload=_reloader(args.config, lambda s: s))


class _Jobs:
    """The jobs of one configuration, and their metrics port when one is set."""

    def __init__(self, settings: Settings, migrate: bool) -> None:
        from authsvc.app import create_app
        from authsvc.roles import Role

        self.settings = settings
        self.runner = web.AppRunner(create_app(settings, role=Role.JOBS, migrate=migrate), access_log=None)

    async def start(self) -> None:
        try:
            await self.runner.setup()  # opens every job's context; they run until the stop
        except BaseException:
            await self.runner.cleanup()
            raise

    async def serve_metrics(self) -> None:
        if self.settings.server.jobs_metrics_port:  # the jobs' metrics, a scrape target of their own
            await web.TCPSite(self.runner, self.settings.server.host, self.settings.server.jobs_metrics_port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()  # each job finishes or hands back what it holds


def _run_jobs(settings: Settings, *, migrate: bool, reload: Reload) -> int:
    """The jobs until SIGTERM; at SIGHUP the jobs of the configuration read again start, then the old ones
    stop (both run a moment: the outboxes are claimed under leases, the chain under one row lock)."""

    async def run() -> None:
        stop, hup = _stop_on_signals(), _on_hangup()
        current = _Jobs(settings, migrate)
        await current.start()
        try:
            await current.serve_metrics()
            while True:
                hup.clear()
                await _first(stop, hup)
                if stop.is_set():
                    return
                fresh = await _started_again(reload, lambda s: _Jobs(s, migrate))
                if fresh is not None:
                    old, current = current, fresh
                    await old.stop()  # its metrics port closes: the new jobs take it
                    await current.serve_metrics()
                    logging.getLogger("authsvc").info("configuration reloaded", extra={"pid": os.getpid()})
        finally:
            await current.stop()

    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(run())
    return 0


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    # uvloop runs the same asyncio code with its transports and callbacks in C: a third less CPU per request
    # on the one-time-code path. The standard loop is the fallback where it is not installed.
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def _freeze_startup_heap(_app: web.Application) -> None:
    # The imported libraries (face models, crypto, SQLAlchemy…) leave a large, long-lived heap that every
    # full collection would walk again: 35–55 ms pauses, the whole p99 of a one-time-code load. Frozen
    # objects are left out of collections; what requests create is still collected.
    gc.collect()
    gc.freeze()


def cmd_migrate(args: argparse.Namespace) -> int:
    print(f"database at revision {asyncio.run(_migrate(_settings(args)))}")
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
