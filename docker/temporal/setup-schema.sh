#!/bin/sh
# Creates Temporal's two PostgreSQL databases on first start and brings both schemas to the
# version this server image needs; on later starts (and after an image upgrade) it only runs
# the versioned migrations, which apply just the versions not yet applied.
#
# Runs in temporalio/admin-tools (docker-compose.yml service temporal-schema); SQL_PASSWORD is
# read by temporal-sql-tool.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"
schema_root=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
  db="${pair%%:*}"
  dir="${pair##*:}"
  # setup-schema resets the recorded version to 0.0, so it must only ever run on a database
  # this script has just created; create-database failing means the database already exists.
  if sql_tool --db "$db" create-database; then
    echo "created database $db"
    sql_tool --db "$db" setup-schema -v 0.0
  else
    echo "database $db exists; applying pending migrations only"
  fi
  sql_tool --db "$db" update-schema -d "$schema_root/$dir/versioned"
done
echo "Temporal schemas are up to date"
