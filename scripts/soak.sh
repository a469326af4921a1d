#!/usr/bin/env bash
# The long runs kept out of CI (`npm run soak`): every broken input of test/ops/broken-inputs.test.ts
# (CI runs one of each fault), a GPU worker stopped by SIGTERM mid-training and resumed
# (test/workflows/durable-training.test.ts), DeepSpeed ZeRO-2 and ZeRO-3 killed and resumed on one host
# (deepspeed-train.test.ts) and ZeRO-2 across two nodes (multi-node-train.test.ts; CI does ZeRO-3
# across two nodes), and bench/gpu's dry run on a CPU host (CI runs it on a
# CUDA host); the Temporal server SIGKILLed during clean, train and summarize, against an
# undisturbed run (test/workflows/temporal-restart.test.ts; CI kills it during train), workers
# SIGKILLed at seeded moments (seeded-worker-kills.test.ts: TUNEFLOW_SOAK_RUNS, TUNEFLOW_SOAK_SEED)
# and 20 pipelines at once (load.test.ts: TUNEFLOW_SOAK_LOAD). Figures: docs/reliability.md.
# Same set-up and real services as `npm test`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

bash scripts/setup.sh
bash scripts/install-multinode.sh
bash scripts/services.sh start mlflow
TUNEFLOW_SOAK=1 TUNEFLOW_QUIET_PYTHON=1 node_modules/.bin/jest --runInBand test/ops/broken-inputs.test.ts test/workflows/durable-training.test.ts test/integration/gpu-bench-dry-run.test.ts test/integration/deepspeed-train.test.ts \
  test/integration/multi-node-train.test.ts \
  test/workflows/temporal-restart.test.ts test/workflows/seeded-worker-kills.test.ts test/workflows/load.test.ts "$@"
