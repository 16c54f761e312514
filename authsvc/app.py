"""The aiohttp application: `create_app(settings)`; every resource opened and closed in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from datetime import date

from aiohttp import web
from prometheus_client import CollectorRegistry

from authsvc.api import (
    clients,
    contracts,
    eds,
    identifications,
    liveness,
    registries,
    second_factors,
    system,
    tokens,
)
from authsvc.api.middlewares import METRICS, RATE_LIMITER, HttpMetrics, auth_middleware, context_middleware
from authsvc.api.rate_limiter import RateLimiter
from authsvc.api.routing import OperationRegistry
from authsvc.api.state import LIVENESS, OPERATIONS, SERVICES, SETTINGS, Services
from authsvc.audit.chainer import run_chainer
from authsvc.audit.config_change import record_if_changed
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.media import FormatOnlyInspector, PhotoInspector
from authsvc.cabinet.service import Registry
from authsvc.config import Settings
from authsvc.crypto.factory import open_keystore
from authsvc.crypto.keystore import KeyStore
from authsvc.methods.factors import open_factors
from authsvc.methods.liveness import LivenessMethod
from authsvc.methods.sms_queue import SmsWorker
from authsvc.store import audit, idempotency, ratelimit
from authsvc.store import liveness as liveness_store
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade

log = logging.getLogger("authsvc")
HOUSEKEEPING_S = 300


def operations() -> OperationRegistry:
    ops = OperationRegistry()
    for module in (system, clients, identifications, liveness, eds, contracts, second_factors, registries, tokens):
        module.register(ops)
    return ops


def load_keys(settings: Settings) -> KeyStore:
    return open_keystore(settings)


def create_app(
    settings: Settings,
    *,
    keys: KeyStore | None = None,
    photo_inspector: PhotoInspector | None = None,
    migrate: bool = True,
    today: date | None = None,
) -> web.Application:
    app = web.Application(
        client_max_size=settings.server.max_body_bytes, middlewares=[context_middleware, auth_middleware]
    )
    app[SETTINGS] = settings
    ops = operations()
    app[OPERATIONS] = ops
    ops.install(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database.dsn,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
        )
        if migrate:
            await upgrade(engine)
        db = await Database.open(engine, settings.database.dsn, pool_size=settings.database.pool_size)
        store_keys = keys if keys is not None else load_keys(settings)
        workers = settings.server.process_workers or os.cpu_count() or 1
        # forkserver: forking a process that runs threads (aiosqlite, asyncpg) is unsafe.
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
        services = Services(
            settings=settings,
            engine=engine,
            db=db,
            keys=store_keys,
            registry=Registry(
                engine=engine,
                keys=store_keys,
                limits=settings.registry,
                photo_inspector=photo_inspector or _photo_inspector(settings, executor),
                test_pki=settings.security.test_pki,
                today=today,
            ),
            executor=executor,
            metrics=CollectorRegistry(),
            operations=ops,
        )
        app[SERVICES] = services
        app[LIVENESS] = LivenessMethod(engine, store_keys, services.registry, executor, settings.liveness)
        app[METRICS] = HttpMetrics(services)
        limiter = RateLimiter(
            engine, limit=settings.rate_limit.requests_per_window, window_s=settings.rate_limit.window_s
        )
        app[RATE_LIMITER] = limiter
        # Outside parties' clients and the SMS outbox worker (issue 5).
        factors = services.factors = open_factors(settings.factors, store_keys)
        sms_worker = SmsWorker(db, store_keys, factors)
        sms_worker.start()
        async with engine.begin() as conn:
            await record_if_changed(conn, store_keys, settings)
            await audit.append(
                conn,
                store_keys,
                AuditEvent.SERVICE_STARTED,
                details={
                    "test_pki": settings.security.test_pki,
                    "database": engine.dialect.name,
                    "pid": os.getpid(),
                },
            )
        background = [
            asyncio.create_task(_housekeeping(services)),
            asyncio.create_task(run_chainer(db, store_keys)),
            asyncio.create_task(limiter.run()),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(Exception):
                await limiter.flush()
            with contextlib.suppress(Exception):
                await audit.chain_all(db, store_keys)  # leave nothing waiting at a clean stop
            await sms_worker.stop()
            await factors.close()
            executor.shutdown(wait=False, cancel_futures=True)
            await db.close()
            await engine.dispose()

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.append(eds.pki_context)  # after the pool it uses; closed before it
    return app


def _photo_inspector(settings: Settings, executor: Executor) -> PhotoInspector:
    if not settings.registry.photo_face_check:
        return FormatOnlyInspector()
    from authsvc.methods.photo_quality import FaceQualityInspector

    return FaceQualityInspector(executor, settings.registry.photo_quality)


async def _housekeeping(services: Services) -> None:
    """Forget expired idempotency keys and old rate windows, delete liveness media past retention;
    a failed round is retried next time."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        try:
            async with services.engine.begin() as conn:
                await idempotency.purge(conn, services.settings.security.idempotency_ttl_s)
                await ratelimit.purge(conn, window_s=services.settings.rate_limit.window_s)
                await liveness_store.purge_media(conn)
        except Exception:
            log.exception("housekeeping failed")
