#!/usr/bin/env bash
# The README's run command: installs what is missing, then starts every simulator and the service on the
# embedded default (SQLite file and local key file under var/). Prints a demo lender's API key. Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export AUTHSVC_CONFIG=${AUTHSVC_CONFIG:-configs/default.toml}
A=.venv/bin/authsvc
$A keys init --if-missing
$A migrate
if [ ! -s var/demo-api-key ]; then
  umask 077
  $A lender create --name "Demo lender" --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' > var/demo-api-key
fi
.venv/bin/python -m simulators &
SIMS=$!
trap 'kill $SIMS 2>/dev/null || true' EXIT INT TERM
echo "demo lender API key (also in var/demo-api-key): $(cat var/demo-api-key)"
echo "service: http://127.0.0.1:${AUTHSVC_SERVER_PORT:-8080}  (OpenAPI at /openapi.json)"
$A serve
