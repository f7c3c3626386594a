"""OPERATIONS.md, "Faults from below": what the store underneath does to Warden, and what
Warden promises back.

- PostgreSQL stopped (fast shutdown) and started again under load, with two instances on one
  database and `database_statement_timeout: 2`. The cluster is a throwaway one of this
  module's own (postgres.PostgresCluster.start), never the shared one other tests use. It
  stays down some 28 s: at least OUTAGE_SECONDS, then until just after the instances next
  try to connect (a listener on its port sees the tries), the worst moment to come back
  for a client with a retry back-off. While it is down every OAuth request answers 503
  `{"error": "temporarily_unavailable"}` (or succeeds, when it needs no database) within the
  statement timeout plus a second, never hangs and never answers 500; /healthz answers 503;
  once PostgreSQL accepts connections again both instances serve within 5 s without a
  restart; nothing acknowledged is lost.
  Access tokens are JWTs and store nothing, so the acknowledged writes checked afterwards
  are refresh-token rotations (every chain's last acknowledged refresh token is still
  active) and revocations (every token whose revocation was acknowledged is inactive).
- SQLite: the disk fills up (ENOSPC) or the file system turns read-only (EROFS). Root
  ignores file permissions, so an LD_PRELOAD shim makes the system calls fail
  (Tests/Support/faults/storage-faults.c, compiled here with gcc; switched on and off at
  runtime through a control file). Writes answer 503 temporarily_unavailable, reads that
  write nothing go on, one error line is logged per cause (not per request),
  `PRAGMA integrity_check` stays ok, and service resumes by itself when the fault ends,
  with nothing done by the requests that were refused.
- Slow storage (the same shim: every fsync of the database takes 100 ms longer): latency
  rises, nothing fails, and no write is acknowledged before its commit (with
  `database_durability: full` every commit waits for its fsync, so no write's answer may
  come sooner than 100 ms; and a rotation answered 200 survives a kill -9 right after).
- The wall clock jumping forwards and backwards by ten minutes (the same shim shifts
  CLOCK_REALTIME, gettimeofday and time; monotonic clocks, and so the server's timers,
  are untouched): no token is issued with `exp` before `iat`, codes and refresh tokens
  expire by the new clock, and the server neither crashes nor stops serving.

Each scenario runs once (a module fixture) and records what happened; each promise is a
test of its own over that record, so that one broken promise does not hide another.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pytest
import requests

from interop import (
    REPO_ROOT,
    Client,
    Server,
    UserAgent,
    Warden,
    authorization_params,
    finish,
    jwt_claims_unverified,
    obtain_code,
    pkce_pair,
    query_params,
    tokens_for,
)
from postgres import CLUSTER_SCRIPT, PostgresCluster, tables

SHIM_SOURCE = REPO_ROOT / "Tests" / "Support" / "faults" / "storage-faults.c"
REDIRECT = "http://127.0.0.1:8765/callback"  # never listened on: codes are read from Location
API = "https://api.example.com"
CC_SCOPE = "invoices:read invoices:write"
USER_SCOPE = "openid profile offline_access"

#: The PostgreSQL scenario's `database_statement_timeout`, and the promised answer time.
STATEMENT_TIMEOUT = 2
ANSWER_BOUND = STATEMENT_TIMEOUT + 1.0
#: What the test's own measurement may add to a request's time (Python threads on a loaded
#: machine); not a tolerance of the server's.
MEASUREMENT_SLACK = 0.25
#: The load's own client timeout: long enough to tell a late answer from a hang.
CLIENT_TIMEOUT = ANSWER_BOUND + 1.5
#: PostgreSQL stays down at least this long, then until the instances' next connection
#: attempt (see `PortWatcher`). An outage of half a minute is an ordinary restart or
#: failover, and long enough for a connection pool's retry back-off to outgrow the 5 s of
#: the promise (PostgresNIO's is 100 ms * 1.25^n: after the attempt some 27 s into an
#: outage, the next one comes about 7 s later), and for many requests to be sent and
#: answered while it is down.
OUTAGE_SECONDS = 24.0
#: OPERATIONS.md: every instance serves again within this long of PostgreSQL being back.
RECOVERY_SECONDS = 5.0
#: The slow-storage fault: each fsync of the database this much longer.
SLOW_FSYNC_MS = 100
#: How far the clock jumps.
JUMP_SECONDS = 600
#: The server's authorization code lifetime (AuthorizationEndpoint: 60 s; INTERFACE.md is
#: silent, RFC 6749 §4.1.2 recommends at most 10 minutes): a jump of JUMP_SECONDS outlives it.
CODE_LIFETIME = 60
#: The clock scenario's refresh_token_idle_lifetime: shorter than the jump.
REFRESH_IDLE_LIFETIME = 300


# -- the shim ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shim(tmp_path_factory) -> Path:
    """storage-faults.c compiled for this run (gcc; `cc` when gcc is missing)."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "gcc is required to build Tests/Support/faults/storage-faults.c (install-dependencies.sh installs it)"
    library = tmp_path_factory.mktemp("faults") / "storage-faults.so"
    result = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(library), str(SHIM_SOURCE), "-ldl"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{compiler} could not build {SHIM_SOURCE.name}:\n{result.stderr}"
    return library


def fault_environment(shim: Path, *, directory: Path | None = None, control: Path | None = None,
                      clock: Path | None = None) -> dict[str, str]:
    """The server's environment for the shim: storage faults for files under `directory`,
    chosen by the contents of `control`; the wall-clock offset in `clock`."""
    env = {"LD_PRELOAD": str(shim)}
    if directory is not None:
        env["WARDEN_FAULT_DIR"] = str(directory)
    if control is not None:
        env["WARDEN_FAULT_CONTROL"] = str(control)
    if clock is not None:
        env["WARDEN_FAULT_CLOCK"] = str(clock)
    return env


def replace_file(path: Path, text: str) -> None:
    """Writes `path` whole at once (rename), so that the shim never reads it half-written."""
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    os.replace(temporary, path)


def set_fault(control: Path, fault: str) -> None:
    """Switches the storage fault (read by the shim on every call that may fault)."""
    replace_file(control, fault)


def set_clock(clock: Path, offset: int) -> None:
    """Moves the server's wall clock to real time + `offset` seconds (the shim re-reads the
    file every 10 ms: the pause makes sure the jump has happened before the next request)."""
    replace_file(clock, f"{offset:+d}\n")
    time.sleep(0.05)


