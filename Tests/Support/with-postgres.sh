#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL cluster (postgres-cluster.sh) in a temporary
# directory, with WARDEN_TEST_POSTGRES_URL set to its admin URL. The cluster is stopped and
# the directory removed however the command ends; exits with the command's status.
#
#   Tests/Support/with-postgres.sh swift test --skip-build
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d "${TMPDIR:-/tmp}/warden-pg.XXXXXX")

cleanup() {
    "$here/postgres-cluster.sh" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url=$("$here/postgres-cluster.sh" start "$dir" | tail -n 1)
[ -n "$url" ] || { echo "with-postgres.sh: the cluster did not start" >&2; exit 1; }
export WARDEN_TEST_POSTGRES_URL="$url"

status=0
"$@" || status=$?
exit "$status"
