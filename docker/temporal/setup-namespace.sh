#!/bin/sh
# Registers the namespace and the custom search attributes the pipeline upserts (the list is
# TUNEFLOW_SEARCH_ATTRIBUTES in docker-compose.yml; test/ops/compose.test.ts keeps it equal to
# SEARCH_ATTRIBUTES in lib/pipeline.ts). Idempotent: safe on every `docker compose up`.
#
# Runs in temporalio/admin-tools (docker-compose.yml service temporal-setup).
set -eu
: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${TUNEFLOW_SEARCH_ATTRIBUTES:?}"
retention="${TEMPORAL_NAMESPACE_RETENTION:-720h}"

until temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; do
  echo "waiting for Temporal at $TEMPORAL_ADDRESS"
  sleep 2
done

if ! temporal operator namespace describe --address "$TEMPORAL_ADDRESS" -n "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; then
  temporal operator namespace create --address "$TEMPORAL_ADDRESS" -n "$TEMPORAL_NAMESPACE" --retention "$retention"
  echo "created namespace $TEMPORAL_NAMESPACE (retention $retention)"
fi
# A new namespace reaches the servers' namespace caches some seconds later; until then
# registering search attributes in it fails with "namespace not found".
tries=0
until temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $TEMPORAL_NAMESPACE is still not usable after 60 s" >&2
    exit 1
  fi
  sleep 1
done

for entry in $TUNEFLOW_SEARCH_ATTRIBUTES; do
  name="${entry%%=*}"
  type="${entry##*=}"
  # Servers differ on whether re-creating an existing attribute is an error: decide by the list.
  if ! err="$(temporal operator search-attribute create --address "$TEMPORAL_ADDRESS" \
      --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type" 2>&1)"; then
    if temporal operator search-attribute list --address "$TEMPORAL_ADDRESS" \
        --namespace "$TEMPORAL_NAMESPACE" | grep -qw "$name"; then
      echo "search attribute $name ($type) is registered (it existed)"
      continue
    fi
    echo "cannot register search attribute $name ($type): $err" >&2
    exit 1
  fi
  echo "search attribute $name ($type) is registered"
done
