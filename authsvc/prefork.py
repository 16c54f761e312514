"""Pre-forked processes under one supervisor (`authsvc serve --workers N`).

The supervisor binds the listening socket, forks the children — N serving processes that accept on that one
socket, and the process running the background jobs — and then only watches them: a child that dies
(killed, crashed, out of memory) is forked again after a back-off while the others keep answering, since
the socket and its queue of waiting connections stay open in the supervisor. SIGTERM (or SIGINT) is passed
to every child, which finishes what it is doing (`authsvc.serving`: the listener closes, requests in flight
finish; the jobs hand their claims back); a child still running after ``stop_timeout_s`` is killed. SIGHUP
is passed on too: each child reads the configuration again and rolls itself over (`authsvc.serving`).

The supervisor forks before it creates any thread or event loop, and each child builds its own application
(database pool, key store, process pool) after the fork: nothing but the listening socket is shared. Each
child dies with the supervisor (PR_SET_PDEATHSIG) so a killed supervisor leaves no orphan serving the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("authsvc.prefork")

FAST_EXIT_S = 10.0  # a child that exits sooner than this after its start counts as a failed start
GIVE_UP_AFTER = 5  # failed starts in a row of one child: the configuration is broken, stop everything
MAX_BACKOFF_S = 10.0
POLL_S = 0.1


@dataclass(frozen=True)
class Child:
    name: str  # "serve-1", "jobs" (in the logs)
    run: Callable[[], int]  # runs in the forked process; its result is the exit status


def listen(host: str, port: int, backlog: int = 1024) -> socket.socket:
    """The listening TCP socket the serving processes share (IPv6 when ``host`` says so)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass
class _Running:
    child: Child
    started: float
    failures: int = 0  # failed starts in a row


def supervise(children: Sequence[Child], sock: socket.socket, *, stop_timeout_s: float) -> int:
    """Run ``children`` until SIGTERM/SIGINT; 0 after a clean stop, 1 when a child kept failing to start."""
    if threading.active_count() > 1:
        raise RuntimeError("fork with threads running: the supervisor must fork before starting any")
    stop = [False]

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop[0] = True

    def on_hangup(_signum: int, _frame: FrameType | None) -> None:
        # A reload: each child reads the configuration again and rolls itself over on the shared socket.
        log.info("reload: SIGHUP passed to every process", extra={"processes": len(running)})
        for pid in list(running):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    running: dict[int, _Running] = {}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)
    waiting: list[tuple[float, _Running]] = []  # (fork again at, child)
    code = 0
    try:
        for child in children:
            _fork(_Running(child, 0.0), running, sock)
        while running or (waiting and not stop[0]):
            if stop[0]:
                break
            pid, status = os.waitpid(-1, os.WNOHANG) if running else (0, 0)
            if pid == 0:
                now = time.monotonic()
                for entry in [w for w in waiting if w[0] <= now]:
                    waiting.remove(entry)
                    _fork(entry[1], running, sock)
                time.sleep(POLL_S)
                continue
            gone = running.pop(pid, None)
            if gone is None:
                continue
            exit_code = os.waitstatus_to_exitcode(status)
            lived = time.monotonic() - gone.started
            gone.failures = gone.failures + 1 if lived < FAST_EXIT_S else 0
            log.warning(
                "process exited",
                extra={"child": gone.child.name, "pid": pid, "exit_code": exit_code, "lived_s": round(lived, 1)},
            )
            if gone.failures >= GIVE_UP_AFTER:
                log.error("a process keeps failing at start; stopping them all", extra={"child": gone.child.name})
                code = 1
                break
            delay = min(MAX_BACKOFF_S, 0.5 * 2 ** max(0, gone.failures - 1)) if gone.failures else 0.0
            waiting.append((time.monotonic() + delay, gone))
    finally:
        sock.close()  # new connections are refused once the children have closed their copies too
        _stop_all(running, stop_timeout_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _fork(entry: _Running, running: dict[int, _Running], sock: socket.socket) -> None:
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the supervisor's code
        code = 1
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)  # the child's own loop installs its handlers
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload before its loop runs: nothing to reload yet
            _die_with(parent)
            code = entry.child.run()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            log.exception("process failed", extra={"child": entry.child.name})
        finally:
            with contextlib.suppress(Exception):
                logging.shutdown()
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    entry.started = time.monotonic()
    running[pid] = entry
    log.info("process started", extra={"child": entry.child.name, "pid": pid})


def _die_with(parent: int) -> None:
    """Linux: the kernel sends this process SIGTERM when the supervisor dies."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(libc_name, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the call
        os.kill(os.getpid(), signal.SIGTERM)


def _stop_all(running: dict[int, _Running], timeout_s: float) -> None:
    for pid in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            gone = running.pop(pid, None)
            if gone is not None:
                log.info(
                    "process stopped",
                    extra={"child": gone.child.name, "pid": pid, "exit_code": os.waitstatus_to_exitcode(status)},
                )
            continue
        if time.monotonic() > deadline:
            for pid in list(running):
                log.error("process did not stop in time; killed", extra={"child": running[pid].child.name})
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                running.pop(pid)
            return
        time.sleep(POLL_S)
