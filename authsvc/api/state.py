"""Typed application state: one `web.AppKey` per resource, each set by its own cleanup_ctx in `authsvc.app`.

Handlers and middlewares read only the keys they need; nothing holds "all services".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

from aiohttp import web
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.api.routing import Operations
from authsvc.attestation import Attestor
from authsvc.audit.witness import HeadLog
from authsvc.cabinet.service import ClientRegistry
from authsvc.config import Settings
from authsvc.contracts.service import ContractService
from authsvc.crypto.keystore import KeyStore
from authsvc.flows.session import Flows
from authsvc.incidents.service import IncidentService
from authsvc.methods.eds import EdsMethod
from authsvc.methods.factors import Factors
from authsvc.methods.liveness import LivenessMethod
from authsvc.pki.service import Verifier
from authsvc.store.db import Database
from authsvc.webhooks.endpoints import Endpoints


class Readiness(dict[str, Callable[[], bool | str]]):
    """Extra /readyz checks by name (e.g. "trust": the PKI trust anchors are loaded)."""


SETTINGS = web.AppKey("settings", Settings)
OPERATIONS = web.AppKey("operations", Operations)
READINESS = web.AppKey("readiness", Readiness)
PROMETHEUS = web.AppKey("prometheus", CollectorRegistry)
ENGINE = web.AppKey("engine", AsyncEngine)  # migrations and the SQLite path of `DB`
DB = web.AppKey("db", Database)
KEYS = web.AppKey("keys", KeyStore)
ATTESTOR = web.AppKey("attestor", Attestor)  # signs and verifies attestations with the attestation keys of KEYS
EXECUTOR = web.AppKey("executor", Executor)  # the process pool for CPU-heavy work
CLIENT_REGISTRY = web.AppKey("client_registry", ClientRegistry)  # the client registry (cabinet)
FACTORS = web.AppKey("factors", Factors)  # outside parties' clients: SMS, telco, CDAO, bureau, …
VERIFIER = web.AppKey("verifier", Verifier)  # EDS verification against the NCA PKI
LIVENESS = web.AppKey("liveness", LivenessMethod)
EDS = web.AppKey("eds", EdsMethod)
CONTRACTS = web.AppKey("contracts", ContractService)
FLOWS = web.AppKey("flows", Flows)  # identifications: state, profiles, completion
INCIDENTS = web.AppKey("incidents", IncidentService)  # incidents and their deadlines
WEBHOOKS = web.AppKey("webhooks", Endpoints)  # the lenders' callback endpoints
WEBHOOK_BELL = web.AppKey("webhook_bell", asyncio.Event)  # wakes this process's webhook worker
HEAD_LOG = web.AppKey("head_log", HeadLog)  # where the chainer witnesses each head, outside the database
