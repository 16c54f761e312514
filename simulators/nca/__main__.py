"""`python -m simulators.nca --port 8701 --state-dir var/nca`: run the NCA test-PKI simulator.

`python -m simulators.nca issue …` and `python -m simulators.nca sign …`: a test keystore and a CMS made
with it (see `simulators.nca.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from simulators.nca import cli
from simulators.nca.app import create_app


def tools(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.nca", description=(cli.__doc__ or "").split("\n")[0])
    cli.add_commands(parser.add_subparsers(required=True))
    return cli.run(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("issue", "sign"):
        raise SystemExit(tools(argv))
    parser = argparse.ArgumentParser(prog="python -m simulators.nca", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--base-url", help="URL written into certificates (AIA, CDP); default http://HOST:PORT")
    parser.add_argument("--state-dir", type=Path, default=Path("var/nca"), help="keys, certificates, revocations")
    parser.add_argument(
        "--fixed-time", type=datetime.fromisoformat, help="pin the clock, e.g. 2026-01-01T00:00:00+00:00"
    )
    parser.add_argument("--ocsp-next-update-minutes", type=int, help="add nextUpdate to OCSP answers (NCA sends none)")
    args = parser.parse_args(argv)
    if args.fixed_time is not None and args.fixed_time.tzinfo is None:
        parser.error("--fixed-time needs a time zone")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    base_url = args.base_url or f"http://{args.host}:{args.port}"
    minutes = args.ocsp_next_update_minutes
    app = create_app(
        base_url=base_url,
        state_dir=args.state_dir,
        fixed_time=args.fixed_time,
        ocsp_next_update=timedelta(minutes=minutes) if minutes else None,
    )
    web.run_app(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
