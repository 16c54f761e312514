"""``python -m simulators.cdao --port 8103 --faces-dir ../shared/fixtures/faces``: biometric identification."""

from __future__ import annotations

from simulators.cdao.app import create_app
from simulators.common import base_parser, serve


def main() -> None:
    parser = base_parser("CDAO biometric identification simulator (R-7.2)", 8103)
    parser.add_argument("--faces-dir", required=True, help="folder of the state photos (shared/fixtures/faces)")
    parser.add_argument("--matcher", choices=("auto", "face", "hash"), default="auto")
    parser.add_argument("--max-distance", type=float, default=None, help="face distance that still matches")
    args = parser.parse_args()
    app = create_app(
        faces_dir=args.faces_dir, matcher=args.matcher, max_distance=args.max_distance, api_key=args.api_key
    )
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
