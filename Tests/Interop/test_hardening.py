"""The second security pass: rate limits that cannot be raced, bounded, or turned
against a client; nothing durable for anonymous requests; one token string per token.

Each test drives the real binary as an attacker would (threads in parallel, another
loopback address, a drip-fed body, a second instance) and failed before its fix.
"""

from __future__ import annotations

import base64
import os
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from interop import (
    Page,
    UserAgent,
    Warden,
    assert_oauth_error,
    authorization_params,
    clean_environment,
    free_port,
    jwt_header,
    obtain_code,
    pkce_pair,
    tokens_for,
)

REDIRECT = "http://127.0.0.1:8765/callback"
# The order of P-256's base point (FIPS 186-4 D.1.2.3).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class FromAddress(HTTPAdapter):
    """Connections from another loopback address (the server listens on 127.0.0.1)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def agent_from(server, address: str) -> UserAgent:
    agent = UserAgent(server)
    agent.http.mount("http://", FromAddress(address))
    return agent


def login_form(agent: UserAgent, client) -> dict:
    """The hidden fields of the login form the browser is shown for `client`."""
    _, challenge = pkce_pair()
    page = agent.authorize(authorization_params(client, REDIRECT, challenge=challenge))
    assert page.status_code == 200, page.text[:300]
    return Page.parse(page.text).form("/login").hidden()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- rate limits --------------------------------------------------------------------


def test_parallel_wrong_passwords_cannot_slip_past_the_limit(warden: Warden):
    """30 wrong passwords posted at once, during each other's bcrypt: at most the limit
    (10 per account from one address) are checked; the rest are 429."""
    spa = warden.create_code_client()
    warden.create_user("alice")
    server = warden.start_server()
    agent = UserAgent(server)
    form = login_form(agent, spa)
    cookies = agent.http.cookies.get_dict()

    def attempt(_: int) -> int:
        return requests.post(
            server.url("/login"), data=dict(form, username="alice", password="wrong"), cookies=cookies,
            allow_redirects=False, timeout=120,
        ).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(attempt, range(30)))
    checked = [status for status in statuses if status != 429]
    assert len(checked) <= 10, statuses
    assert statuses.count(429) >= 20, statuses


def test_limiter_memory_is_bounded_whatever_client_ids_are_sent(warden: Warden):
    """100,000 distinct client ids of 1 KiB each: refused as invalid_request before any
    limiter sees them, so the server's memory does not grow with them."""
    server = warden.start_server()
    before = rss_kib(server.process.pid)
    count, sockets = 100_000, 8

    def flood(worker: int) -> int:
        answered = 0
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
            batch = []
            for index in range(worker, count, sockets):
                client_id = f"{index:08d}".ljust(1024, "x")
                body = f"grant_type=client_credentials&client_id={client_id}&client_secret=s".encode()
                batch.append(
                    b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                )
                if len(batch) == 200:
                    answered += exchange(sock, batch)
                    batch = []
            if batch:
                answered += exchange(sock, batch)
        return answered

    def exchange(sock: socket.socket, batch: list[bytes]) -> int:
        """Sends `batch` pipelined; every answer must be invalid_request (one each)."""
        sock.sendall(b"".join(batch))
        received = b""
        while received.count(b'"invalid_request"') < len(batch):
            chunk = sock.recv(1 << 20)
            assert chunk, "the server closed the connection"
            received += chunk
            assert b"HTTP/1.1 5" not in received and b"invalid_client" not in received, received[-500:]
        return len(batch)

    with ThreadPoolExecutor(sockets) as pool:
        assert sum(pool.map(flood, range(sockets))) == count
    grown = rss_kib(server.process.pid) - before
    assert grown < 48 * 1024, f"RSS grew by {grown} KiB"


