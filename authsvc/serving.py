"""How a process serves: one application on the listening socket, rolled over at SIGHUP (the new configuration
starts before the old application stops), the pre-forked children of `serve --workers N`, and the background
jobs with their metrics port. The `authsvc` command (`authsvc.cli`) calls in here."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from aiohttp import web

from authsvc import error_codes, prefork
from authsvc.config import Settings, load_settings
from authsvc.errors import AuthsvcError, ConfigError

if TYPE_CHECKING:
    from authsvc.roles import Role

# Re-reads the configuration at a SIGHUP (`reloader`): the settings, or the reason they are refused.
Reload = Callable[[], Settings]


def reloader(config: Path | None, adjust: Callable[[Settings], Settings]) -> Reload:
    return lambda: adjust(load_settings(config))


def serve_one(settings: Settings, role: Role, *, migrate: bool, sock: socket.socket, reload: Reload) -> None:
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(_serve_until_stopped(settings, role, migrate, sock, reload))


class _Served:
    """One application serving on the shared listening socket (a copy of its descriptor, so that stopping this
    site closes only its copy: the socket stays open for the next application and the other processes)."""

    def __init__(
        self, settings: Settings, role: Role, migrate: bool, sock: socket.socket, after: _Served | None = None
    ) -> None:
        from authsvc.api.middlewares import METRICS
        from authsvc.app import create_app

        self.timeout_s = settings.server.shutdown_timeout_s
        # A reload's application counts on where the one it replaces stopped (`after`).
        carried = after.app[METRICS] if after is not None else None
        self.app: web.Application = create_app(settings, role=role, migrate=migrate, http_metrics=carried)
        self.app.on_startup.append(freeze_startup_heap)  # runs after the resources are open
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
            await _first_requests_read(self.runner, min(FIRST_REQUEST_GRACE_S, self.timeout_s))
            if not await self.app[DRAIN].drained(self.timeout_s):
                logging.getLogger("authsvc").warning("requests still in flight at the stop's deadline are cut")
        finally:
            await self.runner.cleanup()


# How long a stop waits for the first request of a connection accepted just before the listener closed.
FIRST_REQUEST_GRACE_S = 2.0


async def _first_requests_read(runner: web.AppRunner, grace_s: float) -> None:
    """Wait, up to ``grace_s``, until every open connection has sent at least one request. The runner's cleanup
    closes idle connections, and a connection accepted just before the listener closed looks idle until its
    request's bytes are read: closing it fails a request that no client retries (it was not sent on a reused
    keep-alive connection). Seen at a reload under load: "Remote end closed connection without response"."""
    server = runner.server
    if server is None:
        return
    step_s = 0.005
    for _ in range(int(grace_s / step_s)):
        # `_request_count` is aiohttp's own count of the requests read on a connection (no public accessor).
        if all(getattr(h, "_request_count", 1) for h in server.connections):
            return
        await asyncio.sleep(step_s)


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
            fresh = await _started_again(
                reload, functools.partial(_Served, role=role, migrate=migrate, sock=sock, after=current)
            )
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


def serve_prefork(settings: Settings, workers: int, *, jobs: bool, host: str, port: int, config: Path | None) -> int:
    from authsvc.roles import Role

    if workers > 1 and not settings.database.dsn.startswith("postgresql"):
        raise ConfigError(
            "--workers above 1 needs PostgreSQL (database.dsn): SQLite lets one process write at a time",
            code=error_codes.CONFIG_ERROR,
        )
    asyncio.run(migrate(settings))  # once, before the fork: the children start on an up-to-date schema
    settings = _per_child(settings, workers)
    sock = prefork.listen(host, port)
    reload = reloader(config, lambda s: _per_child(s, workers))  # each child reads the file again at SIGHUP

    def serving() -> int:
        serve_one(settings, Role.API, migrate=False, sock=sock, reload=reload)
        return 0

    def running_jobs() -> int:
        sock.close()  # the jobs process takes no connections
        return run_jobs(settings, migrate=False, reload=reload)

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


async def migrate(settings: Settings) -> str:
    from authsvc.store.engine import create_engine
    from authsvc.store.migrate import current_revision, upgrade

    engine = create_engine(settings.database.dsn)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


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


def run_jobs(settings: Settings, *, migrate: bool, reload: Reload) -> int:
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

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run())
    return 0


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    # uvloop runs the same asyncio code with its transports and callbacks in C: a third less CPU per request
    # on the one-time-code path. The standard loop is the fallback where it is not installed.
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


async def freeze_startup_heap(_app: web.Application) -> None:
    # The imported libraries (face models, crypto, SQLAlchemy…) leave a large, long-lived heap that every
    # full collection would walk again: 35–55 ms pauses, the whole p99 of a one-time-code load. Frozen
    # objects are left out of collections; what requests create is still collected.
    gc.collect()
    gc.freeze()
