"""The aiohttp application: `create_app(settings)`; every resource opened and closed in cleanup_ctx."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from aiohttp import web
from prometheus_client import CollectorRegistry

from authsvc.api import clients, identifications, system
from authsvc.api.middlewares import METRICS, HttpMetrics, auth_middleware, context_middleware
from authsvc.api.routing import OperationRegistry
from authsvc.api.state import OPERATIONS, SERVICES, SETTINGS, Services
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.media import FormatOnlyInspector, PhotoInspector
from authsvc.cabinet.service import Registry
from authsvc.config import Settings, resolve_path
from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import load_key_file
from authsvc.store import audit, idempotency, ratelimit
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade

log = logging.getLogger("authsvc")
HOUSEKEEPING_S = 300


def operations() -> OperationRegistry:
    ops = OperationRegistry()
    for module in (system, clients, identifications):
        module.register(ops)
    return ops


def load_keys(settings: Settings) -> KeyStore:
    return load_key_file(resolve_path(settings.keys.file))


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
        store_keys = keys if keys is not None else load_keys(settings)
        workers = settings.server.process_workers or os.cpu_count() or 1
        # forkserver: forking a process that runs threads (aiosqlite, asyncpg) is unsafe.
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
        services = Services(
            settings=settings,
            engine=engine,
            keys=store_keys,
            registry=Registry(
                engine=engine,
                keys=store_keys,
                limits=settings.registry,
                photo_inspector=photo_inspector or FormatOnlyInspector(),
                test_pki=settings.security.test_pki,
                today=today,
            ),
            executor=executor,
            metrics=CollectorRegistry(),
            operations=ops,
        )
        app[SERVICES] = services
        app[METRICS] = HttpMetrics(services)
        async with engine.begin() as conn:
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
        housekeeping = asyncio.create_task(_housekeeping(services))
        try:
            yield
        finally:
            housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await housekeeping
            executor.shutdown(wait=False, cancel_futures=True)
            await engine.dispose()

    app.cleanup_ctx.append(resources)
    return app


async def _housekeeping(services: Services) -> None:
    """Forget expired idempotency keys and old rate windows; a failed round is retried next time."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        try:
            async with services.engine.begin() as conn:
                await idempotency.purge(conn, services.settings.security.idempotency_ttl_s)
                await ratelimit.purge(conn, window_s=services.settings.rate_limit.window_s)
        except Exception:
            log.exception("housekeeping failed")
