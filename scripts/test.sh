#!/usr/bin/env bash
# All tests, against real services: set-up (and Debian's chromium for the browser test, pdsh and
# OpenSSH for the multi-node test), MLflow server (jest's global set-up starts it too), the Python
# suite (pytest), type checks, then the TypeScript suite (jest; the workflow tests start a real
# Temporal dev server from .venv/bin/temporal).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh
bash scripts/install-chromium.sh
bash scripts/install-multinode.sh
bash scripts/services.sh start mlflow

echo "== generated Python contracts (config.schema.json, spec_types.py match lib/config.ts and lib/steps/)"
bin/ts-run scripts/gen-config-schema.ts --check
echo "== typecheck"
node_modules/.bin/tsc --noEmit -p tsconfig.json
echo "== lint (workflow determinism, floating promises)"
node_modules/.bin/eslint .
echo "== pytest"
.venv/bin/python -m pytest python/tests -q
echo "== jest"
# Two test files at a time: each file has its own Temporal dev server, workers, ports and folders,
# and one file keeps about one core busy (the Node worker, then one Python step at a time).
TUNEFLOW_QUIET_PYTHON=1 node_modules/.bin/jest --maxWorkers=2 "$@"
