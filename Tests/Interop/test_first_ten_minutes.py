"""What a newcomer meets in the first ten minutes, each as they would meet it: the demo's
files found by the CLI, a wrong key refused, a busy port, a mistyped redirect URI, a
missing PKCE verifier, and a log line that says why a request failed."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path

import requests

from interop import (
    UserAgent,
    Warden,
    assert_oauth_error,
    assert_one_line_failure,
    clean_environment,
    free_port,
    new_key_encryption_key,
    obtain_code,
)

REDIRECT = "http://127.0.0.1:8765/callback"


def start_demo(cwd: Path, binary: Path, port: int) -> subprocess.Popen:
    process = subprocess.Popen([str(binary), "serve", "--demo", "--port", str(port)], cwd=cwd, env=clean_environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(process.stderr.read())


def cli(binary: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=60)


def test_the_cli_finds_the_demo_key_and_refuses_a_wrong_one(tmp_path: Path):
    binary = Warden(tmp_path / "w").binary
    cwd = tmp_path / "demo"
    cwd.mkdir()
    process = start_demo(cwd, binary, free_port())
    try:
        listed = cli(binary, cwd, "keys", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert "warden.kek" in listed.stderr and "DEMO" in listed.stderr
        assert '"state"' in listed.stdout
        wrong = cwd / "wrong.kek"
        wrong.write_text(new_key_encryption_key() + "\n")
        for command in (("keys", "list"), ("keys", "rotate"), ("keys", "retire", "x")):
            result = cli(binary, cwd, *command, "--key-encryption-key-file", str(wrong))
            assert_one_line_failure(result, "cannot decrypt the stored signing keys")
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_busy_port_is_one_line(warden: Warden):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([str(warden.binary), "serve", *warden.global_options(), "--port", str(port)], cwd=warden.cwd,
                                env=clean_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    line = assert_one_line_failure(result, f"cannot serve on 127.0.0.1:{port}", "Address already in use")
    assert line.count("(") == line.count(")"), line
    assert "maintenance failed" not in result.stdout and "CancellationError" not in result.stdout


def test_a_redirect_uri_that_is_no_absolute_uri_is_refused_in_one_line(warden: Warden):
    for uri in ("localhost:3000/cb", "http://app.example.com/cb", "myapp:/cb", "https://app.example.com/cb#x"):
        result = warden.run("clients", "create", "--name", "x", "--grant-type", "authorization_code", "--redirect-uri", uri,
                            "--auth-method", "none", check=False)
        assert_one_line_failure(result, uri)
    for uri in ("https://app.example.com/cb", "http://127.0.0.1:9/cb", "http://[::1]/cb", "http://localhost:3000/cb",
                "com.example.app:/callback"):
        assert warden.run("clients", "create", "--name", "y", "--grant-type", "authorization_code", "--redirect-uri", uri,
                          "--auth-method", "none", check=False).returncode == 0, uri


def test_a_missing_verifier_is_called_missing_and_failures_are_logged_with_their_error(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    code, _ = obtain_code(UserAgent(server), spa, alice, REDIRECT)
    response = server.code_token(spa, code, redirect_uri=REDIRECT)
    body = assert_oauth_error(response, "invalid_grant")
    assert "missing" in body["error_description"], body
    server.token(spa)  # a public client asking for client credentials: unauthorized_client
    lines = [line for line in server.stdout().splitlines() if "path=/token" in line and "status=400" in line]
    assert any("error=invalid_grant" in line and "code_verifier is missing" in line for line in lines), lines
    assert all(re.search(r"error=[a-z_]+", line) for line in lines), lines


def test_the_operator_s_brand_logo_and_scope_words_show_on_the_pages(warden: Warden, tmp_path: Path):
    import base64

    from interop import Page, assert_html_security_headers, authorization_params, pkce_pair

    logo = tmp_path / "logo.png"
    logo.write_bytes(base64.b64decode(  # a 1x1 PNG
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="))
    warden.write_config({"brand_name": "Acme Sign-in", "brand_logo_file": str(logo),
                         "scope_descriptions": {"invoices:read": "Read your invoices"}})
    spa = warden.create_code_client(scope="profile invoices:read")
    alice = warden.create_user("alice")
    server = warden.start_server()
    agent = UserAgent(server)
    page = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1], scope="profile invoices:read"))
    assert_html_security_headers(page)
    assert "Acme Sign-in" in page.text and 'src="/static/logo"' in page.text
    image = requests.get(server.url("/static/logo"), timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png" and image.content == logo.read_bytes()
    consent = agent.follow(agent.login(page, alice.username, alice.password))
    items = Page.parse(consent.text).list_items
    assert any(item.startswith("Read your invoices") and "invoices:read" in item for item in items), items
    assert any(item.startswith("See your name") for item in items), items
