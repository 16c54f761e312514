"""A start-up that fails at any step leaves nothing open (each resource has its own cleanup_ctx, `authsvc.app`).

For every role a process can have (the API and the jobs, the API only, the jobs only) and every start-up step in turn, the test seam of `create_app` raises right after that step opened its
resource; aiohttp then closes the contexts entered before it, and the failing context closes its own. Then
no process-pool worker is alive, the database has no connection of ours, no aiohttp session is open and no
task of the service is pending. A full start and stop must leave the same.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from authsvc.api.state import EXECUTOR
from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.roles import STEPS, Role
from tests.conftest import TODAY, make_settings, reset_database

Sessions = weakref.WeakSet[aiohttp.ClientSession]


class Injected(RuntimeError):
    pass


async def _connections(dsn: str) -> int:
    """Connections to the test database other than this probe's own."""
    if not dsn.startswith("postgresql"):
        return 0
    url = make_url(dsn)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
    )
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", url.database
        )
        return count
    finally:
        await conn.close()


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "zombie" not in state


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Sessions:
    """Every aiohttp session made while the test runs. (Scanning the heap with ``gc`` instead took seconds a
    start late in the suite, when the heap is large.) A session dropped unclosed but kept alive by a
    reference cycle stays in the set: it is reported, as the leak it is."""
    made: Sessions = weakref.WeakSet()
    init = aiohttp.ClientSession.__init__

    def register(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.add(self)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", register)
    return made


async def _start_and_stop(settings: Settings, keys: LocalKeyStore, fail_at: str | None, role: Role) -> list[int]:
    """Start the app (failing after step ``fail_at``), then clean up as `authsvc serve` does; the pool's pids."""
    workers: list[int] = []

    async def hook(step: str, app: web.Application) -> None:
        if step == "executor":  # make the pool start a worker, so there is a process to leak
            workers.append(await asyncio.get_running_loop().run_in_executor(app[EXECUTOR], os.getpid))
        if step == fail_at:
            raise Injected(step)

    app = create_app(settings, keys=keys, today=TODAY, startup_hook=hook, role=role)
    runner = web.AppRunner(app)
    try:
        if fail_at is None:
            await runner.setup()
        else:
            with pytest.raises(Injected):
                await runner.setup()
    finally:
        await runner.cleanup()
    return workers


# The contexts that open something else, or nothing, in a role of its own (`create_app`'s ``runs_jobs``).
ROLE_BRANCHES = ("bells", "factors", "flows", "incidents", "webhooks", "audit", "listener")


async def _nothing_left_open(
    settings: Settings, keys: LocalKeyStore, role: Role, tried: tuple[str, ...], sessions: Sessions
) -> None:
    dsn = settings.database.dsn
    before = await _connections(dsn)
    ours = {asyncio.current_task()}
    steps = STEPS[role]
    for fail_at in (*tried, None):
        workers = await _start_and_stop(settings, keys, fail_at, role)
        where = f"{role.value}: failing after {fail_at!r}" if fail_at else f"{role.value}: after a clean stop"
        has_pool = "executor" in steps
        reached_pool = has_pool and (fail_at is None or steps.index(fail_at) >= steps.index("executor"))
        assert bool(workers) == reached_pool, where
        assert [pid for pid in workers if _alive(pid)] == [], f"pool workers alive {where}"
        assert await _connections(dsn) == before, f"database connections left {where}"
        assert [o for o in sessions if not o.closed] == [], f"aiohttp sessions left open {where}"
        pending: list[Any] = [t for t in asyncio.all_tasks() if t not in ours and not t.done()]
        assert pending == [], f"tasks left {where}"


async def test_a_failed_start_at_any_step_leaves_nothing_open(
    settings: Settings, keys: LocalKeyStore, sessions: Sessions
) -> None:
    await _nothing_left_open(settings, keys, Role.ALL, STEPS[Role.ALL], sessions)


@pytest.mark.parametrize("role", [Role.API, Role.JOBS])
async def test_a_process_for_the_api_or_the_jobs_alone_leaves_nothing_open(
    pg_dsn: str, keys: LocalKeyStore, role: Role, sessions: Sessions
) -> None:
    """The roles of `serve --workers N` and `authsvc worker`: a PostgreSQL deployment. The API role's other
    steps are the all-in-one role's code, tried above."""
    await reset_database(pg_dsn)
    tried = tuple(step for step in STEPS[role] if role == Role.JOBS or step in ROLE_BRANCHES)
    await _nothing_left_open(make_settings(pg_dsn), keys, role, tried, sessions)


def test_every_step_is_named_once() -> None:
    for steps in STEPS.values():
        assert len(set(steps)) == len(steps)
    # What counts requests in memory stays with the serving processes; what must run somewhere runs in the jobs.
    assert {"rate_limiter", "pki", "registry"} <= set(STEPS[Role.API]) - set(STEPS[Role.JOBS])
    assert {"sms", "housekeeping", "listener"} <= set(STEPS[Role.JOBS]) - set(STEPS[Role.API])
