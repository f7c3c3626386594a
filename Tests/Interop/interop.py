"""Helpers for Warden's interoperability tests.

The tests drive the already-built `warden` binary from outside, the way an operator
and real OAuth clients would: the CLI through subprocesses, the server over HTTP on
127.0.0.1 only.

- The binary is `$WARDEN_BINARY`, else `<repo>/.build/debug/warden`. Nothing here
  builds it.
- Every CLI run and every server gets a fresh temporary directory as its working
  directory, an environment without any `WARDEN_*` variable, and explicit
  `--database` / `--key-encryption-key-file` options, so that neither the repo's
  `config/warden.yaml` nor the caller's environment applies.
"""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import os
import queue
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / ".build" / "debug" / "warden"

#: Seconds a server may take to answer /healthz after it was started.
STARTUP_TIMEOUT = 30.0
#: Seconds a server may take to exit after SIGTERM.
SHUTDOWN_TIMEOUT = 10.0
#: Seconds a CLI command may take.
CLI_TIMEOUT = 60.0
#: INTERFACE.md: CLI changes reach every running server within this many seconds.
PROPAGATION_SECONDS = 5.0

#: Error codes the token, introspection and revocation endpoints may answer with
#: (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 8707 §2).
SPEC_ERROR_CODES = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "unsupported_token_type",
    "invalid_target",
}


