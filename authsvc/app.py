"""The aiohttp application: `create_app(settings, role=…)`.

Every resource is opened and closed by its own cleanup_ctx and held under its own typed `web.AppKey`
(`authsvc.api.state`), in dependency order: a context reads only the keys of the contexts before it. If a
start-up step fails, aiohttp closes exactly the contexts entered before it, and each context closes
what it opened itself when the failure is its own.

A process serves the API, runs the background jobs, or both (`Role`): plain `authsvc serve` does both; the
processes of `serve --workers N` and `serve --no-jobs` serve only, and `authsvc worker` runs only the jobs
(the outboxes, the audit chainer, the expiry sweep, incidents and the AFC feed, housekeeping). What counts
requests in memory (the rate limiter, the failed-authentication throttle) and what requests read from
memory (the CRL cache, the API-key cache) stays with each serving process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from authsvc import error_codes, logs
from authsvc.api import (
    attestations,
    audit_heads,
    checks,
    clients,
    contracts,
    docs,
    eds,
    hosted_page,
    hosted_steps,
    identifications,
    incidents,
    links,
    lists,
    liveness,
    ncanode,
    second_factors,
    system,
    tokens,
    webhooks,
)
from authsvc.api.auth_failures import AuthFailures
from authsvc.api.draining import Drain
from authsvc.api.http_server import answer_parser_errors
from authsvc.api.idempotency import idempotency_middleware
from authsvc.api.middlewares import (
    AUTH_FAILURES,
    HOSTED_DOCUMENT_LIMITER,
    LENDERS,
    METRICS,
    RATE_LIMITER,
    HttpMetrics,
    LenderCache,
    context_middleware,
)
from authsvc.api.rate_limiter import RateLimiter
from authsvc.api.routing import Operations
from authsvc.api.state import (
    ATTESTOR,
    CLIENT_REGISTRY,
    CONTRACTS,
    DB,
    EDS,
    ENGINE,
    EXECUTOR,
    FACTORS,
    FLOWS,
    HEAD_LOG,
    INCIDENTS,
    KEYS,
    LIVENESS,
    OPERATIONS,
    PROMETHEUS,
    READINESS,
    SETTINGS,
    VERIFIER,
    WEBHOOK_BELL,
    WEBHOOKS,
    Readiness,
)
from authsvc.attestation import Attestor
from authsvc.audit import records as audit
from authsvc.audit.chainer import chain_all, run_chainer
from authsvc.audit.config_change import record_if_changed
from authsvc.audit.events import AuditEvent
from authsvc.audit.witness import HeadLog
from authsvc.cabinet.media import FormatOnlyInspector, PhotoInspector
from authsvc.cabinet.service import ClientRegistry
from authsvc.config import REPO_ROOT, Settings, resolve_path
from authsvc.contracts.service import ContractService
from authsvc.crypto.factory import open_keystore
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import ConfigError
from authsvc.flows.profiles import load_profiles
from authsvc.flows.session import Flows
from authsvc.incidents.calendar import load_calendar
from authsvc.incidents.service import IncidentService, Notify
from authsvc.incidents.worker import IncidentWorker
from authsvc.methods.eds import EdsMethod
from authsvc.methods.face_references import PoolFaceEncoder
from authsvc.methods.factors import open_factors
from authsvc.methods.liveness import LivenessMethod
from authsvc.methods.sms_queue import SmsWorker
from authsvc.parties.afc import AfcClient
from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.jsonapi import Endpoint
from authsvc.parties.nca import NcaClient
from authsvc.pki.crl_sources import CrlMetrics
from authsvc.pki.service import build_verifier
from authsvc.pool import RenewingPool
from authsvc.roles import STEPS, Role
from authsvc.store import audit as audit_tables
from authsvc.store import bells as peer
from authsvc.store import idempotency, ratelimit
from authsvc.store import liveness as liveness_store
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from authsvc.store.rotation import run_rewrapper
from authsvc.webhooks import outbox as webhooks_outbox
from authsvc.webhooks.endpoints import Endpoints
from authsvc.webhooks.worker import WebhookWorker

log = logging.getLogger("authsvc")
HOUSEKEEPING_S = 300

# A test seam: called by each start-up step with its name once its resource is open (it may raise).
StartupHook = Callable[[str, web.Application], Awaitable[None]]


# The bells between processes: an API-only process rings the jobs process through them (`store.bells`).
BELLS = web.AppKey("bells", peer.PeerBells)
# The requests in flight, which a stop lets finish (`authsvc.serving`).
DRAIN = web.AppKey("drain", Drain)


def operations() -> Operations:
    ops = Operations()
    for module in (
        system,
        docs,
        clients,
        identifications,
        liveness,
        eds,
        ncanode,
        contracts,
        second_factors,
        checks,
        tokens,
        attestations,
        lists,
        incidents,
        webhooks,
        links,
        hosted_page,
        hosted_steps,
        audit_heads,
    ):
        module.register(ops)
    return ops


def load_keys(settings: Settings) -> KeyStore:
    return open_keystore(settings)


Context = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    settings: Settings,
    *,
    keys: KeyStore | None = None,
    photo_inspector: PhotoInspector | None = None,
    migrate: bool = True,
    today: date | None = None,
    startup_hook: StartupHook | None = None,
    incident_notify: Notify | None = None,
    role: Role = Role.ALL,
    http_metrics: HttpMetrics | None = None,
) -> web.Application:
    serves, runs_jobs = role != Role.JOBS, role != Role.API
    if serves:
        drain = Drain()
        app = web.Application(
            client_max_size=settings.server.max_body_bytes,
            middlewares=[drain.middleware, context_middleware, idempotency_middleware()],
        )
        app[DRAIN] = drain
        answer_parser_errors(app)  # the HTTP parser's own 400s as problem+json too
    else:
        # The cleanup contexts, and on the jobs' port when one is set (`authsvc.serving`) their own metrics and
        # readiness: the checks that apply here (database, keys) and the note of the re-wrap that runs here.
        app = web.Application()
        app.router.add_get("/metrics", system.metrics)
        app.router.add_get("/healthz", system.healthz)
        app.router.add_get("/readyz", system.readyz)
    app[SETTINGS] = settings
    ops = operations()
    app[OPERATIONS] = ops
    if serves:
        ops.install(app)
    app[READINESS] = Readiness()
    app[HEAD_LOG] = HeadLog(resolve_path(settings.audit.head_log))
    app[PROMETHEUS] = CollectorRegistry()
    # A SIGHUP's new application takes over the running one's HTTP counters (`authsvc.serving`): a reload
    # is no restart, and a counter that falls back to zero reads to Prometheus' rate() as a reset.
    app[METRICS] = HttpMetrics(app[PROMETHEUS]) if http_metrics is None else http_metrics.exposed_in(app[PROMETHEUS])

    async def opened(name: str) -> None:
        if startup_hook is not None:
            await startup_hook(name, app)

    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database.dsn,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
        )
        try:
            if migrate:
                await upgrade(engine)
            app[ENGINE] = engine
            await opened("engine")
            yield
        finally:
            await engine.dispose()

    async def database_ctx(app: web.Application) -> AsyncIterator[None]:
        db = await Database.open(app[ENGINE], settings.database.dsn, pool_size=settings.database.pool_size)
        try:
            app[DB] = db
            await opened("database")
            yield
        finally:
            await db.close()

    async def bells_ctx(app: web.Application) -> AsyncIterator[None]:
        bells = app[BELLS] = peer.PeerBells(app[DB])
        try:
            await opened("bells")
            yield
        finally:
            await bells.close()

    async def keys_ctx(app: web.Application) -> AsyncIterator[None]:
        app[KEYS] = keys if keys is not None else load_keys(settings)
        app[ATTESTOR] = Attestor(app[KEYS])  # refuses to start when the store holds no attestation key
        await opened("keys")
        yield

    async def executor_ctx(app: web.Application) -> AsyncIterator[None]:
        workers = settings.server.process_workers or os.cpu_count() or 1
        # forkserver: forking a process that runs threads (aiosqlite, asyncpg) is unsafe.
        executor = RenewingPool(  # a pool whose worker died is rebuilt on its next use
            lambda: ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=logs.setup_worker,  # the workers' records as JSON too
                initargs=(settings.server.log_level, settings.server.log_json),
            )
        )
        try:
            app[EXECUTOR] = executor
            await opened("executor")
            yield
        finally:
            # Waiting joins the workers (pending work is cancelled): no child process outlives the app.
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def registry_ctx(app: web.Application) -> AsyncIterator[None]:
        app[CLIENT_REGISTRY] = ClientRegistry(
            db=app[DB],
            keys=app[KEYS],
            limits=settings.registry,
            photo_inspector=photo_inspector or _photo_inspector(settings, app[EXECUTOR]),
            test_pki=settings.security.test_pki,
            today=today,
            faces=PoolFaceEncoder(app[EXECUTOR]),
        )
        app[LENDERS] = LenderCache(app[DB], settings.security.api_key_cache_s)
        await opened("registry")
        yield

    async def factors_ctx(app: web.Application) -> AsyncIterator[None]:
        # Outside parties' clients (their HTTP sessions are closed with them).
        factors = await open_factors(settings.factors, app[KEYS])
        if not runs_jobs:  # the SMS worker is in another process: ring it there
            factors.outbox_bell = app[BELLS].relay(peer.SMS)
        try:
            app[FACTORS] = factors
            await opened("factors")
            yield
        finally:
            await factors.close()

    async def pki_ctx(app: web.Application) -> AsyncIterator[None]:
        # The EDS verifier, its HTTP client to the NCA's services and the /readyz "trust" check.
        http = HttpClient(timeout=settings.pki.http_timeout_s)
        try:
            verifier = build_verifier(settings.pki, app[EXECUTOR], NcaClient(http, timeout=settings.pki.http_timeout_s))
            await verifier.start()
            crl_metrics = CrlMetrics(lambda: verifier.crl_cache, verifier.crl_labels)
            try:
                app[VERIFIER] = verifier
                app[READINESS]["trust"] = verifier.trust_ready  # says which certificates are missing and why
                app[READINESS]["revocation"] = verifier.revocation_ready  # says which CA and why
                app[PROMETHEUS].register(crl_metrics)
                await opened("pki")
                yield
            finally:
                with contextlib.suppress(KeyError):
                    app[PROMETHEUS].unregister(crl_metrics)
                app[READINESS].pop("revocation", None)
                app[READINESS].pop("trust", None)
                await verifier.close()
        finally:
            await http.close()

    async def methods_ctx(app: web.Application) -> AsyncIterator[None]:
        db, store_keys = app[DB], app[KEYS]
        app[LIVENESS] = LivenessMethod(db, store_keys, app[CLIENT_REGISTRY], app[EXECUTOR], settings.liveness)
        app[EDS] = EdsMethod(db, store_keys, app[VERIFIER], settings.pki)
        await opened("methods")
        yield

    async def flows_ctx(app: web.Application) -> AsyncIterator[None]:
        folders = [Path(settings.flows.profiles_dir)]
        if settings.flows.extra_profiles_dir:
            folders.append(Path(settings.flows.extra_profiles_dir))
        profiles = load_profiles(*(f if f.is_absolute() else REPO_ROOT / f for f in folders))
        if settings.flows.default_profile not in profiles or any(
            name not in profiles for chosen in settings.flows.lender_profiles.values() for name in chosen.values()
        ):
            raise ConfigError(
                f"flows: a profile named in settings is not among {sorted(profiles)}", code=error_codes.CONFIG_ERROR
            )
        # Each end is queued for the lender's callback by the statement that makes it (an outbox).
        flows = Flows(
            app[DB], app[KEYS], settings.flows, profiles, attestor=app[ATTESTOR], notify=webhooks_outbox.queued
        )
        app[FLOWS] = flows
        if VERIFIER in app:  # a serving process (the jobs alone sign no contract)
            # Signing a contract asks the flow what the lender's loan_contract profile demands (R-NB.1, R-12.3).
            app[CONTRACTS] = ContractService(
                app[DB], app[KEYS], app[VERIFIER], app[FACTORS], settings.pki, demands=flows.contract_demand
            )
        sweep = asyncio.create_task(_expiry_sweep(flows, settings.flows.expiry_sweep_s)) if runs_jobs else None
        try:
            await opened("flows")
            yield
        finally:
            if sweep is not None:
                await _stopped(sweep)

    async def sms_ctx(app: web.Application) -> AsyncIterator[None]:
        sms_worker = SmsWorker(app[DB], app[KEYS], app[FACTORS])
        sms_worker.start()
        try:
            await opened("sms")
            yield
        finally:
            await sms_worker.stop(settings.server.jobs_grace_s)

    async def incidents_ctx(app: web.Application) -> AsyncIterator[None]:
        # Incidents and the AFC (R-NB.8): the calendar file, the AFC client on its own session,
        # and the worker that exports incidents, pulls the national list feed and marks deadlines.
        conf = settings.incidents
        calendar = load_calendar(conf.calendar_file)
        service = IncidentService(
            app[DB],
            app[KEYS],
            calendar,
            conf,
            notify=incident_notify or webhooks_outbox.enqueue,
            outbox_bell=app[FACTORS].outbox_bell,
        )
        app[INCIDENTS] = service
        if not runs_jobs:  # the worker exporting to the AFC is in another process: ring it there
            service.export_bell = app[BELLS].relay(peer.INCIDENTS)
            await opened("incidents")
            yield
            return
        session = aiohttp.ClientSession(headers={"User-Agent": "authsvc"})
        try:
            endpoint = Endpoint(
                base_url=conf.afc_url,
                name="afc",
                timeout=conf.afc_timeout_s,
                connect_timeout=min(2.0, conf.afc_timeout_s),
                retry=RetryPolicy(attempts=conf.afc_attempts, backoff=0.1, max_backoff=0.5),
                api_key=conf.afc_token or None,
            )
            worker = IncidentWorker(service, AfcClient(session, endpoint))
            worker.start()
            try:
                await opened("incidents")
                yield
            finally:
                await worker.stop()
        finally:
            await session.close()

    async def webhooks_ctx(app: web.Application) -> AsyncIterator[None]:
        # The lenders' callback endpoints and the worker that sends the webhook outbox.
        app[WEBHOOKS] = Endpoints(app[DB], app[KEYS], settings.webhooks)
        if not runs_jobs:
            app[WEBHOOK_BELL] = app[BELLS].relay(peer.WEBHOOKS)
            await opened("webhooks")
            yield
            return
        worker = WebhookWorker(app[DB], app[KEYS], settings.webhooks)
        app[WEBHOOK_BELL] = worker.bell
        worker.start()
        try:
            await opened("webhooks")
            yield
        finally:
            await worker.stop(settings.server.jobs_grace_s)

    async def audit_ctx(app: web.Application) -> AsyncIterator[None]:
        db, store_keys = app[DB], app[KEYS]
        async with db.transaction() as tx:
            # The head row's lock makes processes starting together compare settings one after the other:
            # a change is recorded once, not once per process.
            await audit_tables.lock_head(tx)
            await record_if_changed(tx, store_keys, settings)
            await audit.append(
                tx,
                store_keys,
                AuditEvent.SERVICE_STARTED,
                details={
                    "test_pki": settings.security.test_pki,
                    "database": db.dialect,
                    "pid": os.getpid(),
                    "role": role.value,
                },
            )
        if not runs_jobs:  # the jobs process chains what this one writes
            await opened("audit")
            yield
            return
        chainer = asyncio.create_task(run_chainer(db, store_keys, witness=app[HEAD_LOG]))
        try:
            await opened("audit")
            yield
        finally:
            await _stopped(chainer)
            with contextlib.suppress(Exception):
                await chain_all(db, store_keys, witness=app[HEAD_LOG])  # leave nothing waiting at a clean stop

    async def rewrap_ctx(app: web.Application) -> AsyncIterator[None]:
        # After a KEK rotation, old data keys are re-wrapped under the new one here.
        task = asyncio.create_task(
            run_rewrapper(app[DB], app[KEYS], record=audit.recorder(app[KEYS], AuditEvent.KEYS_REWRAPPED))
        )
        try:
            await opened("rewrap")
            yield
        finally:
            await _stopped(task)

    async def rate_limiter_ctx(app: web.Application) -> AsyncIterator[None]:
        limiter = RateLimiter(
            app[DB], limit=settings.rate_limit.requests_per_window, window_s=settings.rate_limit.window_s
        )
        app[RATE_LIMITER] = limiter
        documents = app[HOSTED_DOCUMENT_LIMITER] = RateLimiter(
            app[DB], limit=settings.rate_limit.hosted_document_checks_per_window, window_s=settings.rate_limit.window_s
        )
        failures = app[AUTH_FAILURES] = AuthFailures(
            app[DB],
            app[KEYS],
            limit=settings.rate_limit.auth_failures_per_window,
            window_s=settings.rate_limit.auth_failure_window_s,
        )
        tasks = [asyncio.create_task(x.run()) for x in (limiter, documents, failures)]
        try:
            await opened("rate_limiter")
            yield
        finally:
            for task in tasks:
                await _stopped(task)
            for counts in (limiter, documents):
                with contextlib.suppress(Exception):
                    await counts.flush()
            with contextlib.suppress(Exception):  # before the audit context chains what is left
                await failures.flush(everything=True)

    async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_housekeeping(app[DB], settings))
        try:
            await opened("housekeeping")
            yield
        finally:
            await _stopped(task)

    async def listener_ctx(app: web.Application) -> AsyncIterator[None]:
        # The bells the API-only processes ring, heard here: each wakes its worker at once.
        heard = {peer.SMS: app[FACTORS].outbox_bell, peer.WEBHOOKS: app[WEBHOOK_BELL]}
        heard[peer.INCIDENTS] = app[INCIDENTS].export_bell
        task = asyncio.create_task(app[BELLS].listen(heard))
        try:
            await opened("listener")
            yield
        finally:
            await _stopped(task)

    every: dict[str, Context] = {
        "engine": engine_ctx,
        "database": database_ctx,
        "bells": bells_ctx,
        "keys": keys_ctx,
        "executor": executor_ctx,
        "registry": registry_ctx,
        "factors": factors_ctx,
        "pki": pki_ctx,
        "methods": methods_ctx,
        "flows": flows_ctx,
        "sms": sms_ctx,
        "incidents": incidents_ctx,
        "webhooks": webhooks_ctx,
        "audit": audit_ctx,
        "rewrap": rewrap_ctx,
        "rate_limiter": rate_limiter_ctx,
        "housekeeping": housekeeping_ctx,
        "listener": listener_ctx,
    }
    app.cleanup_ctx.extend(every[step] for step in STEPS[role])
    return app


async def _stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _photo_inspector(settings: Settings, executor: Executor) -> PhotoInspector:
    if not settings.registry.photo_face_check:
        return FormatOnlyInspector()
    from authsvc.methods.photo_quality import FaceQualityInspector

    return FaceQualityInspector(executor, settings.registry.photo_quality)


async def _expiry_sweep(flows: Flows, every_s: float) -> None:
    """Close identifications past their expiry, so each reads `expired` and its callback goes out."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await flows.expire_due()
        except Exception:
            log.exception("expiry sweep failed")


async def _housekeeping(db: Database, settings: Settings) -> None:
    """Forget expired idempotency keys and old rate windows, delete liveness media past retention;
    a failed round is retried next time."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        try:
            async with db.transaction() as tx:
                await idempotency.purge(tx, settings.security.idempotency_ttl_s)
                await ratelimit.purge(tx, window_s=settings.rate_limit.window_s)
                await liveness_store.purge_media(tx)
        except Exception:
            log.exception("housekeeping failed")
