"""``python -m simulators.vcard``: the virtual PIV smart card.

provision  issue keys and NCA-profile certificates into a card file
run        plug the card into pcscd's vpcd reader and serve the control channel
insert / remove / status   drive a running card through its control channel
pcscd      run a private pcscd with only the vpcd reader (needs root; see simulators.vcard.pcscd)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path

from simulators.vcard.pcscd import PcscdUnavailable, PrivatePcscd
from simulators.vcard.profile import DEFAULT_PIN, DEFAULT_PUK, CardProfile
from simulators.vcard.provision import DEFAULT_NCA_URL, provision, provision_online
from simulators.vcard.server import serve
from simulators.vcard.vpcd import VPCD_PORT

DEFAULT_CONTROL = "http://127.0.0.1:35990"


def _control(url: str, path: str, body: dict[str, str] | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method="GET" if path == "/status" else "POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # the local control channel only
            answer = response.read().decode()
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(), file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"the virtual card's control channel at {url} does not answer: {exc}", file=sys.stderr)
        return 1
    print(answer)
    return 0


def _run_pcscd(directory: Path, port: int) -> int:
    daemon = PrivatePcscd(directory, vpcd_port=port)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # sigwait needs them blocked, or they just kill us
    try:
        daemon.start()
    except PcscdUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"pcscd running; clients use: export PCSCLITE_CSOCK_NAME={daemon.socket_path}", flush=True)
    signal.sigwait(stop_signals)
    daemon.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.vcard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("provision", help="issue keys and certificates into a card file")
    p.add_argument("--nca-state-dir", type=Path, default=Path("var/simulators/nca"))
    p.add_argument("--nca-url", default=DEFAULT_NCA_URL, help="base URL written into new NCA state")
    p.add_argument("--person", default="individual", help="one of the NCA simulator's built-in people")
    p.add_argument(
        "--iin", help="any holder instead: issued by the running NCA simulator at --nca-url (9A RSA, 82 GOST)"
    )
    p.add_argument("--surname", help="with --iin")
    p.add_argument("--first-name", help="with --iin")
    p.add_argument("--patronymic", help="with --iin")
    p.add_argument("--pin", default=DEFAULT_PIN)
    p.add_argument("--puk", default=DEFAULT_PUK)
    p.add_argument("--out", type=Path, default=Path("var/vcard/card.json"))
    r = sub.add_parser("run", help="insert the card into vpcd and serve the control channel")
    r.add_argument("--card", type=Path, default=Path("var/vcard/card.json"))
    r.add_argument("--vpcd-host", default="127.0.0.1")
    r.add_argument("--vpcd-port", type=int, default=VPCD_PORT)
    r.add_argument("--control-host", default="127.0.0.1")
    r.add_argument("--control-port", type=int, default=35990)
    r.add_argument("--removed", action="store_true", help="start with the card out of the reader")
    for name in ("insert", "remove", "status"):
        c = sub.add_parser(name, help=f"{name} (control channel)")
        c.add_argument("--control", default=DEFAULT_CONTROL)
        if name == "remove":
            c.add_argument("--during", choices=["general-authenticate", "verify", "get-data", "select"])
    d = sub.add_parser("pcscd", help="run a private pcscd with the vpcd reader until Ctrl-C")
    d.add_argument("--dir", type=Path, default=Path("var/pcscd"))
    d.add_argument("--vpcd-port", type=int, default=VPCD_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    if args.command == "provision":
        if args.iin is not None:
            if not (args.surname and args.first_name):
                parser.error("--iin needs --surname and --first-name")
            try:
                profile = provision_online(
                    args.nca_url, iin=args.iin, surname=args.surname, first_name=args.first_name,
                    patronymic=args.patronymic, pin=args.pin, puk=args.puk,
                )  # fmt: skip
            except (ValueError, ConnectionError) as exc:
                print(exc, file=sys.stderr)
                return 1
        else:
            profile = provision(
                args.nca_state_dir, person=args.person, nca_url=args.nca_url, pin=args.pin, puk=args.puk
            )
        profile.save(args.out)
        print(f"card of {profile.holder} written to {args.out} (slots {', '.join(f'{s:02X}' for s in profile.slots)})")
        return 0
    if args.command == "run":
        profile = CardProfile.read(args.card)
        asyncio.run(
            serve(
                profile,
                vpcd_host=args.vpcd_host,
                vpcd_port=args.vpcd_port,
                control_host=args.control_host,
                control_port=args.control_port,
                inserted=not args.removed,
            )
        )
        return 0
    if args.command == "pcscd":
        return _run_pcscd(args.dir, args.vpcd_port)
    body = {"during": args.during} if getattr(args, "during", None) else None
    return _control(args.control, f"/{args.command}", body)


if __name__ == "__main__":
    sys.exit(main())
