#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on loopback only, in a directory of its own.
#
#   postgres-cluster.sh start DIR   initdb into DIR/data, start on 127.0.0.1 at a free port with its
#                                   unix socket in DIR; the last line on stdout is the admin URL
#                                   postgres://postgres@127.0.0.1:PORT/postgres (also in DIR/url)
#   postgres-cluster.sh stop DIR    stop it (fast shutdown); nothing to do when it is not running
#
# Trust authentication, from 127.0.0.1 and the socket in DIR only: never use it for anything
# but tests. fsync stays on (the default), so the tests see PostgreSQL's real commit cost.
# As root the server binaries run as the `postgres` system user (initdb refuses root), and DIR
# is handed to that user. The binaries: $PG_BINDIR, else `pg_config --bindir`, else the newest
# /usr/lib/postgresql/*/bin.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
command=$1
dir=$2
[ -n "$dir" ] || usage

fail() { echo "postgres-cluster.sh: $*" >&2; exit 1; }

find_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        [ -x "$PG_BINDIR/pg_ctl" ] || fail "PG_BINDIR=$PG_BINDIR has no pg_ctl"
        echo "$PG_BINDIR"; return
    fi
    local candidate
    if command -v pg_config >/dev/null 2>&1; then
        candidate=$(pg_config --bindir 2>/dev/null || true)
        if [ -n "$candidate" ] && [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"; return
        fi
    fi
    # Debian keeps the server binaries out of PATH; pg_config (libpq-dev) may name /usr/bin.
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            echo "$candidate"; return
        fi
    done
    fail "no PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's postgresql package or set PG_BINDIR"
}

# Runs a server binary as the postgres system user when we are root, from inside DIR
# (so that the working directory is one that user can read).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local bindir port attempt
    bindir=$(find_bindir)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/data" ] || fail "$dir/data exists already: use a fresh directory"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || fail "no postgres system user (Debian's postgresql package creates it)"
        chown postgres: "$dir"
        chmod 700 "$dir"
        runuser -u postgres -- test -w "$dir" \
            || fail "the postgres user cannot reach $dir (is a parent directory private to root?)"
    fi
    # A unix socket path is limited to ~107 bytes.
    [ ${#dir} -le 80 ] || fail "directory path too long for a unix socket: $dir"

    as_owner "$bindir/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
        --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; fail "initdb failed (log above)"; }
    # Only the socket in DIR and 127.0.0.1 may connect.
    as_owner sh -c "cat > '$dir/data/pg_hba.conf'" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
EOF

    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        as_owner sh -c "cat > '$dir/data/postgresql.auto.conf'" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
fsync = on
logging_collector = off
log_min_messages = warning
EOF
        if as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/postgres.log" --wait --timeout=60 \
            --silent start >/dev/null 2>&1; then
            echo "$port" >"$dir/port"
            echo "$bindir" >"$dir/bindir"
            local url="postgres://postgres@127.0.0.1:$port/postgres"
            echo "$url" >"$dir/url"
            echo "$url"
            return 0
        fi
        # Someone took the port between our probe and the server's bind: try another.
        if ! grep -qi "address already in use" "$dir/postgres.log" 2>/dev/null; then
            cat "$dir/postgres.log" >&2 2>/dev/null || true
            fail "the server did not start (log above)"
        fi
    done
    cat "$dir/postgres.log" >&2 2>/dev/null || true
    fail "the server did not start: no free port after 5 attempts"
}

stop() {
    [ -d "$dir/data" ] || fail "no cluster in $dir"
    dir=$(cd "$dir" && pwd)
    [ -f "$dir/data/postmaster.pid" ] || return 0  # not running
    local bindir
    bindir=$(cat "$dir/bindir" 2>/dev/null || find_bindir)
    as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --timeout=60 --silent stop
}

case "$command" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
