#!/bin/sh
# initdb on first start, a superuser POSTGRES_USER (password POSTGRES_PASSWORD) and database POSTGRES_DB, then the server
# on 0.0.0.0:5432 with password authentication for other hosts; extra arguments (-c name=value) go to postgres.
set -eu
user=${POSTGRES_USER:-postgres}
password=${POSTGRES_PASSWORD:-postgres}
db=${POSTGRES_DB:-$user}
[ "${1:-}" = postgres ] && shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  pwfile=$(mktemp) && printf '%s\n' "$password" > "$pwfile" && chown postgres "$pwfile"
  su postgres -c "initdb -D '$PGDATA' -U '$user' --pwfile='$pwfile' -A scram-sha-256 --auth-local=trust" >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  su postgres -c "pg_ctl -D '$PGDATA' -o '-c listen_addresses=' -w start" >/dev/null
  if [ "$db" != postgres ]; then su postgres -c "psql -U '$user' -d postgres -qc 'CREATE DATABASE \"$db\"'"; fi
  su postgres -c "pg_ctl -D '$PGDATA' -m fast -w stop" >/dev/null
fi
# postgres itself is the container's first process, so a stop reaches it.
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
