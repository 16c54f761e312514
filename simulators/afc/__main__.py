"""``python -m simulators.afc --port 8108``: the Anti-fraud centre's list feed and incident intake."""

from __future__ import annotations

from simulators.afc.app import create_app
from simulators.common import base_parser, serve


def main() -> None:
    args = base_parser("Anti-fraud centre simulator (R-NB.8)", 8108).parse_args()
    serve(create_app(api_key=args.api_key), args.host, args.port)


if __name__ == "__main__":
    main()
