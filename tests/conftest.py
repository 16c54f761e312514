"""Shared fixtures: the service on real SQLite and real PostgreSQL, a lender, test media.

PostgreSQL is never skipped: the suite uses $AUTHSVC_TEST_PG_DSN (default: the CI machine's server at
127.0.0.1:5432, database `test`), and scripts/test.sh starts a throwaway server when none answers. If it
still cannot connect, the PostgreSQL tests fail with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import io
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import make_url

from authsvc.api.state import DB
from authsvc.app import create_app
from authsvc.config import Settings, load_settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from authsvc.store.schema import metadata

PG_DSN = os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TODAY = date(2026, 11, 21)
BACKENDS = ["sqlite", "postgresql"]
HEAD_LOGS = Path(tempfile.gettempdir()) / f"authsvc-test-heads-{os.getuid()}"


_GIVEN_AUDIT_FILES = {n for n in ("AUTHSVC_AUDIT_HEAD_LOG", "AUTHSVC_AUDIT_WITNESS_FILE") if n in os.environ}


def pytest_configure(config: pytest.Config) -> None:
    """Every service process a test starts inherits audit files of its own unless the test names them: with the
    defaults (the checkout's ``var/audit/``) their heads, signed by throwaway keys, would land in the developer's
    head log, and `authsvc audit verify` in the checkout would then report the chain TAMPERED. This default serves
    session-scoped servers; `_audit_files_per_test` gives each test its own."""
    scratch = Path(tempfile.mkdtemp(prefix="authsvc-test-audit-"))
    os.environ.setdefault("AUTHSVC_AUDIT_HEAD_LOG", str(scratch / "heads.jsonl"))
    os.environ.setdefault("AUTHSVC_AUDIT_WITNESS_FILE", str(scratch / "witness.json"))


@pytest.fixture(autouse=True)
def _audit_files_per_test(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """One shared scratch head log would mix heads signed by every test's throwaway keys, and a test that runs
    `authsvc audit verify` would find the others' heads there (TAMPERED)."""
    names = {"AUTHSVC_AUDIT_HEAD_LOG": "heads.jsonl", "AUTHSVC_AUDIT_WITNESS_FILE": "witness.json"}
    if all(n in _GIVEN_AUDIT_FILES for n in names):
        return
    own = tmp_path_factory.mktemp("audit")
    for name, file in names.items():
        if name not in _GIVEN_AUDIT_FILES:
            monkeypatch.setenv(name, str(own / file))


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even while a test's event loop is running."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_DSN)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated; dropped afterwards."""
    name = f"authsvc_test_{uuid.uuid4().hex[:10]}"
    try:
        run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_DSN} is not reachable ({exc!r}); run the suite through scripts/test.sh")
    dsn = make_url(PG_DSN).set(database=name).render_as_string(hide_password=False)

    async def migrate() -> None:
        engine = create_engine(dsn)
        await upgrade(engine)
        await engine.dispose()

    run_sync(migrate())
    yield dsn
    run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def reset_database(dsn: str) -> None:
    """Empty every table and put back the genesis audit head (PostgreSQL is shared by the session)."""
    engine = create_engine(dsn)
    async with engine.begin() as conn:
        names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
        await conn.execute(text(f"TRUNCATE {names}"))
        await conn.execute(
            text("INSERT INTO audit_head (id, seq, entry_hash, at, key_id, signature) VALUES (1, 0, :h, '', '', :s)"),
            {"h": bytes(32), "s": b""},
        )
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def dsn(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/authsvc.db"
    pg: str = request.getfixturevalue("pg_dsn")
    run_sync(reset_database(pg))
    return pg


@pytest.fixture
def keys() -> LocalKeyStore:
    return LocalKeyStore.generate()


def make_settings(dsn: str, **overrides: Any) -> Settings:
    # Synthetic photos have no face: the face check is off here and on in tests/api/test_photo_quality.py.
    sections: dict[str, dict[str, Any]] = {
        "database": {"dsn": dsn},
        # A head log per database, outside the worktree (the same one for each start, as in a deployment).
        "audit": {"head_log": str(HEAD_LOGS / f"{hashlib.sha256(dsn.encode()).hexdigest()[:16]}.jsonl")},
        "security": {"test_pki": True},
        "registry": {"photo_face_check": False},
        # the regulatory profiles, and the tests' own (tests/data/profiles) beside them
        "flows": {"extra_profiles_dir": str(Path(__file__).parent / "data" / "profiles")},
    }
    for key, value in overrides.items():
        sections.setdefault(key, {}).update(value)
    return load_settings(None, env={}, **sections)


@pytest.fixture
def settings(dsn: str) -> Settings:
    return make_settings(dsn)


@dataclass
class Api:
    """A test client with a lender's key attached."""

    client: TestClient[Any, Any]
    app: web.Application
    key: str
    lender_id: str

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}", **extra}

    async def post(self, path: str, body: Any, *, key: str | None = None, **headers: str) -> Any:
        return await self.client.post(path, json=body, headers=self.headers(key, **headers))

    async def get(self, path: str, *, key: str | None = None) -> Any:
        return await self.client.get(path, headers=self.headers(key))

    async def patch(self, path: str, body: Any, *, key: str | None = None) -> Any:
        return await self.client.patch(path, json=body, headers=self.headers(key))

    async def new_lender(self, name: str = "Other MFO") -> tuple[str, str]:
        async with self.app[DB].transaction() as conn:
            lender, key = await lenders.create(conn, name)
        return lender.id, key


async def start_api(aiohttp_client: Any, settings: Settings, keys: LocalKeyStore) -> Api:
    app = create_app(settings, keys=keys, today=TODAY)
    client = await aiohttp_client(app)
    async with app[DB].transaction() as conn:
        lender, key = await lenders.create(conn, "Test MFO")
    return Api(client, app, key, lender.id)


@pytest.fixture
async def api(aiohttp_client: Any, settings: Settings, keys: LocalKeyStore) -> AsyncIterator[Api]:
    yield await start_api(aiohttp_client, settings, keys)


def jpeg(width: int = 480, height: int = 640, color: tuple[int, int, int] = (235, 235, 230)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def individual(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "individual",
        "surname": "Жумабаев",
        "first_name": "Ерлан",
        "patronymic": "Серикович",
        "iin": "811201401188",
        "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
        "phone": "+7 701 234 56 78",
        "bank_account": {"iban": "KZ86125KZT5004100100"},
        "card": {"number": "4111 1111 1111 1111"},
        "photo": {"content_type": "image/jpeg", "data": b64(jpeg())},
    }
    body.update(over)
    return body


def legal_entity(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "legal_entity",
        "bin": "971240001315",
        "name": 'ТОО "Рога и копыта"',
        "representative": {
            "surname": "Ахметова",
            "first_name": "Айгуль",
            "iin": "811201401188",
            "id_document": {"type": "passport", "number": "N12345678", "expires_on": "2030-01-01"},
            "authority": "head",
        },
        "phone": "87471234567",
        "bank_account": {"iban": "KZ86125KZT5004100100"},
        "photo": {"content_type": "image/png", "data": b64(png())},
        "documents": [
            {"kind": "registration_certificate", "content_type": "application/pdf", "data": b64(PDF)},
            {"kind": "appointment_order", "content_type": "image/jpeg", "data": b64(jpeg(300, 400))},
        ],
    }
    body.update(over)
    return body


def png(width: int = 400, height: int = 500) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(buf, "PNG")
    return buf.getvalue()