# -- requests with their timing ------------------------------------------------------------------


@dataclass
class Call:
    """One HTTP request and what came of it: an answer, or an exception (no answer in time,
    connection refused or reset)."""

    instance: str
    kind: str
    sent: float
    done: float
    status: int | None = None
    content_type: str = ""
    text: str = ""
    location: str = ""
    error: str | None = None
    #: Set by the caller: "ambiguous" for a refresh refused because an earlier request that
    #: failed may have used its token up after all.
    note: str = ""

    @property
    def elapsed(self) -> float:
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def served(self) -> bool:
        """An answer that is not a server error (a 4xx is the server serving)."""
        return self.status is not None and self.status < 500

    def json(self) -> dict:
        return json.loads(self.text)

    @property
    def unavailable(self) -> bool:
        """503 with an RFC 6749 §5.2 JSON body whose error is temporarily_unavailable."""
        if self.status != 503 or self.content_type != "application/json":
            return False
        try:
            body = self.json()
        except ValueError:
            return False
        return (isinstance(body, dict) and body.get("error") == "temporarily_unavailable"
                and set(body) <= {"error", "error_description", "error_uri"})

    def describe(self, origin: float | None = None) -> str:
        at = f" sent at +{self.sent - origin:.2f}s" if origin is not None else ""
        outcome = self.error if self.error else f"{self.status} {self.content_type or '-'} {self.text[:160]!r}"
        return f"{self.instance} {self.kind}{at}: {outcome} after {self.elapsed:.2f}s"


def perform(instance: str, kind: str, send: Callable[[], requests.Response]) -> Call:
    sent = time.monotonic()
    try:
        response = send()
    except requests.RequestException as error:
        return Call(instance, kind, sent, time.monotonic(), error=f"no answer ({type(error).__name__})")
    return Call(instance, kind, sent, time.monotonic(), status=response.status_code,
                content_type=response.headers.get("Content-Type", "").split(";")[0].strip(), text=response.text,
                location=response.headers.get("Location", ""))


def post(server: Server, path: str, client: Client, timeout: float, **fields) -> requests.Response:
    """A form POST authenticated with the client's registered method."""
    kwargs = client.credentials()
    data = dict(kwargs.pop("data"), **fields)
    return requests.post(server.url(path), data=data, timeout=timeout, **kwargs)


def cc_token(server: Server, client: Client, timeout: float = 10) -> requests.Response:
    return post(server, "/token", client, timeout, grant_type="client_credentials")


def rotate(server: Server, client: Client, refresh_token: str, timeout: float = 10) -> requests.Response:
    return post(server, "/token", client, timeout, grant_type="refresh_token", refresh_token=refresh_token)


def redeem(server: Server, client: Client, code: str, verifier: str, timeout: float = 10) -> requests.Response:
    return post(server, "/token", client, timeout, grant_type="authorization_code", code=code,
                redirect_uri=REDIRECT, code_verifier=verifier)


def introspect(server: Server, client: Client, token: str, timeout: float = 10) -> requests.Response:
    return post(server, "/introspect", client, timeout, token=token)


def revoke(server: Server, client: Client, token: str, timeout: float = 10) -> requests.Response:
    return post(server, "/revoke", client, timeout, token=token)


def active(server: Server, client: Client, token: str) -> bool:
    response = introspect(server, client, token)
    assert response.status_code == 200, f"introspection answered {response.status_code}: {response.text!r}"
    return response.json()["active"]


def access_token(response: requests.Response) -> str:
    assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    return response.json()["access_token"]


def finish_all(installation: Warden) -> None:
    """interop.finish (SIGTERM, exit status 0, nothing on stderr), and whatever happens, no
    server left running: one that failed to stop must not keep the others alive."""
    try:
        finish(installation)
    finally:
        for server in installation.servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=10)


def log_lines(text: str) -> list[dict]:
    """The JSON log lines of a server's standard output (log_format: json)."""
    lines = []
    for line in text.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                lines.append({"level": "?", "message": line})
    return lines


#: swift-log's levels, lowest first.
LEVELS = ["trace", "debug", "info", "notice", "warning", "error", "critical"]


def at_least(line: dict, level: str) -> bool:
    return line.get("level") in LEVELS and LEVELS.index(line["level"]) >= LEVELS.index(level)


# -- PostgreSQL stopped and started under load ----------------------------------------------------


@dataclass
class Chain:
    """A refresh-token chain rotated over and over through one instance. `token` is the last
    refresh token a 200 acknowledged; `tried` says whether a request presenting it got no
    answer or a server error other than 503 temporarily_unavailable since (it may have been
    committed without its answer arriving, so the token may be used up: `ambiguous`).
    `lost`: the acknowledged token was refused with nothing ambiguous before."""

    name: str
    server: Server
    token: str
    acknowledged: int = 0
    tried: bool = False
    ambiguous: str | None = None
    lost: str | None = None
    history: list[Call] = field(default_factory=list)


class PortWatcher:
    """Stands on PostgreSQL's TCP port while it is down, the way a port with nothing behind
    it refuses: each connection is accepted and closed at once. It notes when each one came,
    so that PostgreSQL can be started right after the instances' connection pools tried
    (the worst moment: the next try is a whole back-off away)."""

    def __init__(self, port: int):
        self.attempts: list[float] = []
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 2.0
        while True:
            try:
                self.socket.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.socket.listen(128)
        self.socket.settimeout(0.02)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.socket.accept()
            except (socket.timeout, OSError):
                continue
            self.attempts.append(time.monotonic())
            connection.close()

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.socket.close()


