"""``python -m simulators.bureau --port 8104``: voluntary refusals and application reports."""

from __future__ import annotations

from simulators.bureau.app import create_app
from simulators.common import base_parser, serve


def main() -> None:
    args = base_parser("Credit bureau simulator (R-NB.6, R-NB.7)", 8104).parse_args()
    serve(create_app(api_key=args.api_key), args.host, args.port)


if __name__ == "__main__":
    main()
