"""A kiosk identification through the virtual PIV card, end to end (R-2.8, R-2.9, R-7.1): the real service
(aiohttp on a port) verifying against the NCA test-PKI simulator, the card in a real pcscd's vpcd reader, and
`authsvc-kiosk` as its own process speaking only HTTP to the service. Two independent paths to the card:
RSA through OpenSC's PKCS#11 module (`opensc-pkcs11.so`, which reads the card by itself through pcscd) and
GOST through our own APDUs (`drivers.pcsc`, the only path to the card's GOST key in slot 82).

The card's certificates are issued by the running NCA simulator the service trusts (its admin route, as
`python -m simulators.vcard provision --iin` does; its OCSP answers "good") for the registered client's
IIN, so the EDS step's holder check passes. Each test gets a fresh card of its own in reader 1 of the process's PC/SC lab (fresh PIN counters);
nothing here touches a reader the tests did not create.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509

from authsvc.crypto.local_keys import LocalKeyStore
from drivers.kiosk.messages import OUTCOMES
from simulators.vcard.pcscd import SOCKET_ENV
from simulators.vcard.profile import CardProfile
from simulators.vcard.provision import provision_online
from tests.api.test_eds_simulator import IIN, Simulator, open_identification, register, sim_api
from tests.conftest import Api, individual
from tests.drivers.kiosk.test_kiosk_e2e import kiosk
from tests.drivers.pcsc.conftest import READER_0, READER_1, Lab, wait_present
from tests.shared import REPO_ROOT
from tests.simulators.vcard.fixtures import Emulator

OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
SURNAME, FIRST_NAME = "Жумабаев", "Ерлан"  # individual()'s client; the lab's card in reader 0 is another person's
PIV_AUTH = "Certificate for PIV Authentication"  # OpenSC's label of slot 9A (RSA-2048)


@dataclass
class Kiosk:
    api: Api
    nca: Simulator
    card: Emulator
    profile: CardProfile
    client: str
    tmp: Path

    def serial(self, slot: int) -> str:
        """The serial of the card's certificate in `slot`, as the step's details give it (hex)."""
        return f"{x509.Certificate.load(self.profile.slots[slot].certificate).serial_number:X}"

    async def identify(self, *args: str, pin: str | None = "123456", lang: str = "en") -> tuple[int, dict[str, Any]]:
        ident = await open_identification(self.api, self.client, "login")
        status, result, err = await kiosk(
            self.api, self.tmp, "identify", *args, "--wait", "5", "--identification", ident, pin=pin, lang=lang
        )
        return status, result | {"identification": ident, "stderr": err}

    async def step(self, ident: str) -> dict[str, Any]:
        state = await (await self.api.get(f"/v1/identifications/{ident}")).json()
        steps: list[dict[str, Any]] = state["steps"]
        assert len(steps) == 1, steps
        return steps[0]


def card_args() -> list[str]:
    return ["--reader", READER_1]


def opensc_args(at: Kiosk) -> list[str]:
    # OpenSC labels a PIV token with the common name of its authentication certificate.
    cn = x509.Certificate.load(at.profile.slots[0x9A].certificate).subject.native["common_name"]
    return ["--module", OPENSC, "--token-label", cn, "--key-label", PIV_AUTH]


@pytest.fixture
async def at_kiosk(
    aiohttp_client: Any, keys: LocalKeyStore, lab: Lab, simulator: Simulator, tmp_path: Path
) -> AsyncIterator[Kiosk]:
    # Issued by the running simulator for the registered client, as `simulators.vcard provision --iin` does.
    profile = provision_online(simulator.url, iin=IIN, surname=SURNAME, first_name=FIRST_NAME)
    card_file = tmp_path / "card.json"
    profile.save(card_file)
    card = Emulator(card_file, lab.vpcd_port + 1, tmp_path / "emulator.log")
    try:
        wait_present(READER_1)
        api = await sim_api(aiohttp_client, f"sqlite:///{tmp_path}/authsvc.db", keys, simulator, tmp_path)
        client = await register(api, individual())
        yield Kiosk(api, simulator, card, profile, client, tmp_path)
    finally:
        card.stop()
        wait_present(READER_1, present=False)


async def test_rsa_through_opensc_identifies_the_client(at_kiosk: Kiosk) -> None:
    apdus = at_kiosk.card.call("/status")["apdus"]
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk))
    assert (status, result["code"]) == (0, "passed"), result
    assert f"IIN {IIN}" in result["stderr"]  # the operator saw whose card it is before the PIN
    step = await at_kiosk.step(result["identification"])
    assert step["outcome"] == "passed" and step["details"]["certificate_serial"] == at_kiosk.serial(0x9A)
    assert step["details"]["signature_algorithm"] == "1.2.840.113549.1.1.11"  # sha256WithRSAEncryption
    assert step["details"]["revocation"]["status"] == "good"
    assert at_kiosk.card.call("/status")["apdus"] > apdus  # OpenSC reached the card through pcscd

    # Wrong PIN: OpenSC learns the tries only once they are low; the card counts one down each time.
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk), pin="000000")
    assert status == OUTCOMES["pin_incorrect"].exit_status and result["message"].startswith("Wrong PIN."), result
    assert at_kiosk.card.call("/status")["pin_tries_left"] == 2
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk), pin="000000", lang="ru")
    assert status == OUTCOMES["pin_incorrect"].exit_status, result
    assert "Осталась ОДНА попытка" in result["message"]

    # Pulled out when the signature reaches the card: a clear "insert it again", nothing recorded.
    at_kiosk.card.remove(during="general-authenticate")
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk))
    assert status == OUTCOMES["token_removed"].exit_status, result
    assert "removed during the signature" in result["message"] and "insert it again" in result["detail"]
    state = await (await at_kiosk.api.get(f"/v1/identifications/{result['identification']}")).json()
    assert state["steps"] == []
    at_kiosk.card.insert()
    wait_present(READER_1)
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk))
    assert (status, result["code"]) == (0, "passed"), result


async def test_gost_through_apdus_identifies_the_client(at_kiosk: Kiosk) -> None:
    status, result = await at_kiosk.identify(*card_args())  # no slot named: the card's GOST key first
    assert (status, result["code"]) == (0, "passed"), result
    assert f"IIN {IIN}" in result["stderr"]
    step = await at_kiosk.step(result["identification"])
    assert step["outcome"] == "passed" and step["details"]["certificate_serial"] == at_kiosk.serial(0x82)
    assert step["details"]["signature_algorithm"] == "1.2.398.3.10.1.1.2.3.2"  # GOST 34.10-2015-512
    assert step["details"]["revocation"]["status"] == "good"

    # The RSA key of the same card through the APDU path, by slot.
    status, result = await at_kiosk.identify(*card_args(), "--card-slot", "9A")
    assert (status, result["code"]) == (0, "passed"), result
    assert (await at_kiosk.step(result["identification"]))["details"]["certificate_serial"] == at_kiosk.serial(0x9A)

    # Pulled out mid-signature: the APDU path says so too, and a new try after re-inserting passes.
    at_kiosk.card.remove(during="general-authenticate")
    status, result = await at_kiosk.identify(*card_args(), lang="kk")
    assert status == OUTCOMES["token_removed"].exit_status, result
    assert "токен алынып қалды" in result["message"] and "card was removed" in result["detail"]
    at_kiosk.card.insert()
    wait_present(READER_1)
    status, result = await at_kiosk.identify(*card_args())
    assert (status, result["code"]) == (0, "passed"), result


async def test_wrong_pins_count_down_then_the_card_locks(at_kiosk: Kiosk) -> None:
    status, result = await at_kiosk.identify(*card_args(), pin="12ab")  # never sent: costs no try
    assert status == OUTCOMES["pin_incorrect"].exit_status and "6 to 8 digits" in result["detail"], result
    assert at_kiosk.card.call("/status")["pin_tries_left"] == 3

    status, result = await at_kiosk.identify(*card_args(), pin="000000")
    assert status == OUTCOMES["pin_incorrect"].exit_status, result
    assert "2 tries are left before it locks" in result["message"]
    status, result = await at_kiosk.identify(*card_args(), pin="000000", lang="ru")
    assert status == OUTCOMES["pin_incorrect"].exit_status and "Осталась ОДНА попытка" in result["message"]
    status, result = await at_kiosk.identify(*card_args(), pin="000000")
    assert status == OUTCOMES["pin_locked"].exit_status and "PUK" in result["message"], result

    # Locked: even the right PIN is refused (the kiosk reads the counter before sending any PIN).
    status, result = await at_kiosk.identify(*card_args())
    assert status == OUTCOMES["pin_locked"].exit_status, result
    assert at_kiosk.card.call("/status")["pin_tries_left"] == 0
    # OpenSC, on the same locked card, says the same.
    status, result = await at_kiosk.identify(*opensc_args(at_kiosk))
    assert status == OUTCOMES["pin_locked"].exit_status, result


async def agent(*args: str, env: dict[str, str] | None = None, pin: bool = True) -> tuple[int, dict[str, Any]]:
    """The agent with no service behind it (the card fails first: it is asked for before any request);
    the PIN on stdin (``--pin-fd 0``), or, without ``pin``, no terminal to ask it on."""
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.kiosk", "--json", "--lang", "ru", "identify",
        "--service", "http://127.0.0.1:9", "--identification", "any", *args, "--wait", "2",
        *(["--pin-fd", "0"] if pin else []),
        stdin=asyncio.subprocess.PIPE if pin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_API_KEY="unused", **(env or {})),
    )  # fmt: skip
    out, err = await asyncio.wait_for(done.communicate(b"123456\n" if pin else None), 120)
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    assert lines, err.decode()
    return done.returncode or 0, json.loads(lines[-1])


async def test_no_reader_pcscd_down_and_no_pin_are_named(lab: Lab, card0: Emulator, tmp_path: Path) -> None:
    status, result = await agent("--reader", "No Such Reader 00 00")
    assert status == OUTCOMES["no_reader"].exit_status, result
    assert "Считыватель смарт-карт не найден" in result["message"] and "No Such Reader" in result["message"]

    no_pcscd = {SOCKET_ENV: str(tmp_path / "no-pcscd.comm")}  # a socket nobody listens on
    status, result = await agent("--reader", env=no_pcscd)
    assert status == OUTCOMES["pcscd_down"].exit_status, result
    assert "pcscd" in result["message"] and "Служба смарт-карт" in result["message"]

    # No --pin-fd and no terminal (a kiosk shell misconfigured): a sentence and exit 23, no stack trace.
    status, result = await agent("--reader", READER_0, pin=False)
    assert status == OUTCOMES["pin_cancelled"].exit_status and "--pin-fd" in result["detail"], result


def test_cards_command_lists_readers_and_whose_cards(lab: Lab, card0: Emulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "drivers.kiosk", "cards"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first = lines.index(READER_0)
    assert "slot 9A  rsa-2048" in lines[first + 1] and "IIN 900101300126" in lines[first + 1]
    assert any(ln.strip().startswith("slot 82  gost2015-512") for ln in lines[first + 1 : first + 4])
