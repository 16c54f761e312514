"""One PC/SC lab per test process: a private pcscd (own mount namespace, socket and driver directory:
only the vpcd reader) with the virtual card in reader 0. libpcsclite reads PCSCLITE_CSOCK_NAME once
per process (OpenSC loaded in-process included), so every test that needs a card — ours and the
PKCS#11 / kiosk ones — must share this one: call `process_lab()` from any fixture, it starts the lab
the first time and hands back the same one after; `stop_process_lab()` is idempotent."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from drivers.pcsc import Context
from simulators.vcard.pcscd import SOCKET_ENV, PrivatePcscd
from simulators.vcard.profile import CardProfile
from tests.simulators.vcard.fixtures import Emulator, free_port_pair, provisioned_card

READER_0 = "Virtual PCD 00 00"
READER_1 = "Virtual PCD 00 01"


@dataclass
class Lab:
    pcscd: PrivatePcscd
    card_file: Path
    profile: CardProfile
    emulator: Emulator
    directory: Path  # also holds the NCA simulator state the card was issued from ("nca")
    vpcd_port: int  # reader 0; reader 1 is vpcd_port + 1

    def client_env(self) -> dict[str, str]:
        """Environment for a PC/SC client process (pkcs11-tool, the kiosk agent)."""
        return dict(os.environ, **self.pcscd.environment())


_LAB: Lab | None = None


def process_lab(root: Path) -> Lab:
    global _LAB
    if _LAB is not None:
        return _LAB
    profile = provisioned_card(root / "nca")
    card_file = root / "card.json"
    profile.save(card_file)
    port = free_port_pair()
    daemon = PrivatePcscd(root / "pcscd", vpcd_port=port)
    if os.environ.get(SOCKET_ENV) not in (None, str(daemon.socket_path)):
        raise RuntimeError(f"{SOCKET_ENV} already points elsewhere; one PC/SC lab per process")
    os.environ[SOCKET_ENV] = str(daemon.socket_path)
    daemon.start()
    emulator = Emulator(card_file, port, root / "emulator.log")
    _LAB = Lab(daemon, card_file, profile, emulator, root, port)
    return _LAB


def stop_process_lab() -> None:
    global _LAB
    lab, _LAB = _LAB, None
    if lab is None:
        return
    lab.emulator.stop()
    lab.pcscd.stop()
    os.environ.pop(SOCKET_ENV, None)


def wait_present(reader: str, present: bool = True, timeout: float = 10.0) -> None:
    """Until pcscd reports a card in `reader`, or none (it polls vpcd every 0.4 s)."""
    deadline = time.monotonic() + timeout
    with Context() as ctx:
        while ctx.state(reader).present != present:
            if time.monotonic() > deadline:
                raise AssertionError(f"pcscd still {'sees no' if present else 'sees a'} card in {reader}")
            time.sleep(0.05)
