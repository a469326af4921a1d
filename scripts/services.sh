#!/usr/bin/env bash
# Local services for tuneflow: the Temporal dev server and an MLflow tracking server, both on
# loopback, both SQLite backed under one state folder, so workflows and runs survive a restart;
# and, when asked for, an S3 server (SeaweedFS) for storage.root s3://bucket/prefix.
#
#   scripts/services.sh start|stop|restart|status|logs [temporal|mlflow|s3]
#
# Without a name: temporal and mlflow, plus s3 when TUNEFLOW_S3=1 (stop, status and logs also
# take s3 whenever its pid file is there, so a running one is never left behind).
#
# Ports: TUNEFLOW_TEMPORAL_PORT (7233), TUNEFLOW_TEMPORAL_UI_PORT (8233), TUNEFLOW_MLFLOW_PORT (5000),
# TUNEFLOW_S3_PORT (8333, the S3 API). SeaweedFS's own servers take the next ports unless set:
# TUNEFLOW_S3_MASTER_PORT (S3 port + 1), TUNEFLOW_S3_VOLUME_PORT (+ 2), TUNEFLOW_S3_FILER_PORT
# (+ 3); each of the four also listens for gRPC on its port + 10000 (18333-18336 by default).
# Its Iceberg, Lance and metrics listeners are off, and all of them bind 127.0.0.1.
# S3: bucket TUNEFLOW_S3_BUCKET (tuneflow, created when missing); credentials AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY, by default a local-only pair (tuneflow-local / tuneflow-local-secret),
# written to $state/seaweedfs/s3.json (mode 600); data in $state/seaweedfs/data.
# MLflow artifacts: TUNEFLOW_MLFLOW_ARTIFACTS (an s3:// URI, e.g. s3://tuneflow/mlartifacts;
# the server reaches it at AWS_ENDPOINT_URL) instead of $state/mlartifacts.
# State: TUNEFLOW_STATE_DIR (state/services).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${TUNEFLOW_STATE_DIR:-$repo/state/services}"
temporal_port="${TUNEFLOW_TEMPORAL_PORT:-7233}"
temporal_ui_port="${TUNEFLOW_TEMPORAL_UI_PORT:-8233}"
mlflow_port="${TUNEFLOW_MLFLOW_PORT:-5000}"
s3_port="${TUNEFLOW_S3_PORT:-8333}"
s3_master_port="${TUNEFLOW_S3_MASTER_PORT:-$((s3_port + 1))}"
s3_volume_port="${TUNEFLOW_S3_VOLUME_PORT:-$((s3_port + 2))}"
s3_filer_port="${TUNEFLOW_S3_FILER_PORT:-$((s3_port + 3))}"
s3_bucket="${TUNEFLOW_S3_BUCKET:-tuneflow}"
s3_access_key="${AWS_ACCESS_KEY_ID:-tuneflow-local}"
s3_secret_key="${AWS_SECRET_ACCESS_KEY:-tuneflow-local-secret}"
s3_state="$state/seaweedfs"
bin="$repo/.venv/bin"
mkdir -p "$state"

temporal_healthy() {
  "$bin/temporal" operator cluster health --address "127.0.0.1:$temporal_port" --command-timeout 2s >/dev/null 2>&1
}

mlflow_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$mlflow_port/health" >/dev/null 2>&1
}

# The S3 API answers, and the volume server has joined the master: until then (seconds after a
# restart) reads of stored objects fail with "volume not found".
s3_healthy() {
  local topology
  curl -fsS --max-time 2 "http://127.0.0.1:$s3_port/healthz" >/dev/null 2>&1 &&
    topology=$(curl -fsS --max-time 2 "http://127.0.0.1:$s3_master_port/dir/status" 2>/dev/null) &&
    [[ $topology == *"\"Url\":\"127.0.0.1:$s3_volume_port\""* ]]
}

