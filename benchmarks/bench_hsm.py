"""Hardware-backed crypto on SoftHSM2: token signatures per second, the kiosk flow, and registrations with
the service's keys on the HSM against the key file, in one run.

    .venv/bin/python -m benchmarks.bench_hsm [--seconds 15] [--concurrency 16] [--kiosk-runs 20]

Everything runs in a temporary SOFTHSM2_CONF. Signatures: `drivers.pkcs11.TokenSession.sign` in a loop
(RSA-2048 CKM_SHA256_RSA_PKCS, EC P-256 CKM_ECDSA over SHA-256) and whole CMS through `AsyncToken`.
Kiosk: the NCA simulator in a thread, `authsvc serve` as its own process, and per run a fresh
identification and one `authsvc-kiosk identify` process with the PIN on a pipe (interpreter start to
verdict), plus the same flow in one process (`drivers.kiosk.flow.identify`, no interpreter start).
Registrations: `benchmarks.bench_registration`'s load against one server process pinned to core 0, with
the key file and with `[keys] backend = "pkcs11"`, alternated file/HSM/file/HSM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import bench_registration, server
from benchmarks.bench_eds import cpu_seconds

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN, PIN = "87654321", "1234"
REPO = Path(__file__).resolve().parent.parent


def _provision(label: str, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "drivers.pkcs11.provision", "--label", label, "--so-pin", SO_PIN, "--pin", PIN, *extra]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    result: dict[str, Any] = json.loads(done.stdout)
    import pkcs11

    if MODULE in pkcs11._loaded:
        pkcs11.lib(MODULE).reinitialize()  # SoftHSM2 sees a token made by another process only after this
    return result


def _pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(len(data) * p / 100))]


def bench_signatures(seconds: float, tmp: Path) -> None:
    from drivers.pkcs11 import AsyncToken, Module, TokenSession
    from tests.drivers.pkcs11.softhsm import ec_pair

    cert, key = ec_pair(tmp)
    shared = Path(os.environ["AUTHSVC_SHARED_DIR"]) / "fixtures/nca/danikarik-ncanode-go/personal/active"
    nca_p12 = shared / "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.p12"
    made = _provision("bench-sign", "--pem", str(cert), str(key), "--p12", str(nca_p12))
    session = TokenSession(Module(MODULE), label=made["label"])
    session.login(PIN)
    for cred in session.credentials():
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.sign(cred.key_id, cred.key_kind, b"signed attributes %d" % n)
            n += 1
        took = time.perf_counter() - start
        print(f"token signatures, {cred.key_kind.upper()} ({'2048' if cred.key_kind == 'rsa' else 'P-256'}): "
              f"{n / took:,.0f}/s ({took / n * 1e6:,.0f} µs each), one session, one thread")  # fmt: skip

    async def cms_rate() -> None:
        token = AsyncToken(MODULE, label=made["label"])
        await token.open()
        await token.login(PIN)
        for cred in await token.credentials():
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                await asyncio.gather(*(token.sign_cms(cred, b"challenge %d" % (n + i)) for i in range(8)))
                n += 8
            took = time.perf_counter() - start
            print(f"CMS via AsyncToken (token thread), {cred.key_kind.upper()}: {n / took:,.0f}/s")
        await token.close()

    asyncio.run(cms_rate())


class _Nca:
    """The NCA test-PKI simulator on a free port, in a thread of this process."""

    def __init__(self, state: Path) -> None:
        from aiohttp import web

        from simulators.nca.app import create_app

        self.port = server.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(create_app(base_url=self.url, state_dir=state))

        async def start() -> None:
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(start(), self.loop).result(120)

    def pki_env(self, cache: Path) -> dict[str, str]:
        cert = f"{self.url}/cert/"
        stems = ("nca_gost2022_test", "nca_rsa2022_test")
        return {
            "AUTHSVC_PKI_ANCHOR_URLS": json.dumps([cert + "root_gost2022_test.cer", cert + "root_rsa2022_test.cer"]),
            "AUTHSVC_PKI_INTERMEDIATE_URLS": json.dumps([cert + s + ".cer" for s in stems]),
            "AUTHSVC_PKI_CRL_SOURCES": json.dumps(
                [{"url": f"{self.url}/crl/{s}.crl", "delta_url": f"{self.url}/crl/{s}_d.crl", "issuer": f"{cert}{s}.cer"} for s in stems]
            ),
            "AUTHSVC_PKI_CACHE_DIR": str(cache),
        }  # fmt: skip


def _http(method: str, url: str, key: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def bench_kiosk(runs: int, tmp: Path) -> None:
    nca = _Nca(tmp / "nca")
    env = nca.pki_env(tmp / "pki") | {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false"}
    with server.running(None, core=None, extra_env=env) as srv:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(srv.base + "/readyz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("service not ready (trust store)") from None
                time.sleep(0.3)
        iin = bench_registration.valid_iin(random.randint(1, 10**6))
        made = _provision(
            "bench-kiosk", "--nca-url", nca.url, "--iin", iin, "--surname", "Жумабаев", "--first-name", "Ерлан"
        )
        client = _http(
            "POST", srv.base + "/v1/clients", srv.api_key, bench_registration.body(iin, bench_registration.photo(False))
        )["id"]
        key_file = tmp / "api-key"
        key_file.write_text(srv.api_key)
        times: list[float] = []
        for _ in range(runs):
            ident = _http(
                "POST", srv.base + "/v1/identifications", srv.api_key, {"client_id": client, "operation": "login"}
            )["id"]
            read, write = os.pipe()
            os.write(write, f"{PIN}\n".encode())
            os.close(write)
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "drivers.kiosk", "identify", "--service", srv.base, "--api-key-file", str(key_file),
                 "--module", MODULE, "--token-label", made["label"], "--pin-fd", str(read), "--identification", ident],
                pass_fds=(read,), capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)), check=False,
            )  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
            os.close(read)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.decode())
        print(f"kiosk flow, one authsvc-kiosk process per identification (interpreter start → verdict), {runs} runs: "
              f"p50 {_pct(times, 50):,.0f} ms, p99 {_pct(times, 99):,.0f} ms (p99 of {runs} = the slowest), "
              f"mean {statistics.fmean(times):,.0f} ms")  # fmt: skip
        asyncio.run(_kiosk_in_process(srv.base, srv.api_key, client, made["label"], runs * 3))


async def _kiosk_in_process(base: str, key: str, client: str, label: str, runs: int) -> None:
    from drivers.kiosk.flow import identify
    from drivers.kiosk.service import ServiceClient
    from drivers.kiosk.signer import TokenSigner

    async def pin(_name: str) -> str:
        return PIN

    times: list[float] = []
    async with ServiceClient(base, key) as service:
        for _ in range(runs):
            signer = TokenSigner(MODULE, token_label=label, key_label=None)
            start = time.perf_counter()
            await identify(service, signer, identification_id=None, client_id=client, operation="login",
                           wait_s=0, say=lambda _k, _d: None, ask=pin)  # fmt: skip
            times.append((time.perf_counter() - start) * 1000)
            await signer.close()
    print(f"kiosk flow in one process (token found → PIN → open identification → challenge → sign → verdict), "
          f"{runs} runs: p50 {_pct(times, 50):.1f} ms, p99 {_pct(times, 99):.1f} ms")  # fmt: skip


def bench_registrations(seconds: float, concurrency: int, rounds: int) -> None:
    label = f"bench-keys-{random.randint(0, 10**6)}"
    _provision(label)
    hsm_env = {
        "AUTHSVC_KEYS_BACKEND": "pkcs11",
        "AUTHSVC_KEYS_PKCS11_MODULE": MODULE,
        "AUTHSVC_KEYS_PKCS11_TOKEN_LABEL": label,
        "AUTHSVC_HSM_PIN": PIN,
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
    }
    subprocess.run([sys.executable, "-m", "authsvc.hsm", "init"], check=True, capture_output=True,
                   env=dict(os.environ, **hsm_env, PYTHONPATH=str(REPO)))  # fmt: skip
    rates: dict[str, list[float]] = {"file": [], "pkcs11": []}
    cpu: dict[str, list[float]] = {"file": [], "pkcs11": []}
    for _ in range(rounds):  # alternating rounds: file, HSM, file, HSM… so a change of load hits both alike
        for name, env in (("file", {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false"}), ("pkcs11", hsm_env)):
            with server.running(None, extra_env=env) as srv:
                salt = random.randint(1, 999)
                before = cpu_seconds(srv.pid)
                result = asyncio.run(bench_registration.bench(srv.base, srv.api_key, seconds, concurrency, salt))
                # the server's CPU (its device thread and the in-process SoftHSM included) per registration;
                # the warm-up's requests are in the CPU but not in the count, the same for both stores
                per = (cpu_seconds(srv.pid) - before) / max(result.requests, 1) * 1000
                rates[name].append(result.rate)
                cpu[name].append(per)
                print(
                    result.line(f"registrations, SQLite, keys {name}, concurrency {concurrency}"),
                    f"CPU {per:.2f} ms each",
                )
        print(
            f"round {len(rates['file'])}: HSM at {rates['pkcs11'][-1] / rates['file'][-1]:.0%} of the key file's rate, "
            f"CPU per registration {cpu['pkcs11'][-1] / cpu['file'][-1]:.2f}× the key file's"
        )
    file_rate, hsm_rate = statistics.median(rates["file"]), statistics.median(rates["pkcs11"])
    file_cpu, hsm_cpu = statistics.median(cpu["file"]), statistics.median(cpu["pkcs11"])
    print(
        f"registrations/s median: key file {file_rate:,.0f}, HSM {hsm_rate:,.0f} → HSM at {hsm_rate / file_rate:.0%} "
        f"of the key file; server CPU per registration median: file {file_cpu:.2f} ms, HSM {hsm_cpu:.2f} ms"
    )


def bench_keystore_cost(registrations: int) -> None:
    """Registrations in this process (aiohttp test server, one at a time) with each store behind a timing
    proxy: how many key-store calls a registration makes and the time they take, independent of load."""
    import collections
    import contextvars
    import uuid

    from aiohttp.test_utils import TestClient, TestServer

    from authsvc.api.state import DB
    from authsvc.app import create_app
    from authsvc.config import load_settings
    from authsvc.crypto.local_keys import LocalKeyStore
    from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore
    from authsvc.store import lenders

    label = f"bench-cost-{random.randint(0, 10**6)}"
    _provision(label)
    hsm = Pkcs11KeyStore(MODULE, label, PIN)
    hsm.initialize()
    image = bench_registration.photo(False)

    in_twin = contextvars.ContextVar("in_twin", default=False)

    async def run(name: str, store: Any) -> None:
        stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        for op in ("index_mac", "wrap_data_key", "unwrap_data_key", "sign_audit"):
            original = getattr(store, op)

            def timed(*a: Any, _o: Any = original, _n: str = op, **k: Any) -> Any:
                if in_twin.get():  # the key file's twin calls its sync form: counted once, as the twin
                    return _o(*a, **k)
                t = time.perf_counter()
                try:
                    return _o(*a, **k)
                finally:
                    stats[_n][0] += 1
                    stats[_n][1] += time.perf_counter() - t

            setattr(store, op, timed)
        # the awaitable twins (the device thread on the HSM): wall time from the call to the answer
        for op in ("aindex_mac", "aindex_macs", "awrap_data_key", "aunwrap_data_key", "asign_audit_many"):
            aoriginal = getattr(store, op)

            async def atimed(*a: Any, _o: Any = aoriginal, _n: str = op, **k: Any) -> Any:
                t = time.perf_counter()
                token = in_twin.set(True)
                try:
                    return await _o(*a, **k)
                finally:
                    in_twin.reset(token)
                    stats[_n][0] += 1
                    stats[_n][1] += time.perf_counter() - t

            setattr(store, op, atimed)
        work = Path(tempfile.mkdtemp(prefix="authsvc-bench-cost-"))
        settings = load_settings(env={}, database={"dsn": f"sqlite:///{work}/a.db"}, security={"test_pki": True},
                                 registry={"photo_face_check": False}, audit=server.audit_files(work))  # fmt: skip
        client = TestClient(TestServer(create_app(settings, keys=store)))
        await client.start_server()
        async with client.app[DB].transaction() as tx:
            _, key = await lenders.create(tx, "bench")
        headers = {"Authorization": f"Bearer {key}"}
        salt = random.randint(1, 999) * 10_000_000
        for i in range(20):  # warm-up
            await client.post("/v1/clients", json=bench_registration.body(bench_registration.valid_iin(salt + i), image),
                              headers=headers | {"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
        stats.clear()
        start = time.perf_counter()
        for i in range(20, 20 + registrations):
            body = bench_registration.body(bench_registration.valid_iin(salt + i), image)
            resp = await client.post("/v1/clients", json=body, headers=headers | {"Idempotency-Key": uuid.uuid4().hex})
            assert resp.status == 201, await resp.text()
        took = (time.perf_counter() - start) / registrations * 1000
        await client.close()
        spent = sum(t for _, t in stats.values()) / registrations * 1000
        calls = ", ".join(
            f"{op} {n / registrations:.1f}× {t / max(n, 1) * 1e6:,.0f} µs" for op, (n, t) in stats.items()
        )
        print(
            f"keys {name}: {took:.1f} ms per registration (sequential), {spent:.2f} ms of it in the key store ({calls})"
        )

    for _ in range(2):
        asyncio.run(run("file", LocalKeyStore.generate()))
        asyncio.run(run("pkcs11", hsm))


def bench_keyfile_twins(calls: int = 200_000) -> None:
    """The key file's awaited twin against its synchronous form: what the awaitable protocol costs the
    pure-software path (no thread hop: the coroutine answers at once)."""
    from authsvc.crypto.local_keys import LocalKeyStore

    store = LocalKeyStore.generate()

    def sync() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            store.index_mac("iin", "811201401188")
        return (time.perf_counter() - t) / calls * 1e6

    async def awaited() -> float:
        t = time.perf_counter()
        for _ in range(calls):
            await store.aindex_mac("iin", "811201401188")
        return (time.perf_counter() - t) / calls * 1e6

    for _ in range(3):  # alternated
        print(f"key file index MAC: sync {sync():.2f} µs, awaited twin {asyncio.run(awaited()):.2f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kiosk-runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="file/HSM registration rounds")
    parser.add_argument("--only", choices=["signatures", "kiosk", "registrations", "keystore-cost", "keyfile-twins"])
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="authsvc-bench-hsm-"))
    (home / "tokens").mkdir()
    (home / "softhsm2.conf").write_text(
        f"directories.tokendir = {home}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(home / "softhsm2.conf")
    os.environ.setdefault("AUTHSVC_SHARED_DIR", str(REPO.parent / "shared"))
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"SoftHSM2 {subprocess.run(['softhsm2-util', '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    if args.only in (None, "signatures"):
        bench_signatures(min(args.seconds, 5), home)
    if args.only in (None, "kiosk"):
        bench_kiosk(args.kiosk_runs, home)
    if args.only in (None, "keyfile-twins"):
        bench_keyfile_twins()
    if args.only in (None, "keystore-cost"):
        bench_keystore_cost(200)
    if args.only in (None, "registrations"):
        bench_registrations(args.seconds, args.concurrency, args.rounds)


if __name__ == "__main__":
    main()
