#!/usr/bin/env bash
# A throwaway PostgreSQL server for CI and local runs: Debian's `postgresql`, its own data
# directory under /tmp, listening on loopback only. Run as root, the server runs as the
# postgres user; run as anyone else, as that user.
#   scripts/ci_postgres.sh start   # install if missing, init, start; prints DATABASE_URL
#   scripts/ci_postgres.sh url     # prints DATABASE_URL
#   scripts/ci_postgres.sh stop    # stops the server and removes its data directory
# Environment: MAILGATE_PG_PORT (54329), MAILGATE_PG_DIR (/tmp/mailgate-pg-$PORT).
set -euo pipefail
port="${MAILGATE_PG_PORT:-54329}"
dir="${MAILGATE_PG_DIR:-/tmp/mailgate-pg-$port}"
data="$dir/data"
user=mailgate
password=mailgate-ci
database=mailgate
url="postgres://$user:$password@127.0.0.1:$port/$database"

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$found" ] && [ -x "$found/initdb" ] && echo "$found"
}

install() {
  bindir >/dev/null && return 0
  echo "ci_postgres: installing postgresql" >&2
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >&2
  # Debian's package starts a cluster of its own on 5432; ours is separate and needs none.
  bindir >/dev/null
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  install
  local bin
  bin="$(bindir)"
  if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "$url"
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  printf '%s\n' "$password" > "$dir/.pw"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/.pw"
  as_owner "$bin/initdb" -D "$data" -U postgres -A scram-sha-256 --pwfile="$dir/.pw" \
    -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: a CI database is thrown away; speed matters more than crash safety here.
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  PGPASSWORD="$password" "$bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE ROLE $user LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE $database OWNER $user;
SQL
  echo "$url"
}

stop() {
  local bin
  if bin="$(bindir)" && [ -d "$data" ]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