@dataclass
class Outage:
    """What happened around one PostgreSQL outage; times are time.monotonic()."""

    servers: dict[str, Server]
    calls: list[Call] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    chains: list[Chain] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    #: When the instances tried to connect while PostgreSQL was down (PortWatcher).
    attempts: list[float] = field(default_factory=list)
    load_start: float = 0.0
    stop_begin: float = 0.0
    stop_end: float = 0.0
    start_begin: float = 0.0
    ready: float = 0.0
    end: float = 0.0
    #: The fresh instance started after the load.
    fresh: Server | None = None
    #: Checked on a fresh instance after the load: description -> what was found (None: as promised).
    afterwards: dict[str, str | None] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    def phase(self, call: Call) -> str:
        if call.sent < self.stop_begin:
            return "before"
        if call.sent < self.stop_end:
            return "stopping"
        if call.sent < self.start_begin:
            return "down"
        if call.sent < self.ready:
            return "starting"
        if call.sent < self.ready + RECOVERY_SECONDS:
            return "recovering"
        return "after"

    def describe(self, call: Call) -> str:
        return f"[{self.phase(call)}] " + call.describe(self.stop_begin)

    def timeline(self) -> str:
        attempts = ", ".join(f"+{attempt - self.stop_begin:.2f}" for attempt in self.attempts)
        return (f"PostgreSQL stopping at +0.00s, down at +{self.stop_end - self.stop_begin:.2f}s, starting at "
                f"+{self.start_begin - self.stop_begin:.2f}s, accepting connections at +{self.ready - self.stop_begin:.2f}s, "
                f"load ended at +{self.end - self.stop_begin:.2f}s; the instances' connection attempts while it was down "
                f"at [{attempts}]s")

    def recovery(self, instance: str) -> tuple[float | None, list[Call]]:
        """How long after PostgreSQL was back `instance` served again: among the requests to it
        sent after that, the later of the first one served promptly (an answer that is not a
        5xx, within the answer bound) and the last one that was not (no answer, a 5xx,
        /healthz's 503, or a late answer), counted to when each ended; None when nothing was
        served promptly after the last failure. With those failures."""
        after = [call for call in self.calls if call.instance == instance and call.sent >= self.ready]
        prompt = [call for call in after if call.served and call.elapsed <= ANSWER_BOUND + MEASUREMENT_SLACK]
        failures = sorted((call for call in after if not any(call is other for other in prompt)), key=lambda call: call.sent)
        if not prompt:
            return None, failures
        last_failure = max((call.done for call in failures), default=self.ready)
        if not any(call.sent >= last_failure for call in prompt):
            return None, failures
        return max(min(call.done for call in prompt), last_failure) - self.ready, failures


def pg_ctl_start(cluster: PostgresCluster) -> None:
    """Starts a cluster made by postgres-cluster.sh again after `postgres-cluster.sh stop`
    (same data directory, port and socket; pg_ctl waits until it accepts connections)."""
    directory = cluster.directory
    assert directory is not None
    bindir = (directory / "bindir").read_text().strip()
    command = [f"{bindir}/pg_ctl", f"--pgdata={directory}/data", f"--log={directory}/postgres.log",
               "--wait", "--timeout=60", "--silent", "start"]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, f"PostgreSQL did not start again: {result.stderr}"


def cluster_port(cluster: PostgresCluster) -> int:
    port = urlsplit(cluster.admin_url).port
    assert port is not None, cluster.admin_url
    return port


