#!/usr/bin/env bash
# Idempotent set-up: Node dependencies from the committed lock, and the Python venv (.venv) from
# the pinned python/requirements.txt. A second run only compares two fingerprints.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

lock_stamp="node_modules/.tuneflow-lock.sha256"
lock_sha="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$lock_stamp" 2>/dev/null)" != "$lock_sha" ]; then
  echo "setup: installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund
  echo "$lock_sha" >"$lock_stamp"
fi

req_stamp=".venv/.tuneflow-requirements.sha256"
req_sha="$(cat python/requirements.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$req_stamp" 2>/dev/null)" != "$req_sha" ]; then
  echo "setup: installing the Python environment in .venv (torch, transformers, deepspeed, mlflow, temporal)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip setuptools wheel
  # torch first, pinned to the build this host provides: DeepSpeed compiles against it.
  .venv/bin/pip install --quiet "$(grep -E '^torch==' python/requirements.txt)"
  .venv/bin/pip install --quiet --no-build-isolation -r python/requirements.txt
  echo "$req_sha" >"$req_stamp"
fi
