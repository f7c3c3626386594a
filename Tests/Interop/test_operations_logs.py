"""OPERATIONS.md, logs: `log_format: json` writes one JSON object per line; every request
line carries a request id, taken from `X-Request-Id` when acceptable and echoed; security
events are lines of their own with an `event` field, at notice, never with a secret."""

from __future__ import annotations

import json
import re
import secrets
import time

import pytest
import requests

from interop import (
    UserAgent,
    assert_one_line_failure,
    authorization_params,
    finish,
    obtain_code,
    pkce_pair,
    wait_until,
)

REDIRECT = "http://127.0.0.1:8765/callback"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LEVELS = {"trace", "debug", "info", "notice", "warning", "error", "critical"}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    from interop import Warden

    installation = Warden(tmp_path_factory.mktemp("logs"), config={"log_format": "json"})
    server = installation.start_server()
    yield installation, server
    finish(installation)


def lines(server) -> list[dict]:
    """Every stdout line as a JSON object (each must be one)."""
    objects = []
    for line in server.stdout().splitlines():
        if not line.strip():
            continue
        value = json.loads(line)  # a line that is not JSON fails here
        assert isinstance(value, dict), line
        objects.append(value)
    return objects


def request_lines(server, request_id: str) -> list[dict]:
    return [line for line in lines(server) if line.get("message") == "request" and line.get("request_id") == request_id]


def events(server, name: str) -> list[dict]:
    return [line for line in lines(server) if line.get("event") == name]


def test_json_logs_are_one_object_per_line_with_timestamp_level_and_message(logged):
    _, server = logged
    requests.get(server.url("/healthz"), timeout=10)
    objects = wait_until(lambda: [line for line in lines(server) if line.get("message") == "request"] and lines(server),
                         message="no request line")
    for line in objects:
        assert RFC3339_UTC.match(line["timestamp"]), line
        assert line["level"] in LEVELS and isinstance(line["message"], str) and line["message"], line


@pytest.mark.parametrize("request_id", ["a", "Abc-123.x_Y", "f" * 128])
def test_an_acceptable_request_id_is_kept_echoed_and_logged(logged, request_id):
    _, server = logged
    response = requests.get(server.url("/healthz"), headers={"X-Request-Id": request_id}, timeout=10)
    assert response.headers.get("X-Request-Id") == request_id
    logged_lines = wait_until(lambda: request_lines(server, request_id), message="no request line with that id")
    assert logged_lines[-1]["path"] == "/healthz" and logged_lines[-1]["status"] == "200"


@pytest.mark.parametrize("request_id", ["", "a b", "f" * 129, "naïve", "a/b", "{x}"])
def test_another_request_id_is_replaced_by_a_fresh_one(logged, request_id):
    _, server = logged
    response = requests.get(server.url("/healthz"), headers={"X-Request-Id": request_id}, timeout=10)
    fresh = response.headers.get("X-Request-Id")
    assert fresh and fresh != request_id and re.fullmatch(r"[A-Za-z0-9_-]{16,}", fresh), fresh
    wait_until(lambda: request_lines(server, fresh), message="no request line with the fresh id")
    # Two requests, two ids.
    assert requests.get(server.url("/healthz"), timeout=10).headers["X-Request-Id"] != fresh


def test_failed_client_authentication_is_a_security_event(logged):
    installation, server = logged
    client = installation.create_client(name="billing", scope="read", audiences=("https://api.example.com",))
    wrong = "wrong-" + secrets.token_urlsafe(8)
    response = requests.post(server.url("/token"), data={"grant_type": "client_credentials"}, auth=(client.client_id, wrong), timeout=10)
    assert response.status_code == 401
    event = wait_until(lambda: events(server, "client_authentication_failed"), message="no client_authentication_failed line")[-1]
    assert event["level"] == "notice" and event["address"] == "127.0.0.1" and event["request_id"]
    assert wrong not in server.stdout()


def test_logins_are_security_events_without_the_password(logged):
    installation, server = logged
    client = installation.create_code_client("spa", (REDIRECT,), "profile")
    password = "pw-" + secrets.token_urlsafe(12)
    user = installation.create_user("carol-" + secrets.token_hex(3), password)
    agent = UserAgent(server)
    page = agent.authorize(authorization_params(client, REDIRECT, scope="profile", challenge=pkce_pair()[1]))
    assert agent.login(page, user.username, "not-" + password).status_code == 200
    failed = wait_until(lambda: [e for e in events(server, "login_failed") if e.get("username") == user.username],
                        message="no login_failed line")[-1]
    assert failed["level"] == "notice" and failed["address"] == "127.0.0.1"
    obtain_code(agent, client, user, REDIRECT)
    succeeded = wait_until(lambda: [e for e in events(server, "login_succeeded") if e.get("username") == user.username],
                           message="no login_succeeded line")[-1]
    assert succeeded["sub"] == user.id
    assert password not in server.stdout()


