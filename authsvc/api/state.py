"""Typed application state (aiohttp AppKeys) shared by handlers and middlewares."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.api.routing import OperationRegistry
from authsvc.cabinet.service import Registry
from authsvc.config import Settings
from authsvc.crypto.keystore import KeyStore


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    keys: KeyStore
    registry: Registry
    executor: Executor
    metrics: CollectorRegistry
    operations: OperationRegistry
    api_key_cache: dict[str, tuple[float, str, str]] = field(default_factory=dict)  # key -> (expires, id, name)


SETTINGS = web.AppKey("settings", Settings)
SERVICES = web.AppKey("services", Services)
OPERATIONS = web.AppKey("operations", OperationRegistry)
