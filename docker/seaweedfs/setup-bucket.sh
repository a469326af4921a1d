#!/bin/sh
# Creates the bucket of storage.root (S3_BUCKET) when it is missing. Idempotent: safe on every
# `docker compose up`.
#
# Runs in chrislusf/seaweedfs (docker-compose.yml service seaweedfs-setup), or anywhere with
# `weed` on the PATH (test/ops/compose-setup.test.ts runs it against a SeaweedFS of its own).
set -eu
: "${WEED_MASTER:?}" "${S3_BUCKET:?}"

# Right after the server turns healthy its filer may still be joining: a few tries. `weed shell`
# waits for ever for a master that does not answer, hence the timeout.
tries=0
until out=$(echo "s3.bucket.create -name $S3_BUCKET" | timeout 30 weed shell -master="$WEED_MASTER" 2>&1); do
  case $out in
    *"already exists"*)
      echo "bucket $S3_BUCKET is there"
      exit 0
      ;;
  esac
  tries=$((tries + 1))
  if [ "$tries" -ge 10 ]; then
    echo "could not create bucket $S3_BUCKET at $WEED_MASTER:" >&2
    echo "$out" >&2
    exit 1
  fi
  sleep 2
done
echo "created bucket $S3_BUCKET"
