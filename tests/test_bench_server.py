"""The benchmarks' service keeps its audit heads in its own scratch directory, never in the checkout's
``var/audit/`` (where `authsvc audit verify` would then find heads signed by keys it does not hold)."""

from __future__ import annotations

import time

from authsvc.audit.witness import HeadLog
from benchmarks import server


def test_a_benchmark_service_witnesses_its_heads_in_its_own_directory() -> None:
    with server.running(None, core=None) as srv:
        heads = srv.workdir / "audit-heads.jsonl"
        deadline = time.monotonic() + 60
        while not (heads.exists() and heads.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.2)  # the chainer seals the lender's creation shortly after the start
        assert heads.exists() and HeadLog(heads).all_heads(), f"no head witnessed in {heads}"
