"""Crash durability in CI: Tests/Reliability/crash_durability.py with 20 SIGKILLs under load.

The script starts and kills its own servers (temporary database, 127.0.0.1 only) and
exits non-zero on any violation: a refresh token or an issued code lost or working
twice, `PRAGMA integrity_check` not ok, a client secret or a signing key lost, an
access token that no longer verifies against the JWKS. Its summary is printed here
when it fails. It runs in its own process group, killed whole if it overruns."""

from __future__ import annotations

from reliability_runner import run_reliability_script


def test_crash_durability_20_kills():
    run_reliability_script("crash_durability.py", "--kills", "20", timeout=240, budget=60)