def test_code_reuse_and_revocation_are_security_events(logged):
    installation, server = logged
    client = installation.create_code_client("reuse", (REDIRECT,), "profile")
    user = installation.create_user("dave-" + secrets.token_hex(3))
    code, verifier = obtain_code(UserAgent(server), client, user, REDIRECT)
    first = server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert first.status_code == 200
    assert server.code_token(client, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 400
    reuse = wait_until(lambda: events(server, "code_reuse_detected"), message="no code_reuse_detected line")[-1]
    assert reuse["level"] == "notice" and code not in server.stdout()
    # An access token revoked is token_revoked; a refresh token revokes its grant: grant_revoked.
    assert server.revoke(client, first.json()["access_token"]).status_code == 200
    revoked = wait_until(lambda: [e for e in events(server, "token_revoked") if e.get("client_id") == client.client_id],
                         message="no token_revoked line")[-1]
    assert revoked["sub"] == user.id
    assert server.revoke(client, first.json()["refresh_token"]).status_code == 200
    ended = wait_until(lambda: [e for e in events(server, "grant_revoked") if e.get("client_id") == client.client_id],
                       message="no grant_revoked line")[-1]
    assert ended["sub"] == user.id and first.json()["refresh_token"] not in server.stdout()
    # An unknown token is answered 200 (RFC 7009 §2.2) and revoked nothing: no event.
    before = len(events(server, "token_revoked")) + len(events(server, "grant_revoked"))
    assert server.revoke(client, "not-a-token").status_code == 200
    assert len(events(server, "token_revoked")) + len(events(server, "grant_revoked")) == before


def test_an_unknown_log_format_is_refused_with_one_line(tmp_path):
    from interop import Warden

    installation = Warden(tmp_path / "w", config={"log_format": "xml"})
    result = installation.run("serve", "--port", "0", check=False, timeout=30)
    assert_one_line_failure(result, "log_format")


def cli_event(server, name: str, **fields) -> dict:
    """The one CLI event line `name` whose fields include `fields`, once the server has logged it."""
    def matching():
        found = [e for e in events(server, name) if e.get("source") == "cli" and all(e.get(k) == v for k, v in fields.items())]
        return found or None
    found = wait_until(matching, timeout=10, message=f"no {name} line with {fields}")
    assert len(found) == 1, found
    assert found[0]["level"] == "notice"
    return found[0]


def test_the_cli_s_security_events_reach_the_server_s_log_once_and_leave_stdout_alone(logged):
    installation, server = logged
    created = installation.run_json("clients", "create", "--name", "audited", "--grant-type", "client_credentials", "--scope", "a")
    client_id, first_secret = created["client_id"], created["client_secret"]
    cli_event(server, "client_created", client_id=client_id)
    rotated = installation.run("clients", "rotate-secret", "--json", positional=(client_id,))
    assert rotated.returncode == 0 and not rotated.stderr.strip(), rotated.stderr
    second_secret = json.loads(rotated.stdout)["client_secret"]  # stdout is still only the result
    cli_event(server, "client_secret_rotated", client_id=client_id)
    assert installation.run("clients", "delete", positional=(client_id,)).returncode == 0
    cli_event(server, "client_deleted", client_id=client_id)

    username = "audit-" + secrets.token_hex(3)
    user = installation.create_user(username)
    cli_event(server, "user_created", username=username, sub=user.id)
    changed = installation.run("users", "set-password", "--password-stdin", positional=(username,), input="n3w-" + user.password + "\n")
    assert changed.returncode == 0 and not changed.stderr.strip(), changed.stderr
    cli_event(server, "password_changed", username=username)
    assert installation.run("sessions", "revoke", "--username", username).returncode == 0
    cli_event(server, "session_ended", username=username, sub=user.id)
    assert installation.run("users", "delete", positional=(username,)).returncode == 0
    cli_event(server, "user_deleted", username=username, sub=user.id)

    kid = installation.rotate(algorithm="EdDSA")
    cli_event(server, "key_rotated", kid=kid, algorithm="EdDSA")
    assert installation.run("keys", "retire", positional=(kid,)).returncode == 0
    cli_event(server, "key_retired", kid=kid)

    log = server.stdout()
    for secret in (first_secret, second_secret, user.password, "n3w-" + user.password):
        assert secret not in log


def test_a_failed_cli_command_records_no_event(logged):
    installation, server = logged
    missing = "no-such-client-" + secrets.token_hex(4)
    assert installation.run("clients", "delete", positional=(missing,), check=False).returncode != 0
    marker = installation.run_json("clients", "create", "--name", "marker", "--grant-type", "client_credentials", "--scope", "a")
    cli_event(server, "client_created", client_id=marker["client_id"])  # logged after anything recorded before it
    assert not [e for e in events(server, "client_deleted") if e.get("client_id") == missing]


def test_cli_events_recorded_while_no_server_runs_are_logged_when_one_starts(tmp_path):
    from interop import Warden

    installation = Warden(tmp_path / "offline", config={"log_format": "json"})
    try:
        created = installation.run_json("clients", "create", "--name", "early", "--grant-type", "client_credentials", "--scope", "a")
        server = installation.start_server()
        cli_event(server, "client_created", client_id=created["client_id"])
        # Taken once: a second server on the same database does not log it again.
        second = installation.start_server()
        time.sleep(3)
        assert not [e for e in events(second, "client_created") if e.get("client_id") == created["client_id"]]
    finally:
        finish(installation)
