"""The service's keys on a real SoftHSM2 token (R-12.2): the `KeyStore` protocol with non-extractable keys,
the service registering, looking up and auditing on it, a token that disappears (503 and /readyz, nothing
half-written) and comes back, and a KEK rotation in the middle of traffic that loses nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
import pytest
from pkcs11 import Attribute, ObjectClass
from pkcs11 import exceptions as p11
from sqlalchemy import func, select

from authsvc.api.state import DB, ENGINE
from authsvc.audit.verify import verify_database
from authsvc.crypto.envelope import RecordCipher
from authsvc.crypto.factory import open_keystore
from authsvc.crypto.pkcs11_keys import KeyStoreUnavailable, Pkcs11KeyStore
from authsvc.errors import ConfigError
from authsvc.store.rotation import rewrap
from authsvc.store.schema import clients
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.conftest import individual, make_settings, start_api
from tests.drivers.pkcs11.softhsm import PIN, provision, softhsm_home, token_dir
from tests.shared import REPO_ROOT

T = TypeVar("T")


@pytest.fixture(scope="module", autouse=True)
def _softhsm() -> None:
    softhsm_home()


@pytest.fixture
def token() -> tuple[str, str]:
    made = provision()  # an empty token with its SO and user PINs
    return made.label, made.serial


@pytest.fixture
def hsm(token: tuple[str, str]) -> Pkcs11KeyStore:
    store = Pkcs11KeyStore(SOFTHSM_MODULE, token[0], PIN)
    store.initialize()
    return store


def test_keys_live_on_the_token_and_never_leave_it(hsm: Pkcs11KeyStore, token: tuple[str, str]) -> None:
    made = {"kek": hsm.kek_id, "audit": hsm.audit_key_id, "attestation": hsm.attestation_key_id}
    assert hsm.initialize() == made  # idempotent
    lib = pkcs11.lib(SOFTHSM_MODULE)
    # The store's session has logged this process in (PKCS#11 log-in is per application).
    with lib.get_token(token_label=token[0]).open() as session:
        secrets_ = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))
        privates = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        assert len(secrets_) == 2 and len(privates) == 2  # KEK + index key; the Ed25519 audit and attestation keys
        for key in [*secrets_, *privates]:
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE] and key[Attribute.TOKEN]
            with pytest.raises(p11.AttributeSensitive):
                key[Attribute.VALUE]


def test_the_keystore_protocol_over_pkcs11(hsm: Pkcs11KeyStore, token: tuple[str, str]) -> None:
    cipher, wrapped = RecordCipher.new(hsm, "record-1")
    sealed = cipher.seal("iin", b"811201401188")
    assert wrapped.kek_id == hsm.kek_id and len(wrapped.wrapped) == 12 + 32 + 16  # GCM nonce, key, tag
    assert RecordCipher.open(hsm, "record-1", wrapped).unseal("iin", sealed) == b"811201401188"
    with pytest.raises(ValueError, match="failed to unwrap"):
        hsm.unwrap_data_key(bytes([wrapped.wrapped[0] ^ 1]) + wrapped.wrapped[1:], wrapped.kek_id)
    with pytest.raises(KeyError):
        hsm.unwrap_data_key(wrapped.wrapped, "k9999-0000000000")
    mac = hsm.index_mac("iin", "811201401188")
    assert len(mac) == 32 and mac != hsm.index_mac("bin", "811201401188")
    other_process = Pkcs11KeyStore(SOFTHSM_MODULE, token[0], PIN)  # another worker of the service
    assert other_process.index_mac("iin", "811201401188") == mac
    assert other_process.unwrap_data_key(wrapped.wrapped, wrapped.kek_id) == hsm.unwrap_data_key(
        wrapped.wrapped, wrapped.kek_id
    )
    signature = hsm.sign_audit(b"entry")
    hsm.audit_public_key(hsm.audit_key_id).verify(signature, b"entry")  # Ed25519, verified in software


class CountedTrips(Pkcs11KeyStore):
    """The real store, counting its trips to the token (each takes the session's lock once)."""

    trips = 0

    def _submit(self, fn: Callable[[], T]) -> T:
        self.trips += 1
        return super()._submit(fn)


async def test_calls_made_together_share_one_trip_and_keep_their_own_errors(token: tuple[str, str]) -> None:
    store = CountedTrips(SOFTHSM_MODULE, token[0], PIN)
    store.initialize()
    cipher, wrapped = await RecordCipher.anew(store, "record-1")
    store.data_keys.clear()
    tampered = bytes([wrapped.wrapped[0] ^ 1]) + wrapped.wrapped[1:]
    store.trips = 0
    wrap, mac, macs, opened, bad, unknown = await asyncio.gather(
        store.awrap_data_key(bytes(32)),
        store.aindex_mac("iin", "811201401188"),
        store.aindex_macs("card", ["4400430000000001", "4400430000000002"]),
        RecordCipher.aopen(store, "record-1", wrapped),
        store.aunwrap_data_key(tampered, wrapped.kek_id),
        store.aunwrap_data_key(wrapped.wrapped, "k9999-0000000000"),
        return_exceptions=True,
    )
    assert store.trips == 1  # six callers in one turn of the loop: one hop to the token's thread
    assert isinstance(bad, ValueError) and isinstance(unknown, KeyError)  # each its own error, the others stand
    assert isinstance(wrap, tuple) and await store.aunwrap_data_key(wrap[1], wrap[0]) == bytes(32)
    assert mac == store.index_mac("iin", "811201401188") and isinstance(macs, list) and len(set(macs)) == 2
    assert isinstance(opened, RecordCipher) and opened.unseal("x", cipher.seal("x", b"v")) == b"v"
    store.trips = 0
    await store.aindex_mac("iin", "1")
    await store.aindex_mac("iin", "2")
    assert store.trips == 2  # one after the other: nothing waits for company
    store.close()
    with pytest.raises(KeyStoreUnavailable, match="closed"):  # at once, not after the timeout
        await asyncio.wait_for(store.aindex_mac("iin", "3"), 1.0)


def test_settings_choose_the_backend_and_the_pin_never_comes_from_them(
    token: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AUTHSVC_HSM_PIN", raising=False)
    keys = {"backend": "pkcs11", "pkcs11_module": SOFTHSM_MODULE, "pkcs11_token_label": token[0]}
    settings = make_settings(f"sqlite:///{tmp_path}/a.db", keys=keys)
    with pytest.raises(ConfigError, match="AUTHSVC_HSM_PIN"):
        open_keystore(settings)
    pin_file = tmp_path / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        open_keystore(make_settings(f"sqlite:///{tmp_path}/a.db", keys=keys | {"pkcs11_pin_file": str(pin_file)}))
    monkeypatch.setenv("AUTHSVC_HSM_PIN", PIN)
    with pytest.raises(ConfigError, match="holds no authsvc keys"):
        open_keystore(settings).index_mac("x", "y")
    # `python -m authsvc.hsm init` makes them, configured by environment only.
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_KEYS_BACKEND="pkcs11",
               AUTHSVC_KEYS_PKCS11_TOKEN_LABEL=token[0], AUTHSVC_DATABASE_DSN=f"sqlite:///{tmp_path}/a.db")  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "authsvc.hsm", "init"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    store = open_keystore(settings)
    assert isinstance(store, Pkcs11KeyStore) and store.kek_id.startswith("k0001-")


async def test_the_service_on_the_hsm_registers_looks_up_and_audits(
    aiohttp_client: Any, hsm: Pkcs11KeyStore, tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path}/authsvc.db"
    api = await start_api(aiohttp_client, make_settings(dsn), hsm)  # type: ignore[arg-type]
    resp = await api.post("/v1/clients", individual())
    assert resp.status == 201, await resp.text()
    client = (await resp.json())["id"]
    found = await (await api.post("/v1/clients/lookup", {"iin": "811201401188"})).json()
    assert [c["id"] for c in found["items"]] == [client]
    assert (await api.get(f"/v1/clients/{client}")).status == 200
    assert (await (await api.client.get("/readyz")).json())["checks"]["keys"] is True  # (no trust store here)
    report = await verify_database(dsn, hsm, None)
    assert report.ok and report.entries + report.pending >= 2, report.findings


async def test_a_token_that_disappears_answers_503_writes_nothing_and_recovers(
    aiohttp_client: Any, hsm: Pkcs11KeyStore, token: tuple[str, str], tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path}/authsvc.db"
    api = await start_api(aiohttp_client, make_settings(dsn), hsm)  # type: ignore[arg-type]
    folder = token_dir(token[1])
    with hsm._lock:  # between two device calls (the chainer's run too): SoftHSM2 aborts on files gone mid-call
        shutil.move(folder, tmp_path / "pocket")
    try:
        ready = await api.client.get("/readyz")
        body = await ready.json()
        assert ready.status == 503 and body["checks"]["keys"] is False and "HSM" in body["reasons"]["keys"]
        resp = await api.post("/v1/clients", individual())
        problem = await resp.json()
        assert resp.status == 503 and resp.content_type == "application/problem+json", problem
        assert problem["code"] == "key_store_unavailable"
    finally:
        with hsm._lock:
            shutil.move(tmp_path / "pocket", folder)
    async with api.app[ENGINE].connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(clients))).scalar() == 0
    await asyncio.sleep(1.1)  # reconnection is tried at most once a second
    body = await (await api.client.get("/readyz")).json()
    assert body["checks"]["keys"] is True and "keys" not in body.get("reasons", {})
    assert (await api.post("/v1/clients", individual())).status == 201