def test_failures_from_another_address_do_not_lock_out_a_client(warden: Warden):
    """Client ids are public: 15 failures from 127.0.0.2 rate-limit 127.0.0.2 only, and the
    right secret is accepted even there; the public client's users at 127.0.0.1 go on."""
    api = warden.create_client()
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    attacker = requests.Session()
    attacker.mount("http://", FromAddress("127.0.0.2"))
    statuses = [
        attacker.post(server.url("/token"), data={"grant_type": "client_credentials"}, auth=(api.client_id, "wrong"),
                      timeout=30).status_code
        for _ in range(15)
    ]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429, statuses
    # The public client's id with a made-up secret: invalid_client, then 429, from 127.0.0.2.
    statuses = [
        attacker.post(server.url("/token"), data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": spa.client_id,
                                                  "client_secret": "guess"}, timeout=30).status_code
        for _ in range(15)
    ]
    assert statuses[-1] == 429, statuses
    # The right secret is never refused for someone else's failures, from either address.
    assert attacker.post(server.url("/token"), data={"grant_type": "client_credentials"}, auth=api.basic, timeout=30).status_code == 200
    assert server.token(api).status_code == 200
    # A wrong secret from 127.0.0.1 is an ordinary failure there, not 127.0.0.2's limit.
    wrong = requests.post(server.url("/token"), data={"grant_type": "client_credentials"}, auth=(api.client_id, "wrong"), timeout=30)
    assert_oauth_error(wrong, "invalid_client", status=401)
    # Code redemption and refresh for the public client's users at 127.0.0.1.
    tokens = tokens_for(server, spa, alice, REDIRECT, scope="profile offline_access")
    assert server.refresh(spa, tokens["refresh_token"]).status_code == 200


def test_failed_logins_from_another_address_do_not_lock_out_the_account(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    attacker = agent_from(server, "127.0.0.2")
    form = login_form(attacker, spa)
    statuses = [attacker.post("/login", dict(form, username="alice", password="wrong")).status_code for _ in range(12)]
    assert statuses[-1] == 429, statuses
    # From 127.0.0.1 alice signs in at once.
    code, verifier = obtain_code(UserAgent(server), spa, alice, REDIRECT)
    assert server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier).status_code == 200


# -- nothing durable for anonymous requests -----------------------------------------


def test_anonymous_authorization_requests_write_no_session(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    for _ in range(50):
        page = requests.get(server.url("/authorize"), params=authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]),
                            allow_redirects=False, timeout=30)
        assert page.status_code == 200 and Page.parse(page.text).is_login
        assert "warden_session" not in page.headers.get("Set-Cookie", "")
    assert warden.sql("SELECT count(*) FROM sessions") == [(0,)]
    # The signed pre-login cookie carries the form's CSRF token: a forged one is refused.
    agent = UserAgent(server)
    form = login_form(agent, spa)
    agent.http.cookies.set("warden_prelogin", "9999999999." + form["csrf_token"] + ".forged", domain="127.0.0.1", path="/")
    assert agent.post("/login", dict(form, username=alice.username, password=alice.password)).status_code == 403
    assert warden.sql("SELECT count(*) FROM sessions") == [(0,)]
    # Signing in stores the one session, and works through any instance holding the same key.
    other = warden.start_server()
    agent = UserAgent(server)
    form = login_form(agent, spa)
    agent.server = other
    assert agent.post("/login", dict(form, username=alice.username, password=alice.password)).status_code == 303
    assert warden.sql("SELECT count(*) FROM sessions") == [(1,)]


# -- connections --------------------------------------------------------------------


def test_a_drip_fed_body_meets_the_request_deadline(warden: Warden):
    warden.write_config({"request_timeout": 2, "connection_idle_timeout": 30})
    server = warden.start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"a")
                sock.settimeout(0.5)
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        assert closed, "a byte every half second kept the connection open past the deadline"
        assert time.monotonic() - started < 4


def admitted_connection(port: int) -> socket.socket:
    """A keep-alive connection the server has answered once (retrying while the cap is
    still held by connections closing)."""
    deadline = time.monotonic() + 5
    while True:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            if sock.recv(4096).startswith(b"HTTP/1.1 200"):
                return sock
        except (ConnectionResetError, BrokenPipeError):
            pass
        sock.close()
        assert time.monotonic() < deadline, "no connection was admitted"
        time.sleep(0.05)


def test_connections_past_the_cap_are_closed_at_once(warden: Warden):
    warden.write_config({"max_connections": 3})
    server = warden.start_server()
    # The readiness probe's connection may still count for a moment after it closes, so
    # each held connection proves it was admitted by being served.
    held = [admitted_connection(server.port) for _ in range(3)]
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
            extra.settimeout(2)
            started = time.monotonic()
            try:
                data = extra.recv(1)
            except ConnectionResetError:
                data = b""
            assert data == b"" and time.monotonic() - started < 1.5
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, connections are served again.
    time.sleep(0.3)
    assert server.healthy()


# -- files ------------------------------------------------------------------------


