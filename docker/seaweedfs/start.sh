#!/bin/sh
# Starts SeaweedFS with its S3 API (docker-compose.yml service seaweedfs). The one S3 identity
# comes from the environment (S3_ACCESS_KEY_ID / S3_SECRET_ACCESS_KEY, set in .env: nothing
# secret is in the repository); it is written to /etc/seaweedfs/s3.json, readable only by the
# user weed runs as, then the image's own entrypoint starts `weed server` with the arguments
# given (it takes /data for the data and drops from root to its seaweed user).
set -eu
: "${S3_ACCESS_KEY_ID:?}" "${S3_SECRET_ACCESS_KEY:?}"

# A JSON string: backslashes and double quotes escaped.
json_string() {
  printf '"%s"' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')"
}

config=/etc/seaweedfs/s3.json
mkdir -p /etc/seaweedfs
(
  umask 077
  printf '{"identities":[{"name":"tuneflow","credentials":[{"accessKey":%s,"secretKey":%s}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
    "$(json_string "$S3_ACCESS_KEY_ID")" "$(json_string "$S3_SECRET_ACCESS_KEY")" >"$config"
)
if id seaweed >/dev/null 2>&1; then chown seaweed "$config"; fi
unset S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY
exec /entrypoint.sh "$@"
