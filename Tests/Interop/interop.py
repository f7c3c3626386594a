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
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

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
        return {"auth": self.basic, "data": {}}


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
    """One Warden installation: a working directory, a database and a key-encryption key."""

    def __init__(self, root: Path, config: dict | None = None):
        self.binary = warden_binary()
        self.root = root
        self.cwd = root / "cwd"
        self.cwd.mkdir(parents=True, exist_ok=True)
        self.database = root / "data" / "warden.sqlite"
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
            options += ["--database", str(self.database)]
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

    def keys(self) -> list[dict]:
        return self.run_json("keys", "list")

    def signing_kid(self) -> str:
        signing = [key["kid"] for key in self.keys() if key["state"] == "signing"]
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

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Reads the database read-only, as an outsider would."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        try:
            return connection.execute(query, params).fetchall()
        finally:
            connection.close()

    def database_bytes(self) -> bytes:
        """The database file with its WAL, if any."""
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
    ) -> Server:
        """Starts `warden serve` on a free port with `--issuer http://127.0.0.1:PORT`
        (or `issuer`) and waits until /healthz answers."""
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
                    command, cwd=self.cwd, env=clean_environment(), stdout=stdout, stderr=stderr,
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
