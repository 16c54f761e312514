"""``python -m simulators``: every outside party, the NCA test PKI and NCALayer in one process, each on its own port.

The service reaches them over HTTP exactly as it reaches the real parties; `configs/default.toml`
points at these ports. Ctrl-C stops them all.

    nca      8701   NCA test PKI: OCSP, CRL/delta CRL, TSA, CA certificates, keystore issuance
    sms-a    8702   SMS gateway A (+ verification calls)     sms-b  8703   SMS gateway B (failover)
    telco    8704   mobile-operator subscriber check         cdao   8705   CDAO biometric identification
    bureau   8706   credit bureau                            bank   8707   account ownership
    afc      8708   Anti-fraud centre: national grey/black list feed, incident intake
    ncalayer 13579  NCALayer's local WebSocket (wss://, the hosted page signs through it): its TLS
                    certificate is kept in STATE_DIR/ncalayer/cert.pem and its SPKI hash printed at start;
                    keystores are added over POST /control/keystores (``simulators.ncalayer.server``)

Every party simulator (not the NCA and the AFC) also answers ``GET /population`` — who the simulated people are and
what each party says about them — and ``GET /population/{iin}/photo`` (see ``simulators.roster``).
``--base-port B`` moves them all to B+1 … B+8 and NCALayer to B+9 (the service's config must then name those
ports, NCALayer's as ``[hosted] ncalayer_url``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
PORTS = {
    "nca": 8701,
    "sms-a": 8702,
    "sms-b": 8703,
    "telco": 8704,
    "cdao": 8705,
    "bureau": 8706,
    "bank": 8707,
    "afc": 8708,
}
NCALAYER_PORT = 13579  # the real NCALayer's, which pages connect to


def _faces_dir() -> Path:
    shared = Path(os.environ.get("AUTHSVC_SHARED_DIR", REPO.parent / "shared"))
    return shared / "fixtures" / "faces"


def ports(base: int) -> dict[str, int]:
    """Each simulator's port when they start at ``base`` + 1 (default 8700: the ports above)."""
    moved = {name: base + port - 8700 for name, port in PORTS.items()}
    return moved | {"ncalayer": NCALAYER_PORT if base == 8700 else base + len(PORTS) + 1}


def factories(host: str, state_dir: Path, base: int = 8700) -> dict[str, Callable[[], web.Application]]:
    from simulators.afc.app import create_app as afc
    from simulators.bank.app import create_app as bank
    from simulators.bureau.app import create_app as bureau
    from simulators.cdao.app import create_app as cdao
    from simulators.nca.app import create_app as nca
    from simulators.ncalayer.server import create_app as ncalayer
    from simulators.sms.app import create_app as sms
    from simulators.telco.app import create_app as telco

    return {
        "nca": lambda: nca(base_url=f"http://{host}:{ports(base)['nca']}", state_dir=state_dir / "nca"),
        "sms-a": lambda: sms(name="gw-a"),
        "sms-b": lambda: sms(name="gw-b"),
        "telco": telco,
        "cdao": lambda: cdao(faces_dir=_faces_dir()),
        "bureau": bureau,
        "bank": bank,
        "afc": afc,
        "ncalayer": ncalayer,
    }


async def run(host: str, state_dir: Path, only: list[str], base: int = 8700) -> None:
    from simulators.ncalayer.tls import kept_certificate

    runners = []
    where = ports(base)
    for name, make in factories(host, state_dir, base).items():
        if only and name not in only:
            continue
        runner = web.AppRunner(make(), access_log=None)
        await runner.setup()
        if name == "ncalayer":
            cert = kept_certificate(state_dir / "ncalayer")
            await web.TCPSite(runner, host, where[name], ssl_context=cert.server_context()).start()
            where_to = f"wss://{host}:{where[name]}  spki_sha256={cert.spki_sha256}"
        else:
            await web.TCPSite(runner, host, where[name]).start()
            where_to = f"http://{host}:{where[name]}"
        runners.append(runner)
        print(f"simulator {name:8s} {where_to}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        with contextlib.suppress(Exception):
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("var/simulators"),
        help="NCA keys and issued certificates; NCALayer's TLS certificate",
    )
    parser.add_argument("--only", nargs="*", default=[], choices=sorted([*PORTS, "ncalayer"]), help="start only these")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8700,
        help="shift every port: nca on BASE+1 … afc on BASE+8, ncalayer on BASE+9",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.host, args.state_dir, args.only, args.base_port))


if __name__ == "__main__":
    main()
