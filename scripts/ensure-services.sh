#!/usr/bin/env bash
# Makes sure PostgreSQL, Redis and RabbitMQ answer where Skybook expects them
# (DATABASE_URL, REDIS_URL, AMQP_URL, or their local defaults), and PgBouncer
# in transaction mode in front of PostgreSQL (POOLER_ADDR, 127.0.0.1:6432),
# as a cluster runs it. On a Debian machine, as root, a local service that
# does not answer is installed if missing and started; anywhere else this
# says what to do and fails.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/skybook}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
POOLER_ADDR="${POOLER_ADDR:-127.0.0.1:6432}"

say() { printf 'services: %s\n' "$*" >&2; }

# host and port of a URL like scheme://user:pass@host:port/path
host_of() { local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"; echo "${rest%%:*}"; }
port_of() {
  local rest="${1#*://}"; rest="${rest##*@}"; rest="${rest%%/*}"
  if [[ "$rest" == *:* ]]; then echo "${rest##*:}"; else echo "$2"; fi
}

reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_for() {
  local name="$1" host="$2" port="$3" seconds="$4"
  for _ in $(seq 1 "$seconds"); do
    reachable "$host" "$port" && return 0
    sleep 1
  done
  say "$name did not come up on $host:$port within ${seconds}s"
  return 1
}

is_local() { [[ "$1" == "127.0.0.1" || "$1" == "localhost" || "$1" == "::1" ]]; }

can_install() { [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; }

APT_UPDATED=""
apt_install() {
  if [[ -z "$APT_UPDATED" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

start_postgres() {
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-contrib
  local version
  version="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL "$1" "$2" 30
  # Debian asks for a password over TCP: give the default URL's one.
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null || true
}

start_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$2" --save "" --appendonly yes --appendfsync everysec \
    --dir /var/lib/redis --logfile /var/log/redis/skybook.log
  wait_for Redis "$1" "$2" 30
}

start_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  rabbitmq-server -detached || true
  wait_for RabbitMQ "$1" "$2" 120
}

# user and password of a URL like scheme://user:pass@host/...
user_of() { local rest="${1#*://}"; rest="${rest%%@*}"; echo "${rest%%:*}"; }
password_of() { local rest="${1#*://}"; rest="${rest%%@*}"; [[ "$rest" == *:* ]] && echo "${rest#*:}"; }

# PgBouncer as the functions meet it in a cluster: transaction mode, every
# database of the PostgreSQL above, strict about startup parameters, keeping
# the clients' prepared statements (1.21 and later). Its server connections,
# all databases together, are capped well below PostgreSQL's max_connections.
PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
TOOLS_DIR="${SKYBOOK_TOOLS_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/tools}"

# A pgbouncer that keeps prepared statements in transaction mode: the
# machine's own when it is 1.21 or later (Debian 12 packages 1.18), else one
# built once from the source Debian's archive serves.
pgbouncer_binary() {
  local own
  own="$(command -v pgbouncer || { [[ -x /usr/sbin/pgbouncer ]] && echo /usr/sbin/pgbouncer; } || true)"
  if [[ -n "$own" ]] && printf '1.21\n%s\n' "$("$own" --version | awk 'NR==1 {print $2}')" | sort -CV; then
    echo "$own"
    return
  fi
  local built="$TOOLS_DIR/pgbouncer-$PGBOUNCER_VERSION/bin/pgbouncer"
  if [[ ! -x "$built" ]]; then
    build_pgbouncer "$TOOLS_DIR/pgbouncer-$PGBOUNCER_VERSION" >&2
  fi
  echo "$built"
}

build_pgbouncer() {
  local prefix="$1" src
  if can_install; then
    apt_install ca-certificates curl gcc make pkg-config libevent-dev libssl-dev
  fi
  say "building PgBouncer $PGBOUNCER_VERSION into $prefix (once)"
  src="$(mktemp -d)"
  curl -fsSL -o "$src/pgbouncer.tar.gz" \
    "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
  echo "$PGBOUNCER_SHA256  $src/pgbouncer.tar.gz" | sha256sum -c --quiet
  tar xzf "$src/pgbouncer.tar.gz" -C "$src" --strip-components=1
  (cd "$src" && ./configure --prefix="$prefix" --without-cares --with-openssl >/dev/null \
    && make -j"$(nproc)" >/dev/null && make install >/dev/null)
  rm -rf "$src"
}

start_pgbouncer() {
  local pgbouncer
  pgbouncer="$(pgbouncer_binary)"
  local dir="${TMPDIR:-/tmp}/skybook-pgbouncer" owner
  mkdir -p "$dir"
  owner="$(id -un)"
  [[ "$owner" == "root" ]] && owner=postgres
  # Clients log in as DATABASE_URL's user, without a password (trust, on
  # loopback); PgBouncer logs into PostgreSQL with the one in the auth file.
  printf '"%s" "%s"\n' "$(user_of "$DATABASE_URL")" "$(password_of "$DATABASE_URL")" >"$dir/users.txt"
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$(host_of "$DATABASE_URL") port=$(port_of "$DATABASE_URL" 5432)

[pgbouncer]
listen_addr = $1
listen_port = $2
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
; SHOW STATS in its console: the tests read how often statements were parsed
admin_users = $(user_of "$DATABASE_URL")
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 10
; every database together (the tests make many), well under max_connections
max_user_connections = 40
server_idle_timeout = 2
server_lifetime = 300
query_wait_timeout = 60
; what bounds a read, which runs outside a transaction (DB_STATEMENT_TIMEOUT_MS
; bounds every write transaction): a query running longer is cancelled
query_timeout = 30
; the clients' named statements, prepared again on whichever server
; connection runs them
max_prepared_statements = 200
; PostgreSQL is on this machine: TLS on loopback would only cost both
; sides CPU on every round trip (1.24 prefers it by default)
server_tls_sslmode = disable
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
INI
  chown -R "$owner" "$dir"
  # Nothing answers on its port, so a pid file left by a killed one is stale.
  rm -f "$dir/pgbouncer.pid"
  if [[ "$(id -u)" == "0" ]]; then
    "$pgbouncer" -d -u "$owner" "$dir/pgbouncer.ini" >&2
  else
    "$pgbouncer" -d "$dir/pgbouncer.ini" >&2
  fi
  wait_for PgBouncer "$1" "$2" 30
}

# A service can be started here as root with apt-get; PgBouncer also by
# anyone who can build it (it runs as whoever starts it).
can_start() {
  can_install && return 0
  [[ "$1" == start_pgbouncer ]] && command -v make >/dev/null
}

ensure() {
  local name="$1" url="$2" default_port="$3" starter="$4" package="$5"
  local host port
  host="$(host_of "$url")"
  port="$(port_of "$url" "$default_port")"
  if reachable "$host" "$port"; then
    say "$name answers on $host:$port"
    return 0
  fi
  if is_local "$host" && can_start "$starter"; then
    say "$name does not answer on $host:$port: installing if needed and starting it"
    "$starter" "$host" "$port"
    say "$name answers on $host:$port"
    return 0
  fi
  say "$name does not answer on $host:$port."
  say "  start it there, or point the URL elsewhere; on Debian as root: apt-get install $package"
  return 1
}

only="${1:-all}"
case "$only" in
  all|postgres) ensure PostgreSQL "$DATABASE_URL" 5432 start_postgres postgresql ;;&
  all|redis) ensure Redis "$REDIS_URL" 6379 start_redis redis-server ;;&
  all|rabbitmq) ensure RabbitMQ "$AMQP_URL" 5672 start_rabbitmq rabbitmq-server ;;&
  all|pgbouncer) ensure PgBouncer "pgbouncer://$POOLER_ADDR" 6432 start_pgbouncer pgbouncer ;;&
  all|postgres|redis|rabbitmq|pgbouncer) ;;
  *) say "usage: $0 [all|postgres|redis|rabbitmq|pgbouncer]"; exit 2 ;;
esac