def pg_stop(cluster: PostgresCluster) -> None:
    result = subprocess.run([str(CLUSTER_SCRIPT), "stop", str(cluster.directory)],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, f"PostgreSQL did not stop: {result.stderr}"


@pytest.fixture(scope="module")
def own_cluster() -> PostgresCluster:
    """A throwaway cluster for this module alone, which the outage stops and starts."""
    cluster = PostgresCluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def outage(own_cluster, tmp_path_factory) -> Outage:
    """Two instances (A, B, one issuer) on one database, under load from several threads;
    PostgreSQL stopped (fast shutdown) for OUTAGE_SECONDS and until just after the instances
    next try to connect, then started again; the load runs on until both instances have
    served cleanly for a second (or RECOVERY_SECONDS + 3 s have passed). Afterwards a third
    instance, C, started fresh, checks what was acknowledged."""
    url = own_cluster.create_database()
    installation = Warden(tmp_path_factory.mktemp("pg-outage"), database_url=url,
                          config={"database_statement_timeout": STATEMENT_TIMEOUT, "log_format": "json"})
    try:
        yield run_outage(own_cluster, installation, url)
    finally:
        try:
            finish_all(installation)
        finally:
            own_cluster.drop_database(url)


def run_outage(cluster: PostgresCluster, installation: Warden, url: str) -> Outage:
    cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    web = installation.create_code_client("web", (REDIRECT,), USER_SCOPE, public=False, extra=("--skip-consent",))
    alice = installation.create_user("alice")
    a = installation.start_server()
    b = installation.start_server(issuer=a.issuer)
    assert tables(url), "the servers started, yet the PostgreSQL database has no tables"
    servers = {"A": a, "B": b}
    record = Outage(servers)
    agent = UserAgent(a)

    # Acknowledged before the outage: refresh-token chains (one left idle), a revocation.
    chains = [Chain(f"chain{i}", a if i % 2 == 0 else b,
                    tokens_for(a, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)["refresh_token"]) for i in range(4)]
    idle_refresh = tokens_for(a, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)["refresh_token"]
    revoked_before = access_token(cc_token(a, cc))
    assert revoke(a, cc, revoked_before).status_code == 200
    record.chains = chains

    stop = threading.Event()
    lock = threading.Lock()

    def note(call: Call) -> Call:
        with lock:
            record.calls.append(call)
        return call

    def wrong(text: str) -> None:
        with lock:
            record.wrong.append(text)

    def issue_and_introspect(name: str, server: Server) -> None:
        while not stop.is_set():
            call = note(perform(name, "token", lambda: cc_token(server, cc, CLIENT_TIMEOUT)))
            if call.ok:
                token = call.json()["access_token"]
                with lock:
                    record.issued.append(token)
                check = note(perform(name, "introspect", lambda: introspect(server, cc, token, CLIENT_TIMEOUT)))
                if check.ok and check.json().get("active") is not True:
                    wrong(f"introspection of a live access token answered 200 {check.text!r}: "
                          + record.describe(check))
            time.sleep(0.02)

    def issue_and_revoke(name: str, server: Server) -> None:
        while not stop.is_set():
            call = note(perform(name, "token", lambda: cc_token(server, cc, CLIENT_TIMEOUT)))
            if call.ok:
                token = call.json()["access_token"]
                answer = note(perform(name, "revoke", lambda: revoke(server, cc, token, CLIENT_TIMEOUT)))
                if answer.ok:
                    with lock:
                        record.revoked.append(token)
            time.sleep(0.02)

    def probe_health(name: str, server: Server) -> None:
        while not stop.is_set():
            note(perform(name, "healthz", lambda: requests.get(server.url("/healthz"), timeout=CLIENT_TIMEOUT)))
            time.sleep(0.1)

    def rotate_chain(chain: Chain) -> None:
        name = "A" if chain.server is a else "B"
        while not stop.is_set():
            call = note(perform(name, "refresh", lambda: rotate(chain.server, web, chain.token, CLIENT_TIMEOUT)))
            chain.history.append(call)
            if call.ok:
                chain.token, chain.tried = call.json()["refresh_token"], False
                chain.acknowledged += 1
            elif call.status == 400 and "invalid_grant" in call.text:
                # The last acknowledged token is refused: lost, unless a request presenting it
                # went unanswered (or got a server error) since: that one may have been
                # committed with its answer lost.
                if chain.tried:
                    call.note = "ambiguous"
                    chain.ambiguous = record.describe(call)
                else:
                    chain.lost = record.describe(call)
                return
            elif not call.unavailable:
                # 503 temporarily_unavailable says the rotation did not happen: the token
                # must still work once PostgreSQL is back. Anything else may have happened.
                chain.tried = True
            time.sleep(0.02)

    workers = []
    for name, server in servers.items():
        workers += [threading.Thread(target=issue_and_introspect, args=(name, server)),
                    threading.Thread(target=issue_and_revoke, args=(name, server)),
                    threading.Thread(target=probe_health, args=(name, server))]
    workers += [threading.Thread(target=rotate_chain, args=(chain,)) for chain in chains]
    record.load_start = time.monotonic()
    for worker in workers:
        worker.daemon = True
        worker.start()
    try:
        time.sleep(1.0)
        record.stop_begin = time.monotonic()
        pg_stop(cluster)
        watcher = PortWatcher(cluster_port(cluster))
        record.stop_end = time.monotonic()
        try:
            # Down for OUTAGE_SECONDS, then until a connection attempt (and a moment for the
            # other instance's, whose back-off runs nearly in step), at most 15 s longer.
            earliest = record.stop_end + OUTAGE_SECONDS
            while time.monotonic() < earliest + 15.0:
                if any(attempt >= earliest for attempt in watcher.attempts):
                    time.sleep(0.3)
                    break
                time.sleep(0.02)
        finally:
            watcher.close()
            record.attempts = list(watcher.attempts)
        record.start_begin = time.monotonic()
        pg_ctl_start(cluster)
        record.ready = time.monotonic()
        # On until both instances have answered everything sent in the last second with
        # success, or the promise's 5 s (and a margin to see how late they are) have passed.
        deadline = record.ready + RECOVERY_SECONDS + 3.0
        while time.monotonic() < deadline:
            now = time.monotonic()
            with lock:
                calls = list(record.calls)

            def clean(name: str) -> bool:
                recent = [call for call in calls if call.instance == name and call.sent >= max(record.ready, now - 1.0)]
                return bool(recent) and all(call.served for call in recent)

            if now - record.ready >= 1.0 and all(clean(name) for name in servers):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=CLIENT_TIMEOUT + 5)
        record.end = time.monotonic()

    # Afterwards, on a fresh instance (the two may not have recovered): what was acknowledged.
    c = record.fresh = installation.start_server(issuer=a.issuer)
    checks = record.afterwards
    response = cc_token(c, cc)
    checks["a client registered before the outage gets a token"] = (
        None if response.status_code == 200 else f"{response.status_code} {response.text!r}")
    response = rotate(c, web, idle_refresh)
    checks["a refresh token issued before the outage and left idle rotates"] = (
        None if response.status_code == 200 else f"{response.status_code} {response.text!r}")
    checks["an access token revoked before the outage is inactive"] = (
        None if not active(c, cc, revoked_before) else "introspection says active")
    for chain in chains:
        if chain.lost:
            history = "; ".join(record.describe(call) for call in chain.history[-6:])
            checks[f"{chain.name}: its last acknowledged refresh token was refused during the load"] = (
                f"{chain.lost} (its last requests: {history})")
        elif chain.ambiguous is None:
            checks[f"{chain.name}: its last acknowledged refresh token (of {chain.acknowledged} rotations) is active"] = (
                None if active(c, web, chain.token) else "introspection says inactive")
    revoked_active = [token for token in record.revoked if active(c, cc, token)]
    checks[f"all {len(record.revoked)} access tokens whose revocation was acknowledged are inactive"] = (
        f"{len(revoked_active)} are active" if revoked_active else None)
    sample = record.issued[:: max(1, len(record.issued) // 40)]
    dead = [token for token in sample if token not in record.revoked and not active(c, cc, token)]
    checks[f"access tokens issued with 200 during the load are active ({len(sample)} checked)"] = (
        f"{len(dead)} are inactive" if dead else None)
    record.logs = {name: server.stdout() for name, server in servers.items()}
    return record


def test_postgres_down_requests_answer_503_temporarily_unavailable(outage):
    """While PostgreSQL is down every OAuth request answers 503 temporarily_unavailable, or
    succeeds (then correctly); from PostgreSQL being back until 5 s later the same; never a
    500, another error, or no answer. (A rotation refused as invalid_grant after an earlier
    failed attempt with the same token is let pass here: see Chain.)"""
    relevant = [call for call in outage.calls if call.kind != "healthz"
                and outage.phase(call) in ("stopping", "down", "starting", "recovering")]
    down = [call for call in relevant if outage.phase(call) == "down"]
    assert down, "no OAuth request was even sent while PostgreSQL was down. " + outage.timeline()
    bad = [outage.describe(call) for call in relevant if not (call.ok or call.unavailable or call.note == "ambiguous")]
    assert not bad and not outage.wrong, (
        f"{len(bad)} of {len(relevant)} OAuth requests from PostgreSQL stopping until 5 s after it was back answered "
        f"neither 200 nor 503 temporarily_unavailable ({outage.timeline()}):\n"
        + "\n".join(bad[:25] + outage.wrong[:10]))
    assert any(call.unavailable for call in down), (
        "no request sent while PostgreSQL was down answered 503 temporarily_unavailable: "
        + "; ".join(outage.describe(call) for call in down[:10]))


def test_postgres_down_requests_never_hang(outage):
    """Every request from PostgreSQL stopping onwards is answered within
    database_statement_timeout + 1 s."""
    relevant = [call for call in outage.calls if call.sent >= outage.stop_begin]
    late = [outage.describe(call) for call in relevant if call.error or call.elapsed > ANSWER_BOUND + MEASUREMENT_SLACK]
    assert not late, (
        f"{len(late)} of {len(relevant)} requests took longer than database_statement_timeout ({STATEMENT_TIMEOUT}s) + 1s "
        f"or were not answered within {CLIENT_TIMEOUT}s ({outage.timeline()}):\n" + "\n".join(late[:25]))


def test_postgres_down_healthz_answers_503(outage):
    """/healthz says 503 while PostgreSQL is down (probes answered before it started again;
    how fast they are answered is test_postgres_down_requests_never_hang's)."""
    probes = [call for call in outage.calls if call.kind == "healthz" and outage.phase(call) == "down"]
    assert probes, "no /healthz probe was sent while PostgreSQL was down. " + outage.timeline()
    answered = [call for call in probes if call.status is not None and call.done < outage.start_begin]
    assert answered, (
        f"none of the {len(probes)} /healthz probes sent while PostgreSQL was down was answered before it started again:\n"
        + "\n".join(outage.describe(call) for call in probes[:10]))
    bad = [outage.describe(call) for call in answered if call.status != 503]
    assert not bad, (
        f"{len(bad)} of {len(answered)} /healthz probes answered while PostgreSQL was down did not answer 503:\n"
        + "\n".join(bad[:20]))


@pytest.mark.parametrize("instance", ["A", "B"])
def test_postgres_back_every_instance_serves_again_within_5s(outage, instance):
    """Once PostgreSQL accepts connections again, each of the two instances serves every
    request (tokens, introspection, revocation, rotation: no 5xx, no hang; /healthz 200)
    within 5 s, without a restart. PostgreSQL is started right after the instances' last
    connection attempt, the worst moment for a retry back-off."""
    seconds, failures = outage.recovery(instance)
    first = min((call for call in outage.calls if call.instance == instance and call.sent >= outage.ready and call.ok),
                key=lambda call: call.done, default=None)
    detail = "\n".join(outage.describe(call) for call in failures[-15:]) or "(none sent after it was back)"
    detail += f"\nthe first success after it was back: {outage.describe(first) if first else '-'}"
    assert seconds is not None, (
        f"instance {instance} never served again after PostgreSQL came back ({outage.timeline()}); "
        f"failures after it was back:\n{detail}")
    assert seconds <= RECOVERY_SECONDS, (
        f"instance {instance} served again only {seconds:.2f}s after PostgreSQL was back ({outage.timeline()}); "
        f"its last failures:\n{detail}")
    assert outage.servers[instance].process.poll() is None, f"instance {instance} exited"


def test_postgres_outage_loses_nothing_acknowledged(outage):
    """On a fresh instance afterwards: clients, refresh tokens and revocations acknowledged
    before or during the outage are all there; no acknowledged rotation was undone."""
    problems = {check: found for check, found in outage.afterwards.items() if found is not None}
    ambiguous = [f"{chain.name}: {chain.ambiguous}" for chain in outage.chains if chain.ambiguous]
    assert not problems, "acknowledged before or during the outage, lost afterwards:\n" + "\n".join(
        f"- {check}: {found}" for check, found in problems.items()) + (
        "\n(not counted: chains refused after a request that went unanswered, which may have been committed: "
        + "; ".join(ambiguous) + ")" if ambiguous else "")
    rotations = sum(chain.acknowledged for chain in outage.chains)
    assert rotations > 0 and outage.revoked, (
        f"the load acknowledged {rotations} rotations and {len(outage.revoked)} revocations: nothing to check")


def test_postgres_instances_stop_cleanly_after_the_outage(outage):
    """INTERFACE.md: SIGTERM ends a server with status 0 (here within 10 s); still so for the
    instances that lived through the outage (and the fresh one beside them)."""
    servers = {**outage.servers, "C": outage.fresh}
    for server in servers.values():
        server.stopped = True  # stopped here, not again at teardown
        server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    outcomes = {}
    for name, server in servers.items():
        try:
            outcomes[name] = server.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
            outcomes[name] = "still running 10 s after SIGTERM (killed)"
    bad = {name: outcome for name, outcome in outcomes.items() if outcome != 0}
    assert not bad, f"after the outage, SIGTERM did not end these instances with status 0: {bad} ({outage.timeline()})"
    stderr = {name: server.stderr() for name, server in servers.items() if server.stderr().strip()}
    assert not stderr, f"instances wrote to standard error: {stderr}"


# -- SQLite: the disk fills up, the file turns read-only ---------------------------------------


@dataclass
class SQLiteFault:
    cause: str
    server: Server
    writes: list[Call] = field(default_factory=list)
    authorize: Call | None = None
    reads: list[Call] = field(default_factory=list)
    wrong_reads: list[str] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    integrity: dict[str, list] = field(default_factory=dict)
    resumed_after: float | None = None
    afterwards: dict[str, str | None] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["enospc", "erofs"])
def sqlite_fault(request, shim, tmp_path_factory):
    """A SQLite server whose database directory fails writes with ENOSPC (disk full) or
    EROFS (read-only file system) for 2.5 s (longer than a maintenance tick), while writes
    and reads are sent; then the fault ends."""
    cause = request.param
    installation = Warden(tmp_path_factory.mktemp(f"sqlite-{cause}"), config={"log_format": "json"})
    try:
        yield run_sqlite_fault(cause, installation, shim)
    finally:
        finish_all(installation)


def run_sqlite_fault(cause: str, installation: Warden, shim: Path) -> SQLiteFault:
    cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    web = installation.create_code_client("web", (REDIRECT,), USER_SCOPE, public=False, extra=("--skip-consent",))
    alice = installation.create_user("alice")
    control = installation.root / "fault"
    set_fault(control, "")
    server = installation.start_server(env=fault_environment(shim, directory=installation.database.parent, control=control))
    record = SQLiteFault(cause, server)
    agent = UserAgent(server)
    tokens = tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)
    refresh_token, user_token = tokens["refresh_token"], tokens["access_token"]
    code, verifier = obtain_code(agent, web, alice, REDIRECT, scope=USER_SCOPE)
    service_token = access_token(cc_token(server, cc))
    victim = access_token(cc_token(server, cc))

    mark = len(server.stdout())
    set_fault(control, cause)
    began = time.monotonic()
    for _ in range(3):
        record.writes.append(perform("server", "refresh token rotation", lambda: rotate(server, web, refresh_token)))
        record.writes.append(perform("server", "code redemption", lambda: redeem(server, web, code, verifier)))
        record.writes.append(perform("server", "revocation", lambda: revoke(server, cc, victim)))
    record.authorize = perform("server", "GET /authorize (issues a code)", lambda: agent.authorize(
        authorization_params(web, REDIRECT, scope=USER_SCOPE, challenge=pkce_pair()[1])))

    def reads() -> None:
        for kind, send, check in [
            ("client_credentials token", lambda: cc_token(server, cc), lambda body: "access_token" in body),
            ("introspection of an access token", lambda: introspect(server, cc, service_token), lambda body: body.get("active") is True),
            ("introspection of a refresh token", lambda: introspect(server, web, refresh_token), lambda body: body.get("active") is True),
            ("UserInfo", lambda: requests.get(server.url("/userinfo"), headers={"Authorization": f"Bearer {user_token}"}, timeout=10),
             lambda body: body.get("sub") == alice.id),
            ("JWKS", lambda: requests.get(server.url("/.well-known/jwks.json"), timeout=10), lambda body: bool(body.get("keys"))),
            ("metadata", lambda: requests.get(server.url("/.well-known/oauth-authorization-server"), timeout=10),
             lambda body: body.get("issuer") == server.issuer),
        ]:
            call = perform("server", kind, send)
            record.reads.append(call)
            if call.ok and not check(call.json()):
                record.wrong_reads.append(f"{kind}: 200 with {call.text[:200]!r}")

    reads()
    while time.monotonic() < began + 2.5:  # past a maintenance tick (2 s), reading on
        time.sleep(0.5)
        reads()
    record.integrity["during the fault"] = installation.sql("PRAGMA integrity_check")
    set_fault(control, "")
    ended = time.monotonic()

    # Service resumes by itself; what the refused requests asked for did not happen.
    while time.monotonic() < ended + 5.0:
        response = rotate(server, web, refresh_token)
        if response.status_code == 200:
            record.resumed_after = time.monotonic() - ended
            break
        if response.status_code == 400:
            record.afterwards["the refresh token presented during the fault rotates once it is over"] = (
                f"{response.status_code} {response.text!r}")
            break
        time.sleep(0.1)
    response = redeem(server, web, code, verifier)
    record.afterwards["the code presented during the fault is redeemed once it is over"] = (
        None if response.status_code == 200 else f"{response.status_code} {response.text!r}")
    record.afterwards["the access token whose revocation was refused is still active"] = (
        None if active(server, cc, victim) else "introspection says inactive")
    response = revoke(server, cc, victim)
    record.afterwards["a revocation afterwards is acknowledged and takes effect"] = (
        None if response.status_code == 200 and not active(server, cc, victim) else f"{response.status_code} {response.text!r}")
    record.integrity["after the fault"] = installation.sql("PRAGMA integrity_check")
    record.log = log_lines(server.stdout()[mark:])
    return record


