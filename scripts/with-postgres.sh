#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster, e.g. `scripts/with-postgres.sh make test-postgres`.
#
# The cluster belongs to the `postgres` OS user (so run this as root), trusts local connections,
# listens only on 127.0.0.1 on a free port, and is deleted when the command ends. The command sees
# DEADBOLT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres. Exits with its status.
set -euo pipefail

die() { echo "with-postgres: $*" >&2; exit 1; }

[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (the cluster runs as the postgres user)"
id postgres >/dev/null 2>&1 || die "there is no postgres OS user (apt-get install postgresql)"

# The server binaries of the highest installed major version.
bindir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[[ -x $bindir/initdb ]] || die "no PostgreSQL server under /usr/lib/postgresql/*/bin (apt-get install postgresql)"

tmp=$(mktemp -d /tmp/deadbolt-pg.XXXXXX)
chown postgres: "$tmp"
as_postgres() { (cd "$tmp" && runuser -u postgres -- "$@"); }

# Stop the cluster and delete it however we leave, including Ctrl-C.
# shellcheck disable=SC2317  # called from the trap
cleanup() {
  as_postgres "$bindir/pg_ctl" stop -D "$tmp/data" -m fast >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_postgres "$bindir/initdb" -D "$tmp/data" --auth=trust -U postgres --encoding=UTF8 --no-sync \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; die "initdb failed"; }

# Durability is pointless for a cluster deleted within the hour; turning it off speeds the tests.
as_postgres "$bindir/pg_ctl" start -D "$tmp/data" -l "$tmp/server.log" -w -t 60 -o "\
  -c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$tmp -c max_connections=200 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null ||
  { cat "$tmp/server.log" >&2; die "could not start PostgreSQL"; }

for _ in $(seq 60); do
  "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
"$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" ||
  { cat "$tmp/server.log" >&2; die "PostgreSQL did not become ready on 127.0.0.1:$port"; }

export DEADBOLT_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "with-postgres: $("$bindir/postgres" --version) at $DEADBOLT_TEST_POSTGRES_URL"

status=0
"$@" || status=$?
exit "$status"
