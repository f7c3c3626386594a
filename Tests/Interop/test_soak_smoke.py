"""The soak in CI: Tests/Reliability/soak.py for 15 seconds at 64-way concurrency.

Mixed flows (client credentials, introspection, revocation, refresh rotation, full
authorization-code flows with login and consent, discovery) while the admin CLI
creates clients and users and rotates keys on the same database. The script exits
non-zero on any 5xx, any SQLITE_BUSY / "database is locked" (responses, CLI, server
log), any failed flow, RSS growth over 50% after warm-up, or an access token that no
longer verifies against the final JWKS; its report is printed here when it fails."""

from __future__ import annotations

from reliability_runner import run_reliability_script


def test_soak_smoke_15_seconds():
    run_reliability_script(
        "soak.py", "--seconds", "15", "--concurrency", "64", "--admin-interval", "2", timeout=180, budget=60,
    )
