#!/usr/bin/env bash
# Builds the wheels the GPU machine lacks (it has torch, transformers 5.17, accelerate, tokenizers
# and sentencepiece, but no DeepSpeed or MLflow, and no network), at the versions of this venv
# (python/requirements.txt), for its Python 3.12 on x86-64. The list is what the dry run's steps
# import beyond that machine's image (figures.json: importedDistributions); transformers travels
# too, so the steps run on the version tuneflow pins rather than the machine's 5.17.
#
#   bash bench/gpu/wheels.sh [DEST]        (default .whl, which .git/info/exclude must ignore)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
dest="${1:-.whl}"
names=(
  transformers
  hjson pydantic pydantic-core annotated-types typing-inspection
  mlflow-skinny mlflow-tracing databricks-sdk google-auth cachetools fastapi starlette sqlparse
  opentelemetry-api opentelemetry-sdk opentelemetry-proto opentelemetry-semantic-conventions
  gitpython gitdb smmap importlib-metadata httpx2 httpcore2 truststore
)
read -r -a pins <<<"$(.venv/bin/python -c '
import sys, importlib.metadata as m
print(" ".join(f"{n}=={m.version(n)}" for n in sys.argv[1:]))' "${names[@]}")"
mkdir -p "$dest"
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$dest" "${pins[@]}"
# DeepSpeed is an sdist; its wheel is pure Python (its ops compile just in time where needed).
deepspeed="deepspeed==$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("deepspeed"))')"
DS_BUILD_OPS=0 .venv/bin/python -m pip wheel -q --no-deps --no-build-isolation -w "$dest" "$deepspeed"
du -sh "$dest"
