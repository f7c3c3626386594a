#!/usr/bin/env bash
# Installs what the test suite needs beyond the Swift toolchain: the SQLite headers
# GRDB builds against, Chromium and chromedriver for the browser tests, wrk for the
# benchmark, PostgreSQL for the store and scale-out tests (a throwaway cluster, see
# postgres-cluster.sh), gcc for the storage-fault shim (Tests/Support/faults), and the
# Python interop clients.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
for package in libsqlite3-dev chromium chromium-driver wrk postgresql gcc libc6-dev; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r Tests/Interop/requirements.txt
