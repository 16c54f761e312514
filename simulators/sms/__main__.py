"""``python -m simulators.sms --port 8101 --name gw-a``: one SMS gateway (start a second for failover)."""

from __future__ import annotations

from simulators.common import base_parser, serve
from simulators.sms.app import create_app


def main() -> None:
    parser = base_parser("SMS gateway and verification-call simulator", 8101)
    parser.add_argument("--name", default="gw-a", help="gateway name; message ids start with it")
    parser.add_argument("--delivery-delay-ms", type=int, default=200)
    parser.add_argument("--callback-secret", default=None, help="HMAC key for signed delivery receipts")
    args = parser.parse_args()
    app = create_app(
        name=args.name,
        delivery_delay_ms=args.delivery_delay_ms,
        callback_secret=args.callback_secret,
        api_key=args.api_key,
    )
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