# Each server's argv as an array, never a string re-split by a shell: paths with spaces stay whole.
# Custom search attributes the pipeline upserts, so the Temporal UI can find runs by step.
temporal_command=(
  "$bin/temporal" server start-dev
  --ip 127.0.0.1 --port "$temporal_port" --ui-port "$temporal_ui_port"
  --db-filename "$state/temporal.db" --log-level warn
  --search-attribute TuneflowStep=Keyword --search-attribute TuneflowModel=Keyword
  --search-attribute TuneflowRougeL=Double
)

mlflow_command=(
  "$bin/mlflow" server
  --backend-store-uri "sqlite:///$state/mlflow.db"
  --artifacts-destination "${TUNEFLOW_MLFLOW_ARTIFACTS:-$state/mlartifacts}"
  --host 127.0.0.1 --port "$mlflow_port" --workers 1
)
# Artifacts in S3: the server (boto3) needs the endpoint and the same credentials as the S3 server.
if [ -n "${TUNEFLOW_MLFLOW_ARTIFACTS:-}" ]; then
  s3_endpoint="${AWS_ENDPOINT_URL:-http://127.0.0.1:$s3_port}"
  mlflow_command=(
    env "MLFLOW_S3_ENDPOINT_URL=$s3_endpoint" "AWS_ENDPOINT_URL=$s3_endpoint" "AWS_REGION=${AWS_REGION:-us-east-1}"
    "AWS_ACCESS_KEY_ID=$s3_access_key" "AWS_SECRET_ACCESS_KEY=$s3_secret_key" "${mlflow_command[@]}"
  )
fi

# -volume.preStopSeconds=0: stop at once (the default waits 10 s for a cluster this one is not in).
# 1 GB volumes, as many as the disk holds (as the compose image does): every bucket takes 7 at once.
s3_command=(
  "$bin/weed" server
  -dir="$s3_state/data" -ip=127.0.0.1 -ip.bind=127.0.0.1
  -master.port="$s3_master_port" -master.port.grpc="$((s3_master_port + 10000))"
  -volume.port="$s3_volume_port" -volume.port.grpc="$((s3_volume_port + 10000))"
  -filer.port="$s3_filer_port" -filer.port.grpc="$((s3_filer_port + 10000))"
  -s3 -s3.port="$s3_port" -s3.port.grpc="$((s3_port + 10000))" -s3.port.iceberg=0 -s3.port.lance=0
  -s3.config="$s3_state/s3.json" -metricsPort=0 -master.telemetry=false -volume.preStopSeconds=0
  -master.volumeSizeLimitMB=1024 -volume.max=0
)

