"""`bench_flows --part overhead`: the flow's own CPU and wall time per call, in this process, on a SQLite file
or a fresh PostgreSQL database."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from authsvc.api.state import DB, FLOWS
from authsvc.app import create_app
from authsvc.config import load_settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.flows.judge import Taken, judge
from authsvc.flows.session import Flows
from authsvc.store import lenders
from authsvc.store.identifications import Identification, Operation
from benchmarks.bench_otp import client_body
from benchmarks.server import audit_files

ROUNDS = 5


@dataclass
class Cost:
    cpu_us: float
    wall_us: float
    calls: int


async def measure(
    call: Callable[[Any], Awaitable[Any]],
    seconds: float,
    prepare: Callable[[], Awaitable[Any]] | None = None,
    batch: int = 1,
) -> Cost:
    """CPU and wall µs per ``call``: ROUNDS rounds of ``seconds / ROUNDS`` each, the median round. ``prepare``
    (untimed) makes each call's argument; without it calls are timed ``batch`` at a time."""
    cpu_rounds, wall_rounds, calls = [], [], 0
    for _ in range(ROUNDS):
        cpu = wall = 0.0
        n = 0
        end = time.perf_counter() + seconds / ROUNDS
        while time.perf_counter() < end:
            arg = await prepare() if prepare is not None else None
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(batch):
                await call(arg)
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            n += batch
        cpu_rounds.append(cpu / n * 1e6)
        wall_rounds.append(wall / n * 1e6)
        calls += n
    return Cost(statistics.median(cpu_rounds), statistics.median(wall_rounds), calls)


async def overhead_part(name: str, dsn: str, seconds: float) -> list[tuple[str, Cost]]:
    settings = load_settings(
        env={},
        database={"dsn": dsn},
        server={"process_workers": 1},
        rate_limit={"requests_per_window": 100_000_000},
        registry={"photo_face_check": False},
        audit=audit_files(Path(tempfile.mkdtemp(prefix="authsvc-bench-overhead-"))),
    )
    keys = LocalKeyStore.generate()
    app = create_app(settings, keys=keys)
    async with TestClient(TestServer(app)) as http:
        async with app[DB].transaction() as tx:
            lender, api_key = await lenders.create(tx, "Bench MFO")
        resp = await http.post("/v1/clients", json=client_body(126), headers={"Authorization": f"Bearer {api_key}"})
        assert resp.status == 201, await resp.text()
        client_id = (await resp.json())["id"]
        flows: Flows = app[FLOWS]
        db = app[DB]

        async def opened(operation: Operation, profile: str, eds_passed: bool) -> Identification:
            view = await flows.open(lender.id, client_id, operation, profile=profile)
            if eds_passed:
                recorder = flows.recorder(view.ident, "eds", {"cms_sha256": uuid.uuid4().hex * 2})
                async with db.transaction() as tx:
                    await tx.write(await recorder(True))
            return view.ident

        out: list[tuple[str, Cost]] = []

        async def bare_read(_: Any) -> None:  # the floor: one statement through the store, nothing of the flow
            async with db.autocommit() as tx:
                await tx.scalar(select(1))

        out.append(
            ("for scale: a bare SELECT 1 through Database.autocommit", await measure(bare_read, seconds, batch=20))
        )
        login = await opened(Operation.LOGIN, "res63-2021", False)

        async def open_login(_: Any) -> None:
            await flows.open(lender.id, client_id, Operation.LOGIN, profile="res63-2021")

        label = "Flows.open (client read, lists, the identification and its audit entry in one statement)"
        out.append((label, await measure(open_login, seconds / 2, batch=5)))

        async def open_for(_: Any) -> None:
            await flows.open_for(lender.id, login.id)

        out.append(("Flows.open_for (the still-open read)", await measure(open_for, seconds, batch=20)))

        async def record(_: Any) -> None:
            await flows.recorder(login, "otp_sms", {"factor": "sms", "code_id": "c0de"})(True)

        out.append(("StepRecorder(...)(passed): step + audit rows", await measure(record, seconds, batch=50)))

        pending = await opened(Operation.REGISTRATION, "res108", True)
        assert (await flows.settle(pending)).judgement.verdict == "pending"

        async def settle_pending(_: Any) -> None:
            await flows.settle(pending)

        out.append(
            ("Flows.settle → still pending (res108, telco missing)", await measure(settle_pending, seconds, batch=20))
        )

        async def fresh() -> Identification:
            return await opened(Operation.REGISTRATION, "res63-2021", True)

        async def settle_done(ident: Identification) -> None:
            view = await flows.settle(ident)
            assert view.ident.attestation is not None

        out.append(
            (
                "Flows.settle → completed (one read, judge, attestation, the one END statement with its audit "
                "entries, callback and the registration)",
                await measure(settle_done, seconds, fresh),
            )
        )
        profile = flows.profiles["res63-2021"]
        rule, facts = profile.rule("registration"), [Taken("eds", True)]

        async def judged(_: Any) -> None:
            judge(profile, rule, facts)

        out.append(
            ("judge() alone (res63-2021 registration, one passed EDS step)", await measure(judged, seconds, batch=200))
        )
        # The method's own write for comparison: a step recorded in its own transaction (Flows.record).

        async def recorded(_: Any) -> None:
            await flows.record(pending, "telco", False, {"reasons": ["bench"]})

        out.append(
            (
                "for scale: Flows.record (a step row + audit entry in its own transaction)",
                await measure(recorded, seconds / 2, batch=5),
            )
        )
    return out
