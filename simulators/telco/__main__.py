"""``python -m simulators.telco --port 8102``: the mobile-operator subscriber check."""

from __future__ import annotations

from simulators.common import base_parser, serve
from simulators.telco.app import create_app


def main() -> None:
    args = base_parser("Mobile-operator subscriber check simulator (R-108.1)", 8102).parse_args()
    serve(create_app(api_key=args.api_key), args.host, args.port)


if __name__ == "__main__":
    main()
