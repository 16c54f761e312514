"""``python -m simulators.ncalayer [--port 13579] [--p12 key.p12 --password P]``: NCALayer's local socket.

Prints the certificate's SPKI hash: start Chromium with ``--ignore-certificate-errors-spki-list=<hash>``
(or open https://127.0.0.1:13579/control/log once and accept the certificate) so pages can connect.
Keystores come from the NCA simulator: ``python -m simulators.nca issue --out key.p12``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aiohttp import web

from simulators.nca.keystore import DEFAULT_PASSWORD
from simulators.ncalayer.server import Keystore, State, create_app
from simulators.ncalayer.tls import make_certificate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=13579)
    parser.add_argument("--p12", type=Path, action="append", default=[], help="a keystore the user can pick")
    parser.add_argument("--password", default=DEFAULT_PASSWORD, help="the keystores' password")
    parser.add_argument("--cert-out", type=Path, help="also write the TLS certificate (PEM) here")
    args = parser.parse_args()
    state = State(keystores=[Keystore(p.name, p.read_bytes(), args.password) for p in args.p12])
    cert = make_certificate()
    if args.cert_out:
        args.cert_out.write_bytes(cert.cert_pem)
    print(json.dumps({"url": f"wss://{args.host}:{args.port}", "spki_sha256": cert.spki_sha256}), flush=True)
    web.run_app(create_app(state), host=args.host, port=args.port, ssl_context=cert.server_context(), print=None)


if __name__ == "__main__":
    main()