# A JSON string: backslashes and double quotes escaped.
json_string() {
  local v=${1//\\/\\\\}
  printf '"%s"' "${v//\"/\\\"}"
}

# Before the server starts: its folders, and the credentials it accepts (readable by this user only).
s3_prepare() {
  local port
  for port in "$s3_port" "$s3_master_port" "$s3_volume_port" "$s3_filer_port"; do
    if [ "$((port + 10000))" -gt 65535 ]; then
      echo "s3: port $port leaves no room for its gRPC port $((port + 10000)); choose ports below 55536" >&2
      return 1
    fi
  done
  mkdir -p "$s3_state/data"
  (
    umask 077
    printf '{"identities":[{"name":"tuneflow","credentials":[{"accessKey":%s,"secretKey":%s}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
      "$(json_string "$s3_access_key")" "$(json_string "$s3_secret_key")" >"$s3_state/s3.json"
  )
  chmod 600 "$s3_state/s3.json"
}

# Once it answers: the bucket, created when missing (the filer may still be joining: a few tries;
# `weed shell` waits for ever for a master that does not answer, hence the timeout).
s3_ready() {
  local out tries=0
  until out=$(echo "s3.bucket.create -name $s3_bucket" | timeout 20 "$bin/weed" shell \
    -master="127.0.0.1:$s3_master_port.$((s3_master_port + 10000))" \
    -filer="127.0.0.1:$s3_filer_port.$((s3_filer_port + 10000))" 2>&1) || [[ $out == *"already exists"* ]]; do
    tries=$((tries + 1))
    if [ "$tries" -ge 20 ]; then
      echo "s3: could not create bucket $s3_bucket:" >&2
      echo "$out" >&2
      return 1
    fi
    sleep 1
  done
  echo "s3: bucket $s3_bucket is there"
}

start_one() {
  local name=$1 timeout=$2
  if "${name}_healthy"; then
    echo "$name: already healthy"
    if declare -F "${name}_ready" >/dev/null; then "${name}_ready"; fi
    return 0
  fi
  if declare -F "${name}_prepare" >/dev/null; then "${name}_prepare"; fi
  local -n cmd="${name}_command"
  # setsid: its own process group, so stop takes its children (gunicorn/uvicorn workers) too.
  setsid "${cmd[@]}" >>"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
  local waited=0
  until "${name}_healthy"; do
    if ! kill -0 "$(cat "$state/$name.pid")" 2>/dev/null || [ "$waited" -ge "$timeout" ]; then
      echo "$name: failed to become healthy within ${waited}s; last log lines ($state/$name.log):" >&2
      tail -n 30 "$state/$name.log" >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "$name: healthy after ${waited}s"
  if declare -F "${name}_ready" >/dev/null; then "${name}_ready"; fi
}

stop_one() {
  local name=$1 pidfile="$state/$1.pid"
  # Half-seconds to wait after SIGTERM; SeaweedFS's filer takes about 15 s to close its gRPC streams.
  local waits=20
  [ "$name" = s3 ] && waits=50
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 "$waits"); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$(cat "$pidfile")" 2>/dev/null || true
    echo "$name: stopped"
  else
    echo "$name: not running"
  fi
  rm -f "$pidfile"
}

status_one() {
  if "${1}_healthy"; then echo "$1: healthy"; else echo "$1: down"; return 1; fi
}

# What the workers and the CLI need to use the S3 server.
s3_env() {
  echo "S3: http://127.0.0.1:$s3_port  bucket: $s3_bucket  (storage.root: s3://$s3_bucket/runs)"
  echo "  export AWS_ENDPOINT_URL=http://127.0.0.1:$s3_port AWS_ACCESS_KEY_ID=$s3_access_key AWS_SECRET_ACCESS_KEY=$s3_secret_key AWS_REGION=us-east-1"
}

services=(temporal mlflow)
if [ "${TUNEFLOW_S3:-}" = 1 ] || { [ "${1:-}" != start ] && [ -f "$state/s3.pid" ]; }; then services+=(s3); fi
case "${2:-}" in
  '') ;;
  temporal | mlflow | s3) services=("$2") ;;
  *)
    echo "$0: unknown service '$2' (temporal, mlflow or s3)" >&2
    exit 2
    ;;
esac

case "${1:-}" in
  start)
    for s in "${services[@]}"; do start_one "$s" 120; done
    if [ "${services[*]}" != s3 ]; then
      echo "Temporal: 127.0.0.1:$temporal_port  UI: http://127.0.0.1:$temporal_ui_port  MLflow: http://127.0.0.1:$mlflow_port"
    fi
    if [[ " ${services[*]} " == *" s3 "* ]]; then s3_env; fi
    ;;
  stop) for s in "${services[@]}"; do stop_one "$s"; done ;;
  restart)
    for s in "${services[@]}"; do stop_one "$s"; start_one "$s" 120; done
    if [[ " ${services[*]} " == *" s3 "* ]]; then s3_env; fi
    ;;
  status)
    rc=0
    for s in "${services[@]}"; do status_one "$s" || rc=1; done
    exit $rc
    ;;
  logs) for s in "${services[@]}"; do echo "== $s ($state/$s.log)"; tail -n "${LINES:-50}" "$state/$s.log" 2>/dev/null || true; done ;;
  *)
    echo "usage: $0 start|stop|restart|status|logs [temporal|mlflow|s3]" >&2
    exit 2
    ;;
esac