def test_sqlite_fault_writes_answer_503_temporarily_unavailable(sqlite_fault):
    """Every write (rotation, code redemption, revocation) answers 503 temporarily_unavailable;
    GET /authorize, which must store the code it issues, answers 503 or sends the browser
    back with error=temporarily_unavailable (RFC 6749 §4.1.2.1)."""
    bad = [call.describe() for call in sqlite_fault.writes if not call.unavailable]
    authorize = sqlite_fault.authorize
    if authorize.status in (302, 303):
        error = query_params(authorize.location).get("error")
        if authorize.location.partition("?")[0] != REDIRECT or error != "temporarily_unavailable":
            bad.append(f"{authorize.describe()}: redirected to {authorize.location}")
    elif authorize.status != 503:
        bad.append(authorize.describe())
    assert not bad, (
        f"{sqlite_fault.cause}: {len(bad)} of {len(sqlite_fault.writes) + 1} writes did not answer 503 temporarily_unavailable:\n"
        + "\n".join(bad))


def test_sqlite_fault_reads_go_on(sqlite_fault):
    """Requests that write nothing go on: client_credentials tokens, introspection of access
    and refresh tokens, UserInfo, the JWKS and the metadata."""
    bad = [call.describe() for call in sqlite_fault.reads if not call.ok]
    assert not bad and not sqlite_fault.wrong_reads, (
        f"{sqlite_fault.cause}: reads that failed during the fault:\n" + "\n".join(bad[:20] + sqlite_fault.wrong_reads))


