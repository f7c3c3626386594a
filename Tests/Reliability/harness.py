"""Shared pieces of Warden's reliability runs (crash_durability.py, soak.py).

They drive the already-built `warden` binary from outside, like Tests/Interop does,
and reuse its helpers (interop.py): installations, the CLI, the login/consent walk.
What is added here is what a fault or load run needs on top: a server started on a
chosen port with a chosen issuer (so a restarted server keeps the tokens' `iss`),
SIGKILL, process cleanup that holds even when the run dies, a classification of
client-side exceptions (was the request ever sent?), RSS, `PRAGMA integrity_check`,
and fast verification of many access tokens against a JWKS with PyJWT and joserfc.

Nothing here builds the binary; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT / "Tests" / "Interop"))

import requests  # noqa: E402
from urllib3.exceptions import NewConnectionError  # noqa: E402

import interop  # noqa: E402
from interop import ALLOWED_ALGORITHMS, Server, Warden, clean_environment, jwt_header  # noqa: E402

#: Every server process this run started and has not seen exit; killed at exit whatever happens.
_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def use_binary(path: str | os.PathLike | None) -> Path:
    """Points interop (WARDEN_BINARY) at `path`, or checks the one it would use; exits 2 if missing."""
    if path:
        os.environ["WARDEN_BINARY"] = str(Path(path).resolve())
    binary = Path(os.environ.get("WARDEN_BINARY") or interop.DEFAULT_BINARY)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        print(f"warden binary not found at {binary}: build it first, or pass --binary / set WARDEN_BINARY", file=sys.stderr)
        raise SystemExit(2)
    os.environ["WARDEN_BINARY"] = str(binary)
    return binary


def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        processes = list(_LIVE)
    for process in processes:
        if process.poll() is None:
            process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def install_cleanup() -> None:
    """SIGKILLs every server still running when the interpreter exits, and turns SIGTERM
    and SIGHUP into SystemExit so that `finally` blocks and this hook run."""
    atexit.register(_kill_leftovers)

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, terminate)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if this (Python) process dies, even by SIGKILL.
    PR_SET_PDEATHSIG fires when the *thread* that forked exits: servers are started from
    the main thread only."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def launch(
    warden: Warden,
    *,
    port: int | None = None,
    issuer: str | None = None,
    port_wait: float = 5.0,
    startup_timeout: float = interop.STARTUP_TIMEOUT,
) -> Server:
    """`warden serve` on 127.0.0.1:`port` (a free one when None, another free one when
    `port` stays taken for `port_wait` seconds) with `--issuer issuer` (default: the URL
    of the first port), waiting until /healthz answers. The server is registered with
    `warden` (so interop.finish stops it) and is SIGKILLed if this process dies."""
    if port is not None:
        deadline = time.monotonic() + port_wait
        while not port_is_free(port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not port_is_free(port):
            port = None
    for attempt in range(3):
        chosen = port if port is not None and attempt == 0 else interop.free_port()
        server_issuer = issuer or f"http://127.0.0.1:{chosen}"
        stamp = f"{int(time.time() * 1000)}-{chosen}"
        out = warden.root / f"serve-{stamp}.stdout"
        err = warden.root / f"serve-{stamp}.stderr"
        command = [
            str(warden.binary), "serve", *warden.global_options(),
            "--host", "127.0.0.1", "--port", str(chosen), "--issuer", server_issuer,
        ]
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            process = subprocess.Popen(
                command, cwd=warden.cwd, env=clean_environment(), stdout=stdout, stderr=stderr,
                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            )
        with _LIVE_LOCK:
            _LIVE.add(process)
        server = Server(process=process, port=chosen, issuer=server_issuer, stdout_path=out, stderr_path=err)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if server.healthy():
                warden.servers.append(server)
                return server
            time.sleep(0.02)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
            raise AssertionError(f"warden serve did not become healthy within {startup_timeout}s: {server.stderr()}")
        with _LIVE_LOCK:
            _LIVE.discard(process)
        error = server.stderr().lower()
        if "in use" not in error and "address" not in error:
            raise AssertionError(f"warden serve exited early ({process.returncode}): {server.stderr()}")
    raise AssertionError(f"warden serve could not bind a port: {server.stderr()}")


def kill9(server: Server) -> int:
    """SIGKILL, and wait for the process to be gone (its sockets and locks released)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL)
    status = server.process.wait(timeout=10)
    server.stopped = True
    with _LIVE_LOCK:
        _LIVE.discard(server.process)
    return status


def finish_run(warden: Warden, root: Path, status: int, keep: bool) -> int:
    """Ends a run: SIGKILLs any server of `warden` still up, removes `root` after a clean
    run unless `keep`, else says where the files are; returns `status`."""
    for server in warden.servers:
        if not server.stopped and server.process.poll() is None:
            kill9(server)
    if status == 0 and not keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"files kept in {root}", flush=True)
    return status


