#!/usr/bin/env bash
# The main job: the whole demo pipeline on the embedded local stack.
# Set-up, services (Temporal dev server + MLflow), demo data and tiny model, both workers, then
# `tuneflow run --config configs/demo.yaml --wait`. Services stay up afterwards for the UIs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
config="${1:-configs/demo.yaml}"
started=$(date +%s)

bash scripts/setup.sh
bash scripts/services.sh start

data="data/demo/camera_reviews.tsv.gz"
# Regenerated every run (about 8 s), so a checkout whose generator changed never demos on old data.
bin/ts-run scripts/generate-reviews.ts --out "$data" --rows 3000 --products 60 --seed 7 --force
PYTHONPATH=python .venv/bin/python -m tuneflow_ml.tiny_model --data "$data" --out state/models/tiny-t5 --force

mkdir -p state/logs
bin/ts-run workers/cpu-worker.ts >state/logs/cpu-worker.log 2>&1 &
cpu_worker=$!
bin/ts-run workers/gpu-worker.ts >state/logs/gpu-worker.log 2>&1 &
gpu_worker=$!
trap 'kill $cpu_worker $gpu_worker 2>/dev/null; wait $cpu_worker $gpu_worker 2>/dev/null || true' EXIT
echo "workers started (logs: state/logs/cpu-worker.log, state/logs/gpu-worker.log)"

bin/tuneflow run --config "$config" --wait
echo
echo "demo finished in $(($(date +%s) - started)) s. Services keep running for the UIs:"
echo "  Temporal UI http://127.0.0.1:${TUNEFLOW_TEMPORAL_UI_PORT:-8233}   MLflow http://127.0.0.1:${TUNEFLOW_MLFLOW_PORT:-5000}"
echo "  stop them with: bash scripts/services.sh stop"
