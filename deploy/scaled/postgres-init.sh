#!/bin/sh
# The postgres container's first-start script (mounted into /docker-entrypoint-initdb.d; it runs once, when the data
# volume is empty): one role and one database per service, each role owning its database and nobody else allowed to
# connect to it, so retirement can never read the bank's tables. Passwords come from the files init-secrets wrote.
set -eu

secrets_dir="${POSTGRES_SECRETS_DIR:-/run/postgres-secrets}"
for service in bank retirement; do
  # psql reads the password with a backquote command: it is never on a command line (ps) nor in an error message.
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-postgres}" \
    -v service="$service" -v password_file="$secrets_dir/$service-password" <<'SQL'
\set password `cat :'password_file'`
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
SQL
done
