"""The production shape (issue 15 §6): `authsvc serve --workers N` on PostgreSQL as real processes on a real
port — one killed, the service still answers and the supervisor forks it again; SIGTERM lets a request in
flight finish — and `authsvc worker` running the jobs beside `serve --no-jobs`: it alone drains the SMS
outbox, is woken by the serving process's bell, and hands a claimed message back when it stops."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from authsvc.config import REPO_ROOT
from authsvc.crypto.local_keys import load_key_file, write_key_file
from authsvc.store.engine import create_engine
from authsvc.store.schema import clients, sms_outbox
from simulators.sms.app import create_app as sms_app
from tests.auditkit import entries
from tests.conftest import individual, reset_database, run_sync
from tests.metricskit import lint, samples, value
from tests.served import Served, free_port, in_thread, serve

T = TypeVar("T")
WAIT_S = 30.0  # how long a test waits for something that must happen (a loaded machine is slow, not wrong)


def _until(what: str, probe: Callable[[], T | None], within: float = WAIT_S) -> T:
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:.0f} s: {what}")
        time.sleep(0.1)


def _call(srv: Served, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One request on a connection of its own (so the kernel hands it to any serving process)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(srv.base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {srv.key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _query(dsn: str, statement: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        engine = create_engine(dsn)
        try:
            async with engine.connect() as conn:
                return [dict(r._mapping) for r in await conn.execute(statement)]
        finally:
            await engine.dispose()

    rows: list[dict[str, Any]] = run_sync(run())
    return rows


def _started(dsn: str) -> list[tuple[str, int]]:
    """(role, pid) of every process that has opened its resources, from its `service.started` audit entry."""
    rows = _query(dsn, entries(event="service.started"))
    return [(d["role"], d["pid"]) for d in (json.loads(r["details"]) for r in rows)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_two_workers_survive_one_killed_and_a_stop_lets_the_request_in_flight_finish(
    pg_dsn: str, tmp_path: Path
) -> None:
    run_sync(reset_database(pg_dsn))
    with serve(tmp_path, pg_dsn, args=("--workers", "2"), AUTHSVC_REGISTRY_PHOTO_FACE_CHECK="false") as srv:
        ready = _until("two serving processes and a jobs process", lambda: _roles(pg_dsn, api=2, jobs=1))
        serving = [pid for role, pid in ready if role == "api"]
        assert _call(srv, "GET", "/v1/clients/none")[0] == 404  # authenticated: a key check and a row read

        victim = serving[0]
        os.kill(victim, signal.SIGKILL)
        _until("the killed process gone", lambda: not _alive(victim))
        # Each request on a new connection: whichever process the kernel hands it to must be alive.
        answers = [_call(srv, "GET", "/v1/clients/none")[0] for _ in range(20)]
        assert answers == [404] * 20
        assert [_call(srv, "GET", "/healthz")[0] for _ in range(20)] == [200] * 20
        again = _until("the killed process forked again", lambda: _roles(pg_dsn, api=3, jobs=1))
        newcomer = next(pid for role, pid in again if role == "api" and pid not in serving)
        assert _alive(newcomer) and _alive(serving[1])

        # A request in flight when SIGTERM comes: its body is still arriving.
        with _partial_post(srv, "/v1/clients", individual(iin="900101300017"), sent=200) as finish:
            os.kill(srv.proc.pid, signal.SIGTERM)
            _until("the port closed to new connections", lambda: not _accepts(srv))
            status, headers, body = finish()
        assert status == 201, body
        assert headers.get("connection") == "close"
        assert srv.proc.wait(timeout=WAIT_S) == 0
        assert not any(_alive(pid) for pid in (newcomer, serving[1]))
    log = srv.log_text()
    assert "Traceback" not in log, log[-3000:]
    stopped = [json.loads(line) for line in log.splitlines() if '"process stopped"' in line]
    assert sorted(s["child"] for s in stopped) == ["jobs", "serve-1", "serve-2"]
    assert {s["exit_code"] for s in stopped} == {0}


def _roles(dsn: str, *, api: int, jobs: int) -> list[tuple[str, int]] | None:
    found = _started(dsn)
    counts = {role: sum(1 for r, _ in found if r == role) for role in ("api", "jobs")}
    return found if counts == {"api": api, "jobs": jobs} else None


def _accepts(srv: Served) -> bool:
    try:
        socket.create_connection((srv.host, srv.port), timeout=2).close()
    except OSError:
        return False
    return True


@contextmanager
def _partial_post(
    srv: Served, path: str, body: Any, *, sent: int
) -> Iterator[Callable[[], tuple[int, dict[str, str], str]]]:
    """A POST whose first ``sent`` bytes of body are sent now; the context gives the call that sends the rest
    and reads the answer. A GET first on the same connection proves a serving process has accepted it."""
    data = json.dumps(body).encode()
    conn = socket.create_connection((srv.host, srv.port), timeout=20)
    try:
        conn.sendall(f"GET /healthz HTTP/1.1\r\nHost: {srv.host}\r\n\r\n".encode())
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {srv.host}\r\nAuthorization: Bearer {srv.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        conn.sendall(head.encode() + data[:sent])
        time.sleep(1.0)  # the handler starts on the headers and waits for the body

        def finish() -> tuple[int, dict[str, str], str]:
            conn.sendall(data[sent:])
            raw = b""
            while b"\r\n\r\n" not in raw or len(raw.split(b"\r\n\r\n", 1)[1]) < _length(raw):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                raw += chunk
            top, _, rest = raw.partition(b"\r\n\r\n")
            lines = top.decode().split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
            return int(lines[0].split()[1]), headers, rest.decode()

        yield finish
    finally:
        conn.close()


def _length(raw: bytes) -> int:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


# --- the jobs in a process of their own -------------------------------------------------------------------


def _inbox(sim: str, client_ref: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sim}/messages?client_ref={client_ref}", timeout=10) as resp:
        found: list[dict[str, Any]] = json.loads(resp.read())["messages"]
        return found


def _outbox_row(dsn: str, message_id: str) -> dict[str, Any]:
    return _query(dsn, select(sms_outbox).where(sms_outbox.c.id == message_id))[0]


def _send_code(srv: Served, ident: str) -> str:
    status, sent = _call(srv, "POST", f"/v1/identifications/{ident}/otp", {})
    assert status == 202, sent
    message_id: str = sent["message_id"]
    return message_id


@contextmanager
def _worker(srv: Served, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "authsvc.cli", "worker"], env=srv.env | env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=WAIT_S)


def test_the_worker_alone_drains_the_sms_outbox_while_serve_runs_without_jobs(pg_dsn: str, tmp_path: Path) -> None:
    run_sync(reset_database(pg_dsn))
    worker_log = tmp_path / "worker.log"
    with in_thread(sms_app(name="gw-a", delivery_delay_ms=0)) as sim:
        env = {
            "AUTHSVC_FACTORS_SMS_A_URL": sim,
            "AUTHSVC_FACTORS_SMS_B_URL": "",
            "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
            # The worker looks only when rung (and once at its start): a message sent means the bell worked.
            "AUTHSVC_FACTORS_SMS_POLL_S": "3600",
            "AUTHSVC_SERVER_JOBS_GRACE_S": "0.5",
            "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        }
        with serve(tmp_path, pg_dsn, args=("--no-jobs",), **env) as srv:
            status, client = _call(srv, "POST", "/v1/clients", individual())
            assert status == 201, client
            status, ident = _call(srv, "POST", "/v1/identifications", {"client_id": client["id"], "operation": "login"})
            assert status == 201, ident
            first = _send_code(srv, ident["id"])
            time.sleep(1.5)
            assert _inbox(sim, first) == [] and _outbox_row(pg_dsn, first)["status"] == "queued"  # nobody sends

            with _worker(srv, worker_log) as worker:
                _until("the queued code sent by the worker", lambda: _inbox(sim, first))
                second = _send_code(srv, ident["id"])  # the serving process rings the worker's bell
                _until("a code sent on the bell", lambda: _inbox(sim, second))
                assert _outbox_row(pg_dsn, second)["status"] == "sent"

                # A send in flight when the worker stops: handed back, not left claimed for its lease.
                _arm(sim, {"kind": "timeout", "delay_ms": 60_000, "path": "/send"})
                third = _send_code(srv, ident["id"])
                _until("the third code on its way", lambda: _sends(sim) >= 3)
                worker.send_signal(signal.SIGTERM)
                assert worker.wait(timeout=WAIT_S) == 0
            row = _outbox_row(pg_dsn, third)
            assert (row["status"], row["claimed_until"], row["attempts"]) == ("queued", None, 0)
            assert _inbox(sim, third) == []

            with _worker(srv, worker_log):  # another worker sends it at once, not after the 60 s lease
                _until("the handed-back code sent", lambda: _inbox(sim, third))
    text = worker_log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert "claims handed back at stop" in text, text[-3000:]


def _arm(sim: str, fault: dict[str, Any]) -> None:
    request = urllib.request.Request(f"{sim}/admin/faults", data=json.dumps(fault).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 201


def _sends(sim: str) -> int:
    """How many messages the gateway was asked to send (its inbox reads are requests too)."""
    with urllib.request.urlopen(f"{sim}/admin/requests", timeout=10) as resp:
        return sum(1 for r in json.loads(resp.read())["requests"] if r["path"] == "/send")


def test_more_than_one_serving_process_on_sqlite_is_refused(tmp_path: Path) -> None:
    env = {**os.environ, "AUTHSVC_DATABASE_DSN": f"sqlite:///{tmp_path}/one.db"}
    done = subprocess.run(
        [sys.executable, "-m", "authsvc.cli", "serve", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--workers above 1 needs PostgreSQL" in done.stderr
    assert not (tmp_path / "one.db").exists()  # refused before anything was opened


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers.get_content_type() == "text/plain"
        text: str = resp.read().decode()
        return text


def test_the_jobs_process_of_two_workers_is_scraped_on_its_own_port(pg_dsn: str, tmp_path: Path) -> None:
    """The jobs' counts (SMS sends, the audit chain) live in the jobs process, which takes no API connections:
    it answers /metrics on `[server] jobs_metrics_port`, a target of its own, linted as promtool would."""
    run_sync(reset_database(pg_dsn))
    port = free_port()
    with in_thread(sms_app(name="gw-a", delivery_delay_ms=0)) as sim:
        env = {
            "AUTHSVC_FACTORS_SMS_A_URL": sim,
            "AUTHSVC_FACTORS_SMS_B_URL": "",
            "AUTHSVC_SERVER_JOBS_METRICS_PORT": str(port),
            "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        }
        with serve(tmp_path, pg_dsn, args=("--workers", "2"), **env) as srv:
            _until("two serving processes and a jobs process", lambda: _roles(pg_dsn, api=2, jobs=1))
            status, client = _call(srv, "POST", "/v1/clients", individual())
            assert status == 201, client
            status, ident = _call(srv, "POST", "/v1/identifications", {"client_id": client["id"], "operation": "login"})
            assert status == 201, ident
            message_id = _send_code(srv, ident["id"])
            _until("the code sent by the jobs process", lambda: _inbox(sim, message_id))
            jobs_url = f"http://{srv.host}:{port}/metrics"

            def counted() -> str | None:  # the send, and a round of the chainer (it runs there too)
                text = _scrape(jobs_url)
                found = samples(text)
                chained = value(found, "authsvc_audit_chain_last_round_timestamp_seconds") > 0
                sent = value(found, "authsvc_sms_outbox_sends_total", kind="otp", outcome="sent")
                return text if chained and sent else None

            text = _until("the send and the chainer counted where they ran", counted)
            assert value(samples(text), "authsvc_sms_outbox_sends_total", kind="otp", outcome="sent") == 1.0
            assert lint(text) == []
            # The serving processes never send: their /metrics has no such count.
            served_text = _scrape(srv.base + "/metrics")
            assert value(samples(served_text), "authsvc_sms_outbox_sends_total", kind="otp", outcome="sent") == 0.0
            # The CRLs are cached, refreshed and used where signatures are verified: the serving processes'
            # port says their age; the jobs process holds none, and its port says nothing about CRLs.
            for family in ("authsvc_crl_age_seconds", "authsvc_crl_usable"):
                assert f"# TYPE {family} gauge" in served_text and family not in text, family
    assert "Traceback" not in srv.log_text()


@contextmanager
def _rows_locked(dsn: str) -> Iterator[None]:
    """Every client row held `FOR UPDATE` by another transaction (another host's re-wrap in the middle of
    its batch) until the block ends: a re-wrapper here skips them and goes on saying they are left."""
    locked, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    async def hold() -> None:
        engine = create_engine(dsn)
        try:
            async with engine.begin() as conn:
                await conn.execute(select(clients.c.id).with_for_update())
                locked.set()
                await asyncio.to_thread(release.wait, 10 * WAIT_S)
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(hold())
        except BaseException as exc:
            failed.append(exc)
            locked.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert locked.wait(WAIT_S) and not failed, failed
        yield
    finally:
        release.set()
        thread.join(WAIT_S)


def _readyz(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_jobs_process_answers_readyz_with_the_rewrap_it_runs(pg_dsn: str, tmp_path: Path) -> None:
    """The re-wrap after a KEK rotation runs in the jobs role: `authsvc worker` beside `serve --no-jobs`
    answers /readyz on its port with the checks that apply to it (database, keys) and the `keys_rewrap`
    note; the serving process, which runs no re-wrap, has no such note."""
    run_sync(reset_database(pg_dsn))
    port = free_port()
    with serve(tmp_path, pg_dsn, args=("--no-jobs",), AUTHSVC_REGISTRY_PHOTO_FACE_CHECK="false") as srv:
        status, client = _call(srv, "POST", "/v1/clients", individual())
        assert status == 201, client
        keys_file = Path(srv.env["AUTHSVC_KEYS_FILE"])
        keys = load_key_file(keys_file)
        old, new = keys.kek_id, keys.rotate_kek()
        write_key_file(keys_file, keys)  # the operator's rotation: the new KEK current, the old one kept
        jobs = f"http://{srv.host}:{port}/readyz"
        with _rows_locked(pg_dsn), _worker(srv, tmp_path / "worker.log", AUTHSVC_SERVER_JOBS_METRICS_PORT=str(port)):

            def noted() -> tuple[int, Any] | None:
                with contextlib.suppress(OSError):  # the port opens once the worker has started
                    answer = _readyz(jobs)
                    return answer if "keys_rewrap" in answer[1]["notes"] else None
                return None

            status, body = _until("the re-wrap noted on the jobs port", noted)
            assert status == 200 and body["status"] == "ready", body  # a note, not a reason to be unready
            assert body["checks"] == {"database": True, "keys": True}, body
            assert body["notes"]["keys_rewrap"] == f"re-wrapping 1 data keys under {new} in the background", body
            served = _readyz(srv.base + "/readyz")[1]
            assert "keys_rewrap" not in served["notes"], served
        assert _query(pg_dsn, select(clients.c.kek_id)) == [{"kek_id": old}]  # it skipped the locked row
    assert "Traceback" not in (tmp_path / "worker.log").read_text()


# --- SIGHUP: the configuration read again, the processes rolled over -----------------------------------------


class _Load:
    """Authenticated requests one after another, each on a new connection, until stopped: what a reload must
    not fail."""

    def __init__(self, srv: Served) -> None:
        self.srv, self.statuses, self.errors = srv, list[int](), list[str]()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.statuses.append(_call(self.srv, "GET", "/v1/clients/none")[0])
            except OSError as exc:  # refused, reset: a failed request
                self.errors.append(repr(exc))

    def __enter__(self) -> _Load:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=WAIT_S)


def _profile_title(srv: Served) -> str | None:
    status, body = _call(srv, "GET", "/v1/profiles")
    assert status == 200, body
    return next((p["title"] for p in body["profiles"] if p["name"] == "custom"), None)


@pytest.mark.parametrize("args", [("--workers", "2"), ()], ids=["workers-2", "plain-serve"])
def test_a_sighup_rolls_the_processes_onto_a_changed_profile_and_no_request_fails(
    pg_dsn: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    run_sync(reset_database(pg_dsn))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    base = (REPO_ROOT / "configs" / "profiles" / "res63-2021.toml").read_text()

    def profile(title: str) -> None:
        text = re.sub(r'(?m)^name = ".*"$', 'name = "custom"', base)
        (profiles / "custom.toml").write_text(re.sub(r'(?m)^title = ".*"$', f'title = "{title}"', text))

    profile("before")
    config = tmp_path / "authsvc.toml"
    config.write_text(f'[flows]\nextra_profiles_dir = "{profiles}"\n')
    env = {"AUTHSVC_CONFIG": str(config), "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false"}
    counts = {"api": 2, "jobs": 1} if args else {"all": 1}

    def started(times: int) -> list[tuple[str, int]] | None:
        found = _started(pg_dsn)
        have = {role: sum(1 for r, _ in found if r == role) for role in counts}
        return found if have == {role: n * times for role, n in counts.items()} else None

    with serve(tmp_path, pg_dsn, args=args, **env) as srv:
        first = {pid for _, pid in _until("the processes started", lambda: started(1))}
        assert _profile_title(srv) == "before"
        with _Load(srv) as load:
            time.sleep(0.5)
            profile("after")
            os.kill(srv.proc.pid, signal.SIGHUP)
            _until("every process rolled over", lambda: started(2))
            _until("the changed profile everywhere", lambda: all(_profile_title(srv) == "after" for _ in range(10)))
            time.sleep(0.5)
        assert load.errors == [] and load.statuses and set(load.statuses) == {404}, (load.errors, load.statuses)
        # Each process rolled its application over in place: the same processes, none restarted.
        assert {pid for _, pid in started(2) or []} == first and _alive(srv.proc.pid)

        # A configuration that does not load: refused, the running one keeps serving.
        (profiles / "custom.toml").write_text("name = \n")
        os.kill(srv.proc.pid, signal.SIGHUP)
        _until("the reload refused", lambda: "reload refused" in srv.log_text())
        assert _profile_title(srv) == "after" and _call(srv, "GET", "/v1/clients/none")[0] == 404
    assert "Traceback" not in srv.log_text()


def test_a_connection_accepted_before_a_reload_gets_its_answer(pg_dsn: str, tmp_path: Path) -> None:
    """A client that has connected but not yet sent its request when a reload stops the old application is
    answered, not dropped as an idle connection (it would never retry: the connection was new). Under load this
    was a request in hundreds failing at each reload with "Remote end closed connection without response"."""
    run_sync(reset_database(pg_dsn))
    with serve(tmp_path, pg_dsn, AUTHSVC_REGISTRY_PHOTO_FACE_CHECK="false") as srv:
        with socket.create_connection((srv.host, srv.port), timeout=WAIT_S) as early:
            assert _call(srv, "GET", "/v1/clients/none")[0] == 404  # the old application has accepted `early`
            os.kill(srv.proc.pid, signal.SIGHUP)
            # The old application stops once the new one accepts (well within the stop's grace of 2 s).
            time.sleep(1.0)
            early.sendall(f"GET /healthz HTTP/1.1\r\nHost: {srv.host}\r\n\r\n".encode())
            answer = early.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        _until("the reload done", lambda: "configuration reloaded" in srv.log_text())
    assert "Traceback" not in srv.log_text()


def _not_found_count(srv: Served) -> float:
    """The HTTP counter of the authenticated 404s (GET /v1/clients/…), as /metrics says it."""
    found = samples(_scrape(srv.base + "/metrics"))
    return sum(
        v
        for (name, labels), v in found.items()
        if name == "authsvc_http_requests_total" and ("status", "404") in labels and ("method", "GET") in labels
    )


def test_a_sighup_keeps_the_http_counters(pg_dsn: str, tmp_path: Path) -> None:
    """A reload is no restart: the new application counts on from the old one's HTTP counters, so Prometheus'
    rate() sees no reset (one process: each scrape reads the counters of the process that counted)."""
    run_sync(reset_database(pg_dsn))
    with serve(tmp_path, pg_dsn, AUTHSVC_REGISTRY_PHOTO_FACE_CHECK="false") as srv:
        for _ in range(5):
            assert _call(srv, "GET", "/v1/clients/none")[0] == 404
        assert _not_found_count(srv) == 5.0
        os.kill(srv.proc.pid, signal.SIGHUP)
        _until("the configuration reloaded", lambda: "configuration reloaded" in srv.log_text())
        assert _call(srv, "GET", "/v1/clients/none")[0] == 404
        assert _not_found_count(srv) == 6.0
    assert "Traceback" not in srv.log_text()