def stop(server: Server) -> int:
    """SIGTERM (interop's Server.stop: exit status, AssertionError after 10 s)."""
    try:
        return server.stop()
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(server.process)


def never_sent(error: BaseException) -> bool:
    """True when `requests` failed before any byte of the request reached a server:
    the TCP connection itself could not be made (refused: the server was down). Any
    other failure (reset, aborted, timeout) may have come after the server read, and
    even committed, the request."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, NewConnectionError):
            return True
        if isinstance(current, (requests.exceptions.ReadTimeout,)):
            return False
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return False


def rss_kib(pid: int, key: str = "VmRSS") -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def integrity_check(database: Path) -> list[str]:
    """`PRAGMA integrity_check` on a read-only connection (with the WAL as the crash left it)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
    finally:
        connection.close()


@dataclass
class IssuedToken:
    """An access token a client received, with what a resource server would expect of it."""

    token: str
    audience: str
    client_id: str
    issuer: str
    kid: str = ""
    exp: int = 0
    jti: str = ""

    def __post_init__(self):
        if not self.kid:
            self.kid = jwt_header(self.token).get("kid", "")
        if not self.exp or not self.jti:
            claims = interop.jwt_claims_unverified(self.token)
            self.exp = int(claims.get("exp", 0))
            self.jti = str(claims.get("jti", ""))


@dataclass
class VerificationResult:
    checked: int = 0
    expired: int = 0
    failures: list[str] = field(default_factory=list)


def verify_tokens(tokens: list[IssuedToken], jwks: dict, *, both_libraries: bool = True, leeway: int = 5) -> VerificationResult:
    """Verifies each token like a resource server holding `jwks`: key by `kid`, signature,
    `typ` at+jwt, iss, aud, exp, iat, client_id. Every token is verified with PyJWT and,
    when `both_libraries`, with joserfc too. Expired tokens are counted, not verified."""
    import jwt as pyjwt
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet
    from joserfc.jwt import JWTClaimsRegistry

    result = VerificationResult()
    keys = {}
    for key in jwks.get("keys", []):
        try:
            keys[key["kid"]] = pyjwt.PyJWK(key)
        except Exception as error:  # noqa: BLE001 - reported, not fatal to the others
            result.failures.append(f"JWKS key {key.get('kid')!r} not usable by PyJWT: {error}")
    key_set = KeySet.import_key_set(jwks)
    now = time.time()
    for issued in tokens:
        if issued.exp and issued.exp < now - leeway:
            result.expired += 1
            continue
        result.checked += 1
        where = f"token jti={issued.jti} kid={issued.kid} client={issued.client_id}"
        header = jwt_header(issued.token)
        if header.get("typ") != "at+jwt":
            result.failures.append(f"{where}: typ is {header.get('typ')!r}, not at+jwt")
        key = keys.get(issued.kid)
        if key is None:
            result.failures.append(f"{where}: kid not in the JWKS (JWKS kids: {sorted(keys)})")
            continue
        try:
            claims = pyjwt.decode(
                issued.token, key.key, algorithms=ALLOWED_ALGORITHMS, audience=issued.audience, issuer=issued.issuer,
                leeway=leeway, options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
            )
            if claims.get("client_id") != issued.client_id:
                result.failures.append(f"{where}: client_id claim is {claims.get('client_id')!r}")
        except Exception as error:  # noqa: BLE001
            result.failures.append(f"{where}: PyJWT: {type(error).__name__}: {error}")
            continue
        if both_libraries:
            try:
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message="EdDSA is deprecated")
                    decoded = jose_jwt.decode(issued.token, key_set, algorithms=ALLOWED_ALGORITHMS)
                JWTClaimsRegistry(
                    leeway=leeway,
                    iss={"essential": True, "value": issued.issuer},
                    aud={"essential": True, "value": issued.audience},
                    exp={"essential": True},
                    jti={"essential": True},
                ).validate(decoded.claims)
            except Exception as error:  # noqa: BLE001
                result.failures.append(f"{where}: joserfc: {type(error).__name__}: {error}")
    return result


def fetch_jwks(server: Server) -> dict:
    response = requests.get(server.url("/.well-known/jwks.json"), timeout=10)
    response.raise_for_status()
    return response.json()


def response_error(response: requests.Response) -> str | None:
    """The OAuth `error` of a JSON error response, else None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def answer(response: requests.Response) -> str:
    """A response in a few words for a report: never the tokens of a success."""
    if 200 <= response.status_code < 300:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code}"
        fields = sorted(body) if isinstance(body, dict) else type(body).__name__
        return f"{response.status_code} with {fields}"
    return f"{response.status_code} {short(response.text)}"


def short(text: str, limit: int = 300) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def dump_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