async def test_rotation_in_the_middle_of_traffic_loses_nothing(
    aiohttp_client: Any, hsm: Pkcs11KeyStore, tmp_path: Path
) -> None:
    dsn = f"sqlite:///{tmp_path}/authsvc.db"
    api = await start_api(aiohttp_client, make_settings(dsn), hsm)  # type: ignore[arg-type]
    engine = api.app[ENGINE]
    iins = [f"9001013{n:04d}" for n in range(100, 140)]
    iins = [i + str(_check(i)) for i in iins if _check(i) is not None][:24]

    async def register(iin: str) -> str:
        resp = await api.post("/v1/clients", individual(iin=iin))
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["id"])

    first = [await register(i) for i in iins[:8]]
    old = hsm.kek_id
    during = asyncio.gather(*(register(i) for i in iins[8:16]))
    new = hsm.rotate_kek()
    partial = await rewrap(api.app[DB], hsm, batch=3, max_batches=1)  # a run cut short, as by a crash
    ids = first + list(await during) + [await register(i) for i in iins[16:]]
    assert new != old and new == hsm.kek_id and not partial.done
    report = await rewrap(api.app[DB], hsm, batch=3)  # run again: it goes on
    assert report.done, report
    async with engine.connect() as conn:
        keks = {r.kek_id for r in await conn.execute(select(clients.c.kek_id))}
    assert keks == {new}
    for client_id, iin in zip(ids, iins, strict=True):
        body = await (await api.get(f"/v1/clients/{client_id}")).json()
        assert body["id"] == client_id and body["person"]["iin"][-2:] == iin[-2:], body
    assert old in hsm.kek_ids()  # the old KEK stays: data restored from a backup still opens


def _check(first_eleven: str) -> int | None:
    digits = [int(c) for c in first_eleven]
    for weights in (range(1, 12), (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)):
        value = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if value != 10:
            return value
    return None
