"""Typed application state (aiohttp AppKeys) shared by handlers and middlewares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry

from authsvc.api.routing import OperationRegistry
from authsvc.cabinet.service import Registry
from authsvc.config import Settings
from authsvc.crypto.keystore import KeyStore
from authsvc.methods.factors import Factors
from authsvc.methods.liveness import LivenessMethod
from authsvc.pki.service import Verifier
from authsvc.store import lenders
from authsvc.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database  # hot-path transactions (asyncpg on PostgreSQL)
    keys: KeyStore
    registry: Registry
    executor: Executor
    metrics: CollectorRegistry
    operations: OperationRegistry
    api_key_cache: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # key -> (expires, id, name)
    api_key_lookups: dict[str, asyncio.Future[lenders.Lender | None]] = field(default_factory=dict)  # in flight
    verifier: Verifier | None = None  # EDS verification (issue 3)
    factors: Factors | None = None  # second factors and outside registries (issue 5)
    # Extra /readyz checks by name (e.g. "trust": the PKI trust anchors are loaded).
    readiness: dict[str, Callable[[], bool]] = field(default_factory=dict)


SETTINGS = web.AppKey("settings", Settings)
LIVENESS = web.AppKey("liveness", LivenessMethod)
SERVICES = web.AppKey("services", Services)
OPERATIONS = web.AppKey("operations", OperationRegistry)
