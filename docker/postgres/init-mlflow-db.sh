#!/bin/bash
# Runs once, when the PostgreSQL volume is first initialised (docker-entrypoint-initdb.d):
# MLflow gets its own role and database, so it cannot touch Temporal's.
# Temporal's databases are created by docker/temporal/setup-schema.sh.
set -euo pipefail
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set (see docker/env.example)}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
SQL
