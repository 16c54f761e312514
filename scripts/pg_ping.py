"""Exit 0 when the PostgreSQL server of the DSN answers, 1 otherwise (used by scripts/test.sh)."""

import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url


async def main(dsn: str) -> int:
    url = make_url(dsn)
    try:
        conn = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        print(f"PostgreSQL not reachable: {exc!r}", file=sys.stderr)
        return 1
    await conn.close()
    return 0


sys.exit(asyncio.run(main(sys.argv[1])))