def test_sqlite_fault_logs_one_error_line_per_cause(sqlite_fault):
    """One error line for the cause, not one per failed request: exactly one line at warning
    or above from the fault's start until after it ended, and that line at error or above."""
    loud = [line for line in sqlite_fault.log if at_least(line, "warning")]
    failed = [line for line in sqlite_fault.log if line.get("message") == "request" and line.get("status", "").startswith("5")]
    assert len(loud) == 1 and at_least(loud[0], "error"), (
        f"{sqlite_fault.cause}: expected exactly one error line for {len(sqlite_fault.writes) + 1} failed writes "
        f"over 2.5 s, got {len(loud)} lines at warning or above:\n"
        + "\n".join(json.dumps(line) for line in loud[:10])
        + f"\n(request lines with a 5xx status: {len(failed)}, e.g. {json.dumps(failed[0]) if failed else '-'})")


def test_sqlite_fault_leaves_the_database_intact(sqlite_fault):
    """PRAGMA integrity_check says ok, during the fault and after it."""
    for when, rows in sqlite_fault.integrity.items():
        assert rows == [("ok",)], f"{sqlite_fault.cause}: integrity_check {when}: {rows}"


def test_sqlite_fault_service_resumes_by_itself(sqlite_fault):
    """Once the fault is over, writes succeed again without a restart (within 5 s, the bound
    of PostgreSQL's recovery: OPERATIONS.md gives none for SQLite), and what the refused
    requests asked for had not been done."""
    assert sqlite_fault.resumed_after is not None and all(found is None for found in sqlite_fault.afterwards.values()), (
        f"{sqlite_fault.cause}: rotation answered 200 again after "
        f"{'never (5 s)' if sqlite_fault.resumed_after is None else f'{sqlite_fault.resumed_after:.2f}s'}; "
        + "; ".join(f"{check}: {found}" for check, found in sqlite_fault.afterwards.items() if found))
    assert sqlite_fault.server.process.poll() is None, "the server exited"


# -- slow storage --------------------------------------------------------------------------------


