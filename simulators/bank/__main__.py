"""``python -m simulators.bank --port 8105``: account and card ownership checks."""

from __future__ import annotations

from simulators.bank.app import create_app
from simulators.common import base_parser, serve


def main() -> None:
    args = base_parser("Bank account-ownership simulator (R-NB.2)", 8105).parse_args()
    serve(create_app(api_key=args.api_key), args.host, args.port)


if __name__ == "__main__":
    main()