def warden_binary() -> Path:
    path = Path(os.environ.get("WARDEN_BINARY") or DEFAULT_BINARY)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"warden binary not found at {path}: build it first or set WARDEN_BINARY", returncode=2
        )
    return path


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without any WARDEN_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARDEN_")}
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_key_encryption_key() -> str:
    """32 random bytes, base64 (what `openssl rand -base64 32` prints)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line_failure(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit status 1 and exactly one non-empty line on stderr (INTERFACE.md)."""
    lines = stderr_lines(result.stderr)
    assert result.returncode == 1, (
        f"expected exit 1, got {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    )
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert "Traceback" not in result.stderr and "Fatal error" not in result.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not named in stderr line {lines[0]!r}"
    return lines[0]


@dataclass
class Client:
    """A registered client, as `clients create --json` printed it."""

    client_id: str
    client_secret: str | None
    raw: dict

    @property
    def auth_method(self) -> str:
        return self.raw["token_endpoint_auth_method"]

    @property
    def basic(self) -> tuple[str, str]:
        assert self.client_secret is not None
        return (self.client_id, self.client_secret)

    def credentials(self) -> dict:
        """`requests` keyword arguments that authenticate this client with its registered method."""
        if self.auth_method == "client_secret_post":
            return {"data": {"client_id": self.client_id, "client_secret": self.client_secret}}
        if self.auth_method == "none":
            # A public client identifies itself with client_id alone (RFC 6749 §3.2.1).
            return {"data": {"client_id": self.client_id}}
        return {"auth": self.basic, "data": {}}


@dataclass
class User:
    """A user created with `warden users create`; `id` is the access tokens' `sub`."""

    username: str
    password: str
    id: str


@dataclass
class Server:
    """A running `warden serve` process."""

    process: subprocess.Popen
    port: int
    issuer: str
    stdout_path: Path
    stderr_path: Path
    stopped: bool = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def metadata(self) -> dict:
        response = requests.get(self.url("/.well-known/oauth-authorization-server"), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def jwks(self) -> dict:
        response = requests.get(self.url("/.well-known/jwks.json"), timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def jwks_kids(self) -> set[str]:
        return {key["kid"] for key in self.jwks()["keys"]}

    def healthy(self) -> bool:
        try:
            response = requests.get(self.url("/healthz"), timeout=5)
        except requests.RequestException:
            return False
        return response.status_code == 200 and response.json() == {"status": "ok"}

    def token(self, client: Client, **params) -> requests.Response:
        """A client-credentials token request with the client's registered auth method.
        `params` values may be lists (for repeated `resource`)."""
        kwargs = client.credentials()
        data = [("grant_type", "client_credentials")]
        data += list(kwargs.pop("data").items())
        for name, value in params.items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                data.append((name, item))
        return requests.post(self.url("/token"), data=data, timeout=10, **kwargs)

    def access_token(self, client: Client, **params) -> str:
        response = self.token(client, **params)
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def introspect(self, client: Client, token: str) -> requests.Response:
        kwargs = client.credentials()
        data = dict(kwargs.pop("data"), token=token)
        return requests.post(self.url("/introspect"), data=data, timeout=10, **kwargs)

    def is_active(self, client: Client, token: str) -> bool:
        response = self.introspect(client, token)
        assert response.status_code == 200, response.text
        body = response.json()
        if not body["active"]:
            assert body == {"active": False}, f"an inactive token must reveal nothing: {body}"
        return body["active"]

    def revoke(self, client: Client, token: str, **extra) -> requests.Response:
        kwargs = client.credentials()
        data = dict(kwargs.pop("data"), token=token, **extra)
        return requests.post(self.url("/revoke"), data=data, timeout=10, **kwargs)

    def code_token(self, client: Client, code: str, **params) -> requests.Response:
        """An authorization code token request (RFC 6749 §4.1.3) with the client's auth method;
        `params` are e.g. redirect_uri and code_verifier (None values are left out)."""
        return self.grant(client, "authorization_code", code=code, **params)

    def refresh(self, client: Client, refresh_token: str, **params) -> requests.Response:
        """A refresh token request (RFC 6749 §6) with the client's auth method."""
        return self.grant(client, "refresh_token", refresh_token=refresh_token, **params)

    def grant(self, client: Client, grant_type: str, **params) -> requests.Response:
        kwargs = client.credentials()
        data = [("grant_type", grant_type)] + list(kwargs.pop("data").items())
        data += [(name, value) for name, value in params.items() if value is not None]
        return requests.post(self.url("/token"), data=data, timeout=30, **kwargs)

    def stop(self) -> int:
        """SIGTERM, then the exit status (killing the process if it does not exit in time)."""
        if self.stopped:
            return self.process.returncode
        self.stopped = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(f"warden serve did not exit within {SHUTDOWN_TIMEOUT}s of SIGTERM")


class Warden:
    """One Warden installation: a working directory, a database and a key-encryption key.

    The database is the SQLite file `database`, unless `database_url` names a PostgreSQL
    database (postgres://...; see postgres.py), which `--database` then passes instead.
    Setting `database_url` later moves the installation (same key-encryption key)."""

    def __init__(self, root: Path, config: dict | None = None, *, database_url: str | None = None):
        self.binary = warden_binary()
        self.root = root
        self.cwd = root / "cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.database = root / "data" / "warden.sqlite"
        self.database_url = database_url
        self.kek_file = root / "kek"
        self.kek_file.write_text(new_key_encryption_key() + "\n")
        self.kek_file.chmod(0o600)
        self.config_file: Path | None = None
        if config is not None:
            self.write_config(config)
        self.servers: list[Server] = []

    def write_config(self, config: dict) -> Path:
        """A YAML config file (JSON is YAML) passed with --config from then on."""
        self.config_file = self.root / "warden.yaml"
        self.config_file.write_text(json.dumps(config) + "\n")
        return self.config_file

    # -- CLI --------------------------------------------------------------

    def global_options(self, *, database: bool = True, kek: bool = True, config: bool = True) -> list[str]:
        options: list[str] = []
        if config and self.config_file is not None:
            options += ["--config", str(self.config_file)]
        if database:
            options += ["--database", self.database_option]
        if kek:
            options += ["--key-encryption-key-file", str(self.kek_file)]
        return options

    def run(
        self,
        *args: str,
        positional: tuple[str, ...] = (),
        database: bool = True,
        kek: bool = True,
        config: bool = True,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = CLI_TIMEOUT,
        input: str | None = None,
    ) -> subprocess.CompletedProcess:
        """Runs `warden ARGS... [global options] [-- POSITIONAL...]`.

        Positional ids come after `--` because generated ids and kids are base64url
        and may start with '-'."""
        command = [str(self.binary), *args, *self.global_options(database=database, kek=kek, config=config)]
        if positional:
            command += ["--", *positional]
        result = subprocess.run(
            command,
            cwd=self.cwd,
            env=clean_environment(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            **({"input": input} if input is not None else {}),
        )
        if check:
            assert result.returncode == 0, (
                f"{' '.join(command)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def run_json(self, *args: str, **kwargs):
        result = self.run(*args, "--json", **kwargs)
        return json.loads(result.stdout)

    def create_client(
        self,
        name: str = "billing",
        scope: str = "invoices:read invoices:write",
        audiences: tuple[str, ...] = ("https://api.example.com",),
        auth_method: str | None = None,
        grant_types: tuple[str, ...] = ("client_credentials",),
        extra: tuple[str, ...] = (),
    ) -> Client:
        args = ["clients", "create", "--name", name, "--scope", scope]
        for grant in grant_types:
            args += ["--grant-type", grant]
        for audience in audiences:
            args += ["--audience", audience]
        if auth_method is not None:
            args += ["--auth-method", auth_method]
        args += list(extra)
        raw = self.run_json(*args)
        return Client(client_id=raw["client_id"], client_secret=raw.get("client_secret"), raw=raw)

    def create_code_client(
        self,
        name: str = "spa",
        redirect_uris: tuple[str, ...] = ("http://127.0.0.1:8765/callback",),
        scope: str = "profile email offline_access",
        *,
        public: bool = True,
        auth_method: str | None = None,
        grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
        audiences: tuple[str, ...] = (),
        extra: tuple[str, ...] = (),
    ) -> Client:
        """A client of the authorization code flow: public (`--auth-method none`) unless
        `public` is False (then `auth_method`, default client_secret_basic)."""
        args: list[str] = []
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        return self.create_client(
            name=name, scope=scope, audiences=audiences, grant_types=grant_types,
            auth_method="none" if public else auth_method, extra=(*args, *extra),
        )

    def users(self) -> list[dict]:
        return self.run_json("users", "list")

    def create_user(self, username: str, password: str | None = None, extra: tuple[str, ...] = ()) -> "User":
        """Creates a user (password through standard input) and returns it with its stable id;
        `extra` are more `users create` options (e.g. the profile: --name N, --email E...)."""
        password = password or "pw-" + secrets.token_urlsafe(12)
        self.run("users", "create", "--username", username, "--password-stdin", *extra, input=password + "\n")
        ids = [user["id"] for user in self.users() if user["username"] == username]
        assert len(ids) == 1, self.users()
        return User(username=username, password=password, id=ids[0])

    def keys(self) -> list[dict]:
        return self.run_json("keys", "list")

    def signing_kid(self, algorithm: str = "ES256") -> str:
        """The kid of the key signing `algorithm`'s tokens (one ring per algorithm)."""
        signing = [key["kid"] for key in self.keys() if key["state"] == "signing" and key["algorithm"] == algorithm]
        assert len(signing) == 1, self.keys()
        return signing[0]

    def rotate(self, *, algorithm: str | None = None, now: bool = False) -> str:
        """Rotates and returns the new kid."""
        before = {key["kid"] for key in self.keys()}
        args = ["keys", "rotate"]
        if algorithm:
            args += ["--algorithm", algorithm]
        if now:
            args.append("--now")
        self.run(*args)
        new = [key for key in self.keys() if key["kid"] not in before]
        assert len(new) == 1, new
        return new[0]["kid"]

    # -- database ---------------------------------------------------------

    @property
    def is_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def database_option(self) -> str:
        """What `--database` gets: the PostgreSQL URL, else the SQLite file."""
        return self.database_url if self.database_url is not None else str(self.database)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Reads the database read-only, as an outsider would. On PostgreSQL through psycopg
        in a read-only transaction: placeholders are then %s, not ?."""
        if self.database_url is not None:
            import postgres

            return postgres.query(self.database_url, query, params)
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            return connection.execute(query, params).fetchall()
        finally:
            connection.close()

    def wait_for_cli_events_logged(self) -> None:
        """Waits until a running server has taken every security event the CLI recorded
        (it deletes them as it logs them, within a maintenance tick): only then does the
        database stay byte for byte the same while nothing happens."""
        wait_until(lambda: self.sql("SELECT COUNT(*) FROM audit_events")[0][0] == 0, timeout=10,
                   message="the server did not log the CLI's security events")

    def database_bytes(self) -> bytes:
        """The database file with its WAL, if any (SQLite only: on PostgreSQL compare
        `postgres.database_snapshot(url)` instead)."""
        if self.database_url is not None:
            raise AssertionError("database_bytes() is for SQLite files; use postgres.database_snapshot()")
        data = b""
        for suffix in ("", "-wal"):
            path = Path(str(self.database) + suffix)
            if path.exists():
                data += path.read_bytes()
        return data

    # -- server -----------------------------------------------------------

    def start_server(
        self,
        *,
        issuer: str | None = None,
        extra: tuple[str, ...] = (),
        attempts: int = 3,
        env: dict[str, str] | None = None,
    ) -> Server:
        """Starts `warden serve` on a free port with `--issuer http://127.0.0.1:PORT`
        (or `issuer`) and waits until /healthz answers. `env`: more environment variables for
        the server process (e.g. LD_PRELOAD), on top of the clean environment."""
        last_error = ""
        for attempt in range(attempts):
            port = free_port()
            server_issuer = issuer or f"http://127.0.0.1:{port}"
            out = self.root / f"serve-{port}-{attempt}.stdout"
            err = self.root / f"serve-{port}-{attempt}.stderr"
            command = [
                str(self.binary), "serve", *self.global_options(),
                "--host", "127.0.0.1", "--port", str(port), "--issuer", server_issuer, *extra,
            ]
            with open(out, "wb") as stdout, open(err, "wb") as stderr:
                process = subprocess.Popen(
                    command, cwd=self.cwd, env=clean_environment(env), stdout=stdout, stderr=stderr,
                    stdin=subprocess.DEVNULL,
                )
            server = Server(process=process, port=port, issuer=server_issuer, stdout_path=out, stderr_path=err)
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    break
                if server.healthy():
                    self.servers.append(server)
                    return server
                time.sleep(0.05)
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
                raise AssertionError(f"warden serve did not become healthy within {STARTUP_TIMEOUT}s: {server.stderr()}")
            last_error = server.stderr()
            if "in use" not in last_error.lower() and "address" not in last_error.lower():
                break
        raise AssertionError(f"warden serve exited early: {last_error}")

    def stop_all(self) -> list[tuple[Server, int]]:
        results = []
        for server in self.servers:
            if not server.stopped:
                results.append((server, server.stop()))
        return results


def finish(warden: Warden) -> None:
    """Stops every server of `warden` and checks each shut down cleanly."""
    failures = []
    for server, status in warden.stop_all():
        if status != 0:
            failures.append(f"server on port {server.port} exited {status} after SIGTERM; stderr: {server.stderr()!r}")
        elif server.stderr().strip():
            failures.append(f"server on port {server.port} wrote to stderr: {server.stderr()!r}")
    assert not failures, "\n".join(failures)


def read_request_body(handler) -> bytes:
    """The body of a request an `http.server` handler is answering, chunked or not."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        data = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return data
            data += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def wait_until(predicate, timeout: float = PROPAGATION_SECONDS, interval: float = 0.2, message: str = ""):
    """Polls `predicate` until it returns something other than None or False (a 4xx
    `requests.Response` is falsy, so truthiness is not used); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        time.sleep(interval)


def assert_oauth_error(response: requests.Response, error: str | set[str], status: int | None = 400) -> dict:
    """An RFC 6749 §5.2 JSON error with the expected code (and status)."""
    assert response.status_code < 500, f"5xx: {response.status_code} {response.text!r}"
    if status is not None:
        assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text!r}"
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "application/json", (
        f"not JSON: {response.status_code} {response.headers.get('Content-Type')!r} {response.text!r}"
    )
    body = response.json()
    expected = {error} if isinstance(error, str) else error
    assert body.get("error") in expected, f"expected error in {expected}, got {body}"
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    if "error_description" in body:
        # RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in body["error_description"]), body
    if body["error"] == "invalid_client" and response.status_code == 401:
        assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic"), response.headers
    return body


#: Config keys that make the failure rate limits (SECURITY.md) practically unreachable,
#: for installations whose tests fail client authentication or logins on purpose.
NO_FAILURE_LIMITS = {
    "client_authentication_failures_per_client": 1_000_000,
    "client_authentication_failures_per_address": 1_000_000,
    "login_failures_per_account": 1_000_000,
    "login_failures_per_address": 1_000_000,
}


# -- raw HTTP (what `requests` would normalise) -------------------------------


@dataclass
class RawResponse:
    """One HTTP/1.1 response read off a socket. `status` is None when no status line
    arrived; `closed` says whether the server closed the connection (by the end of
    the read); `complete` whether the whole message (per Content-Length or chunking) arrived."""

    status: int | None
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    closed: bool
    complete: bool
    elapsed: float

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None

    def to_response(self, url: str = "http://127.0.0.1/") -> requests.Response:
        """The same response as a `requests.Response`, so the assert_* helpers apply."""
        assert self.status is not None, f"no response within {self.elapsed:.1f}s (closed={self.closed})"
        response = requests.Response()
        response.status_code = self.status
        response.reason = self.reason
        response.headers = requests.structures.CaseInsensitiveDict()
        for key, value in self.headers:
            response.headers[key] = value if key not in response.headers else response.headers[key] + ", " + value
        response._content = self.body
        response.encoding = "utf-8"
        response.url = url
        return response


def read_raw_response(sock: socket.socket, timeout: float) -> RawResponse:
    """Reads one response from `sock` for at most `timeout` seconds."""
    start = time.monotonic()
    deadline = start + timeout
    data = b""
    closed = False

    def receive() -> bool:
        nonlocal data, closed
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            return False
        if not chunk:
            closed = True
            return False
        data += chunk
        return True

    while b"\r\n\r\n" not in data and receive():
        pass
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return RawResponse(None, "", [], b"", closed, False, time.monotonic() - start)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
    headers = [(line.partition(":")[0].strip(), line.partition(":")[2].strip()) for line in lines[1:] if line]
    names = {key.lower(): value for key, value in headers}
    complete = False
    if "content-length" in names:
        length = int(names["content-length"])
        while len(data) - len(head) - 4 < length and receive():
            pass
        body = data[len(head) + 4:][:length]
        complete = len(body) == length
    elif "chunked" in names.get("transfer-encoding", "").lower():
        while not data.endswith(b"0\r\n\r\n") and receive():
            pass
        raw, body = data[len(head) + 4:], b""
        complete = raw.endswith(b"0\r\n\r\n")
        while raw:
            size_line, _, raw = raw.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            body, raw = body + raw[:size], raw[size + 2:]
    else:
        while receive():
            pass
        body, complete = data[len(head) + 4:], closed
    if names.get("connection", "").lower() == "close" and not closed:
        receive()  # the server said it closes: see that it does (bounded by the deadline)
    return RawResponse(status, reason, headers, body, closed, complete, time.monotonic() - start)


def raw_request(port: int, data: bytes, *, timeout: float = 10.0) -> RawResponse:
    """Sends `data` exactly as given on a new connection to 127.0.0.1:`port` and reads
    one response (at most `timeout` seconds); the connection is closed afterwards."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server may answer and close before it has read everything
        return read_raw_response(sock, timeout)


# -- JWT verification as a resource server would do it ----------------------

#: Algorithms a resource server accepts from Warden (SECURITY.md allowlist).
ALLOWED_ALGORITHMS = ["ES256", "RS256", "EdDSA"]


def jwt_header(token: str) -> dict:
    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jwt_claims_unverified(token: str) -> dict:
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify_with_joserfc(token: str, jwks: dict, *, issuer: str, audience: str) -> tuple[dict, dict]:
    """Verifies like a joserfc resource server: KeySet from the JWKS, key by kid,
    then the registered claims. Returns (header, claims)."""
    from joserfc import jwt
    from joserfc.jwk import KeySet
    from joserfc.jwt import JWTClaimsRegistry

    key_set = KeySet.import_key_set(jwks)
    with warnings.catch_warnings():
        # joserfc flags the "EdDSA" alg name as deprecated by RFC 9864 (in favour of "Ed25519").
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        decoded = jwt.decode(token, key_set, algorithms=ALLOWED_ALGORITHMS)
    registry = JWTClaimsRegistry(
        leeway=5,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )
    registry.validate(decoded.claims)
    return dict(decoded.header), dict(decoded.claims)


def verify_with_pyjwt(token: str, jwks_uri: str, *, issuer: str, audience: str | list[str]) -> dict:
    """Verifies like a PyJWT resource server: PyJWKClient(jwks_uri) finds the key by kid."""
    import jwt as pyjwt

    client = pyjwt.PyJWKClient(jwks_uri, cache_jwk_set=False, timeout=10)
    signing_key = client.get_signing_key_from_jwt(token)
    return pyjwt.decode(
        token,
        signing_key.key,
        algorithms=ALLOWED_ALGORITHMS,
        audience=audience,
        issuer=issuer,
        leeway=5,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


def assert_rfc9068_token(
    token: str,
    server: Server,
    client: Client,
    *,
    audience: str | list[str],
    scope: str,
    algorithm: str = "ES256",
    expires_in: int | None = None,
) -> dict:
    """Checks an access token end to end, discovering everything from the metadata:
    the header (typ at+jwt, alg, kid in the JWKS), the signature and the claims, with
    both joserfc and PyJWT. Returns the claims."""
    metadata = server.metadata()
    assert metadata["issuer"] == server.issuer
    jwks_response = requests.get(metadata["jwks_uri"], timeout=10)
    assert jwks_response.status_code == 200
    jwks = jwks_response.json()

    header = jwt_header(token)
    assert header.get("typ") == "at+jwt", header
    assert header.get("alg") == algorithm, header
    assert "kid" in header and header["kid"] in {key["kid"] for key in jwks["keys"]}, (header, jwks)

    first_audience = audience if isinstance(audience, str) else audience[0]
    joserfc_header, claims = verify_with_joserfc(token, jwks, issuer=server.issuer, audience=first_audience)
    assert joserfc_header["kid"] == header["kid"]
    pyjwt_claims = verify_with_pyjwt(token, metadata["jwks_uri"], issuer=server.issuer, audience=audience)
    assert pyjwt_claims == claims

    assert claims["iss"] == server.issuer
    assert claims["sub"] == client.client_id
    assert claims["client_id"] == client.client_id
    assert claims["aud"] == audience
    assert claims["scope"] == scope
    for name in ("iat", "exp"):
        assert type(claims[name]) is int, f"{name} must be an integer NumericDate: {claims[name]!r}"
    assert abs(claims["iat"] - time.time()) < 60, claims
    assert claims["exp"] > claims["iat"]
    if expires_in is not None:
        assert claims["exp"] - claims["iat"] == expires_in
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    return claims


# -- the authorization code flow (browser pages) ---------------------------------

SESSION_COOKIE = "warden_session"
#: Before sign-in: the login form's CSRF token, signed; nothing is stored on the server.
PRELOGIN_COOKIE = "warden_prelogin"
LOGIN_ERROR = "Incorrect username or password."


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge); the verifier is 43 unreserved characters."""
    verifier = secrets.token_urlsafe(32)
    return verifier, s256(verifier)


def query_params(url: str) -> dict[str, str]:
    """The query of `url` as a dict; every parameter must appear once (RFC 6749 §3.1)."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=False)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"repeated parameter in {url!r}"
    return dict(pairs)


def redirect_target(response: requests.Response) -> str:
    """The Location of a redirect, made absolute against the request URL."""
    assert response.status_code in (301, 302, 303, 307, 308), (
        f"expected a redirect, got {response.status_code}: {response.text[:300]!r}"
    )
    return urljoin(response.url, response.headers["Location"])


def assert_redirect_to(response: requests.Response, redirect_uri: str, *, status: int | tuple[int, ...] = (302, 303)) -> dict[str, str]:
    """The response redirects to exactly `redirect_uri` (plus query parameters); returns them."""
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, f"expected {statuses}, got {response.status_code}: {response.text[:300]!r}"
    location = response.headers["Location"]
    base, _, _ = location.partition("?")
    assert base == redirect_uri.partition("?")[0], f"redirected to {location!r}, not to {redirect_uri!r}"
    assert "#" not in location, location
    return query_params(location)


def assert_authorization_error(
    response: requests.Response, redirect_uri: str, error: str, *, issuer: str, state: str | None, status: int = 302
) -> dict[str, str]:
    """RFC 6749 §4.1.2.1 + RFC 9207: a 302 back to the client with error, state and iss, no
    code (303 when answering a POST: RFC 9700 §4.12)."""
    params = assert_redirect_to(response, redirect_uri, status=status)
    assert params.get("error") == error, f"expected error={error}, got {params}"
    assert "code" not in params, params
    assert params.get("iss") == issuer, params
    if state is None:
        assert "state" not in params, params
    else:
        assert params.get("state") == state, params
    if "error_description" in params:
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in params["error_description"]), params
    return params


def csp_directives(response: requests.Response) -> dict[str, list[str]]:
    policy = response.headers.get("Content-Security-Policy", "")
    directives: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def assert_html_security_headers(response: requests.Response) -> None:
    """SECURITY.md "Browser session and pages": the headers of every HTML response."""
    directives = csp_directives(response)
    assert directives, f"no Content-Security-Policy: {dict(response.headers)}"
    assert directives.get("default-src") in (["'self'"], ["'none'"]), directives
    assert directives.get("frame-ancestors") == ["'none'"], directives
    for name, sources in directives.items():
        for source in sources:
            assert source not in ("*", "'unsafe-inline'", "'unsafe-eval'", "data:", "http:", "https:"), (name, sources)
    assert response.headers.get("X-Frame-Options", "").upper() == "DENY", dict(response.headers)
    assert response.headers.get("Referrer-Policy", "").lower() == "no-referrer", dict(response.headers)
    assert "no-store" in response.headers.get("Cache-Control", ""), dict(response.headers)


def assert_html_page(response: requests.Response, status: int = 200) -> "Page":
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text[:500]!r}"
    assert response.headers.get("Content-Type", "").split(";")[0].strip() == "text/html", dict(response.headers)
    assert "Location" not in response.headers, response.headers["Location"]
    assert_html_security_headers(response)
    return Page.parse(response.text)


@dataclass
class Form:
    action: str | None
    method: str
    inputs: dict[str, dict]
    buttons: list[dict]

    def hidden(self) -> dict[str, str]:
        return {name: attrs.get("value", "") for name, attrs in self.inputs.items() if attrs.get("type") == "hidden"}


class Page(html.parser.HTMLParser):
    """What the tests need of an HTML page: its forms, labels, scripts, URLs and alerts."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.label_for: set[str] = set()
        self.ids: dict[str, dict] = {}
        self.scripts = 0
        self.inline_styles = 0
        self.urls: list[str] = []
        self.title = ""
        self.h1 = ""
        self.alerts: list[str] = []
        self.list_items: list[str] = []
        self._capture: list[list] = []
        self.text = ""

    @classmethod
    def parse(cls, text: str) -> "Page":
        page = cls()
        page.feed(text)
        page.close()
        return page

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.ids[attributes["id"]] = dict(attributes, tag=tag)
        for name in ("src", "href", "action", "srcset", "poster", "data", "formaction"):
            if name in attributes:
                self.urls.append(attributes[name])
        if "style" in attributes or tag == "style":
            self.inline_styles += 1
        if any(name.startswith("on") for name in attributes):
            self.scripts += 1  # an inline event handler is script too
        if tag == "script":
            self.scripts += 1
        elif tag == "form":
            self.forms.append(Form(attributes.get("action"), attributes.get("method", "get").lower(), {}, []))
        elif tag == "input" and self.forms:
            self.forms[-1].inputs[attributes.get("name", "")] = dict(attributes, type=attributes.get("type", "text").lower())
        elif tag == "button" and self.forms:
            self.forms[-1].buttons.append(dict(attributes, type=attributes.get("type", "submit").lower()))
        elif tag == "label" and "for" in attributes:
            self.label_for.add(attributes["for"])
        if tag in ("title", "h1", "li") or attributes.get("role") == "alert" or "error" in attributes.get("class", "").split():
            self._capture.append([tag, attributes, ""])

    def handle_endtag(self, tag):
        if self._capture and self._capture[-1][0] == tag:
            name, attributes, text = self._capture.pop()
            text = " ".join(text.split())
            if name == "title":
                self.title = text
            elif name == "h1":
                self.h1 = text
            elif name == "li":
                self.list_items.append(text)
            if attributes.get("role") == "alert" or "error" in attributes.get("class", "").split():
                self.alerts.append(text)

    def handle_data(self, data):
        self.text += data
        for entry in self._capture:
            entry[2] += data

    def form(self, action: str) -> Form:
        forms = [form for form in self.forms if form.action == action]
        assert len(forms) == 1, f"expected one form posting to {action}: {self.forms}"
        assert forms[0].method == "post", forms[0]
        return forms[0]

    @property
    def is_login(self) -> bool:
        return any(form.action == "/login" for form in self.forms)

    @property
    def is_consent(self) -> bool:
        return any(form.action == "/consent" for form in self.forms)


class UserAgent:
    """A cookie-keeping HTTP user agent that walks the login and consent pages as a
    browser without JavaScript would (no automatic redirects: each step is checked)."""

    def __init__(self, server: Server):
        self.server = server
        self.http = requests.Session()

    @property
    def session_cookie(self) -> str | None:
        return self.http.cookies.get(SESSION_COOKIE)

    def get(self, path_or_url: str, **kwargs) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.server.url(path_or_url)
        return self.http.get(url, allow_redirects=False, timeout=30, **kwargs)

    def authorize(self, params: dict | list | str) -> requests.Response:
        query = params if isinstance(params, str) else urlencode(params)
        return self.get("/authorize?" + query)

    def post(self, path: str, data, **kwargs) -> requests.Response:
        return self.http.post(self.server.url(path), data=data, allow_redirects=False, timeout=30, **kwargs)

    def login(self, page: requests.Response | Page, username: str, password: str) -> requests.Response:
        parsed = page if isinstance(page, Page) else Page.parse(page.text)
        form = parsed.form("/login")
        return self.post("/login", dict(form.hidden(), username=username, password=password))

    def consent(self, page: requests.Response | Page, decision: str) -> requests.Response:
        parsed = page if isinstance(page, Page) else Page.parse(page.text)
        form = parsed.form("/consent")
        return self.post("/consent", dict(form.hidden(), decision=decision))

    def follow(self, response: requests.Response) -> requests.Response:
        """Follows one redirect that stays on the server."""
        target = redirect_target(response)
        assert target.startswith(self.server.base_url + "/"), f"redirect leaves the server: {target!r}"
        return self.get(target)

    def walk(self, response: requests.Response, user: User | None, *, decision: str = "allow",
             consent_statuses: tuple[int, ...] = (303,)) -> tuple[requests.Response, list[str]]:
        """From an /authorize response through the login page (signing `user` in) and the
        consent page (answering `decision`), following redirects on the server, to the first
        response that is none of those: returns it and the pages shown ("login", "consent")."""
        pages: list[str] = []
        for _ in range(8):
            if response.status_code == 200:
                page = Page.parse(response.text)
                if page.is_login:
                    assert "login" not in pages, "the login page came back after signing in"
                    assert user is not None, "the login page was shown, but nobody was to sign in"
                    pages.append("login")
                    response = self.login(page, user.username, user.password)
                    assert response.status_code == 303, f"login answered {response.status_code}: {response.text[:300]!r}"
                    continue
                if page.is_consent:
                    assert "consent" not in pages, "the consent page came back after consenting"
                    pages.append("consent")
                    response = self.consent(page, decision)
                    assert response.status_code in consent_statuses, (
                        f"consent answered {response.status_code}: {response.text[:300]!r}")
                    continue
                return response, pages
            if response.status_code in (302, 303) and redirect_target(response).startswith(self.server.base_url + "/"):
                response = self.follow(response)
                continue
            return response, pages
        raise AssertionError(f"/authorize did not come to an end: {pages}")

    def authorization(
        self,
        params: dict,
        user: User | None,
        *,
        decision: str = "allow",
        expect_login: bool | None = None,
        expect_consent: bool | None = None,
    ) -> requests.Response:
        """Walks from /authorize through login (when asked) and consent (when asked)
        to the final redirect, which is returned unfollowed."""
        response = self.authorize(params)
        if response.status_code == 200 and Page.parse(response.text).is_login:
            assert expect_login is not False, "the login page was shown to a logged-in user"
            assert user is not None, "login page shown but no user given"
            response = self.login(response, user.username, user.password)
            assert response.status_code == 303, f"login did not answer 303: {response.status_code} {response.text[:300]!r}"
            assert urlsplit(redirect_target(response)).path == "/authorize", response.headers["Location"]
            response = self.follow(response)
        else:
            assert expect_login is not True, f"no login page: {response.status_code} {response.text[:300]!r}"
        if response.status_code == 200 and Page.parse(response.text).is_consent:
            assert expect_consent is not False, "the consent page was shown"
            response = self.consent(response, decision)
            assert response.status_code == 303, f"consent did not answer 303: {response.status_code}"
        else:
            assert expect_consent is not True, f"no consent page: {response.status_code} {response.text[:300]!r}"
        return response


def authorization_params(
    client: Client,
    redirect_uri: str | None,
    *,
    scope: str | None = "profile",
    state: str | None = None,
    challenge: str | None = None,
    method: str | None = "S256",
    **extra,
) -> dict:
    """/authorize query parameters (None values left out); a fresh state when none is given."""
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state if state is not None else secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": method if challenge is not None else None,
        **extra,
    }
    return {name: value for name, value in params.items() if value is not None}


def obtain_code(
    agent: UserAgent,
    client: Client,
    user: User | None,
    redirect_uri: str,
    *,
    scope: str = "profile",
    verifier: str | None = None,
    send_redirect_uri: bool = True,
    **kwargs,
) -> tuple[str, str | None]:
    """Runs the flow with a fresh S256 challenge (unless `verifier` is "" for none) and
    returns (code, verifier); checks state and iss on the way back. Other keyword
    arguments are `UserAgent.authorization` options or extra /authorize parameters."""
    if verifier is None:
        verifier, challenge = pkce_pair()
    elif verifier == "":
        verifier, challenge = None, None
    else:
        challenge = s256(verifier)
    state = secrets.token_urlsafe(12)
    flow = {name: kwargs.pop(name) for name in ("decision", "expect_login", "expect_consent") if name in kwargs}
    params = authorization_params(
        client, redirect_uri if send_redirect_uri else None, scope=scope, state=state, challenge=challenge, **kwargs
    )
    response = agent.authorization(params, user, **flow)
    result = assert_redirect_to(response, redirect_uri)
    assert result.get("state") == state and result.get("iss") == agent.server.issuer, result
    assert "code" in result and "error" not in result, result
    return result["code"], verifier


def tokens_for(
    server: Server, client: Client, user: User, redirect_uri: str, *, scope: str = "profile", agent: UserAgent | None = None,
) -> dict:
    """A full flow (login and consent as needed) and the token response."""
    agent = agent or UserAgent(server)
    code, verifier = obtain_code(agent, client, user, redirect_uri, scope=scope)
    response = server.code_token(client, code, redirect_uri=redirect_uri, code_verifier=verifier)
    assert response.status_code == 200, response.text
    return response.json()


class RedirectCatcher:
    """A loopback HTTP listener standing in for a native app's redirect URI
    (RFC 8252 §7.3): it records every request for /callback and answers a small page.
    A GET is recorded with its `query`; a POST (response_mode=form_post) with its `form` too."""

    def __init__(self, path: str = "/callback"):
        self.path = path
        self.requests: "queue.Queue[dict]" = queue.Queue()
        #: Other pages it serves (path -> HTML), e.g. a third-party page framing Warden's.
        self.pages: dict[str, str] = {}
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if urlsplit(self.path).path == catcher.path:
                    catcher.requests.put({
                        "method": "GET", "path": self.path, "query": query_params(self.path), "headers": dict(self.headers),
                    })
                self.answer()

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                if urlsplit(self.path).path == catcher.path:
                    catcher.requests.put({
                        "method": "POST", "path": self.path, "query": query_params(self.path), "headers": dict(self.headers),
                        "form": dict(parse_qsl(body, keep_blank_values=True)),
                    })
                self.answer()

            def answer(self):
                page = catcher.pages.get(urlsplit(self.path).path)
                body = page.encode() if page is not None else (
                    b"<!doctype html><title>Done</title><p>You may close this window.</p>"
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def wait(self, timeout: float = 15.0) -> dict:
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing arrived at {self.redirect_uri} within {timeout}s") from None

    def drain(self) -> None:
        while not self.requests.empty():
            self.requests.get_nowait()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def bcrypt_cost(password_hash: str) -> int | None:
    match = re.fullmatch(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}", password_hash)
    return int(match.group(1)) if match else None


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def headless_chromium(*, browser_log: bool = False):
    """Headless Chromium driven by Selenium (Debian's chromium and chromedriver). Missing
    Chromium or chromedriver is a failure, not a skip. The caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert Path(CHROMIUM).is_file(), f"Chromium is required at {CHROMIUM}"
    assert Path(CHROMEDRIVER).is_file(), f"chromedriver is required at {CHROMEDRIVER}"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,900",
                     "--no-first-run", "--disable-extensions", "--lang=en-US"):
        options.add_argument(argument)
    if browser_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(30)
    return browser

