"""`AsyncToken`: every device call on the token's own thread, so the event loop never blocks (DESIGN §4).

The loop runs a 5 ms ticker while the token waits for an absent token (blocking polls for 1 s) and
while it makes signatures; asyncio's debug mode reports any callback holding the loop longer than
SLOW_S. SLOW_S is a quarter of the blocking wait, so a device call on the loop fails the test, while
the scheduling noise of a shared 2-core machine (tens of ms) does not. The garbage collector is held off
while it measures: late in a full run a collection of the suite's heap takes over half a second in
whichever thread allocates, which says nothing about where the device calls run.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from pathlib import Path

import pytest
from asn1crypto import cms

from drivers.pkcs11 import AsyncToken, NoToken
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.drivers.pkcs11.softhsm import PIN, ec_pair, provision

# The absent token is polled for ~1 s of blocking calls: on the loop thread that is a gap of a second or more.
# Half of it tells the two apart even when the suite keeps both cores busy (gaps of 0.3 s were seen then).
SLOW_S = 0.5


async def _ticker(gaps: list[float], stop: asyncio.Event) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def test_device_calls_never_block_the_loop(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cert, key = ec_pair(tmp_path)
    made = provision("--pem", str(cert), str(key))
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_S
    caplog.set_level(logging.WARNING, logger="asyncio")
    gc.collect()
    gc.disable()
    gaps: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(gaps, stop))
    absent = AsyncToken(SOFTHSM_MODULE, label="not-inserted")
    token = AsyncToken(SOFTHSM_MODULE, label=made.label)
    try:
        started = time.perf_counter()
        with pytest.raises(NoToken):
            await absent.open(wait_s=1.0)  # ~1 s of blocking polls, on the token's thread
        assert time.perf_counter() - started >= 1.0
        await token.open()
        await token.login(PIN)
        (cred,) = await token.credentials()
        signatures = await asyncio.gather(*(token.sign_cms(cred, f"n{i}".encode()) for i in range(40)))
    finally:
        stop.set()
        await ticker
        gc.enable()
        loop.set_debug(False)
        await absent.close()
        await token.close()
    assert len({cms.ContentInfo.load(s)["content"]["signer_infos"][0]["signature"].native for s in signatures}) == 40
    assert max(gaps) < SLOW_S, max(gaps)
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert slow == [], slow
