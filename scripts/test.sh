#!/usr/bin/env bash
# The README's test command: installs everything (system packages too), makes sure a PostgreSQL server
# answers (the one on 127.0.0.1:5432, else a throwaway one started here), then lint, types and the whole
# test suite on SQLite and PostgreSQL (the 25 slowest tests listed at the end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev

PG_DSN=${AUTHSVC_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}
if ! .venv/bin/python scripts/pg_ping.py "$PG_DSN"; then
  echo "no PostgreSQL at $PG_DSN: starting a throwaway server"
  PG_DSN=$(scripts/pg_throwaway.sh)
fi
export AUTHSVC_TEST_PG_DSN="$PG_DSN"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
set +e
.venv/bin/pytest -p no:cacheprovider --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests: that is a failure"; exit 1; fi
exit "$rc"