def test_slow_fsync_raises_latency_fails_nothing_and_acknowledges_after_commit(tmp_path, shim):
    """Every fsync of the database 100 ms slower, under concurrent load (rotations,
    revocations, client_credentials tokens): no request fails, and every write's answer
    takes at least the 100 ms (with full durability a commit waits for its fsync; a write
    answered sooner was acknowledged before it was committed)."""
    installation = Warden(tmp_path / "slow", config={"log_format": "json"})
    try:
        cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        web = installation.create_code_client("web", (REDIRECT,), USER_SCOPE, public=False, extra=("--skip-consent",))
        alice = installation.create_user("alice")
        control = tmp_path / "fault"
        set_fault(control, "")
        server = installation.start_server(env=fault_environment(shim, directory=installation.database.parent, control=control))
        agent = UserAgent(server)
        chains = [tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)["refresh_token"] for _ in range(3)]

        baseline = []
        for _ in range(5):
            call = perform("server", "refresh", lambda: rotate(server, web, chains[0]))
            assert call.ok, call.describe()
            chains[0] = call.json()["refresh_token"]
            baseline.append(call.elapsed)

        set_fault(control, f"slow-fsync:{SLOW_FSYNC_MS}")
        calls: list[Call] = []
        lock = threading.Lock()
        until = time.monotonic() + 2.0

        def rotating(index: int) -> None:
            while time.monotonic() < until:
                call = perform("server", "refresh", lambda: rotate(server, web, chains[index]))
                with lock:
                    calls.append(call)
                if not call.ok:
                    return
                chains[index] = call.json()["refresh_token"]

        def revoking() -> None:
            while time.monotonic() < until:
                call = perform("server", "token", lambda: cc_token(server, cc))
                with lock:
                    calls.append(call)
                if call.ok:
                    token = call.json()["access_token"]
                    answer = perform("server", "revoke", lambda: revoke(server, cc, token))
                    with lock:
                        calls.append(answer)

        workers = [threading.Thread(target=rotating, args=(index,)) for index in range(len(chains))]
        workers += [threading.Thread(target=revoking) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
        set_fault(control, "")

        failed = [call.describe() for call in calls if not call.ok]
        assert not failed, f"{len(failed)} of {len(calls)} requests failed with slow fsync:\n" + "\n".join(failed[:20])
        writes = [call for call in calls if call.kind in ("refresh", "revoke")]
        assert len(writes) >= 10, f"only {len(writes)} writes in 2 s"
        early = [call.describe() for call in writes if call.elapsed < SLOW_FSYNC_MS / 1000]
        assert not early, (
            f"{len(early)} of {len(writes)} writes were answered in less than the {SLOW_FSYNC_MS} ms every commit's fsync "
            f"took: acknowledged before their commit:\n" + "\n".join(early[:20]))
        assert statistics.median(call.elapsed for call in writes) >= statistics.median(baseline) + 0.9 * SLOW_FSYNC_MS / 1000, (
            f"write latency did not rise: median {statistics.median(baseline) * 1000:.1f} ms before, "
            f"{statistics.median(call.elapsed for call in writes) * 1000:.1f} ms with slow fsync")
        for index, token in enumerate(chains):
            assert active(server, web, token), f"chain {index}: its last acknowledged refresh token is inactive"
    finally:
        finish_all(installation)


def test_slow_fsync_acknowledged_writes_survive_kill_9(tmp_path, shim):
    """With slow fsync, kill -9 the server right after a rotation's or a revocation's 200:
    after a restart the new refresh token works, the rotated one and the revoked access token
    are inactive, and integrity_check says ok."""
    installation = Warden(tmp_path / "kill", config={"log_format": "json"})
    try:
        cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
        web = installation.create_code_client("web", (REDIRECT,), USER_SCOPE, public=False, extra=("--skip-consent",))
        alice = installation.create_user("alice")
        control = tmp_path / "fault"
        set_fault(control, f"slow-fsync:{SLOW_FSYNC_MS}")
        env = fault_environment(shim, directory=installation.database.parent, control=control)
        server = installation.start_server(env=env)
        issuer = server.issuer
        refresh_token = tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE)["refresh_token"]
        for round in range(3):
            previous = refresh_token
            response = rotate(server, web, previous)
            assert response.status_code == 200, f"round {round}: {response.status_code} {response.text!r}"
            refresh_token = response.json()["refresh_token"]
            revoked = access_token(cc_token(server, cc))
            assert revoke(server, cc, revoked).status_code == 200
            server.process.send_signal(signal.SIGKILL)  # right after the answers
            server.process.wait(timeout=10)
            server.stopped = True
            rows = installation.sql("PRAGMA integrity_check")
            assert rows == [("ok",)], f"round {round}: integrity_check after kill -9: {rows}"
            server = installation.start_server(issuer=issuer, env=env)
            assert active(server, web, refresh_token), (
                f"round {round}: the refresh token a 200 returned right before kill -9 is inactive after the restart")
            assert not active(server, web, previous), f"round {round}: the rotated refresh token is active again"
            assert not active(server, cc, revoked), (
                f"round {round}: the access token whose revocation was acknowledged right before kill -9 is active")
        response = rotate(server, web, refresh_token)
        assert response.status_code == 200, f"{response.status_code} {response.text!r}"
    finally:
        finish_all(installation)


# -- the clock jumps -------------------------------------------------------------------------------


@dataclass
class ClockJumps:
    server: Server
    #: (label, JWT, the clock offset it was issued under, real time when it was received)
    tokens: list[tuple[str, str, int, float]] = field(default_factory=list)
    #: label -> (status, body): what a code or refresh token presented after a jump got.
    outcomes: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: Requests that must succeed in every phase, and what they got when they did not.
    probes: list[str] = field(default_factory=list)
    failed_probes: list[str] = field(default_factory=list)
    alive: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def clock_jumps(shim, tmp_path_factory):
    """A SQLite server whose wall clock moves +10 min, then -10 min (back 20), then to real
    time, with codes, refresh tokens and tokens obtained and presented around each jump."""
    installation = Warden(tmp_path_factory.mktemp("clock"), config={
        "log_format": "json", "refresh_token_idle_lifetime": REFRESH_IDLE_LIFETIME})
    try:
        yield run_clock_jumps(installation, shim)
    finally:
        finish_all(installation)


