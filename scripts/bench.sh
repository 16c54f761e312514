#!/usr/bin/env bash
# The README's bench command: every benchmark, one after another, figures printed as they come.
# Servers under test are pinned to one core (taskset); the load generator uses the other.
# PostgreSQL: $AUTHSVC_TEST_PG_DSN (default 127.0.0.1:5432/test), else a throwaway server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev >/dev/null
PG_DSN=${AUTHSVC_TEST_PG_DSN:-postgresql://postgres@127.0.0.1:5432/test}
.venv/bin/python scripts/pg_ping.py "$PG_DSN" 2>/dev/null || PG_DSN=$(scripts/pg_throwaway.sh)
export AUTHSVC_TEST_PG_DSN="$PG_DSN"
PY=.venv/bin/python
echo "== $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for bench in ${BENCHES:-registration gost crl face eds otp bound flows liveness liveness_step vcard hsm attestation webhooks hosted request_path workers fastpath_parts path_parts verify_inprocess}; do
  [ -f "benchmarks/bench_$bench.py" ] || { echo "missing benchmarks/bench_$bench.py"; exit 1; }
  echo "== bench_$bench"
  $PY -m "benchmarks.bench_$bench"
done
