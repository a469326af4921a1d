#!/usr/bin/env bash
# Local services for tuneflow: the Temporal dev server and an MLflow tracking server, both on
# loopback, both SQLite backed under one state folder, so workflows and runs survive a restart.
#
#   scripts/services.sh start|stop|restart|status|logs [temporal|mlflow]
#
# Ports: TUNEFLOW_TEMPORAL_PORT (7233), TUNEFLOW_TEMPORAL_UI_PORT (8233), TUNEFLOW_MLFLOW_PORT (5000).
# State: TUNEFLOW_STATE_DIR (state/services).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${TUNEFLOW_STATE_DIR:-$repo/state/services}"
temporal_port="${TUNEFLOW_TEMPORAL_PORT:-7233}"
temporal_ui_port="${TUNEFLOW_TEMPORAL_UI_PORT:-8233}"
mlflow_port="${TUNEFLOW_MLFLOW_PORT:-5000}"
bin="$repo/.venv/bin"
mkdir -p "$state"

temporal_healthy() {
  "$bin/temporal" operator cluster health --address "127.0.0.1:$temporal_port" --command-timeout 2s >/dev/null 2>&1
}

mlflow_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$mlflow_port/health" >/dev/null 2>&1
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
  --artifacts-destination "$state/mlartifacts"
  --host 127.0.0.1 --port "$mlflow_port" --workers 1
)

start_one() {
  local name=$1 timeout=$2
  if "${name}_healthy"; then
    echo "$name: already healthy"
    return 0
  fi
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
}

stop_one() {
  local name=$1 pidfile="$state/$1.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -TERM -- "-$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
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

services=(temporal mlflow)
[ $# -ge 2 ] && services=("$2")

case "${1:-}" in
  start)
    for s in "${services[@]}"; do start_one "$s" 120; done
    echo "Temporal: 127.0.0.1:$temporal_port  UI: http://127.0.0.1:$temporal_ui_port  MLflow: http://127.0.0.1:$mlflow_port"
    ;;
  stop) for s in "${services[@]}"; do stop_one "$s"; done ;;
  restart) for s in "${services[@]}"; do stop_one "$s"; start_one "$s" 120; done ;;
  status)
    rc=0
    for s in "${services[@]}"; do status_one "$s" || rc=1; done
    exit $rc
    ;;
  logs) for s in "${services[@]}"; do echo "== $s ($state/$s.log)"; tail -n "${LINES:-50}" "$state/$s.log" 2>/dev/null || true; done ;;
  *)
    echo "usage: $0 start|stop|restart|status|logs [temporal|mlflow]" >&2
    exit 2
    ;;
esac