def run_clock_jumps(installation: Warden, shim: Path) -> ClockJumps:
    cc = installation.create_client(name="backend", scope=CC_SCOPE, audiences=(API,))
    web = installation.create_code_client("web", (REDIRECT,), USER_SCOPE, public=False, extra=("--skip-consent",))
    alice = installation.create_user("alice")
    clock = installation.root / "clock"
    set_clock(clock, 0)
    server = installation.start_server(env=fault_environment(shim, clock=clock))
    record = ClockJumps(server)
    agent = UserAgent(server)

    def probe(offset: int) -> None:
        for kind, send in [
            ("healthz", lambda: requests.get(server.url("/healthz"), timeout=10)),
            ("client_credentials token", lambda: cc_token(server, cc)),
            ("JWKS", lambda: requests.get(server.url("/.well-known/jwks.json"), timeout=10)),
        ]:
            call = perform("server", kind, send)
            record.probes.append(f"{offset:+d}s {kind}")
            if not call.ok:
                record.failed_probes.append(f"clock {offset:+d}s: {call.describe()}")
            elif kind == "client_credentials token":
                record.tokens.append(
                    (f"client_credentials access token at {offset:+d}s", call.json()["access_token"], offset, time.time()))
        if server.process.poll() is not None:
            record.alive.append(f"exited with {server.process.returncode} at clock {offset:+d}s")

    def keep(label: str, response: requests.Response, offset: int) -> None:
        record.outcomes[label] = (response.status_code, response.text)
        if response.status_code == 200:
            body = response.json()
            for name in ("access_token", "id_token"):
                if name in body:
                    record.tokens.append((f"{name} of {label}", body[name], offset, time.time()))

    # Real time: two refresh chains, a code left unredeemed.
    probe(0)
    first = tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)
    second = tokens_for(server, web, alice, REDIRECT, scope=USER_SCOPE, agent=agent)
    for name in ("access_token", "id_token"):
        record.tokens.append((f"{name} of a code redemption at +0s", first[name], 0, time.time()))
    old_code, old_verifier = obtain_code(agent, web, alice, REDIRECT, scope=USER_SCOPE)

    # Forwards 10 minutes: the code (60 s) and the first refresh token (idle 300 s) are dead.
    set_clock(clock, JUMP_SECONDS)
    probe(JUMP_SECONDS)
    keep("code issued 10 min before (forward jump)", redeem(server, web, old_code, old_verifier), JUMP_SECONDS)
    keep("refresh token idle 10 min (forward jump)", rotate(server, web, first["refresh_token"]), JUMP_SECONDS)
    response = introspect(server, web, first["refresh_token"])
    record.outcomes["introspection of the refresh token idle 10 min"] = (response.status_code, response.text)
    code, verifier = obtain_code(agent, web, alice, REDIRECT, scope=USER_SCOPE)
    keep("code issued and redeemed at +600s", redeem(server, web, code, verifier), JUMP_SECONDS)
    future_code, future_verifier = obtain_code(agent, web, alice, REDIRECT, scope=USER_SCOPE)

    # Backwards 20 minutes: the code issued at +10 min has not expired by the new clock, nor
    # has the second refresh token (last used at +0).
    set_clock(clock, -JUMP_SECONDS)
    probe(-JUMP_SECONDS)
    keep("code issued 20 min later by the clock (backward jump)", redeem(server, web, future_code, future_verifier), -JUMP_SECONDS)
    keep("refresh token last used 10 min later by the clock (backward jump)",
         rotate(server, web, second["refresh_token"]), -JUMP_SECONDS)

    # And back to real time.
    set_clock(clock, 0)
    probe(0)
    return record


def test_clock_jump_no_token_has_exp_before_iat(clock_jumps):
    """Every token issued around the jumps (access tokens of all three grants, ID tokens)
    has exp after iat; iat follows the server's moved clock (else the jump never happened)."""
    assert clock_jumps.tokens, "no token was issued"
    for label, token, _, _ in clock_jumps.tokens:
        claims = jwt_claims_unverified(token)
        assert claims["exp"] > claims["iat"], f"{label}: exp {claims['exp']} is not after iat {claims['iat']}"


def test_clock_jump_tokens_are_issued_by_the_new_clock(clock_jumps):
    """Precondition of the other clock tests: the server's clock really moved (iat is
    real time + the offset, within the test's own seconds)."""
    offsets = {offset for _, _, offset, _ in clock_jumps.tokens}
    assert offsets == {0, JUMP_SECONDS, -JUMP_SECONDS}, f"tokens were issued only at clock offsets {offsets}"
    for label, token, offset, received in clock_jumps.tokens:
        iat = jwt_claims_unverified(token)["iat"]
        assert abs(iat - (received + offset)) <= 5, (
            f"{label}: iat {iat} is {iat - received:+.0f}s from real time, not the clock moved by {offset:+d}s")


def test_clock_jump_codes_expire_by_the_new_clock(clock_jumps):
    """A code issued before a forward jump past its lifetime is refused (invalid_grant); one
    issued before a backward jump has not expired by the new clock and is redeemed."""
    status, body = clock_jumps.outcomes["code issued 10 min before (forward jump)"]
    assert status == 400 and json.loads(body).get("error") == "invalid_grant", (
        f"a code 10 min old by the new clock (lifetime {CODE_LIFETIME}s) got {status} {body!r}")
    status, body = clock_jumps.outcomes["code issued 20 min later by the clock (backward jump)"]
    assert status == 200, f"a code that has not expired by the new clock got {status} {body!r}"
    status, body = clock_jumps.outcomes["code issued and redeemed at +600s"]
    assert status == 200, f"a code issued and redeemed 10 min ahead got {status} {body!r}"


def test_clock_jump_refresh_tokens_expire_by_the_new_clock(clock_jumps):
    """A refresh token idle past refresh_token_idle_lifetime by the new clock is refused and
    introspects inactive; one not idle by the new clock (after a backward jump) rotates."""
    status, body = clock_jumps.outcomes["refresh token idle 10 min (forward jump)"]
    assert status == 400 and json.loads(body).get("error") == "invalid_grant", (
        f"a refresh token idle 10 min by the new clock (idle lifetime {REFRESH_IDLE_LIFETIME}s) got {status} {body!r}")
    status, body = clock_jumps.outcomes["introspection of the refresh token idle 10 min"]
    assert status == 200 and json.loads(body) == {"active": False}, f"introspection: {status} {body!r}"
    status, body = clock_jumps.outcomes["refresh token last used 10 min later by the clock (backward jump)"]
    assert status == 200, f"a refresh token not idle by the new clock got {status} {body!r}"


def test_clock_jump_server_keeps_serving(clock_jumps):
    """After each jump /healthz, a client_credentials token and the JWKS all succeed, and the
    process is still running (SIGTERM then ends it with status 0: checked at teardown)."""
    assert len(clock_jumps.probes) == 12, clock_jumps.probes
    assert not clock_jumps.failed_probes and not clock_jumps.alive, "\n".join(clock_jumps.failed_probes + clock_jumps.alive)
    assert clock_jumps.server.process.poll() is None, "the server exited"