def test_database_directory_keys_and_demo_credentials_are_private_from_the_start(tmp_path: Path):
    binary = Warden(tmp_path / "w").binary
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "serve", "--demo", "--port", str(port)], cwd=cwd, env=clean_environment(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: os.umask(0o022),
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        data = cwd / "data"
        modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [data, *data.iterdir()]}
        assert modes.pop("data") == 0o700, modes
        for name in ("warden.sqlite", "warden.sqlite-wal", "warden.sqlite-shm", "warden.kek", "demo-credentials.json"):
            assert modes.get(name) == 0o600, (name, modes)
    finally:
        process.terminate()
        process.wait(timeout=15)


# -- configuration ranges ------------------------------------------------------------


def test_a_lifetime_of_centuries_ends_startup_with_one_line(warden: Warden):
    warden.write_config({"refresh_token_idle_lifetime": 10**12, "refresh_token_absolute_lifetime": 10**12})
    result = subprocess.run(
        [str(warden.binary), "serve", *warden.global_options(), "--port", str(free_port())], cwd=warden.cwd,
        env=clean_environment(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "refresh token lifetimes" in lines[0], result.stderr


# -- reuse first, and passwords ------------------------------------------------------


def test_a_rotated_refresh_token_with_a_bad_scope_still_revokes_its_grant(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    first = tokens_for(server, spa, alice, REDIRECT, scope="profile offline_access")
    second = server.refresh(spa, first["refresh_token"]).json()
    probe = server.refresh(spa, first["refresh_token"], scope="admin")
    assert_oauth_error(probe, "invalid_grant")
    assert_oauth_error(server.refresh(spa, second["refresh_token"]), "invalid_grant")


def test_a_used_code_with_a_wrong_verifier_still_revokes_its_grant(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    code, verifier = obtain_code(UserAgent(server), spa, alice, REDIRECT, scope="profile offline_access")
    tokens = server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier=verifier).json()
    assert_oauth_error(server.code_token(spa, code, redirect_uri=REDIRECT, code_verifier="w" * 43), "invalid_grant")
    assert_oauth_error(server.refresh(spa, tokens["refresh_token"]), "invalid_grant")


def test_set_password_ends_sessions_and_grants(warden: Warden):
    spa = warden.create_code_client()
    alice = warden.create_user("alice")
    server = warden.start_server()
    agent = UserAgent(server)
    tokens = tokens_for(server, spa, alice, REDIRECT, scope="profile offline_access", agent=agent)
    assert warden.sql("SELECT count(*) FROM sessions") == [(1,)]
    result = warden.run("users", "set-password", "--password-stdin", positional=("alice",), input="a-new-password\n")
    assert "sessions ended" in result.stdout
    assert warden.sql("SELECT count(*) FROM sessions") == [(0,)]
    assert_oauth_error(server.refresh(spa, tokens["refresh_token"]), "invalid_grant")
    # The browser that was signed in must sign in again.
    page = agent.authorize(authorization_params(spa, REDIRECT, challenge=pkce_pair()[1]))
    assert Page.parse(page.text).is_login


# -- one token string per token -------------------------------------------------------


def test_es256_signatures_are_low_s_and_the_high_s_twin_is_inactive(warden: Warden):
    api = warden.create_client()
    server = warden.start_server()
    for _ in range(24):
        token = server.access_token(api)
        assert jwt_header(token)["alg"] == "ES256"
        head, payload, signature = token.split(".")
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        r, s = raw[:32], int.from_bytes(raw[32:], "big")
        assert s <= P256_ORDER // 2
        twin = base64.urlsafe_b64encode(r + (P256_ORDER - s).to_bytes(32, "big")).rstrip(b"=").decode()
        assert server.is_active(api, token)
        assert not server.is_active(api, f"{head}.{payload}.{twin}")


# -- key retirement -------------------------------------------------------------------


def test_a_retired_keys_token_is_inactive_at_once_on_another_instance(warden: Warden):
    api = warden.create_client()
    first = warden.start_server()
    second = warden.start_server(issuer=first.issuer)  # two instances of one issuer, one database
    old = warden.signing_kid()
    token = first.access_token(api)
    assert second.is_active(api, token)  # cached as active at the second instance
    warden.rotate(now=True)
    assert second.is_active(api, token)
    warden.run("keys", "retire", positional=(old,))
    assert not second.is_active(api, token)
    assert not first.is_active(api, token)
