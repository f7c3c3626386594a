"""The `warden` command line: client administration, migrations, configuration
errors (exit 1, one line on stderr), and secrets at rest."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from interop import (
    assert_one_line_failure,
    clean_environment,
    free_port,
    wait_until,
)

API = "https://api.example.com"
CLIENT_FIELDS = {
    "client_id", "client_name", "grant_types", "redirect_uris", "scope", "audience",
    "token_endpoint_auth_method", "skip_consent", "pkce_optional", "client_id_issued_at",
    "id_token_signed_response_alg", "post_logout_redirect_uris", "dpop_bound_access_tokens",
    "require_pushed_authorization_requests", "origin",
}
BASE64URL_256_BITS = re.compile(r"^[A-Za-z0-9_-]{43}$")


# -- clients ----------------------------------------------------------------------


def test_clients_create_prints_one_json_object(warden):
    result = warden.run(
        "clients", "create", "--name", "billing", "--grant-type", "client_credentials",
        "--scope", "invoices:read invoices:write", "--audience", API, "--audience", "https://b.example.com", "--json",
    )
    created = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert isinstance(created, dict)
    assert set(created) == CLIENT_FIELDS | {"client_secret"}
    assert created["client_name"] == "billing" and created["origin"] == "cli"
    assert created["grant_types"] == ["client_credentials"]
    assert created["redirect_uris"] == []
    assert created["scope"] == "invoices:read invoices:write"
    assert created["audience"] == [API, "https://b.example.com"]
    assert created["token_endpoint_auth_method"] == "client_secret_basic"
    assert created["skip_consent"] is False and created["pkce_optional"] is False
    assert isinstance(created["client_id_issued_at"], int) and abs(created["client_id_issued_at"] - time.time()) < 60
    assert BASE64URL_256_BITS.match(created["client_secret"]), "a secret of at least 256 bits, base64url"
    assert created["client_id"] and created["client_id"] != created["client_secret"]
    assert result.stderr == ""


def test_clients_create_defaults_and_post_method(warden):
    default = warden.run_json("clients", "create", "--name", "d")
    assert default["grant_types"] == ["client_credentials"]
    assert default["token_endpoint_auth_method"] == "client_secret_basic"
    post = warden.run_json("clients", "create", "--name", "p", "--auth-method", "client_secret_post")
    assert post["token_endpoint_auth_method"] == "client_secret_post"
    assert "client_secret" in post
    assert default["client_id"] != post["client_id"]
    assert default["client_secret"] != post["client_secret"]


def test_clients_list_show_delete(warden):
    first = warden.create_client(name="first")
    second = warden.create_client(name="second", auth_method="client_secret_post")

    listed = warden.run_json("clients", "list")
    assert isinstance(listed, list)
    by_id = {item["client_id"]: item for item in listed}
    assert set(by_id) == {first.client_id, second.client_id}
    for item in listed:
        assert "client_secret" not in item, "a secret is shown once, at creation"
    expected_first = {k: v for k, v in first.raw.items() if k != "client_secret"}
    assert by_id[first.client_id] == expected_first

    shown = warden.run_json("clients", "show", positional=(second.client_id,))
    assert shown == {k: v for k, v in second.raw.items() if k != "client_secret"}

    text = warden.run("clients", "list").stdout
    assert first.client_id in text and second.client_id in text
    assert first.client_secret not in text

    warden.run("clients", "delete", positional=(first.client_id,))
    assert [item["client_id"] for item in warden.run_json("clients", "list")] == [second.client_id]
    assert_one_line_failure(warden.run("clients", "show", positional=(first.client_id,), check=False), first.client_id)
    assert_one_line_failure(warden.run("clients", "delete", positional=(first.client_id,), check=False), first.client_id)


def test_show_and_rotate_unknown_client(warden):
    warden.run("migrate")
    for command in (("clients", "show"), ("clients", "delete"), ("clients", "rotate-secret")):
        assert_one_line_failure(warden.run(*command, positional=("nope",), check=False), "nope")


def test_rotate_secret(warden, server):
    client = warden.create_client(name="rotating")
    old_secret = client.client_secret
    assert server.token(client).status_code == 200

    rotated = warden.run_json("clients", "rotate-secret", positional=(client.client_id,))
    new_secret = rotated["client_secret"]
    assert rotated["client_id"] == client.client_id
    assert BASE64URL_256_BITS.match(new_secret) and new_secret != old_secret

    def old_rejected():
        response = requests.post(
            server.url("/token"), data={"grant_type": "client_credentials"}, auth=(client.client_id, old_secret),
            timeout=10,
        )
        return response if response.status_code == 401 else None

    response = wait_until(old_rejected, message="the old secret still works 5 s after rotate-secret")
    assert response.json()["error"] == "invalid_client"
    response = requests.post(
        server.url("/token"), data={"grant_type": "client_credentials"}, auth=(client.client_id, new_secret), timeout=10
    )
    assert response.status_code == 200, response.text
    digest = warden.sql("SELECT secret_digest FROM clients WHERE id = ?", (client.client_id,))[0][0]
    assert digest == hashlib.sha256(new_secret.encode()).digest()


def test_rotate_secret_of_a_public_client_is_refused(warden):
    public = warden.create_client(
        name="spa", auth_method="none", grant_types=("authorization_code",),
        extra=("--redirect-uri", "http://127.0.0.1:9/cb"),
    )
    assert public.client_secret is None and "client_secret" not in public.raw
    result = warden.run("clients", "rotate-secret", positional=(public.client_id,), check=False)
    assert_one_line_failure(result)


@pytest.mark.parametrize(
    "extra",
    [
        ("--auth-method", "none"),
        ("--auth-method", "none", "--grant-type", "client_credentials"),
        ("--auth-method", "none", "--grant-type", "authorization_code", "--grant-type", "client_credentials",
         "--redirect-uri", "http://127.0.0.1:9/cb"),
    ],
)
def test_public_client_with_client_credentials_is_refused(warden, extra):
    warden.run("migrate")
    result = warden.run("clients", "create", "--name", "public", *extra, "--json", check=False)
    assert_one_line_failure(result)
    assert result.stdout.strip() == ""
    assert warden.sql("SELECT count(*) FROM clients") == [(0,)]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (("--auth-method", "private_key_jwt_typo"), "private_key_jwt_typo"),
        (("--grant-type", "password"), "password"),
        (("--grant-type", "implicit"), "implicit"),
        (("--audience", "not a uri"), "not a uri"),
        (("--audience", "https://api.example.com#frag"), "#frag"),
        (("--scope", 'bad"scope'), 'bad"scope'),
        (("--grant-type", "authorization_code"), "redirect"),
    ],
)
def test_invalid_registration_is_refused(warden, extra, needle):
    warden.run("migrate")
    result = warden.run("clients", "create", "--name", "x", *extra, check=False)
    assert_one_line_failure(result, needle)
    assert warden.sql("SELECT count(*) FROM clients") == [(0,)]


# -- secrets at rest ------------------------------------------------------------------


def test_client_secrets_are_stored_only_as_sha256(warden, server):
    clients = [warden.create_client(name=f"c{i}", auth_method=method)
               for i, method in enumerate(("client_secret_basic", "client_secret_post"))]
    rotated = warden.run_json("clients", "rotate-secret", positional=(clients[0].client_id,))
    secrets = [rotated["client_secret"], clients[0].client_secret, clients[1].client_secret]
    for client in clients:
        assert server.token(client).status_code in (200, 401)  # exercise the server on the same file
    time.sleep(0.5)
    data = warden.database_bytes()
    assert data
    for secret in secrets:
        assert secret.encode() not in data, "a client secret is stored in the clear"
        assert secret.encode("utf-16-le") not in data
    digests = dict(warden.sql("SELECT id, secret_digest FROM clients"))
    assert digests[clients[0].client_id] == hashlib.sha256(rotated["client_secret"].encode()).digest()
    assert digests[clients[1].client_id] == hashlib.sha256(clients[1].client_secret.encode()).digest()
    # Nothing else in the row holds the secret either.
    for row in warden.sql("SELECT * FROM clients"):
        for value in row:
            for secret in secrets:
                if isinstance(value, (str, bytes)):
                    assert (secret if isinstance(value, str) else secret.encode()) not in value


# -- migrations ------------------------------------------------------------------------


def test_migrate_and_status(warden):
    before = warden.run("migrate", "--status")
    assert re.search(r"^pending\s+0001_initial$", before.stdout, re.M), before.stdout
    applied = warden.run("migrate")
    assert "0001_initial" in applied.stdout
    after = warden.run("migrate", "--status")
    assert re.search(r"^applied\s+0001_initial$", after.stdout, re.M), after.stdout
    assert "pending" not in after.stdout
    again = warden.run("migrate")
    assert again.returncode == 0
    tables = {row[0] for row in warden.sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"clients", "signing_keys", "revoked_access_tokens"} <= tables


def test_serve_applies_migrations(warden, server):
    status = warden.run("migrate", "--status")
    assert re.search(r"^applied\s+0001_initial$", status.stdout, re.M), status.stdout


# -- configuration errors: exit 1, one line on stderr --------------------------------------


COMMANDS = [
    ("clients", "list"),
    ("clients", "create", "--name", "x"),
    ("keys", "list"),
    ("keys", "rotate"),
    ("migrate",),
    ("migrate", "--status"),
    ("serve", "--port", "0"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_unknown_config_key(warden, command):
    warden.write_config({"database": str(warden.database), "acces_token_lifetime": 60})
    result = warden.run(*command, check=False, timeout=30)
    assert_one_line_failure(result, "acces_token_lifetime")


def test_unknown_config_key_via_environment_and_default_location(warden):
    bad = warden.root / "bad.yaml"
    bad.write_text("port: 8080\nlisten_adress: 127.0.0.1\n")
    result = warden.run("clients", "list", config=False, env={"WARDEN_CONFIG": str(bad)}, check=False)
    assert_one_line_failure(result, "listen_adress")
    # config/warden.yaml relative to the working directory, when it exists:
    (warden.cwd / "config").mkdir()
    (warden.cwd / "config" / "warden.yaml").write_text("tokenlifetime: 5\n")
    result = warden.run("clients", "list", config=False, check=False)
    assert_one_line_failure(result, "tokenlifetime")


@pytest.mark.parametrize(
    "config, needle",
    [
        ({"port": "eighty"}, "port"),
        ({"access_token_lifetime": 0}, "access_token_lifetime"),
        ({"issuer": "ftp://x"}, "ftp://x"),
        ({"signing_algorithm": "HS256"}, "HS256"),
        ({"key_rotation_lead_time": -1}, "key_rotation_lead_time"),
    ],
)
def test_bad_config_values(warden, config, needle):
    warden.write_config(config)
    result = warden.run("clients", "list", check=False)
    assert_one_line_failure(result, needle)


def test_unreadable_config_file(warden):
    warden.config_file = warden.root / "missing.yaml"
    assert_one_line_failure(warden.run("clients", "list", check=False), "missing.yaml")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_unwritable_database_path(warden, command):
    blocker = warden.root / "a-file"
    blocker.write_text("not a directory")
    warden.database = blocker / "warden.sqlite"
    result = warden.run(*command, check=False, timeout=30)
    assert_one_line_failure(result, str(blocker))


def test_database_that_is_not_sqlite(warden):
    warden.database.parent.mkdir(parents=True, exist_ok=True)
    warden.database.write_bytes(b"this is not a database" * 100)
    result = warden.run("clients", "list", check=False)
    assert_one_line_failure(result, str(warden.database))


def test_database_path_is_a_directory(warden):
    warden.database.mkdir(parents=True)
    result = warden.run("migrate", check=False)
    assert_one_line_failure(result, str(warden.database))


@pytest.mark.parametrize("issuer", ["not a url", "http://", "https://auth.example.com/?q=1", "https://auth.example.com/#f"])
def test_malformed_issuer(warden, issuer):
    result = warden.run("serve", "--port", "0", "--issuer", issuer, check=False, timeout=30)
    assert_one_line_failure(result, issuer)


def test_port_already_in_use(warden):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = warden.run("serve", "--host", "127.0.0.1", "--port", str(port), check=False, timeout=30)
    assert_one_line_failure(result, str(port))
    assert "Warden listening" not in result.stdout, "no half-started server"


def test_port_of_a_running_server(warden, server):
    result = warden.run("serve", "--host", "127.0.0.1", "--port", str(server.port), check=False, timeout=30)
    assert_one_line_failure(result, str(server.port))
    assert server.healthy()


# -- serving -----------------------------------------------------------------------------


def test_serve_announces_its_address(server):
    lines = [line for line in server.stdout().splitlines() if line.startswith("Warden listening on ")]
    assert lines == [f"Warden listening on http://127.0.0.1:{server.port} (issuer {server.issuer})"], server.stdout()
    assert server.stderr() == ""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_shutdown(warden, sig):
    server = warden.start_server()
    assert server.healthy()
    server.stopped = True
    server.process.send_signal(sig)
    assert server.process.wait(timeout=10) == 0
    assert server.stderr() == ""
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url("/healthz"), timeout=2)


def test_sigterm_lets_an_in_flight_request_finish(warden):
    server = warden.start_server()
    client = warden.create_client(name="slow")

    def slow_body():
        yield b"grant_type=client_"
        server.process.send_signal(signal.SIGTERM)  # while the request is being received
        time.sleep(1.0)
        yield b"credentials"

    response = requests.post(
        server.url("/token"), data=slow_body(), auth=client.basic,
        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "access_token" in response.json()
    assert server.stop() == 0


def test_healthz(server):
    response = requests.get(server.url("/healthz"), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_default_issuer_is_localhost_and_port(warden):
    port = free_port()
    out = warden.root / "default-issuer.stdout"
    with open(out, "wb") as stdout:
        process = subprocess.Popen(
            [str(warden.binary), "serve", *warden.global_options(), "--port", str(port)],
            cwd=warden.cwd, env=clean_environment(), stdout=stdout, stderr=subprocess.PIPE,
        )
    try:
        def metadata():
            try:
                return requests.get(f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server", timeout=2).json()
            except requests.RequestException:
                return None

        document = wait_until(metadata, timeout=30, message="server did not start")
        assert document["issuer"] == f"http://localhost:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_precedence_flag_environment_config(warden):
    config_db = warden.root / "config.sqlite"
    env_db = warden.root / "env.sqlite"
    flag_db = warden.root / "flag.sqlite"
    warden.write_config({"database": str(config_db)})

    def create(*, flag: bool, env: bool) -> None:
        args = ["clients", "create", "--name", "x", "--config", str(warden.config_file)]
        if flag:
            args += ["--database", str(flag_db)]
        subprocess.run(
            [str(warden.binary), *args], cwd=warden.cwd, check=True, capture_output=True, timeout=30,
            env=clean_environment({"WARDEN_DATABASE": str(env_db)} if env else None),
        )

    create(flag=True, env=True)
    assert flag_db.exists() and not env_db.exists() and not config_db.exists()
    create(flag=False, env=True)
    assert env_db.exists() and not config_db.exists()
    create(flag=False, env=False)
    assert config_db.exists()


def test_admin_commands_while_serving(warden, server):
    """clients and keys commands work on the database of a running server."""
    client = warden.create_client(name="live")
    wait_until(lambda: server.token(client).status_code == 200, message="new client not usable within 5 s")
    kid = warden.rotate(now=True)
    wait_until(lambda: kid in server.jwks_kids(), message="rotated key not published within 5 s")
    assert any(item["client_id"] == client.client_id for item in warden.run_json("clients", "list"))
    assert server.healthy()


def test_request_log_names_the_client_but_never_a_secret_or_token(warden, server):
    """SECURITY.md: logs never contain a token, code, secret, password or cookie value."""
    client = warden.create_client()
    token = server.access_token(client)
    assert server.is_active(client, token)
    server.revoke(client, token)
    bad = server.token(client, scope="not-registered")
    assert bad.status_code == 400
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and server.stdout().count('path=/revoke') < 1:
        time.sleep(0.1)
    log = server.stdout()
    request_lines = [line for line in log.splitlines() if "path=/" in line]
    assert any("path=/token" in line and "status=200" in line and f"client_id={client.client_id}" in line for line in request_lines)
    assert any("path=/token" in line and "status=400" in line for line in request_lines)
    assert all("duration_us=" in line and "method=" in line for line in request_lines)
    assert client.client_secret not in log
    assert token not in log and token.split(".")[1] not in log
